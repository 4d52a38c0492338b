"""``newsflow status``: a live terminal view of every service process, read from their ``/metrics`` endpoints.

    newsflow status                  refresh every 2s until Ctrl-C
    newsflow status --once           print one table and exit (exit 1 when a process does not answer or is halted)
    newsflow status --count 5 --interval 1
    newsflow status --targets-dir /srv/newsflow/.data/targets
    newsflow status --endpoints fetcher=http://10.0.0.5:9101/metrics,fetcher=http://10.0.0.6:9101/metrics

Which processes (read again at every refresh, so processes that start or stop come and go):
- every process announced in the targets folder (``<stage>-<pid>.json``, written by each service when it
  starts serving metrics and removed when it exits: services/runtime/discovery.py; default ``.data/targets``
  of this checkout, ``NEWSFLOW_<SERVICE>_TARGETS_DIR`` for the services). Files naming a pid that no longer
  runs on this machine (a process killed with SIGKILL) are deleted;
- a stage with no announced process is shown at its default endpoint (its settings' default metrics host and
  port: services/runtime/settings.py STAGE_DEFAULTS, e.g. 127.0.0.1:9101 for the fetcher), DOWN when
  nothing answers there, so a stage that does not run at all stays visible (Prometheus does the same:
  deploy/prometheus/prometheus.yml);
- ``--endpoints`` names the endpoints instead (a stage may be named more than once).

One row per process: stage, pid (of an announced process), address, whether it answers, messages in
(consumed), out (produced), dead-lettered, consumer lag (its partitions), in progress (inside a step), in
flight / its max_in_flight bound (taken, not yet committable), awaiting commit (finished, held behind an earlier
message of its partition), mean window size (messages taken at once, since the process started), p95
processing time since the process started, and how long ago it last finished a message; with a previous
refresh, also messages in per second. A stage with more than one process gets a ``total`` row (sums; p95 of
the merged histograms; the latest last processed). Counters are per process and restart at zero with it.
Metric names: services/runtime/metrics.py.

A halted process (its circuit breaker opened, or the broker would not take a message's outcome: it answers,
takes nothing more and commits nothing past the message it halted at) has the state HALTED, and under the table
one line says why, at which message (topic[partition]@offset, from ``newsflow_halted_offset``) and what to do:
look at its dead letters, fix the cause, restart it (``make restart SERVICE=<stage>``); it resumes there.

:func:`render` is pure (samples in, text out); :func:`fetch` (httpx, one short timeout) and :func:`discover`
(the targets folder) do the I/O. It only reads (metrics endpoints, the targets folder; it deletes the target
files of dead processes): no Kafka, no faust, and it never writes a stage default of its own.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Mapping

import httpx
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from services.runtime import discovery
from services.runtime.breaker import restart_command
from services.runtime.settings import STAGES, StageSettings, metrics_address

# Where each service serves its metrics by default (NEWSFLOW_<SERVICE>_METRICS_HOST/_PORT), in pipeline order.
DEFAULT_ENDPOINTS = {stage: f"http://{metrics_address(stage)}/metrics" for stage in STAGES}
# Where the services announce themselves by default (StageSettings.targets_dir: <repo>/.data/targets).
DEFAULT_TARGETS_DIR: Path = StageSettings.model_fields["targets_dir"].default
TIMEOUT = httpx.Timeout(2.0)
CLEAR = "\x1b[H\x1b[2J"


@dataclass(frozen=True)
class Endpoint:
    """One service process's metrics endpoint. ``pid`` is known for an announced process only."""

    stage: str
    url: str
    pid: int | None = None

    @property
    def address(self) -> str:
        url = httpx.URL(self.url)
        return f"{url.host}:{url.port}" if url.port else url.host


SamplesByEndpoint = Mapping[Endpoint, "list[Sample] | None"]  # None: the endpoint did not answer

# What halted a process (the cause label of newsflow_halted_offset, services/runtime/metrics.py HALT_CAUSES).
HALT_CAUSES = {
    "breaker_in_a_row": "its circuit breaker opened: too many systemic dead letters in a row",
    "breaker_share": "its circuit breaker opened: too large a share of systemic dead letters",
    "undeliverable": "the broker would not take a message's outcome (output or dead letter)",
}


