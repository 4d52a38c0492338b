"""Wiring of the fetcher: settings, the guarded HTTP client, metrics, and the stage runner."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from schemas.messages import FetchedArticle, Stage as StageName
from schemas.topics import TOPICS
from services.fetcher.http import FetchLimits, GuardedFetcher
from services.fetcher.logic import fetch_article
from services.runtime.metrics import StageMetrics
from services.runtime.service import run_service
from services.runtime.settings import StageSettings
from services.runtime.stage import Stage


class FetcherSettings(StageSettings):
    model_config = SettingsConfigDict(env_prefix="NEWSFLOW_FETCHER_", env_file=".env", extra="ignore")

    metrics_port: int = 9101
    web_port: int = 6101
    connect_timeout: float = Field(5.0, gt=0)
    read_timeout: float = Field(15.0, gt=0)
    total_timeout: float = Field(30.0, gt=0, description="Deadline for a whole fetch, redirects included")
    max_bytes: int = Field(5_000_000, gt=0, description="Largest body accepted, after content decoding")
    max_redirects: int = Field(5, ge=0)
    allow_private: bool = Field(False, description="Allow loopback/private/link-local targets (never in production)")
    allowed_networks: str = Field("", description="Comma-separated CIDRs allowed despite the guard, e.g. 127.0.0.1/32")

    def limits(self) -> FetchLimits:
        return FetchLimits(
            connect_timeout=self.connect_timeout,
            read_timeout=self.read_timeout,
            total_timeout=self.total_timeout,
            max_bytes=self.max_bytes,
            max_redirects=self.max_redirects,
            allow_private=self.allow_private,
            allowed_networks=tuple(n.strip() for n in self.allowed_networks.split(",") if n.strip()),
        )


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

    return Stage(StageName.fetcher, TOPICS.ingest, TOPICS.fetched, step, observe=observe)


def main() -> None:
    settings = FetcherSettings()
    run_service(build_stage(settings), settings)
