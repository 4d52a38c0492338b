"""Contracts: every topic is declared once and completely; every example message validates and runs through
the step that consumes it; the checked-in JSON Schemas are fresh and changes stay backward compatible."""

from __future__ import annotations

import asyncio
import json
import re
from datetime import datetime, timezone
from pathlib import Path

import pytest

from schemas import generate, messages
from schemas.topics import TOPICS, TOPICS_DIR, Topic
from services.cleaner.logic import clean
from services.extractor.logic import extract
from services.fetcher.logic import Page, fetch_article
from services.indexer.logic import enrich

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = [(t, i, e) for t in TOPICS for i, e in enumerate(t.examples)]


async def fake_fetch(url: str) -> Page:
    body = "<html><body><article><p>Talks between the United States and Russia will take place in Geneva.</p></article></body></html>"
    return Page(final_url=url, status=200, content_type="text/html", kind="html", body=body, size=len(body))


def run_consumer_step(topic: Topic, message: messages.Message):
    """Run an example through the step of the service that consumes its topic."""
    if topic is TOPICS.ingest:
        return asyncio.run(fetch_article(message, fake_fetch))
    if topic is TOPICS.fetched:
        return clean(message)
    if topic is TOPICS.cleaned:
        return extract(message)
    if topic is TOPICS.extracted:
        return enrich(message, datetime.now(timezone.utc))
    return None  # events.enriched and the DLQ are consumed by users and operators


def test_every_topic_file_is_bound_to_the_registry_and_complete():
    files = sorted(p.stem for p in TOPICS_DIR.glob("*.yaml"))
    assert files == sorted(t.name for t in TOPICS)
    for t in TOPICS:
        assert t.description and t.producers and t.consumers and t.partitions >= 1
        assert "retention.ms" in t.config and t.examples, t.name
        assert issubclass(t.model, messages.Message)


@pytest.mark.parametrize("topic, index, example", EXAMPLES, ids=[f"{t.name}[{i}]" for t, i, _ in EXAMPLES])
def test_every_example_validates_round_trips_and_runs_through_its_step(topic, index, example):
    message = topic.model.model_validate(example)
    assert topic.model.from_bytes(message.to_bytes()) == message
    output = run_consumer_step(topic, message)
    if output is not None:
        assert output.article_id == message.article_id and output.ingested_at == message.ingested_at
        successor = {TOPICS.ingest.name: TOPICS.fetched, TOPICS.fetched.name: TOPICS.cleaned,
                     TOPICS.cleaned.name: TOPICS.extracted, TOPICS.extracted.name: TOPICS.enriched}[topic.name]
        assert isinstance(output, successor.model)


def test_consumers_ignore_unknown_fields():
    example = dict(TOPICS.ingest.examples[0], added_in_a_later_version={"x": 1})
    assert messages.IngestRequest.model_validate(example).url


def test_checked_in_json_schemas_are_fresh_and_compatible():
    assert generate.check() == []


def test_breaking_changes_are_detected():
    old = generate.schema_of(TOPICS.ingest)
    new = json.loads(json.dumps(old))
    del new["properties"]["source"]
    new["required"].append("title")
    new["properties"]["metadata"] = {"type": "string"}
    problems = generate.breaking_changes(old, new)
    assert any("source: removed" in p for p in problems)
    assert any("title: became required" in p for p in problems)
    assert any("metadata: type changed" in p for p in problems)
    added = json.loads(json.dumps(old))
    added["properties"]["new_optional"] = {"type": "string"}
    assert generate.breaking_changes(old, added) == []


def test_code_names_topics_only_through_the_registry():
    literal = re.compile(r"""["'](articles\.(ingest|fetched|cleaned|extracted|dlq)|events\.enriched)["']""")
    offenders = [
        f"{path.relative_to(ROOT)}:{n}"
        for path in (ROOT / "services").rglob("*.py")
        for n, line in enumerate(path.read_text().splitlines(), 1)
        if literal.search(line)
    ]
    assert offenders == []


def test_every_message_is_keyed_by_article_id_and_carries_ingested_at():
    for t in TOPICS:
        if t is TOPICS.dlq or t is TOPICS.dlq_replays:  # operators' topics, about other messages
            continue
        fields = t.model.model_fields
        assert "article_id" in fields and "ingested_at" in fields, t.name
