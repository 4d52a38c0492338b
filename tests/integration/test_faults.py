"""The fast subset of the fault campaign (bench/faults.py runs the whole one): dead-letter replay after a
fix, the circuit breaker (open on garbage, never on dead URLs; a halt as `newsflow status` shows it), and a
clean restart, each on a real broker with a pipeline of its own."""

from __future__ import annotations

import signal

import pytest

from schemas.messages import DeadLetter
from schemas.topics import TOPICS
from tests.harness import Pipeline, metric, request, wait_until


@pytest.fixture
def fetcher_only(broker):
    p = Pipeline.start(broker, stages=["fetcher"],
                       extra_env={"NEWSFLOW_FETCHER_DLQ_MAX_CONSECUTIVE": "5", "NEWSFLOW_FETCHER_DLQ_WINDOW": "1000"})
    yield p
    p.stop()


def test_a_dead_letter_replayed_after_the_fix_goes_through(pipeline, web):
    name = request(text="x").article_id
    req = request(url=f"{web}/later/{name}")
    pipeline.push([req])
    [letter] = pipeline.dead_letters(1, timeout=60, where=lambda d: d.key == req.article_id.encode())
    assert letter.reason == "http_status" and letter.attempts == 1

    listed = pipeline.cli("dlq", "list", "--format", "json", "--reason", "http_status", "--timeout", "5")
    letters = [DeadLetter.model_validate_json(line) for line in listed.stdout.splitlines()]
    assert any(d.key == req.article_id.encode() and d.value == req.to_bytes() for d in letters), listed.stdout
    dry = pipeline.cli("dlq", "replay", "--reason", "http_status", "--dry-run", "--timeout", "10")
    assert dry.returncode == 0 and "would be replayed" in dry.stdout

    web.fixed.add(name)  # the fix: the page now exists
    listing = pipeline.read(TOPICS.dlq, lambda got: True, 10)
    offset = next(i for i, d in enumerate(listing) if d.key == req.article_id.encode())
    replay = pipeline.cli("dlq", "replay", "--offsets", str(offset), "--timeout", "20")
    assert replay.returncode == 0 and "1 dead letters replayed" in replay.stdout, replay.stderr
    event = pipeline.wait_enriched([req.article_id], timeout=120)[req.article_id]
    assert "Rotterdam" in event.text


def test_dead_urls_in_a_row_do_not_halt_the_fetcher(fetcher_only, web):
    """Issue 10.1: 55 dead URLs in a row halted the fetcher. Here the limit is 5 in a row, and 12 URLs that are
    each their article's own fate (404, 410, a blocked address, a PDF, a redirect loop) are all dead-lettered;
    the fetcher stays open and the next article goes through."""
    p = fetcher_only
    urls = [f"{web}/status/404", f"{web}/status/410", "http://10.0.0.1/", f"{web}/binary", f"{web}/loop"] * 2
    urls += [f"{web}/status/404", f"{web}/status/403"]
    dead = p.push([request(url=url) for url in urls])
    letters = p.dead_letters(len(dead), timeout=90, where=lambda d: d.key.decode() in dead)
    assert {d.reason for d in letters} == {"http_status", "blocked_address", "unsupported_content",
                                           "too_many_redirects"}
    good = p.push([request(text="A short article after a dozen dead URLs.")])
    p.read(TOPICS.fetched, lambda got: any(a.article_id == good[0] for a in got), 60)
    fetcher = p.services["fetcher"]
    assert fetcher.alive() and metric(fetcher.metrics(), "newsflow_circuit_open", stage="fetcher") == 0


def test_the_circuit_breaker_halts_the_stage_without_committing_past_the_halt(fetcher_only):
    """A producer sending garbage is systemic: the breaker halts the fetcher at the 5th malformed message in a
    row, and `newsflow status` says HALTED, why, at which offset and how to restart it (issue 10.2)."""
    p = fetcher_only
    p.push_raw([f"poison {i}".encode() for i in range(8)], key=b"poison")
    wait_until(lambda: metric(p.services["fetcher"].metrics(), "newsflow_circuit_open", stage="fetcher") == 1,
               60, what="the breaker to open")
    letters = p.dead_letters(4, timeout=30)
    assert len(letters) == 4  # the 5th in a row would cross the limit: held back
    partition = letters[0].partition
    assert [d.offset for d in letters] == [0, 1, 2, 3] and {d.reason for d in letters} == {"malformed_json"}
    fetcher = p.services["fetcher"]
    assert fetcher.alive()
    samples = fetcher.metrics()
    assert metric(samples, "newsflow_messages_dead_lettered_total", stage="fetcher") == 4
    assert metric(samples, "newsflow_halted_offset", stage="fetcher", cause="breaker_in_a_row",
                  reason="malformed_json", topic="articles.ingest", partition=str(partition)) == 4
    wait_until(lambda: metric(fetcher.metrics(), "newsflow_consumer_lag", stage="fetcher") >= 4, 30,
               what="the lag to show the held-back messages")

    shown = p.cli("status", "--once", "--endpoints", f"fetcher=http://127.0.0.1:{fetcher.metrics_port}/metrics")
    assert shown.returncode == 1, shown.stdout + shown.stderr
    rows = shown.stdout.splitlines()
    assert rows[1].split()[:3] == ["fetcher", f"127.0.0.1:{fetcher.metrics_port}", "HALTED"], shown.stdout
    assert (f"HALTED at articles.ingest[{partition}]@4: its circuit breaker opened: too many systemic dead "
            "letters in a row (the last: malformed_json)") in shown.stdout
    assert "restart with: make restart SERVICE=fetcher" in shown.stdout
    assert "make restart SERVICE=fetcher" in fetcher.log(300)  # the halt's log line says it too

    # After a "fix" (here: a higher limit) and a restart, processing resumes at the held-back message.
    assert p.stop_service("fetcher", signal.SIGTERM) == 3  # EXIT_HALTED
    p.env["NEWSFLOW_FETCHER_DLQ_MAX_CONSECUTIVE"] = "0"
    p.start_service("fetcher")
    p.wait_ready("fetcher")
    letters = p.dead_letters(8, timeout=90)
    assert sorted(d.value for d in letters) == sorted(f"poison {i}".encode() for i in range(8))
    good = p.push([request(text="A short article that passes through the fetcher.")])
    p.read(TOPICS.fetched, lambda got: any(a.article_id == good[0] for a in got), 60)
    restarted = p.services["fetcher"].metrics()
    assert metric(restarted, "newsflow_circuit_open", stage="fetcher") == 0
    assert not any(name == "newsflow_halted_offset" for name, _ in restarted)


def test_sigterm_stops_a_service_cleanly_and_a_restart_loses_nothing(fetcher_only):
    p = fetcher_only
    first = p.push([request(text=f"Article {i} before the restart.") for i in range(20)])
    p.read(TOPICS.fetched, lambda got: set(first) <= {a.article_id for a in got}, 60)
    code = p.stop_service("fetcher", signal.SIGTERM)
    assert code == 0, p.services["fetcher"].log()
    second = p.push([request(text=f"Article {i} while it is down.") for i in range(20)])
    p.start_service("fetcher")
    p.wait_ready("fetcher")
    out = p.read(TOPICS.fetched, lambda got: set(first + second) <= {a.article_id for a in got}, 90)
    assert set(first + second) <= {a.article_id for a in out}
