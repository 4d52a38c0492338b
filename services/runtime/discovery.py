"""Where every service process can be scraped: one Prometheus file_sd target file per running process.

A process that serves its metrics writes ``<targets_dir>/<stage>-<pid>.json``:

    [{"targets": ["127.0.0.1:9103"], "labels": {"stage": "extractor", "pid": "4242"}}]

and removes it when it exits. Prometheus (``deploy/prometheus/prometheus.yml``) and ``newsflow status`` read
every such file, so a second ``python -m services.extractor`` (on a free port, see StageMetrics.serve) is
scraped and shown with no other change. A file left by a process killed with SIGKILL names a pid that no
longer runs: :func:`processes` skips it on this machine and :func:`prune` deletes it. Files only: it never
scrapes a process or talks to Prometheus.
"""

from __future__ import annotations

import atexit
import json
import os
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Process:
    """One announced service process: its stage, pid and metrics address (from its target file). Data only."""

    stage: str
    pid: int
    address: str  # host:port of its /metrics
    path: Path

    @property
    def url(self) -> str:
        return f"http://{self.address}/metrics"


def announce(targets_dir: Path, stage: str, host: str, port: int, pid: int | None = None) -> Path:
    """Write this process's target file (atomically) and remove it at exit. Returns its path."""
    pid = pid or os.getpid()
    targets_dir.mkdir(parents=True, exist_ok=True)
    path = targets_dir / f"{stage}-{pid}.json"
    scrape_host = "127.0.0.1" if host in ("0.0.0.0", "") else host
    body = [{"targets": [f"{scrape_host}:{port}"], "labels": {"stage": stage, "pid": str(pid)}}]
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(body) + "\n")
    tmp.replace(path)
    atexit.register(_remove, path)
    return path


def _remove(path: Path) -> None:
    try:
        path.unlink()
    except FileNotFoundError:
        pass


def processes(targets_dir: Path, live_only: bool = True) -> list[Process]:
    """Every announced process, by stage then pid; with ``live_only``, those whose pid still runs here."""
    found = []
    for path in sorted(targets_dir.glob("*-*.json")) if targets_dir.is_dir() else []:
        try:
            [entry] = json.loads(path.read_text())
            stage, pid = entry["labels"]["stage"], int(entry["labels"]["pid"])
            [address] = entry["targets"]
        except (OSError, ValueError, KeyError, TypeError):
            continue
        if live_only and not _running(pid):
            continue
        found.append(Process(stage, pid, address, path))
    return sorted(found, key=lambda p: (p.stage, p.pid))


def prune(targets_dir: Path) -> list[Path]:
    """Delete the target files of processes that no longer run on this machine; returns them."""
    dead = [p.path for p in processes(targets_dir, live_only=False) if not _running(p.pid)]
    for path in dead:
        _remove(path)
    return dead


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
