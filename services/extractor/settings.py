"""The extractor's settings (``NEWSFLOW_EXTRACTOR_*``): the stage's, from its row of
services.runtime.settings.STAGE_DEFAULTS. No Kafka, no faust: importing it opens nothing."""

from __future__ import annotations

from services.runtime.settings import stage_settings


class ExtractorSettings(stage_settings("extractor")):
    """The extractor's settings: StageSettings with the extractor's defaults; nothing of its own."""
