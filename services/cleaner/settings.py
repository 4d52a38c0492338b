"""The cleaner's settings (``NEWSFLOW_CLEANER_*``): the stage's, from its row of
services.runtime.settings.STAGE_DEFAULTS. No Kafka, no faust: importing it opens nothing."""

from __future__ import annotations

from services.runtime.settings import stage_settings


class CleanerSettings(stage_settings("cleaner")):
    """The cleaner's settings: StageSettings with the cleaner's defaults; nothing of its own."""
