"""Issue 10 on a real broker: the CLI a user runs every day. Listings end at the end of the topic, a file too
large for articles.ingest is refused without stopping the push, a replay is timed from the replay and marked in
``dlq list``, ``tail --since`` shows only what was produced after a push (a second ``make run``), a truncated text
says so in its event, and ``search`` says "no hits"."""

from __future__ import annotations

import hashlib
import json
import subprocess
from datetime import datetime, timedelta, timezone

from schemas import headers as header
from schemas.messages import DeadLetter, EnrichedEvent, IngestRequest, Replay
from schemas.topics import TOPICS
from services.runtime.clients import consumer, create_topics, producer, schema_headers
from tests.harness import metric, request, wait_until
from tests.integration.test_kafka import cli, prefixed


def send_dead_letters(kafka, count: int) -> None:
    example = DeadLetter.model_validate(TOPICS.dlq.examples[0])
    p = producer(kafka)
    for i in range(count):
        letter = example.model_copy(update={"offset": 1000 + i, "key": f"k{i}".encode()})
        p.send(kafka.topic(TOPICS.dlq.name), key=letter.key, value=letter.to_bytes(),
               headers=schema_headers(TOPICS.dlq))
    p.flush()
    p.close()


def test_dlq_list_and_tail_from_the_beginning_end_at_the_end_of_the_topic_unless_following(broker):
    kafka = prefixed(broker)
    create_topics(kafka)
    send_dead_letters(kafka, 3)
    try:
        listed = cli(kafka, "dlq", "list")  # no --timeout: it must end by itself (cli() gives up after 120 s)
    except subprocess.TimeoutExpired:
        raise AssertionError("newsflow dlq list did not exit at the end of the topic") from None
    assert listed.returncode == 0, listed.stderr
    assert len(listed.stdout.splitlines()) == 3 and "malformed_json" in listed.stdout
    as_json = cli(kafka, "dlq", "list", "--format", "json", "--stage", "fetcher")
    assert [json.loads(line)["dlq_offset"] for line in as_json.stdout.splitlines()] == [0, 1, 2]
    assert cli(kafka, "dlq", "list", "--stage", "indexer").stderr.strip() == "newsflow dlq list: no dead letters match"

    followed = cli(kafka, "dlq", "list", "--follow", "--timeout", "4")  # waits past the end, until the timeout
    assert followed.returncode == 0 and len(followed.stdout.splitlines()) == 3

    example = EnrichedEvent.model_validate(TOPICS.enriched.examples[0])
    p = producer(kafka)
    for i in range(2):
        event = example.model_copy(update={"article_id": f"ev-{i}"})
        p.send(kafka.topic(TOPICS.enriched.name), key=event.article_id.encode(), value=event.to_bytes())
    p.flush()
    p.close()
    tail = cli(kafka, "tail", "--from-beginning", "--format", "json")
    assert tail.returncode == 0
    assert sorted(json.loads(x)["article_id"] for x in tail.stdout.splitlines()) == ["ev-0", "ev-1"]
    empty = cli(kafka, "dlq", "list", "--from-beginning")  # an empty topic too
    assert empty.returncode == 0


