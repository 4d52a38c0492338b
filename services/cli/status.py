"""``newsflow status``: a live terminal view of every stage, read from the services' ``/metrics`` endpoints.

    newsflow status                  refresh every 2s until Ctrl-C
    newsflow status --once           print one table and exit (exit 1 when a service does not answer)
    newsflow status --count 5 --interval 1
    newsflow status --endpoints fetcher=http://10.0.0.5:9101/metrics,cleaner=http://10.0.0.6:9102/metrics

Per stage: whether its endpoint answers, messages in (consumed), out (produced), dead-lettered, consumer lag
(all partitions), in progress, p95 processing time since the process started, and how long ago it last
finished a message; with a previous refresh, also messages in per second. Counters are per process and
restart at zero with it. Metric names: services/runtime/metrics.py.

:func:`render` is pure (samples in, text out); only :func:`fetch` does I/O (httpx, one short timeout).
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from dataclasses import dataclass
from typing import Iterable

import httpx
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

# Where each service serves its metrics by default (NEWSFLOW_<SERVICE>_METRICS_PORT).
DEFAULT_ENDPOINTS = {
    "fetcher": "http://127.0.0.1:9101/metrics",
    "cleaner": "http://127.0.0.1:9102/metrics",
    "extractor": "http://127.0.0.1:9103/metrics",
    "indexer": "http://127.0.0.1:9104/metrics",
}
TIMEOUT = httpx.Timeout(2.0)
CLEAR = "\x1b[H\x1b[2J"

SamplesByStage = dict[str, "list[Sample] | None"]  # None: the endpoint did not answer


@dataclass(frozen=True)
class StageStatus:
    stage: str
    up: bool
    consumed: float = 0.0
    produced: float = 0.0
    dead_lettered: float = 0.0
    lag: float | None = None  # None: not measured yet (no partition assigned)
    in_progress: float = 0.0
    p95_seconds: float | None = None  # None: nothing processed yet
    last_processed: float | None = None  # unix time; None: never


def parse(text: str) -> list[Sample]:
    """Every sample of a Prometheus text exposition."""
    return [sample for family in text_string_to_metric_families(text) for sample in family.samples]


def _total(samples: Iterable[Sample], name: str, stage: str) -> float:
    return sum(s.value for s in samples if s.name == name and s.labels.get("stage", stage) == stage)


def histogram_quantile(q: float, buckets: list[tuple[float, float]]) -> float | None:
    """The q-quantile of cumulative (upper bound, count) buckets, interpolated like Prometheus does."""
    buckets = sorted(buckets)
    if not buckets or buckets[-1][1] <= 0:
        return None
    rank = q * buckets[-1][1]
    lower_bound, lower_count = 0.0, 0.0
    for bound, count in buckets:
        if count >= rank:
            if math.isinf(bound):  # in the +Inf bucket: the highest finite bound is the best answer
                return lower_bound
            if count == lower_count:
                return bound
            return lower_bound + (bound - lower_bound) * (rank - lower_count) / (count - lower_count)
        lower_bound, lower_count = bound, count
    return buckets[-1][0]


def summarize(stage: str, samples: list[Sample] | None) -> StageStatus:
    if samples is None:
        return StageStatus(stage, up=False)
    lags = [s.value for s in samples if s.name == "newsflow_consumer_lag" and s.labels.get("stage", stage) == stage]
    buckets = [
        (float(s.labels["le"]), s.value)
        for s in samples
        if s.name == "newsflow_processing_seconds_bucket" and s.labels.get("stage", stage) == stage
    ]
    last = _total(samples, "newsflow_last_processed_timestamp_seconds", stage)
    return StageStatus(
        stage,
        up=True,
        consumed=_total(samples, "newsflow_messages_consumed_total", stage),
        produced=_total(samples, "newsflow_messages_produced_total", stage),
        dead_lettered=_total(samples, "newsflow_messages_dead_lettered_total", stage),
        lag=sum(lags) if lags else None,
        in_progress=_total(samples, "newsflow_messages_in_progress", stage),
        p95_seconds=histogram_quantile(0.95, buckets),
        last_processed=last or None,
    )


def _count(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:.1f}"


def format_duration(seconds: float | None) -> str:
    if seconds is None or math.isnan(seconds):
        return "-"
    if seconds < 1:
        return f"{seconds * 1000:.0f}ms"
    if seconds < 60:
        return f"{seconds:.1f}s"
    if seconds < 3600:
        return f"{int(seconds // 60)}m{int(seconds % 60):02d}s"
    return f"{int(seconds // 3600)}h{int(seconds % 3600 // 60):02d}m"


def _ago(timestamp: float | None, now: float) -> str:
    if timestamp is None:
        return "never"
    return f"{format_duration(max(0.0, now - timestamp))} ago"


def render(
    samples_by_stage: SamplesByStage,
    now: float | None = None,
    previous: SamplesByStage | None = None,
    elapsed: float | None = None,
) -> str:
    """The status table, one line per stage, in the order of ``samples_by_stage``.

    ``now`` (unix time) dates "last processed"; ``previous`` samples taken ``elapsed`` seconds earlier
    add an "in/s" column."""
    now = time.time() if now is None else now
    with_rate = previous is not None and bool(elapsed)
    header = ["stage", "state", "in", "out", "dead", "lag", "in-flight", "p95", "last processed"]
    if with_rate:
        header.insert(3, "in/s")
    rows = [header]
    for stage, samples in samples_by_stage.items():
        s = summarize(stage, samples)
        if not s.up:
            row = [stage, "DOWN"] + ["-"] * (len(header) - 2)
        else:
            row = [
                stage,
                "up",
                _count(s.consumed),
                _count(s.produced),
                _count(s.dead_lettered),
                "-" if s.lag is None else _count(s.lag),
                _count(s.in_progress),
                format_duration(s.p95_seconds),
                _ago(s.last_processed, now),
            ]
            if with_rate:
                before = summarize(stage, previous.get(stage))
                rate = (s.consumed - before.consumed) / elapsed if before.up and s.consumed >= before.consumed else None
                row.insert(3, "-" if rate is None else f"{rate:.1f}")
        rows.append(row)
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = []
    for row in rows:
        cells = [cell.ljust(w) if i < 2 or i == len(row) - 1 else cell.rjust(w) for i, (cell, w) in enumerate(zip(row, widths))]
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines) + "\n"


def fetch(client: httpx.Client, endpoints: dict[str, str]) -> SamplesByStage:
    """Scrape every endpoint; a stage whose endpoint fails (connection, status, unparsable text) is None."""
    result: SamplesByStage = {}
    for stage, url in endpoints.items():
        try:
            response = client.get(url)
            response.raise_for_status()
            result[stage] = parse(response.text)
        except (httpx.HTTPError, ValueError):
            result[stage] = None
    return result


def parse_endpoints(value: str) -> dict[str, str]:
    """``fetcher=http://h:9101/metrics,cleaner=...`` -> {"fetcher": "http://h:9101/metrics", ...}."""
    endpoints: dict[str, str] = {}
    for item in value.split(","):
        if not item.strip():
            continue
        stage, sep, url = item.partition("=")
        if not sep or not stage.strip() or not url.strip():
            raise argparse.ArgumentTypeError(f"expected STAGE=URL, got {item!r}")
        endpoints[stage.strip()] = url.strip()
    if not endpoints:
        raise argparse.ArgumentTypeError("no endpoint given")
    return endpoints


