"""The fetcher's settings (``NEWSFLOW_FETCHER_*``): the stage's, from its row of
services.runtime.settings.STAGE_DEFAULTS, and every limit of the HTTP edge, each declared once in
:class:`~services.fetcher.http.FetchLimits`. Read once at start by services/fetcher/service.py; no Kafka, no
faust: importing it opens nothing."""

from __future__ import annotations

from services.fetcher.http import FetchLimits
from services.runtime.settings import stage_settings


class FetcherSettings(stage_settings("fetcher"), FetchLimits):
    """The fetcher's settings: every StageSettings field and every FetchLimits field (same name, default and
    bounds), e.g. ``NEWSFLOW_FETCHER_PER_HOST=4``. Must not declare a limit again: add it to FetchLimits."""

    model_config = {"frozen": False}  # FetchLimits is frozen; settings never were (its config merges in)

    def limits(self) -> FetchLimits:
        """The HTTP edge's limits, as set."""
        return FetchLimits(**self.model_dump(include=set(FetchLimits.model_fields)))
