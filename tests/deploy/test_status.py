"""Unit tests of ``newsflow status`` (services/cli/status.py): pure rendering, parsing, the discovery of
announced processes (a temp targets folder), and the handler against httpx's MockTransport; no service runs."""

from __future__ import annotations

import argparse
import io
import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from prometheus_client import generate_latest

from services.cli import status
from services.cli.status import Endpoint
from services.runtime import discovery
from services.runtime.metrics import stage_metrics
from services.runtime.settings import STAGE_DEFAULTS, metrics_address

# Each stage's default metrics endpoint, from its settings (services/runtime/settings.py STAGE_DEFAULTS).
AT = {stage: metrics_address(stage) for stage in status.STAGES}  # e.g. AT["fetcher"]: 127.0.0.1:<its port>
URL = {stage: f"http://{address}/metrics" for stage, address in AT.items()}
CLEANER_PORT = STAGE_DEFAULTS["cleaner"].metrics_port

FIXTURES = Path(__file__).parent / "fixtures"
FIXTURE = (FIXTURES / "cleaner.metrics.txt").read_text()
SECOND = (FIXTURES / "cleaner-2.metrics.txt").read_text()  # a second cleaner process, other partitions
NOW = 1767605400.0 + 75  # 75 s after the fixture's last processed message
FETCHER = Endpoint("fetcher", URL["fetcher"])
CLEANER = Endpoint("cleaner", URL["cleaner"], pid=4242)
CLEANER_2 = Endpoint("cleaner", "http://127.0.0.1:40111/metrics", pid=4250)
CLEANER_3 = Endpoint("cleaner", "http://127.0.0.1:40112/metrics", pid=4260)


def test_render_formats_one_line_per_process_and_marks_unreachable_ones_down():
    table = status.render({FETCHER: None, CLEANER: status.parse(FIXTURE)}, now=NOW)
    assert table == (
        "stage    pid   address         state  in  out  dead  lag  in-progress  in-flight  awaiting  window   p95  last processed\n"
        f"fetcher        {AT['fetcher']}  DOWN    -    -     -    -            -          -         -       -     -  -\n"
        f"cleaner  4242  {AT['cleaner']}  up     42   40     2    7            1     12/128         3     4.2  25ms  1m15s ago\n"
    )


def test_render_adds_a_total_line_for_a_stage_with_several_processes():
    """Sums; in flight against the sum of the bounds; the mean window and p95 over both processes' histograms
    (p95 of the merged buckets, not a mean of p95s); the latest last processed; 2 of 3 processes answer."""
    table = status.render({CLEANER: status.parse(FIXTURE), CLEANER_2: status.parse(SECOND), CLEANER_3: None}, now=NOW)
    assert table == (
        "stage    pid   address          state   in  out  dead  lag  in-progress  in-flight  awaiting  window    p95  last processed\n"
        f"cleaner  4242  {AT['cleaner']}   up      42   40     2    7            1     12/128         3     4.2   25ms  1m15s ago\n"
        "cleaner  4250  127.0.0.1:40111  up       8    8     0   50            0    128/128         0    16.0  488ms  25.0s ago\n"
        "cleaner  4260  127.0.0.1:40112  DOWN     -    -     -    -            -          -         -       -      -  -\n"
        "cleaner        total            2/3 up  50   48     2   57            1    140/256         3     7.6  438ms  25.0s ago\n"
    )


def test_render_adds_no_total_line_for_a_single_process():
    table = status.render({FETCHER: None, CLEANER: status.parse(FIXTURE)}, now=NOW)
    assert "total" not in table


def test_render_total_of_a_stage_whose_processes_are_all_down():
    lines = status.render({CLEANER: None, CLEANER_2: None}, now=NOW).splitlines()
    assert lines[-1].split() == ["cleaner", "total", "0/2", "up"] + ["-"] * 10


def test_render_adds_messages_per_second_given_a_previous_refresh():
    before = status.parse(FIXTURE.replace('topic="articles.fetched"} 42.0', 'topic="articles.fetched"} 32.0'))
    table = status.render({CLEANER: status.parse(FIXTURE)}, now=NOW, previous={CLEANER: before}, elapsed=2.0)
    header, row = table.splitlines()
    assert header.split()[5] == "in/s"
    assert row.split()[5] == "5.0"


