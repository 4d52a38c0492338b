"""kafka-python edges against the real broker: topic administration, `newsflow push`, `newsflow tail`.
Each test uses a topic prefix of its own."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid

from kafka import KafkaAdminClient
from kafka.admin import ConfigResource, ConfigResourceType

from schemas import headers as header
from schemas.messages import EnrichedEvent, IngestRequest
from schemas.topics import TOPICS
from services.runtime.clients import consumer, create_topics, producer, schema_headers
from tests.harness.seeds import ROOT, SEEDS


def prefixed(broker):
    return broker.kafka(f"i{uuid.uuid4().hex[:8]}.")


def cli(kafka, *args, input=None):
    env = {**os.environ, "NEWSFLOW_KAFKA_BOOTSTRAP_SERVERS": kafka.bootstrap_servers,
           "NEWSFLOW_KAFKA_TOPIC_PREFIX": kafka.topic_prefix}
    return subprocess.run([sys.executable, "-m", "services.cli", *args], cwd=ROOT, env=env, input=input,
                          capture_output=True, text=True, timeout=120)


def test_topics_are_created_from_the_registry_once_with_their_settings(broker):
    kafka = prefixed(broker)
    assert sorted(create_topics(kafka)) == sorted(kafka.topic(t.name) for t in TOPICS)
    assert create_topics(kafka) == []  # idempotent
    admin = KafkaAdminClient(**kafka.kafka_python_config())
    try:
        [described] = admin.describe_topics([kafka.topic(TOPICS.ingest.name)])
        assert len(described["partitions"]) == TOPICS.ingest.partitions
        configs = admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, kafka.topic(TOPICS.ingest.name))])
        text = repr(configs)
        assert TOPICS.ingest.config["retention.ms"] in text
    finally:
        admin.close()


def test_push_sends_files_folders_urls_and_jsonl_keyed_by_article_id(broker):
    kafka = prefixed(broker)
    create_topics(kafka)
    pushed = cli(kafka, "push", str(SEEDS), "https://news.example.com/a#frag")
    assert pushed.returncode == 0, pushed.stderr
    lines = [line.split("\t") for line in pushed.stdout.splitlines()]
    seed_files = sorted(p for p in SEEDS.iterdir() if p.suffix in (".txt", ".html"))
    assert len(lines) == len(seed_files) + 1
    jsonl = '{"text": "Inline text one."}\n\n{"article_id": "my-id-1", "html": "<p>x</p>", "title": "T"}\n'
    piped = cli(kafka, "push", input=jsonl)
    assert piped.returncode == 0, piped.stderr
    assert piped.stdout.splitlines()[1].startswith("my-id-1\t")

    c = consumer(kafka, TOPICS.ingest, from_beginning=True, timeout_ms=3000)
    records = [r for r in c]
    c.close()
    assert len(records) == len(lines) + 2
    for r in records:
        request = IngestRequest.from_bytes(r.value)
        assert r.key == request.article_id.encode()
        assert dict(r.headers)[header.SCHEMA] == b"IngestRequest/v1"
    kinds = {IngestRequest.from_bytes(r.value).article_id: IngestRequest.from_bytes(r.value) for r in records}
    assert kinds["my-id-1"].html == "<p>x</p>" and kinds["my-id-1"].title == "T"
    assert any(r.url == "https://news.example.com/a#frag" for r in kinds.values())
    assert sum(r.html is not None for r in kinds.values()) == 1 + sum(p.suffix == ".html" for p in seed_files)


def test_push_refuses_bad_input_with_a_clear_error_and_pushes_nothing(broker):
    kafka = prefixed(broker)
    create_topics(kafka)
    bad = cli(kafka, "push", input='{"text": "fine"}\nnot json\n')
    assert bad.returncode == 2 and "<stdin>:2" in bad.stderr and bad.stdout == ""
    missing = cli(kafka, "push", "/nonexistent/file.txt")
    assert missing.returncode == 2 and "no such file" in missing.stderr
    both = cli(kafka, "push", input='{"text": "a", "url": "https://x.example/"}\n')
    assert both.returncode == 2 and "exactly one of" in both.stderr


def test_tail_prints_events_as_json_or_summaries_and_stops_on_count_or_timeout(broker):
    kafka = prefixed(broker)
    create_topics(kafka)
    example = EnrichedEvent.model_validate(TOPICS.enriched.examples[0])
    p = producer(kafka)
    for i in range(3):
        event = example.model_copy(update={"article_id": f"ev-{i}"})
        p.send(kafka.topic(TOPICS.enriched.name), key=event.article_id.encode(), value=event.to_bytes(),
               headers=schema_headers(TOPICS.enriched))
    p.flush()
    p.close()
    as_json = cli(kafka, "tail", "--from-beginning", "--format", "json", "--count", "3", "--timeout", "60")
    assert as_json.returncode == 0, as_json.stderr
    ids = sorted(json.loads(line)["article_id"] for line in as_json.stdout.splitlines())
    assert ids == ["ev-0", "ev-1", "ev-2"]
    summary = cli(kafka, "tail", "--from-beginning", "--ids", "ev-1", "--timeout", "60")
    assert summary.returncode == 0 and summary.stdout.startswith("ev-1  ") and "people=1" in summary.stdout
    nothing = cli(kafka, "tail", "--from-now", "--count", "1", "--timeout", "3")
    assert nothing.returncode == 1 and nothing.stdout == ""
