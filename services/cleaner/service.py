"""Wiring of the cleaner: settings, metrics, and the stage runner around the pure ``clean`` step.

The top layer: nothing of the cleaner imports it. No cleaning logic here, and no exception handling: what the
step raises goes to the runner (bad input as its PermanentError's reason, a bug as ``processing_error``)."""

from __future__ import annotations

import gc

from schemas.messages import CleanedArticle, StageName
from schemas.topics import TOPICS
from services.cleaner.html import clean_html
from services.cleaner.text import clean_text
from services.cleaner.logic import clean, clean_batch
from services.cleaner.settings import CleanerSettings
from services.runtime.metrics import StageMetrics
from services.runtime.service import run_service
from services.runtime.stage import Stage


def observe(article: CleanedArticle, metrics: StageMetrics) -> None:
    for category, count in article.removed.items():
        metrics.boilerplate_removed.labels(category.value).inc(count)


def build_stage(settings: CleanerSettings) -> Stage:
    return Stage(StageName.cleaner, TOPICS.fetched, TOPICS.cleaned, clean, step_batch=clean_batch,
                 observe=observe, warm_up=warm_up)


def warm_up() -> None:
    """Load the line models and parsers before the first message, then freeze what start-up allocated."""
    sample = "A headline\n\nThe first paragraph of a story, long enough to be kept as body text by the cleaner."
    clean_text(sample)
    clean_html(f"<html><body><article><p>{sample}</p></article></body></html>")
    # HTML mode allocates many collectable objects (lxml's element proxies): the collector's full passes then
    # walked the ~50k objects of start-up (trafilatura, lxml, numpy, models) every ~180 pages, ~100 ms with
    # the GIL held (0.6 ms a page); frozen, they are no longer walked
    gc.freeze()


def main() -> None:
    settings = CleanerSettings()
    run_service(build_stage(settings), settings)