def test_rate_per_process_and_their_sum_on_the_total_line():
    """A process without an earlier answer, or whose counter went back (restarted), has no rate ("-")."""
    previous = {
        CLEANER: status.parse(FIXTURE.replace('topic="articles.fetched"} 42.0', 'topic="articles.fetched"} 32.0')),
        CLEANER_2: status.parse(SECOND.replace('topic="articles.fetched"} 8.0', 'topic="articles.fetched"} 4.0')),
    }
    now = {CLEANER: status.parse(FIXTURE), CLEANER_2: status.parse(SECOND)}
    rates = [line.split()[5] for line in status.render(now, NOW, previous, 2.0).splitlines()[1:]]
    assert rates == ["5.0", "2.0", "7.0"]  # the total line's columns: stage, total, 2/2, up, in, in/s
    restarted = SECOND.replace('topic="articles.fetched"} 8.0', 'topic="articles.fetched"} 90.0')
    previous[CLEANER_2] = status.parse(restarted)  # more before than now: restarted in between
    rows = status.render(now, NOW, previous, 2.0).splitlines()[1:]
    assert [row.split()[5] for row in rows] == ["5.0", "-", "5.0"]


def test_summarize_a_stage_that_has_not_processed_anything_yet():
    text = generate_latest(stage_metrics("indexer").registry).decode()
    s = status.summarize("indexer", status.parse(text))
    assert s == status.StageStatus("indexer", up=True)
    line = status.render({Endpoint("indexer", URL["indexer"]): status.parse(text)}, now=NOW)
    assert line.splitlines()[1].split() == ["indexer", AT["indexer"], "up", "0", "0", "0", "-", "0", "0", "0",
                                            "-", "-", "never"]


def test_summarize_reads_the_names_metrics_py_exports():
    """The same numbers through the real registry of services/runtime/metrics.py (guards name drift)."""
    m = stage_metrics("extractor")
    m.consumed.labels("extractor", "articles.cleaned").inc(10)
    m.produced.labels("extractor", "articles.extracted").inc(9)
    m.dead_lettered.labels("extractor", "processing_error").inc()
    m.lag.labels("extractor", "articles.cleaned", "0").set(5)
    m.in_progress.labels("extractor").set(1)
    m.last_processed.labels("extractor").set(NOW - 3)
    m.in_flight.labels("extractor").set(7)
    m.max_in_flight.labels("extractor").set(128)
    m.awaiting_commit.labels("extractor").set(2)
    for size in (1, 4, 16):
        m.window.labels("extractor").observe(size)
    for _ in range(10):
        m.processing.labels("extractor").observe(0.2)
    s = status.summarize("extractor", status.parse(generate_latest(m.registry).decode()))
    assert (s.consumed, s.produced, s.dead_lettered, s.lag, s.in_progress) == (10, 9, 1, 5, 1)
    assert (s.in_flight, s.max_in_flight, s.awaiting_commit, s.window_mean) == (7, 128, 2, 7.0)
    assert 0.1 < s.p95_seconds <= 0.25
    assert s.last_processed == NOW - 3


@pytest.mark.parametrize(
    ("q", "buckets", "expected"),
    [
        (0.5, [(1.0, 10.0), (2.0, 20.0), (float("inf"), 20.0)], 1.0),
        (0.75, [(1.0, 10.0), (2.0, 20.0), (float("inf"), 20.0)], 1.5),
        (0.95, [(0.1, 0.0), (0.2, 10.0), (float("inf"), 10.0)], 0.195),
        (0.99, [(1.0, 0.0), (float("inf"), 5.0)], 1.0),  # in the +Inf bucket: the highest finite bound
        (0.5, [(1.0, 0.0), (float("inf"), 0.0)], None),  # nothing observed
        (0.5, [], None),
    ],
)
def test_histogram_quantile_interpolates_like_prometheus(q, buckets, expected):
    result = status.histogram_quantile(q, buckets)
    assert result is None if expected is None else result == pytest.approx(expected)


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(None, "-"), (0.0123, "12ms"), (1.25, "1.2s"), (75, "1m15s"), (3 * 3600 + 120, "3h02m")],
)
def test_format_duration(seconds, text):
    assert status.format_duration(seconds) == text


def _transport(request: httpx.Request) -> httpx.Response:
    if request.url.host == "cleaner":
        return httpx.Response(200, text=FIXTURE)
    if request.url.host == "broken":
        return httpx.Response(500, text="oops")
    raise httpx.ConnectError("connection refused", request=request)


def test_fetch_marks_failing_endpoints_as_none():
    cleaner = Endpoint("cleaner", "http://cleaner/metrics")
    indexer = Endpoint("indexer", "http://broken/metrics")
    fetcher = Endpoint("fetcher", "http://gone/metrics")
    with httpx.Client(transport=httpx.MockTransport(_transport)) as client:
        samples = status.fetch(client, [cleaner, indexer, fetcher])
    assert samples[cleaner] and samples[indexer] is None and samples[fetcher] is None


