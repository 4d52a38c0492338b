"""Wiring of the fetcher: settings, the guarded HTTP client, metrics, and the stage runner."""

from __future__ import annotations

from schemas.messages import FetchedArticle, StageName
from schemas.topics import TOPICS
from services.fetcher.http import GuardedFetcher
from services.fetcher.logic import fetch_article
from services.fetcher.settings import FetcherSettings
from services.runtime.metrics import StageMetrics
from services.runtime.service import run_service
from services.runtime.stage import Stage


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