@dataclass(frozen=True)
class Halt:
    """Where and why a process halted (None fields: a process that reports newsflow_circuit_open only)."""

    cause: str | None = None
    reason: str | None = None
    topic: str | None = None
    partition: str | None = None
    offset: int | None = None

    def describe(self, stage: str) -> str:
        why = HALT_CAUSES.get(self.cause or "", "halted (it does not say why: see its log)")
        if self.reason:
            why += f" (the last: {self.reason})"
        where = f" at {self.topic}[{self.partition}]@{self.offset}" if self.offset is not None else ""
        return (f"HALTED{where}: {why}. Nothing from there on is committed. Look at `newsflow dlq list --stage "
                f"{stage}`, fix the cause, then restart with: {restart_command(stage)} (it resumes at that message)")


@dataclass(frozen=True)
class StageStatus:
    """What the samples of one process, or of all the processes of a stage together, say."""

    stage: str
    up: bool
    consumed: float = 0.0
    produced: float = 0.0
    dead_lettered: float = 0.0
    lag: float | None = None  # None: not measured yet (no partition assigned)
    in_progress: float = 0.0
    in_flight: float = 0.0
    max_in_flight: float = 0.0  # 0: not reported (yet)
    awaiting_commit: float = 0.0
    window_mean: float | None = None  # None: no window taken yet
    p95_seconds: float | None = None  # None: nothing processed yet
    last_processed: float | None = None  # unix time; None: never
    halts: tuple[Halt, ...] = ()  # one per halted process


def parse(text: str) -> list[Sample]:
    """Every sample of a Prometheus text exposition."""
    return [sample for family in text_string_to_metric_families(text) for sample in family.samples]


def _of(samples: Iterable[Sample], name: str, stage: str) -> list[Sample]:
    return [s for s in samples if s.name == name and s.labels.get("stage", stage) == stage]