def _cli(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="newsflow")
    status.add_parser(parser.add_subparsers(dest="command", required=True))
    return parser.parse_args(argv)


def test_add_parser_defaults_to_the_announced_processes_of_this_checkout():
    args = _cli(["status"])
    assert args.func is status.run
    assert args.endpoints is None
    assert args.targets_dir == Path(__file__).resolve().parents[2] / ".data" / "targets"
    assert (args.once, args.count, args.interval) == (False, 0, 2.0)


def test_add_parser_endpoints_override_and_may_name_a_stage_twice():
    args = _cli(["status", "--endpoints", "fetcher=http://a:8000/metrics,fetcher=http://b:8000/metrics"])
    assert args.endpoints == [Endpoint("fetcher", "http://a:8000/metrics"),
                              Endpoint("fetcher", "http://b:8000/metrics")]
    assert [e.address for e in args.endpoints] == ["a:8000", "b:8000"]


def _dead_pid() -> int:
    """The pid of a process that has exited (and been reaped)."""
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def test_discover_without_announced_processes_gives_the_four_default_endpoints(tmp_path):
    assert status.discover(tmp_path / "missing") == status.default_endpoints() == [
        Endpoint("fetcher", URL["fetcher"]),
        Endpoint("cleaner", URL["cleaner"]),
        Endpoint("extractor", URL["extractor"]),
        Endpoint("indexer", URL["indexer"]),
    ]


def test_discover_lists_every_announced_process_prunes_dead_ones_and_keeps_defaults_for_the_rest(tmp_path):
    me, parent, dead = os.getpid(), os.getppid(), _dead_pid()
    discovery.announce(tmp_path, "cleaner", "127.0.0.1", 40111, pid=parent)
    discovery.announce(tmp_path, "cleaner", "0.0.0.0", CLEANER_PORT, pid=me)
    discovery.announce(tmp_path, "indexer", "127.0.0.1", 40222, pid=me)
    stale = discovery.announce(tmp_path, "fetcher", "127.0.0.1", 40333, pid=dead)
    found = status.discover(tmp_path)
    assert not stale.exists()  # a pid that no longer runs: its file is deleted
    assert found == sorted([
        Endpoint("fetcher", URL["fetcher"]),  # none announced alive: the default
        Endpoint("cleaner", "http://127.0.0.1:40111/metrics", pid=parent),
        Endpoint("cleaner", URL["cleaner"], pid=me),
        Endpoint("extractor", URL["extractor"]),
        Endpoint("indexer", "http://127.0.0.1:40222/metrics", pid=me),
    ], key=lambda e: (status.STAGES.index(e.stage), e.pid or 0))


def test_add_parser_rejects_a_malformed_endpoint_list():
    with pytest.raises(SystemExit):
        _cli(["status", "--endpoints", "fetcher:http://x"])


def test_once_reads_the_targets_dir_and_shows_a_total_for_two_processes(tmp_path):
    """The handler, end to end without services: two announced cleaners (this test's pid and its parent's,
    both running) behind MockTransport; the other stages fall back to their default endpoints (down here)."""
    discovery.announce(tmp_path, "cleaner", "cleaner", CLEANER_PORT, pid=os.getpid())
    discovery.announce(tmp_path, "cleaner", "cleaner", 40111, pid=os.getppid())
    args = _cli(["status", "--once", "--targets-dir", str(tmp_path)])
    out = io.StringIO()
    with httpx.Client(transport=httpx.MockTransport(_transport)) as client:
        assert args.func(args, client=client, out=out) == 1  # fetcher, extractor, indexer do not answer
    rows = [line.split()[:4] for line in out.getvalue().splitlines()[1:]]
    cleaners = sorted([(os.getpid(), f"cleaner:{CLEANER_PORT}"), (os.getppid(), "cleaner:40111")])  # by pid
    assert rows == [
        ["fetcher", AT["fetcher"], "DOWN", "-"],
        *[["cleaner", str(pid), address, "up"] for pid, address in cleaners],
        ["cleaner", "total", "2/2", "up"],
        ["extractor", AT["extractor"], "DOWN", "-"],
        ["indexer", AT["indexer"], "DOWN", "-"],
    ]