def test_a_file_too_large_for_the_topic_is_refused_in_one_line_and_the_rest_is_pushed(broker, tmp_path):
    kafka = prefixed(broker)
    create_topics(kafka)
    big = tmp_path / "a_big.txt"
    big.write_text("word " * (12 * 1024 * 1024 // 5))  # 12 MiB
    (tmp_path / "b_small.txt").write_text("A small article: the talks in Geneva start on Monday.")
    (tmp_path / "c_small.html").write_text("<p>Another one, about a storm in Brittany.</p>")
    pushed = cli(kafka, "push", str(tmp_path))
    limit = int(TOPICS.ingest.config["max.message.bytes"])
    assert pushed.returncode == 1
    assert "Traceback" not in pushed.stderr
    [refusal] = pushed.stderr.splitlines()
    assert str(big) in refusal and f"{limit:,}" in refusal and "max.message.bytes" in refusal
    assert [line.split("\t")[1] for line in pushed.stdout.splitlines()] == [
        str(tmp_path / "b_small.txt"), str(tmp_path / "c_small.html")]
    c = consumer(kafka, TOPICS.ingest, from_beginning=True, timeout_ms=3000)
    records = list(c)
    c.close()
    assert len(records) == 2


def test_a_replay_is_timed_from_the_replay_keeps_its_ingest_time_and_is_marked_in_dlq_list(pipeline, web):
    name = request(text="x").article_id
    long_ago = datetime.now(timezone.utc) - timedelta(hours=1)  # pushed an hour ago, dead-lettered since
    req = request(url=f"{web}/later/{name}").model_copy(update={"ingested_at": long_ago})
    pipeline.push([req])
    pipeline.dead_letters(1, timeout=60, where=lambda d: d.key == req.article_id.encode())
    listing = pipeline.read(TOPICS.dlq, lambda got: True, 10)
    offset = next(i for i, d in enumerate(listing) if d.key == req.article_id.encode())
    indexer = pipeline.services["indexer"]
    before = indexer.metrics()

    web.fixed.add(name)
    replay = pipeline.cli("dlq", "replay", "--offsets", str(offset))
    assert replay.returncode == 0, replay.stderr
    event = pipeline.wait_enriched([req.article_id], timeout=120)[req.article_id]
    assert event.ingested_at == long_ago and event.replayed_at is not None and event.replayed_at > long_ago
    assert event.end_to_end_seconds < 600, event.end_to_end_seconds  # not the hour the dead letter waited

    def observed():
        after = indexer.metrics()
        count = metric(after, "newsflow_end_to_end_latency_seconds_count") - metric(
            before, "newsflow_end_to_end_latency_seconds_count")
        return count >= 1 and (after, count)

    after, count = wait_until(observed, 30, what="the indexer to observe the replayed article's latency")
    added = metric(after, "newsflow_end_to_end_latency_seconds_sum") - metric(
        before, "newsflow_end_to_end_latency_seconds_sum")
    assert added < 600 * count, added

    listed = pipeline.cli("dlq", "list", "--offsets", str(offset))
    assert listed.returncode == 0 and "replayed " in listed.stdout, listed.stdout
    [line] = pipeline.cli("dlq", "list", "--offsets", str(offset), "--format", "json").stdout.splitlines()
    last = json.loads(line)["last_replay"]
    assert last["topic"] == pipeline.kafka.topic(TOPICS.ingest.name) and last["dlq_offset"] == offset
    assert f"{last['topic']}/{last['partition']}/{last['offset']}" in listed.stdout
    assert f"-> {last['topic']}/{last['partition']}/{last['offset']}" in replay.stdout


def test_tail_since_a_push_shows_the_events_of_that_push_not_the_earlier_ones(pipeline):
    text = "The port of Rotterdam reopened on Friday after a two-day strike, the harbour authority said."
    first = request(text=text)
    pipeline.push([first])
    old = pipeline.wait_enriched([first.article_id], timeout=120)[first.article_id]

    since = datetime.now(timezone.utc)
    again = IngestRequest(article_id=first.article_id, ingested_at=since, text=text)  # a second `make run`
    pipeline.push([again])
    shown = pipeline.cli("tail", "--since", since.isoformat(), "--ids", first.article_id, "--format", "json",
                         "--timeout", "120")
    assert shown.returncode == 0, shown.stderr
    [line] = shown.stdout.splitlines()
    new = EnrichedEvent.model_validate_json(line)
    assert new.indexed_at > since > old.indexed_at and new.ingested_at == since


def test_a_text_longer_than_the_extractor_analyses_says_so_in_its_event(pipeline):
    sentence = "Officials in Geneva said on Monday that the talks would resume next week, Reuters reported. "
    text = sentence * (100_000 // len(sentence) + 20)
    [article_id] = pipeline.push_texts([text])
    event = pipeline.wait_enriched([article_id], timeout=240)[article_id]
    x = event.extraction
    assert len(event.text) > 100_000
    assert x.truncated and x.analysed_chars == 100_000
    assert all(e.end <= 100_000 for e in x.entities)


def test_search_without_hits_says_so_on_stderr_and_exits_1(pipeline):
    [article_id] = pipeline.push_texts(["The harbour of Gdansk froze over for the first time in forty years."])
    pipeline.wait_enriched([article_id], timeout=120)
    none = pipeline.cli("search", "zyxwvutsrq")
    assert none.returncode == 1 and none.stdout == "" and "no hits" in none.stderr
    found = pipeline.cli("search", "Gdansk")
    assert found.returncode == 0 and article_id in found.stdout


def test_a_dead_letter_kept_by_reference_is_replayed_whole_from_its_source_offset_and_recorded(broker):
    kafka = prefixed(broker)
    create_topics(kafka)
    original = IngestRequest(article_id="big-1", ingested_at=datetime.now(timezone.utc) - timedelta(hours=2),
                             text="A long story about the harbour. " * 8000)  # ~256 KB: over the 64 KiB kept
    raw = original.to_bytes()
    ingest_topic = kafka.topic(TOPICS.ingest.name)
    p = producer(kafka)
    at = p.send(ingest_topic, key=b"big-1", value=raw, headers=schema_headers(TOPICS.ingest)).get(30)
    letter = DeadLetter(stage="fetcher", reason="processing_error", detail="a bug", error_class="RuntimeError",
                        source_topic=ingest_topic, partition=at.partition, offset=at.offset, key=b"big-1",
                        value=raw[:65536], value_truncated=True, value_size=len(raw),
                        value_sha256=hashlib.sha256(raw).hexdigest(), failed_at=datetime.now(timezone.utc))
    p.send(kafka.topic(TOPICS.dlq.name), key=b"big-1", value=letter.to_bytes()).get(30)
    p.close()

    replay = cli(kafka, "dlq", "replay", "--all")
    assert replay.returncode == 0 and "1 dead letters replayed" in replay.stdout, replay.stderr
    c = consumer(kafka, TOPICS.ingest, from_beginning=True, timeout_ms=3000)
    records = [r for r in c if r.key == b"big-1"]
    c.close()
    assert len(records) == 2
    again = IngestRequest.from_bytes(records[1].value)
    assert again.text == original.text and again.ingested_at == original.ingested_at and again.replayed_at
    headers = dict(records[1].headers)
    assert headers[header.REPLAYED_FROM] == f"{kafka.topic(TOPICS.dlq.name)}/0".encode()
    assert header.REPLAYED_AT in headers

    c = consumer(kafka, TOPICS.dlq_replays, from_beginning=True, timeout_ms=3000)
    [recorded] = [Replay.model_validate_json(r.value) for r in c]
    c.close()
    assert (recorded.dlq_offset, recorded.partition, recorded.offset) == (0, records[1].partition, records[1].offset)
    listed = cli(kafka, "dlq", "list")
    assert f"replayed {recorded.replayed_at:%Y-%m-%d %H:%M:%S} -> {ingest_topic}/{recorded.partition}/" \
           f"{recorded.offset}" in listed.stdout, listed.stdout