def _total(samples: Iterable[Sample], name: str, stage: str) -> float:
    return sum(s.value for s in _of(samples, name, stage))


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
    """The status of ``stage`` from the samples of one process, or of several processes concatenated
    (counters and gauges add up, histogram buckets merge by bound, last processed is the latest)."""
    if samples is None:
        return StageStatus(stage, up=False)
    lags = _of(samples, "newsflow_consumer_lag", stage)
    buckets: dict[float, float] = {}
    for s in _of(samples, "newsflow_processing_seconds_bucket", stage):
        buckets[float(s.labels["le"])] = buckets.get(float(s.labels["le"]), 0.0) + s.value
    windows = _total(samples, "newsflow_window_messages_count", stage)
    last = max((s.value for s in _of(samples, "newsflow_last_processed_timestamp_seconds", stage)), default=0.0)
    halts = [Halt(s.labels.get("cause"), s.labels.get("reason"), s.labels.get("topic"), s.labels.get("partition"),
                  int(s.value)) for s in _of(samples, "newsflow_halted_offset", stage)]
    open_ = int(_total(samples, "newsflow_circuit_open", stage))
    halts += [Halt()] * max(0, open_ - len(halts))  # a process that says it is halted but not where
    return StageStatus(
        stage,
        up=True,
        consumed=_total(samples, "newsflow_messages_consumed_total", stage),
        produced=_total(samples, "newsflow_messages_produced_total", stage),
        dead_lettered=_total(samples, "newsflow_messages_dead_lettered_total", stage),
        lag=sum(s.value for s in lags) if lags else None,
        in_progress=_total(samples, "newsflow_messages_in_progress", stage),
        in_flight=_total(samples, "newsflow_messages_in_flight", stage),
        max_in_flight=_total(samples, "newsflow_max_in_flight", stage),
        awaiting_commit=_total(samples, "newsflow_messages_awaiting_commit", stage),
        window_mean=_total(samples, "newsflow_window_messages_sum", stage) / windows if windows else None,
        p95_seconds=histogram_quantile(0.95, list(buckets.items())),
        last_processed=last or None,
        halts=tuple(halts),
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


HEADER = ("stage", "pid", "address", "state", "in", "out", "dead", "lag", "in-progress", "in-flight", "awaiting",
          "window", "p95", "last processed")
LEFT_ALIGNED = {"stage", "pid", "address", "state", "last processed"}


def _cells(s: StageStatus, now: float) -> list[str]:
    """The columns after ``state`` (``in`` .. ``last processed``) of an answering process or stage total."""
    return [
        _count(s.consumed),
        _count(s.produced),
        _count(s.dead_lettered),
        "-" if s.lag is None else _count(s.lag),
        _count(s.in_progress),
        f"{_count(s.in_flight)}/{_count(s.max_in_flight)}" if s.max_in_flight else _count(s.in_flight),
        _count(s.awaiting_commit),
        "-" if s.window_mean is None else f"{s.window_mean:.1f}",
        format_duration(s.p95_seconds),
        _ago(s.last_processed, now),
    ]


def _rate(now: StageStatus, before: StageStatus | None, elapsed: float) -> float | None:
    """Messages in per second between two refreshes of one process (None: no earlier answer, or restarted)."""
    if before is None or not before.up or not now.up or now.consumed < before.consumed:
        return None
    return (now.consumed - before.consumed) / elapsed


def render(
    samples: SamplesByEndpoint,
    now: float | None = None,
    previous: SamplesByEndpoint | None = None,
    elapsed: float | None = None,
) -> str:
    """The status table: one line per process, stages in order of first appearance in ``samples`` (and
    processes in their order), a ``total`` line after a stage with more than one process; then one line per
    halted process (where, why, how to restart it).

    ``now`` (unix time) dates "last processed"; ``previous`` samples taken ``elapsed`` seconds earlier
    add an "in/s" column (per process; a total adds up its processes' rates)."""
    now = time.time() if now is None else now
    with_rate = previous is not None and bool(elapsed)
    header = list(HEADER)
    if with_rate:
        header.insert(header.index("in") + 1, "in/s")
    by_stage: dict[str, list[Endpoint]] = {}
    for endpoint in samples:
        by_stage.setdefault(endpoint.stage, []).append(endpoint)

    def with_rate_cell(cells: list[str], rate: float | None) -> list[str]:
        if with_rate:
            cells.insert(1, "-" if rate is None else f"{rate:.1f}")
        return cells

    rows = [header]
    notes: list[str] = []  # one line per halted process, after the table
    for stage, endpoints in by_stage.items():
        rates = []
        for endpoint in endpoints:
            s = summarize(stage, samples[endpoint])
            ident = [stage, "" if endpoint.pid is None else str(endpoint.pid), endpoint.address]
            if not s.up:
                rows.append(ident + ["DOWN"] + ["-"] * (len(header) - 4))
                continue
            rate = None
            if with_rate:
                before = previous.get(endpoint)
                rate = _rate(s, None if before is None else summarize(stage, before), elapsed)
                rates.append(rate)
            rows.append(ident + ["HALTED" if s.halts else "up"] + with_rate_cell(_cells(s, now), rate))
            notes.extend(f"{stage} {endpoint.address}{'' if endpoint.pid is None else f' (pid {endpoint.pid})'} "
                         f"{halt.describe(stage)}" for halt in s.halts)
        if len(endpoints) > 1:
            answering = [samples[e] for e in endpoints if samples[e] is not None]
            halted = sum(bool(summarize(stage, samples[e]).halts) for e in endpoints if samples[e] is not None)
            state = f"{len(answering)}/{len(endpoints)} up" + (f", {halted} HALTED" if halted else "")
            ident = [stage, "", "total", state]
            if not answering:
                rows.append(ident + ["-"] * (len(header) - 4))
                continue
            total = summarize(stage, [sample for process in answering for sample in process])
            known = [r for r in rates if r is not None]
            rows.append(ident + with_rate_cell(_cells(total, now), sum(known) if known else None))
    return _aligned(rows) + ("\n" + "\n".join(notes) + "\n" if notes else "")


def _aligned(rows: list[list[str]]) -> str:
    """The rows (the first: the header) as aligned columns, one line each."""
    header = rows[0]
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = []
    for row in rows:
        cells = [cell.ljust(w) if name in LEFT_ALIGNED else cell.rjust(w) for name, cell, w in zip(header, row, widths)]
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines) + "\n"