def run(args: argparse.Namespace, client: httpx.Client | None = None, out=None) -> int:
    """Handler of ``newsflow status``. Exit status of the last table: 0 if every endpoint answered, else 1."""
    out = out or sys.stdout
    count = 1 if args.once else args.count
    clear = not args.once and out.isatty()
    own_client = client is None
    client = client or httpx.Client(timeout=TIMEOUT)
    previous, previous_at, shown, status = None, None, 0, 0
    try:
        while True:
            taken_at = time.monotonic()
            samples = fetch(client, args.endpoints)
            elapsed = taken_at - previous_at if previous_at is not None else None
            table = render(samples, previous=previous, elapsed=elapsed)
            out.write((CLEAR if clear else "") + table)
            if not args.once:
                out.write(f"\n{time.strftime('%H:%M:%S')}  every {args.interval:g}s, Ctrl-C to stop\n")
            out.flush()
            status = 0 if all(v is not None for v in samples.values()) else 1
            previous, previous_at, shown = samples, taken_at, shown + 1
            if count and shown >= count:
                return status
            time.sleep(args.interval)
    except KeyboardInterrupt:
        return status
    finally:
        if own_client:
            client.close()


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Add the ``status`` subcommand to the CLI's argparse subparsers (handler: :func:`run`)."""
    parser = subparsers.add_parser(
        "status",
        help="live per-stage view from the services' metrics endpoints",
        description=__doc__.split("\n\n")[0],
    )
    parser.add_argument(
        "--endpoints",
        type=parse_endpoints,
        default=dict(DEFAULT_ENDPOINTS),
        metavar="STAGE=URL,...",
        help="metrics endpoints, comma-separated (default: "
        + ",".join(f"{k}={v}" for k, v in DEFAULT_ENDPOINTS.items())
        + ")",
    )
    parser.add_argument("--interval", type=float, default=2.0, help="seconds between refreshes (default: 2)")
    parser.add_argument("--once", action="store_true", help="print one table and exit")
    parser.add_argument("--count", type=int, default=0, metavar="N", help="stop after N tables (default: never)")
    parser.set_defaults(func=run)
    return parser
