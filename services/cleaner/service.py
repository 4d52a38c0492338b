"""Wiring of the cleaner: settings, metrics, and the stage runner around the pure ``clean`` step."""

from __future__ import annotations

from pydantic_settings import SettingsConfigDict

from schemas.messages import CleanedArticle, Stage as StageName
from schemas.topics import TOPICS
from services.cleaner.logic import clean
from services.runtime.metrics import StageMetrics
from services.runtime.service import run_service
from services.runtime.settings import StageSettings
from services.runtime.stage import Stage


class CleanerSettings(StageSettings):
    model_config = SettingsConfigDict(env_prefix="NEWSFLOW_CLEANER_", env_file=".env", extra="ignore")

    metrics_port: int = 9102
    web_port: int = 6102


def observe(article: CleanedArticle, metrics: StageMetrics) -> None:
    for category, count in article.removed.items():
        metrics.boilerplate_removed.labels(category.value).inc(count)


def build_stage(settings: CleanerSettings) -> Stage:
    return Stage(StageName.cleaner, TOPICS.fetched, TOPICS.cleaned, clean, observe=observe)


def main() -> None:
    settings = CleanerSettings()
    run_service(build_stage(settings), settings)