def default_endpoints(stages: Iterable[str] = STAGES) -> list[Endpoint]:
    return [Endpoint(stage, DEFAULT_ENDPOINTS[stage]) for stage in stages]


def discover(targets_dir: Path) -> list[Endpoint]:
    """Every process announced in ``targets_dir`` that still runs on this machine (the files of those that
    do not are deleted), plus the default endpoint of each stage that announced none; in pipeline order."""
    discovery.prune(targets_dir)
    announced = [Endpoint(p.stage, p.url, p.pid) for p in discovery.processes(targets_dir)]
    found = announced + default_endpoints(s for s in STAGES if s not in {e.stage for e in announced})

    def order(e: Endpoint) -> tuple:
        return (STAGES.index(e.stage) if e.stage in STAGES else len(STAGES), e.stage, e.pid or 0, e.url)

    return sorted(found, key=order)


def fetch(client: httpx.Client, endpoints: Iterable[Endpoint]) -> dict[Endpoint, list[Sample] | None]:
    """Scrape every endpoint; one that fails (connection, status, unparsable text) is None."""
    result: dict[Endpoint, list[Sample] | None] = {}
    for endpoint in endpoints:
        try:
            response = client.get(endpoint.url)
            response.raise_for_status()
            result[endpoint] = parse(response.text)
        except (httpx.HTTPError, ValueError):
            result[endpoint] = None
    return result


def parse_endpoints(value: str) -> list[Endpoint]:
    """``fetcher=http://h:9101/metrics,cleaner=...`` -> [Endpoint("fetcher", "http://h:9101/metrics"), ...];
    a stage may appear more than once (several processes)."""
    endpoints: list[Endpoint] = []
    for item in value.split(","):
        if not item.strip():
            continue
        stage, sep, url = item.partition("=")
        if not sep or not stage.strip() or not url.strip():
            raise argparse.ArgumentTypeError(f"expected STAGE=URL, got {item!r}")
        endpoints.append(Endpoint(stage.strip(), url.strip()))
    if not endpoints:
        raise argparse.ArgumentTypeError("no endpoint given")
    return endpoints


def run(args: argparse.Namespace, client: httpx.Client | None = None, out=None) -> int:
    """Handler of ``newsflow status``. Exit status of the last table: 0 if every endpoint answered and none is
    halted, else 1."""
    out = out or sys.stdout
    count = 1 if args.once else args.count
    clear = not args.once and out.isatty()
    own_client = client is None
    client = client or httpx.Client(timeout=TIMEOUT)
    previous, previous_at, shown, status = None, None, 0, 0
    try:
        while True:
            endpoints = args.endpoints or discover(args.targets_dir)
            taken_at = time.monotonic()
            samples = fetch(client, endpoints)
            elapsed = taken_at - previous_at if previous_at is not None else None
            table = render(samples, previous=previous, elapsed=elapsed)
            out.write((CLEAR if clear else "") + table)
            if not args.once:
                out.write(f"\n{time.strftime('%H:%M:%S')}  every {args.interval:g}s, Ctrl-C to stop\n")
            out.flush()
            healthy = all(v is not None and not summarize(e.stage, v).halts for e, v in samples.items())
            status = 0 if healthy else 1
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
        help="live per-process view from the services' metrics endpoints",
        description=__doc__.split("\n\n")[0],
    )
    parser.add_argument(
        "--targets-dir",
        type=Path,
        default=DEFAULT_TARGETS_DIR,
        metavar="DIR",
        help=f"where the service processes announce their endpoints (default: {DEFAULT_TARGETS_DIR})",
    )
    parser.add_argument(
        "--endpoints",
        type=parse_endpoints,
        default=None,
        metavar="STAGE=URL,...",
        help="these metrics endpoints instead of the announced processes (comma-separated; default endpoints: "
        + ",".join(f"{k}={v}" for k, v in DEFAULT_ENDPOINTS.items())
        + ")",
    )
    parser.add_argument("--interval", type=float, default=2.0, help="seconds between refreshes (default: 2)")
    parser.add_argument("--once", action="store_true", help="print one table and exit")
    parser.add_argument("--count", type=int, default=0, metavar="N", help="stop after N tables (default: never)")
    parser.set_defaults(func=run)
    return parser
