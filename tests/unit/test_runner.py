"""The stage runner's contract, without a broker: every delivery ends as one output or one dead letter."""

from __future__ import annotations

import asyncio
import hashlib
from datetime import datetime, timezone

import pytest

from schemas import headers as header
from schemas.messages import DeadLetter, FetchedArticle, IngestRequest, StageName
from schemas.topics import TOPICS
from services.fetcher.logic import passthrough
from services.runtime.errors import PermanentError, Reason, TransientError
from services.runtime.metrics import stage_metrics
from services.runtime.settings import KafkaSettings, StageSettings
from services.runtime.stage import Delivery, Stage, StageRunner

NOW = datetime(2026, 1, 5, 9, 30, tzinfo=timezone.utc)


class Settings(StageSettings):
    metrics_port: int = 0
    web_port: int = 0
    max_attempts: int = 3


def make_runner(step, prefix=""):
    sent: list[tuple[str, bytes, bytes, list]] = []
    sleeps: list[float] = []

    async def send(topic, key, value, headers):
        sent.append((topic, key, value, headers))

    async def sleep(seconds):
        sleeps.append(seconds)

    stage = Stage(StageName.fetcher, TOPICS.ingest, TOPICS.fetched, step)
    runner = StageRunner(stage, Settings(), KafkaSettings(topic_prefix=prefix), stage_metrics("fetcher"), send, sleep=sleep)
    return runner, sent, sleeps


def delivery(value: bytes, offset: int = 7) -> Delivery:
    return Delivery(topic="articles.ingest", partition=2, offset=offset, key=b"k1", value=value, headers={"h": "v"})


def text_request(text="Some article text.") -> bytes:
    return IngestRequest(article_id="a1", ingested_at=NOW, text=text).to_bytes()


def run(coro):
    return asyncio.run(coro)


def sample(runner, name, **labels):
    return runner.metrics.registry.get_sample_value(name, labels) or 0.0


def test_a_good_message_is_produced_keyed_by_article_id_with_its_timing():
    runner, sent, _ = make_runner(passthrough, prefix="p.")
    out = run(runner.handle(delivery(text_request())))
    assert isinstance(out, FetchedArticle)
    [(topic, key, value, headers)] = sent
    assert (topic, key) == ("p.articles.fetched", b"a1")
    assert (header.SCHEMA, b"FetchedArticle/v1") in headers
    produced = FetchedArticle.from_bytes(value)
    assert produced.body == "Some article text." and produced.kind == "text"
    assert [t.stage for t in produced.timings] == [StageName.fetcher]
    assert sample(runner, "newsflow_messages_consumed_total", stage="fetcher", topic="articles.ingest") == 1
    assert sample(runner, "newsflow_messages_produced_total", stage="fetcher", topic="articles.fetched") == 1
    assert sample(runner, "newsflow_messages_in_progress", stage="fetcher") == 0


@pytest.mark.parametrize(
    "value, reason",
    [
        (b"not json at all", "malformed_json"),
        (b"\xff\xfe\x00garbage", "malformed_json"),
        (b'{"article_id": "a1"}', "invalid_message"),  # fields missing
        (b'{"article_id": "a1", "ingested_at": "2026-01-05T09:30:00Z"}', "invalid_message"),  # no body
        (b'{"article_id": "a1", "ingested_at": "2026-01-05T09:30:00Z", "url": "ftp://x", "text": "t"}', "invalid_message"),
        (b'[1, 2, 3]', "invalid_message"),
    ],
)
def test_bad_input_is_dead_lettered_with_its_reason_and_original_bytes(value, reason):
    runner, sent, _ = make_runner(passthrough)
    letter = run(runner.handle(delivery(value)))
    assert isinstance(letter, DeadLetter)
    [(topic, key, raw, headers)] = sent
    assert topic == "articles.dlq" and key == b"k1"
    parsed = DeadLetter.from_bytes(raw)
    assert parsed.value == value  # the original bytes, unchanged
    assert parsed.reason == reason and parsed.stage == StageName.fetcher
    assert (parsed.source_topic, parsed.partition, parsed.offset) == ("articles.ingest", 2, 7)
    assert dict(headers)[header.REASON] == reason.encode()
    assert dict(headers)[header.SOURCE] == b"articles.ingest/2/7"
    assert sample(runner, "newsflow_messages_dead_lettered_total", stage="fetcher", reason=reason) == 1


