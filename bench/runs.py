"""Where a benchmark run leaves what it measured: ``bench/results/<name>-<UTC stamp>.<suffix>``.

Every script in bench/ names its files here, so a run's JSON and its plots share one stamp and sort by time, and
the folder is made in one place. It only names and writes files: it measures nothing, prints nothing, and is not
imported by the services or the tests.
"""
from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"


def run_stamp() -> str:
    """The UTC time now as ``20261203T061500Z``: one per run, given to each of its files."""
    return f"{datetime.now(timezone.utc):%Y%m%dT%H%M%SZ}"


def result_path(name: str, stamp: str, suffix: str = ".json") -> Path:
    """``bench/results/<name>-<stamp><suffix>``, with the folder made; ``suffix=""`` names a folder of files."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    return RESULTS / f"{name}-{stamp}{suffix}"


def write_result(name: str, data: dict, stamp: str | None = None, indent: int = 1) -> Path:
    """Write one run's figures as JSON (values JSON cannot hold are written as text) and say where."""
    out = result_path(name, stamp or run_stamp())
    out.write_text(json.dumps(data, indent=indent, default=str))
    return out
