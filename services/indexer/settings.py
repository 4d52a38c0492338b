"""The indexer's settings (``NEWSFLOW_INDEXER_*``): the stage's, from its row of
services.runtime.settings.STAGE_DEFAULTS, and where the index lives. Read by the indexer's wiring and by the
CLI's read-only commands (``newsflow search``, ``newsflow story``), which must not import the service's faust
wiring: so no Kafka, no faust here; importing it opens nothing."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from services.runtime.settings import ROOT, stage_settings


class IndexerSettings(stage_settings("indexer")):
    """The indexer's settings: StageSettings with the indexer's defaults, and the SQLite index file."""

    db_path: Path = Field(ROOT / ".data" / "index" / "newsflow.db", description="SQLite index file")