def test_transient_failures_are_retried_with_backoff_then_succeed():
    calls = []

    async def flaky(request):
        calls.append(1)
        if len(calls) < 3:
            raise TransientError("HTTP 503 from example.com")
        return passthrough(request)

    runner, sent, sleeps = make_runner(flaky)
    out = run(runner.handle(delivery(text_request())))
    assert isinstance(out, FetchedArticle) and len(calls) == 3
    assert sleeps == [0.5, 1.0]
    assert [t for t, *_ in sent] == ["articles.fetched"]
    assert sample(runner, "newsflow_messages_retried_total", stage="fetcher", reason="http_unavailable") == 2


def test_transient_failures_that_never_end_are_dead_lettered_after_max_attempts():
    async def down(request):
        raise TransientError("HTTP 503 from example.com")

    runner, sent, sleeps = make_runner(down)
    letter = run(runner.handle(delivery(text_request())))
    assert isinstance(letter, DeadLetter) and letter.reason == "http_unavailable"
    assert "after 3 attempts" in letter.detail and len(sleeps) == 2


def test_a_permanent_error_from_the_step_is_dead_lettered():
    def refuse(request):
        raise PermanentError("HTTP 404 from example.com", Reason.http_status)

    runner, sent, _ = make_runner(refuse)
    letter = run(runner.handle(delivery(text_request())))
    assert letter.reason == "http_status" and letter.detail == "HTTP 404 from example.com"


def test_a_bug_in_a_step_dead_letters_the_message_and_the_runner_keeps_going():
    def buggy(request):
        raise ZeroDivisionError("division by zero")

    runner, sent, _ = make_runner(buggy)
    letter = run(runner.handle(delivery(text_request())))
    assert letter.reason == "processing_error" and letter.error_class == "ZeroDivisionError"
    # the next message still goes through the same runner
    runner.stage = Stage(StageName.fetcher, TOPICS.ingest, TOPICS.fetched, passthrough)
    assert isinstance(run(runner.handle(delivery(text_request(), offset=8))), FetchedArticle)


def test_an_output_over_the_message_limit_is_dead_lettered():
    runner, sent, _ = make_runner(passthrough)
    assert runner.sink_limit == TOPICS.fetched.max_message_bytes  # from the topic registry
    runner.sink_limit = 1000
    letter = run(runner.handle(delivery(text_request("x" * 5000))))
    assert letter.reason == "message_too_large"


def test_lag_is_high_watermark_minus_next_offset():
    runner, _, _ = make_runner(passthrough)
    runner.update_lag({("articles.ingest", 2): 50, ("articles.ingest", 3): 9},
                      {("articles.ingest", 2): 42, ("articles.ingest", 3): 4})
    assert sample(runner, "newsflow_consumer_lag", stage="fetcher", topic="articles.ingest", partition="2") == 8
    assert sample(runner, "newsflow_consumer_lag", stage="fetcher", topic="articles.ingest", partition="3") == 5
    # partition 2 moved to another process: its series goes, so lag summed over processes counts it once
    runner.update_lag({("articles.ingest", 3): 9}, {("articles.ingest", 3): 9})
    assert runner.metrics.registry.get_sample_value(
        "newsflow_consumer_lag", {"stage": "fetcher", "topic": "articles.ingest", "partition": "2"}) is None
    assert sample(runner, "newsflow_consumer_lag", stage="fetcher", topic="articles.ingest", partition="3") == 0


