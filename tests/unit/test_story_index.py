"""Stories in the embedded index (issue 12): copies of one story share its id whichever writer stores them, the
canonical copy is the earliest published, a re-pushed article stays one document in one story, and an index
written before stories existed gets them when opened."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

from schemas.messages import ExtractedArticle, Extraction, PageDate
from services.indexer.logic import enrich
from services.indexer.store import SqliteIndex

T0 = datetime(2026, 1, 5, 9, 30, tzinfo=timezone.utc)
SEED = [p for p in (Path(__file__).resolve().parents[2] / "seeds" / "000_81597562a20f18e4.txt").read_text().split("\n\n")
        if p.strip()]
OTHER = [p for p in (Path(__file__).resolve().parents[2] / "seeds" / "003_central_bank_rates.txt").read_text()
         .split("\n\n") if p.strip()]


def event(article_id: str, paras: list[str], *, site: str | None = None, published: str | None = None, minutes=0):
    article = ExtractedArticle(
        article_id=article_id, ingested_at=T0 + timedelta(minutes=minutes), text="\n\n".join(paras),
        url=f"https://{site or 'example.org'}/{article_id}", site_name=site,
        published_at=PageDate(value=published, provenance="jsonld:datePublished") if published else None,
        extraction=Extraction(language="en"),
    )
    return enrich(article, T0 + timedelta(minutes=minutes, seconds=1))


def test_copies_share_the_story_of_the_first_and_count_up(tmp_path):
    outcomes = []
    index = SqliteIndex(tmp_path / "i.db", on_placement=lambda p: outcomes.append(p.outcome))
    first = index.upsert(event("wire", SEED, site="Wire"))
    cut = index.upsert(event("paper", ["Moscow sets out its terms", *SEED[2:]], site="Paper", minutes=1))
    other = index.upsert(event("bank", OTHER, site="Paper", minutes=2))
    trimmed = index.upsert(event("radio", SEED[: len(SEED) // 2], site="Radio", minutes=3))
    assert (first.story_id, first.copies, first.duplicate_of) == ("wire", 1, None)
    assert (cut.story_id, cut.copies, cut.duplicate_of) == ("wire", 2, "wire") and cut.similarity >= 0.7
    assert (other.story_id, other.copies, other.duplicate_of) == ("bank", 1, None)
    assert (trimmed.story_id, trimmed.copies, trimmed.duplicate_of) == ("wire", 3, "wire")
    assert outcomes == ["new_story", "copy", "new_story", "copy"]
    hits = index.search("Ryabkov")
    assert [(h.story_id, h.copies, h.sites) for h in hits] == [("wire", 3, ("Wire", "Paper", "Radio"))]
    assert [m.article_id for m, _ in index.story("paper")] == ["wire", "paper", "radio"]


def test_a_copy_published_earlier_becomes_the_canonical_one(tmp_path):
    index = SqliteIndex(tmp_path / "i.db")
    index.upsert(event("late", SEED, published="2022-01-02T10:00:00+00:00"))
    early = index.upsert(event("early", SEED[1:], published="2021-12-28", minutes=5))
    assert early.story_id == "late" and early.duplicate_of is None and early.similarity == 1.0
    assert [m.article_id for m, _ in index.story("late")] == ["early", "late"]
    again = index.upsert(event("third", SEED[:-1], minutes=9))  # no date: its ingest time, after both
    assert again.duplicate_of == "early" and again.copies == 3


def test_a_re_pushed_article_stays_one_document_in_one_story(tmp_path):
    outcomes = []
    index = SqliteIndex(tmp_path / "i.db", on_placement=lambda p: outcomes.append(p.outcome))
    index.upsert(event("wire", SEED))
    index.upsert(event("copy", SEED[1:], minutes=1))
    for _ in range(3):  # redelivered, replayed, re-pushed
        again = index.upsert(event("copy", SEED[1:], minutes=2))
    assert (again.story_id, again.copies, again.duplicate_of) == ("wire", 2, "wire")
    assert index.count() == 2 and outcomes == ["new_story", "copy", "repeated", "repeated", "repeated"]
    assert index.db.execute("SELECT count(*) FROM story_members").fetchone() == (2,)
    index.upsert(event("wire", SEED, minutes=30))  # the first one re-pushed later stays the canonical copy
    assert [m.article_id for m, _ in index.story("wire")] == ["wire", "copy"]


def test_two_writers_on_one_index_decide_alike(tmp_path):
    a, b = SqliteIndex(tmp_path / "i.db"), SqliteIndex(tmp_path / "i.db")  # two indexer processes
    a.upsert(event("wire", SEED))
    copy = b.upsert(event("copy", SEED[2:], minutes=1))
    third = a.upsert(event("third", SEED[:-2], minutes=2))
    assert copy.story_id == third.story_id == "wire" and third.copies == 3


def test_an_index_without_stories_gets_them_when_opened(tmp_path):
    path = tmp_path / "i.db"
    index = SqliteIndex(path)
    index.upsert(event("wire", SEED))
    index.upsert(event("copy", SEED[1:], minutes=1))
    index.upsert(event("bank", OTHER, minutes=2))
    index.db.executescript("DROP TABLE story_members; DROP TABLE story_bands; PRAGMA user_version = 2;")
    index.close()
    reader = SqliteIndex(path, readonly=True)  # `newsflow search` on it: migrates first
    assert [(h.story_id, h.copies) for h in reader.search("Ryabkov")] == [("wire", 2)]
    assert [m.article_id for m, _ in reader.story("copy")] == ["wire", "copy"]


def test_stories_made_with_other_parameters_are_placed_again_when_the_indexer_opens_the_index(tmp_path):
    path = tmp_path / "i.db"
    index = SqliteIndex(path)
    index.upsert(event("wire", SEED))
    index.upsert(event("copy", SEED[1:], minutes=1))
    index.db.execute("UPDATE story_members SET story_id = 'stale', signature = zeroblob(16)")
    index.db.execute("UPDATE story_params SET params = 'words=5 perm=64 ...'")  # an older version's signatures
    index.close()
    index = SqliteIndex(path)  # the indexer starts
    assert [(m.article_id, m.story_id) for m, _ in index.story("copy")] == [("wire", "wire"), ("copy", "wire")]
