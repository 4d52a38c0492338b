"""Unit tests of ``newsflow status`` (services/cli/status.py): pure rendering, parsing, and the handler
against httpx's MockTransport; no service runs."""

from __future__ import annotations

import argparse
import io
from pathlib import Path

import httpx
import pytest
from prometheus_client import generate_latest

from services.cli import status
from services.runtime.metrics import stage_metrics

FIXTURE = (Path(__file__).parent / "fixtures" / "cleaner.metrics.txt").read_text()
NOW = 1767605400.0 + 75  # 75 s after the fixture's last processed message


def test_render_formats_one_line_per_stage_and_marks_unreachable_ones_down():
    table = status.render({"fetcher": None, "cleaner": status.parse(FIXTURE)}, now=NOW)
    assert table == (
        "stage    state  in  out  dead  lag  in-flight   p95  last processed\n"
        "fetcher  DOWN    -    -     -    -          -     -  -\n"
        "cleaner  up     42   40     2    7          1  25ms  1m15s ago\n"
    )


def test_render_adds_messages_per_second_given_a_previous_refresh():
    before = status.parse(FIXTURE.replace('topic="articles.fetched"} 42.0', 'topic="articles.fetched"} 32.0'))
    table = status.render({"cleaner": status.parse(FIXTURE)}, now=NOW, previous={"cleaner": before}, elapsed=2.0)
    header, row = table.splitlines()
    assert header.split()[3] == "in/s"
    assert row.split()[3] == "5.0"


def test_summarize_a_stage_that_has_not_processed_anything_yet():
    text = generate_latest(stage_metrics("indexer").registry).decode()
    s = status.summarize("indexer", status.parse(text))
    assert s == status.StageStatus("indexer", up=True)
    line = status.render({"indexer": status.parse(text)}, now=NOW).splitlines()[1]
    assert line.split() == ["indexer", "up", "0", "0", "0", "-", "0", "-", "never"]


def test_summarize_reads_the_names_metrics_py_exports():
    """The same numbers through the real registry of services/runtime/metrics.py (guards name drift)."""
    m = stage_metrics("extractor")
    m.consumed.labels("extractor", "articles.cleaned").inc(10)
    m.produced.labels("extractor", "articles.extracted").inc(9)
    m.dead_lettered.labels("extractor", "processing_error").inc()
    m.lag.labels("extractor", "articles.cleaned", "0").set(5)
    m.in_progress.labels("extractor").set(1)
    m.last_processed.labels("extractor").set(NOW - 3)
    for _ in range(10):
        m.processing.labels("extractor").observe(0.2)
    s = status.summarize("extractor", status.parse(generate_latest(m.registry).decode()))
    assert (s.consumed, s.produced, s.dead_lettered, s.lag, s.in_progress) == (10, 9, 1, 5, 1)
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
    with httpx.Client(transport=httpx.MockTransport(_transport)) as client:
        samples = status.fetch(
            client, {"cleaner": "http://cleaner/metrics", "indexer": "http://broken/metrics", "fetcher": "http://gone/metrics"}
        )
    assert samples["cleaner"] and samples["indexer"] is None and samples["fetcher"] is None


def _cli(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="newsflow")
    status.add_parser(parser.add_subparsers(dest="command", required=True))
    return parser.parse_args(argv)


def test_add_parser_defaults_to_the_four_local_endpoints():
    args = _cli(["status"])
    assert args.func is status.run
    assert args.endpoints == {
        "fetcher": "http://127.0.0.1:9101/metrics",
        "cleaner": "http://127.0.0.1:9102/metrics",
        "extractor": "http://127.0.0.1:9103/metrics",
        "indexer": "http://127.0.0.1:9104/metrics",
    }
    assert (args.once, args.count, args.interval) == (False, 0, 2.0)


def test_add_parser_rejects_a_malformed_endpoint_list():
    with pytest.raises(SystemExit):
        _cli(["status", "--endpoints", "fetcher:http://x"])


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