def test_replayed_messages_count_their_attempts():
    runner, sent, _ = make_runner(passthrough)
    replayed = Delivery(topic="articles.ingest", partition=0, offset=3, key=b"k", value=b"nope",
                        headers={header.ATTEMPTS: "2"})
    letter = run(runner.handle(replayed))
    assert letter.attempts == 3 and dict(sent[0][3])[header.ATTEMPTS] == b"3"


def test_the_circuit_breaker_halts_before_the_dead_letter_that_crosses_the_limit():
    from services.runtime.breaker import CircuitOpen

    runner, sent, _ = make_runner(passthrough)
    runner.breaker.max_consecutive = 5
    for offset in range(4):
        run(runner.handle(delivery(b"bad", offset=offset)))
    run(runner.handle(delivery(text_request(), offset=4)))  # a good one resets the run
    for offset in range(5, 9):
        run(runner.handle(delivery(b"bad", offset=offset)))
    with pytest.raises(CircuitOpen, match="5 systemic dead letters in a row, the last malformed_json") as opened:
        run(runner.handle(delivery(b"bad", offset=9)))
    assert (opened.value.rule, opened.value.reason) == ("in_a_row", Reason.malformed_json)
    assert len([s for s in sent if s[0] == "articles.dlq"]) == 8  # the 9th bad one was not dead-lettered
    assert sample(runner, "newsflow_circuit_open", stage="fetcher") == 1


def _fails_with(reason: Reason):
    def step(request):
        raise PermanentError(f"the article's fate: {reason.value}", reason)
    return step


ARTICLE_OUTCOMES = [Reason.http_status, Reason.blocked_address, Reason.too_large, Reason.unsupported_content,
                    Reason.empty_content, Reason.robots_disallowed, Reason.invalid_url, Reason.too_many_redirects,
                    Reason.http_unavailable, Reason.message_too_large]


@pytest.mark.parametrize("reason", ARTICLE_OUTCOMES, ids=lambda r: r.value)
def test_an_articles_own_outcome_never_trips_the_breaker_however_many_in_a_row(reason):
    """Issue 10.1: 55 dead URLs in a row halted the fetcher (limit 50). Each is that article's fate, not a sign
    that the stage is broken: all 55 are dead-lettered, with the default limits, and the stage goes on."""
    runner, sent, _ = make_runner(_fails_with(reason))
    letters = [run(runner.handle(delivery(text_request(), offset=i))) for i in range(55)]
    assert all(isinstance(d, DeadLetter) and d.reason == reason.value for d in letters)
    assert len([s for s in sent if s[0] == "articles.dlq"]) == 55
    assert sample(runner, "newsflow_circuit_open", stage="fetcher") == 0


@pytest.mark.parametrize("reason", [Reason.processing_error, Reason.malformed_json, Reason.invalid_message,
                                    Reason.broker_unavailable], ids=lambda r: r.value)
def test_a_systemic_reason_trips_the_breaker(reason):
    """A bug, a producer sending garbage, a broker that does not take outputs: the stage or its input is broken."""
    from services.runtime.breaker import CircuitOpen

    runner, sent, _ = make_runner(_fails_with(reason))
    runner.breaker.max_consecutive = 5
    for offset in range(4):
        run(runner.handle(delivery(text_request(), offset=offset)))
    with pytest.raises(CircuitOpen) as opened:
        run(runner.handle(delivery(text_request(), offset=4)))
    assert opened.value.reason == reason and len(sent) == 4


def test_a_bug_in_a_step_counts_as_processing_error():
    from services.runtime.breaker import CircuitOpen

    def buggy(request):
        raise KeyError("title")

    runner, sent, _ = make_runner(buggy)
    runner.breaker.max_consecutive = 3
    run(runner.handle(delivery(text_request(), offset=0)))
    run(runner.handle(delivery(text_request(), offset=1)))
    with pytest.raises(CircuitOpen) as opened:
        run(runner.handle(delivery(text_request(), offset=2)))
    assert opened.value.reason == Reason.processing_error


