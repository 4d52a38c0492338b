"""Stories on a real broker (issue 12): the indexer groups syndicated copies as they stream in, and a
redelivered, replayed or re-pushed article never makes a second story or a second document, across a kill -9
of the indexer. Only the indexer runs; the test produces ExtractedArticles to its input topic."""

from __future__ import annotations

import sqlite3
import time
from datetime import datetime, timezone
from pathlib import Path

import pytest

from schemas.messages import EnrichedEvent, ExtractedArticle, Extraction
from schemas.topics import TOPICS
from services.runtime.clients import schema_headers
from tests.harness import Pipeline, wait_until

SEEDS = Path(__file__).resolve().parents[2] / "seeds"
WIRE = [p for p in (SEEDS / "000_81597562a20f18e4.txt").read_text().split("\n\n") if p.strip()]
BANK = [p for p in (SEEDS / "003_central_bank_rates.txt").read_text().split("\n\n") if p.strip()]
VACCINE = [p for p in (SEEDS / "004_vaccine_trial.txt").read_text().split("\n\n") if p.strip()]


def extracted(article_id: str, paras: list[str], site: str) -> ExtractedArticle:
    return ExtractedArticle(article_id=article_id, ingested_at=datetime.now(timezone.utc), text="\n\n".join(paras),
                            url=f"https://{site}/{article_id}", extraction=Extraction(language="en"))


@pytest.fixture
def indexer(broker):
    p = Pipeline.start(broker, stages=["indexer"])
    yield p
    p.stop()


def produce(p: Pipeline, articles: list[ExtractedArticle]) -> None:
    producer = p.producer()
    for a in articles:
        producer.send(p.kafka.topic(TOPICS.extracted.name), key=a.article_id.encode(), value=a.to_bytes(),
                      headers=schema_headers(TOPICS.extracted)).get(30)
    producer.close()


def story_rows(p: Pipeline) -> dict[str, str]:
    db = sqlite3.connect(f"file:{p.db_path}?mode=ro", uri=True)
    try:
        db.execute("PRAGMA busy_timeout=5000")
        return dict(db.execute("SELECT article_id, story_id FROM story_members"))
    finally:
        db.close()


def test_copies_form_one_story_and_redeliveries_across_a_kill_add_nothing(indexer):
    p = indexer
    wire = extracted("wire-1", WIRE, "wire.example")
    copies = [
        extracted("paper-1", ["Russia sets out demands", *WIRE[1:]], "paper.example"),
        extracted("radio-1", WIRE[: len(WIRE) // 2 + 2], "radio.example"),
        extracted("blog-1", [*WIRE[2:-1], "Local officials said they would follow the talks."], "blog.example"),
    ]
    other = extracted("bank-1", BANK, "paper.example")
    produce(p, [wire])
    p.wait_enriched(["wire-1"])
    produce(p, [*copies, other])
    events = p.wait_enriched([a.article_id for a in [*copies, other]])
    assert {events[a.article_id].story_id for a in copies} == {"wire-1"}
    assert all(events[a.article_id].duplicate_of == "wire-1" for a in copies)
    assert events["bank-1"].story_id == "bank-1" and events["bank-1"].duplicate_of is None

    # Everything again (redelivered, replayed, re-pushed) plus one new copy and one new story; kill -9 the indexer
    # while it works through them, then restart it: what it had not committed comes again.
    late_copy = extracted("wire-2", WIRE[1:-1], "agency.example")
    new_story = extracted("vaccine-1", VACCINE, "health.example")
    produce(p, [wire, *copies, other, late_copy, new_story])
    time.sleep(0.3)
    p.kill_service("indexer")
    p.start_service("indexer")
    p.wait_ready("indexer")
    produce(p, [copies[0], late_copy])  # and once more after the restart
    wanted = {"wire-2", "vaccine-1"}
    got = p.read(TOPICS.enriched, lambda es: wanted <= {e.article_id for e in es}
                 and sum(e.article_id == "wire-2" for e in es) >= 2, 120)
    last: dict[str, EnrichedEvent] = {e.article_id: e for e in got}
    assert last["wire-2"].story_id == "wire-1" and last["vaccine-1"].story_id == "vaccine-1"

    ids = {"wire-1", "paper-1", "radio-1", "blog-1", "bank-1", "wire-2", "vaccine-1"}
    wait_until(lambda: p.index_counts()["documents"] == len(ids), 30, what="every article indexed")
    counts = p.index_counts()
    assert counts["documents"] == counts["distinct_ids"] == counts["fts_rows"] == len(ids)
    rows = story_rows(p)
    assert set(rows) == ids  # one story row per article: no second one after the kill
    assert sorted(set(rows.values())) == ["bank-1", "vaccine-1", "wire-1"]
    assert sum(story == "wire-1" for story in rows.values()) == 5
    assert all(e.story_id == rows[e.article_id] for e in got)  # every event, before and after, said the same

    story = p.cli("story", "radio-1")
    assert story.returncode == 0, story.stderr
    assert [line.split()[0] for line in story.stdout.splitlines()] == ["wire-1", "paper-1", "radio-1", "blog-1",
                                                                       "wire-2"]
    search = p.cli("search", "Ryabkov")
    assert search.returncode == 0 and len(search.stdout.splitlines()) == 1, search.stdout
    assert "5 copies" in search.stdout
    assert len(p.cli("search", "Ryabkov", "--all-copies", "-n", "20").stdout.splitlines()) == 5
