"""Wiring of the indexer: settings, the index, metrics, and the stage runner."""

from __future__ import annotations

from datetime import datetime, timezone

from schemas.messages import EnrichedEvent, ExtractedArticle, StageName
from schemas.topics import TOPICS
from services.indexer.logic import end_to_end_seconds, enrich
from services.indexer.settings import IndexerSettings
from services.indexer.store import SqliteIndex
from services.indexer.storytable import Placement
from services.runtime.metrics import StageMetrics
from services.runtime.service import run_service
from services.runtime.stage import Stage


def observe(event: EnrichedEvent, metrics: StageMetrics) -> None:
    metrics.end_to_end.observe(end_to_end_seconds(event, datetime.now(timezone.utc)))


def build_stage(settings: IndexerSettings, index: SqliteIndex | None = None) -> Stage:
    index = index or SqliteIndex(settings.db_path)

    def step(article: ExtractedArticle) -> EnrichedEvent:
        return enrich(article, datetime.now(timezone.utc))

    def watch(metrics: StageMetrics) -> None:
        def placed(placement: Placement) -> None:  # where the store put each article in its story
            metrics.documents.labels(placement.outcome).inc()
            metrics.story_lookup.observe(placement.lookup_seconds)

        index.on_placement = placed

    return Stage(StageName.indexer, TOPICS.extracted, TOPICS.enriched, step, effect=index.upsert, observe=observe,
                 watch=watch)


def main() -> None:
    settings = IndexerSettings()
    run_service(build_stage(settings), settings)