def test_article_outcomes_between_systemic_failures_neither_count_nor_reset_the_run():
    from services.runtime.breaker import CircuitBreaker, CircuitOpen

    breaker = CircuitBreaker(max_consecutive=5, max_ratio=0)
    for _ in range(4):
        breaker.before_dead_letter(Reason.malformed_json)
        for _ in range(20):
            breaker.before_dead_letter(Reason.http_status)  # a feed full of removed pages, in between
    with pytest.raises(CircuitOpen, match="5 systemic dead letters in a row"):
        breaker.before_dead_letter(Reason.malformed_json)


def test_the_circuit_breaker_also_trips_on_a_high_share_of_dead_letters():
    from services.runtime.breaker import CircuitBreaker, CircuitOpen

    breaker = CircuitBreaker(max_consecutive=0, max_ratio=0.5, window=10)
    for i in range(9):  # alternate: 50% never exceeds the limit
        breaker.before_dead_letter(Reason.invalid_message) if i % 2 else breaker.processed()
        breaker.before_dead_letter(Reason.empty_content)  # left out of the window
    breaker.processed()
    for _ in range(2):  # 5 of the last 10: at the limit, not above it
        breaker.before_dead_letter(Reason.processing_error)
    with pytest.raises(CircuitOpen, match="60% of the last 10") as opened:
        breaker.before_dead_letter(Reason.processing_error)
    assert opened.value.rule == "share"


def test_breaker_reasons_is_a_comma_separated_setting(monkeypatch):
    """NEWSFLOW_<SERVICE>_BREAKER_REASONS: the default is the systemic reasons; a list replaces it (here the
    fetcher also halts when every site stays unavailable); empty turns the breaker off; a typo fails at start."""
    from services.runtime.breaker import SYSTEMIC, CircuitOpen
    from services.fetcher.settings import FetcherSettings

    assert FetcherSettings().breaker_reasons == SYSTEMIC
    systemic = {"processing_error", "malformed_json", "invalid_message", "broker_unavailable"}
    assert {r.value for r in SYSTEMIC} == systemic
    monkeypatch.setenv("NEWSFLOW_FETCHER_BREAKER_REASONS", "processing_error, http_unavailable")
    assert FetcherSettings().breaker_reasons == {Reason.processing_error, Reason.http_unavailable}
    monkeypatch.setenv("NEWSFLOW_FETCHER_BREAKER_REASONS", "")
    assert FetcherSettings().breaker_reasons == frozenset()
    monkeypatch.setenv("NEWSFLOW_FETCHER_BREAKER_REASONS", "processing_eror")
    with pytest.raises(ValueError, match="unknown reasons"):
        FetcherSettings()

    settings = Settings(breaker_reasons="http_unavailable", dlq_max_consecutive=3)
    runner = StageRunner(Stage(StageName.fetcher, TOPICS.ingest, TOPICS.fetched, _fails_with(Reason.http_unavailable)),
                         settings, KafkaSettings(), stage_metrics("fetcher"), make_runner(passthrough)[0].send)
    run(runner.handle(delivery(text_request(), offset=0)))
    run(runner.handle(delivery(b"not json", offset=1)))  # malformed_json is no longer counted
    run(runner.handle(delivery(text_request(), offset=2)))
    with pytest.raises(CircuitOpen):
        run(runner.handle(delivery(text_request(), offset=3)))


