"""Wiring of the extractor: settings, metrics, and the stage runner around the pure ``extract`` step
(run in a worker thread, so spaCy does not starve the consumer's heartbeats)."""

from __future__ import annotations

from datetime import datetime, timezone

from schemas.messages import ExtractedArticle, StageName
from schemas.topics import TOPICS
from services.extractor.logic import extract, extract_batch
from services.extractor.nlp import analyse
from services.extractor.settings import ExtractorSettings
from services.runtime.metrics import StageMetrics
from services.runtime.service import run_service
from services.runtime.stage import Stage


def observe(article: ExtractedArticle, metrics: StageMetrics) -> None:
    for entity in article.extraction.entities:
        metrics.entities.labels(entity.label.value).inc()


def build_stage(settings: ExtractorSettings) -> Stage:
    return Stage(StageName.extractor, TOPICS.cleaned, TOPICS.extracted, extract, step_batch=extract_batch,
                 observe=observe, warm_up=warm_up)


def warm_up() -> None:
    """Load spaCy, dateparser and the language detector before the first message."""
    analyse("Sergei Ryabkov told reporters in Geneva on Tuesday: “We expect 100 delegates.”",
            datetime.now(timezone.utc))


def main() -> None:
    settings = ExtractorSettings()
    run_service(build_stage(settings), settings)
