"""The indexer's step and its embedded index: idempotent by article id, duplicates found by content."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from schemas.messages import Entity, ExtractedArticle, Extraction, Stage, StageTiming
from services.indexer.logic import content_hash, enrich
from services.indexer.store import SqliteIndex

T0 = datetime(2026, 1, 5, 9, 30, tzinfo=timezone.utc)


def article(article_id="a1", text="Sergei Ryabkov said talks in Geneva would start.", title="Talks in Geneva"):
    return ExtractedArticle(
        article_id=article_id, ingested_at=T0, title=title, text=text,
        timings=(StageTiming(stage=Stage.fetcher, seconds=0.01, finished_at=T0),
                 StageTiming(stage=Stage.cleaner, seconds=0.02, finished_at=T0)),
        extraction=Extraction(language="en", keywords=("talks",),
                              entities=(Entity(text="Sergei Ryabkov", label="PERSON", start=0, end=14),)),
    )


def test_enrich_carries_everything_and_times_the_pipeline():
    event = enrich(article(), T0 + timedelta(seconds=2.5))
    assert event.article_id == "a1" and event.title == "Talks in Geneva"
    assert event.end_to_end_seconds == 2.5
    assert event.stage_seconds == {Stage.fetcher: 0.01, Stage.cleaner: 0.02}
    assert event.content_hash == content_hash("  sergei ryabkov SAID talks in geneva would start. ")
    timed = event.with_timing(StageTiming(stage=Stage.indexer, seconds=0.003, finished_at=T0))
    assert timed.stage_seconds[Stage.indexer] == 0.003 and len(timed.timings) == 3


def test_upserting_the_same_article_twice_leaves_one_document(tmp_path):
    index = SqliteIndex(tmp_path / "i.db")
    first = index.upsert(enrich(article(), T0))
    again = index.upsert(enrich(article(text="Sergei Ryabkov said talks in Geneva would start on Monday."), T0))
    assert first.duplicate_of is None and again.duplicate_of is None
    assert index.count() == 1
    assert "Monday" in index.get("a1").text
    assert [h.article_id for h in index.search("Monday")] == ["a1"]
    assert index.search("would start") and not index.search("Geneva NOT Ryabkov")


def test_the_same_text_under_another_id_is_a_duplicate_and_is_not_stored_twice(tmp_path):
    index = SqliteIndex(tmp_path / "i.db")
    index.upsert(enrich(article("a1"), T0))
    dup = index.upsert(enrich(article("a2", text="SERGEI RYABKOV said talks in  Geneva would start."), T0))
    assert dup.duplicate_of == "a1" and index.count() == 1


def test_search_finds_entities_and_survives_odd_queries(tmp_path):
    index = SqliteIndex(tmp_path / "i.db")
    index.upsert(enrich(article(), T0))
    assert [h.article_id for h in index.search("Ryabkov")] == ["a1"]
    assert "[Ryabkov]" in index.search("Ryabkov")[0].snippet
    assert index.search('Ryab*') and index.search('"talks in"')
    for odd in ('"', "a:b", "NOT", "(", "Ryabkov)"):
        index.search(odd)  # never raises
    reader = SqliteIndex(tmp_path / "i.db", readonly=True)
    assert reader.count() == 1
