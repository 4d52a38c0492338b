"""Wiring of the fetcher: settings, the guarded HTTP client, metrics, and the stage runner."""

from __future__ import annotations

from dataclasses import fields

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from schemas.messages import FetchedArticle, StageName
from schemas.topics import TOPICS
from services.fetcher.http import FetchLimits, GuardedFetcher
from services.fetcher.logic import fetch_article
from services.runtime.metrics import StageMetrics
from services.runtime.service import run_service
from services.runtime.settings import StageSettings
from services.runtime.stage import Stage


class FetcherSettings(StageSettings):
    """Every FetchLimits field but user_agent is a setting of the same name, with FetchLimits' default."""

    model_config = SettingsConfigDict(env_prefix="NEWSFLOW_FETCHER_", env_file=".env", extra="ignore")

    metrics_port: int = 9101
    window_size: int = 64
    max_in_flight: int = 256  # more than fetch_concurrency: URLs waiting for their host's slot hold no fetch slot
    web_port: int = 6101
    connect_timeout: float = Field(FetchLimits.connect_timeout, gt=0)
    read_timeout: float = Field(FetchLimits.read_timeout, gt=0)
    total_timeout: float = Field(FetchLimits.total_timeout, gt=0,
                                 description="Deadline for a whole fetch, redirects included, queueing excluded")
    max_bytes: int = Field(FetchLimits.max_bytes, gt=0, description="Largest body accepted, after content decoding")
    max_redirects: int = Field(FetchLimits.max_redirects, ge=0)
    allow_private: bool = Field(FetchLimits.allow_private,
                                description="Allow loopback/private/link-local targets (never in production)")
    allowed_networks: str = Field("", description="Comma-separated CIDRs allowed despite the guard, e.g. 127.0.0.1/32")
    fetch_concurrency: int = Field(FetchLimits.fetch_concurrency, ge=1, description="Requests in flight per process")
    per_host: int = Field(FetchLimits.per_host, ge=1, description="Requests in flight at once to one host")
    host_delay_seconds: float = Field(FetchLimits.host_delay_seconds, ge=0,
                                      description="Least time between the starts of two requests to one host")
    robots_enabled: bool = Field(FetchLimits.robots_enabled, description="Honour robots.txt")
    robots_timeout_seconds: float = Field(FetchLimits.robots_timeout_seconds, gt=0,
                                          description="Deadline for one robots.txt download, redirects included")
    robots_ttl_seconds: float = Field(FetchLimits.robots_ttl_seconds, gt=0, description="How long a robots.txt is kept")
    robots_cache_size: int = Field(FetchLimits.robots_cache_size, ge=1, description="Origins whose robots.txt is kept")

    def limits(self) -> FetchLimits:
        shared = {f.name for f in fields(FetchLimits)} & set(type(self).model_fields)
        values = self.model_dump(include=shared)
        values["allowed_networks"] = tuple(n.strip() for n in self.allowed_networks.split(",") if n.strip())
        return FetchLimits(**values)


def observe(article: FetchedArticle, metrics: StageMetrics) -> None:
    if article.http_status is None:
        metrics.fetch_requests.labels("inline").inc()
    else:
        metrics.fetch_requests.labels("downloaded").inc()
        metrics.fetched_bytes.inc(article.fetched_bytes)


def build_stage(settings: FetcherSettings, fetcher: GuardedFetcher | None = None) -> Stage:
    fetcher = fetcher or GuardedFetcher(settings.limits())

    async def step(request):
        return await fetch_article(request, fetcher)

    return Stage(StageName.fetcher, TOPICS.ingest, TOPICS.fetched, step, observe=observe,
                 watch=lambda metrics: metrics.watch_fetches(fetcher.in_flight_by_host))


def main() -> None:
    settings = FetcherSettings()
    run_service(build_stage(settings), settings)