@pytest.mark.parametrize(("hosts", "code"), [(["cleaner"], 0), (["cleaner", "gone"], 1)])
def test_once_prints_one_table_and_exits_1_when_a_service_is_down(hosts, code):
    args = _cli(["status", "--once", "--endpoints", ",".join(f"{h}=http://{h}/metrics" for h in hosts)])
    out = io.StringIO()
    with httpx.Client(transport=httpx.MockTransport(_transport)) as client:
        assert args.func(args, client=client, out=out) == code
    lines = out.getvalue().splitlines()
    assert lines[0].startswith("stage") and len(lines) == 1 + len(hosts)


def test_count_refreshes_n_times_and_shows_a_rate_from_the_second_table_on():
    args = _cli(["status", "--count", "2", "--interval", "0.01", "--endpoints", "cleaner=http://cleaner/metrics"])
    out = io.StringIO()
    with httpx.Client(transport=httpx.MockTransport(_transport)) as client:
        assert status.run(args, client=client, out=out) == 0
    headers = [line for line in out.getvalue().splitlines() if line.startswith("stage")]
    assert len(headers) == 2 and "in/s" not in headers[0] and "in/s" in headers[1]


def _halted_fetcher() -> str:
    """The /metrics text of a fetcher halted by its circuit breaker at articles.ingest[3]@1234 (the real registry
    of services/runtime/metrics.py, as StageRunner.halted sets it)."""
    m = stage_metrics("fetcher")
    m.consumed.labels("fetcher", "articles.ingest").inc(60)
    m.dead_lettered.labels("fetcher", "malformed_json").inc(49)
    m.lag.labels("fetcher", "articles.ingest", "3").set(12)
    m.halted("breaker_in_a_row", "malformed_json", "articles.ingest", 3, 1234)
    return generate_latest(m.registry).decode()


def test_a_halted_process_says_halted_why_where_and_how_to_restart_it():
    """Issue 10.2: `newsflow status` printed `up` for the halted fetcher."""
    table = status.render({FETCHER: status.parse(_halted_fetcher()), CLEANER: status.parse(FIXTURE)}, now=NOW)
    rows = table.splitlines()
    assert rows[1].split()[:3] == ["fetcher", AT["fetcher"], "HALTED"]
    assert rows[2].split()[3] == "up"  # the cleaner
    assert rows[3] == ""
    assert rows[4] == (
        f"fetcher {AT['fetcher']} HALTED at articles.ingest[3]@1234: its circuit breaker opened: too many systemic "
        "dead letters in a row (the last: malformed_json). Nothing from there on is committed. Look at "
        "`newsflow dlq list --stage fetcher`, fix the cause, then restart with: make restart SERVICE=fetcher "
        "(it resumes at that message)"
    )
    assert len(rows) == 5


def test_a_halted_process_of_a_scaled_out_stage_is_counted_on_the_total_line():
    halted = Endpoint("fetcher", "http://127.0.0.1:40999/metrics", pid=4300)
    healthy = generate_latest(stage_metrics("fetcher").registry).decode()
    samples = {FETCHER: status.parse(healthy), halted: status.parse(_halted_fetcher())}
    rows = status.render(samples, now=NOW).splitlines()
    assert [r.split()[:4] for r in rows[1:3]] == [["fetcher", AT["fetcher"], "up", "0"],
                                                   ["fetcher", "4300", "127.0.0.1:40999", "HALTED"]]
    assert rows[3].split()[:5] == ["fetcher", "total", "2/2", "up,", "1"]
    assert rows[5].startswith("fetcher 127.0.0.1:40999 (pid 4300) HALTED at articles.ingest[3]@1234")


def test_a_process_that_only_reports_its_open_circuit_is_still_halted():
    text = FIXTURE + "# TYPE newsflow_circuit_open gauge\nnewsflow_circuit_open{stage=\"cleaner\"} 1.0\n"
    rows = status.render({CLEANER: status.parse(text)}, now=NOW).splitlines()
    assert rows[1].split()[3] == "HALTED"
    assert "halted (it does not say why: see its log)" in rows[3] and "make restart SERVICE=cleaner" in rows[3]


def test_once_exits_1_when_a_process_is_halted():
    def transport(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, text=_halted_fetcher() if request.url.host == "fetcher" else FIXTURE)

    args = _cli(["status", "--once", "--endpoints", "fetcher=http://fetcher/metrics,cleaner=http://cleaner/metrics"])
    out = io.StringIO()
    with httpx.Client(transport=httpx.MockTransport(transport)) as client:
        assert args.func(args, client=client, out=out) == 1
    assert "restart with: make restart SERVICE=fetcher" in out.getvalue()