def test_a_halt_is_exported_with_its_cause_reason_and_offset():
    """Issue 10.2: what `newsflow status` and the dashboard read: newsflow_circuit_open 1, and one series of
    newsflow_halted_offset naming the cause, the reason, the topic and partition, valued at the offset."""
    from services.runtime.breaker import CircuitOpen

    runner, _, _ = make_runner(passthrough)
    runner.breaker.max_consecutive = 1
    held = Delivery(topic="p.articles.ingest", partition=3, offset=1234, key=b"k", value=b"garbage")
    with pytest.raises(CircuitOpen) as opened:
        run(runner.handle(held))
    assert sample(runner, "newsflow_halted_offset", stage="fetcher", cause="breaker_in_a_row",
                  reason="malformed_json", topic="articles.ingest", partition="3") == 0  # not halted yet
    runner.halted(opened.value, held)
    labels = dict(stage="fetcher", cause="breaker_in_a_row", reason="malformed_json", topic="articles.ingest",
                  partition="3")
    assert sample(runner, "newsflow_halted_offset", **labels) == 1234
    assert sample(runner, "newsflow_circuit_open", stage="fetcher") == 1

    other, _, _ = make_runner(passthrough)
    other.halted(PermanentError("the broker refused a record", Reason.message_too_large), held)
    assert sample(other, "newsflow_halted_offset", **{**labels, "cause": "undeliverable",
                                                      "reason": "message_too_large"}) == 1234


def test_broker_trouble_is_retried_until_the_broker_takes_the_message_never_dead_lettered():
    failures = [TransientError("KafkaTimeoutError: no leader", Reason.broker_unavailable)] * 5
    runner, sent, sleeps = make_runner(passthrough)
    ok_send = runner.send

    async def flaky_send(*args):
        if failures:
            raise failures.pop()
        await ok_send(*args)

    runner.send = flaky_send
    out = run(runner.handle(delivery(text_request())))
    assert isinstance(out, FetchedArticle) and [t for t, *_ in sent] == ["articles.fetched"]
    assert sleeps == [0.5, 1.0, 2.0, 4.0, 8.0]
    assert sample(runner, "newsflow_messages_retried_total", stage="fetcher", reason="broker_unavailable") == 5


def test_a_record_the_broker_refuses_is_dead_lettered_and_an_oversize_original_is_kept_by_reference():
    runner, sent, _ = make_runner(passthrough)
    ok_send = runner.send

    async def picky_send(topic, key, value, headers):
        if topic == "articles.fetched":
            raise PermanentError("the broker refused a record", Reason.message_too_large)
        await ok_send(topic, key, value, headers)

    runner.send = picky_send
    assert runner.dlq_limit == TOPICS.dlq.max_message_bytes
    runner.dlq_limit = 200_000
    big = text_request("y" * 180_000)  # fits as the original, not as a base64 dead letter
    letter = run(runner.handle(delivery(big)))
    assert letter.reason == "message_too_large" and letter.value_truncated
    assert letter.value_size == len(big) and len(letter.value) == 64 * 1024 and big.startswith(letter.value)
    [(topic, _, raw, _)] = sent
    assert topic == "articles.dlq" and len(raw) <= 200_000
    assert DeadLetter.from_bytes(raw).value_sha256 == hashlib.sha256(big).hexdigest()


def test_the_header_names_on_the_wire():
    # the one place the wire names are written in tests: everything else uses schemas.headers
    assert {name: getattr(header, name) for name in dir(header) if name.isupper()} == {
        "SCHEMA": "newsflow-schema", "ATTEMPTS": "newsflow-attempts", "STAGE": "newsflow-stage",
        "REASON": "newsflow-reason", "ERROR_CLASS": "newsflow-error-class", "SOURCE": "newsflow-source",
        "REPLAYED_AT": "newsflow-replayed-at", "REPLAYED_FROM": "newsflow-replayed-from",
    }


def test_a_dead_letter_s_headers_repeat_its_stage_reason_class_source_and_attempts():
    runner, sent, _ = make_runner(passthrough)
    run(runner.handle(delivery(b"not json")))
    [(_, _, _, headers)] = sent
    assert headers == [(header.SCHEMA, b"DeadLetter/v1"), (header.STAGE, b"fetcher"),
                       (header.REASON, b"malformed_json"), (header.ERROR_CLASS, b"PermanentError"),
                       (header.SOURCE, b"articles.ingest/2/7"), (header.ATTEMPTS, b"1")]
