"""The indexer's step and its embedded index: idempotent by article id, duplicates found by content."""

from __future__ import annotations

import datetime as dt
import sqlite3
from datetime import datetime, timedelta, timezone

from schemas.messages import EnrichedEvent, Entity, ExtractedArticle, Extraction, PageDate, StageName, StageTiming
from services.cli.tail import summary_line
from services.indexer.logic import content_hash, enrich
from services.indexer.store import SCHEMA_VERSION, SqliteIndex

T0 = datetime(2026, 1, 5, 9, 30, tzinfo=timezone.utc)


def article(article_id="a1", text="Sergei Ryabkov said talks in Geneva would start.", title="Talks in Geneva"):
    return ExtractedArticle(
        article_id=article_id, ingested_at=T0, title=title, text=text,
        timings=(StageTiming(stage=StageName.fetcher, seconds=0.01, finished_at=T0),
                 StageTiming(stage=StageName.cleaner, seconds=0.02, finished_at=T0)),
        extraction=Extraction(language="en", keywords=("talks",),
                              entities=(Entity(text="Sergei Ryabkov", label="PERSON", start=0, end=14),)),
    )


def test_enrich_carries_everything_and_times_the_pipeline():
    event = enrich(article(), T0 + timedelta(seconds=2.5))
    assert event.article_id == "a1" and event.title == "Talks in Geneva"
    assert event.end_to_end_seconds == 2.5
    assert event.stage_seconds == {StageName.fetcher: 0.01, StageName.cleaner: 0.02}
    assert event.content_hash == content_hash("  sergei ryabkov SAID talks in geneva would start. ")
    timed = event.with_timing(StageTiming(stage=StageName.indexer, seconds=0.003, finished_at=T0))
    assert timed.stage_seconds[StageName.indexer] == 0.003 and len(timed.timings) == 3


def test_upserting_the_same_article_twice_leaves_one_document(tmp_path):
    index = SqliteIndex(tmp_path / "i.db")
    first = index.upsert(enrich(article(), T0))
    again = index.upsert(enrich(article(text="Sergei Ryabkov said talks in Geneva would start on Monday."), T0))
    assert first.duplicate_of is None and again.duplicate_of is None
    assert index.count() == 1
    assert "Monday" in index.get("a1").text
    assert [h.article_id for h in index.search("Monday")] == ["a1"]
    assert index.search("would start") and not index.search("Geneva NOT Ryabkov")


def test_the_same_text_under_another_id_is_a_copy_of_the_first_story(tmp_path):
    index = SqliteIndex(tmp_path / "i.db")
    first = index.upsert(enrich(article("a1"), T0))
    dup = index.upsert(enrich(article("a2", text="SERGEI RYABKOV said talks in  Geneva would start."), T0))
    assert (first.story_id, first.copies, first.similarity, first.duplicate_of) == ("a1", 1, 1.0, None)
    assert (dup.story_id, dup.copies, dup.similarity, dup.duplicate_of) == ("a1", 2, 1.0, "a1")
    assert index.count() == 2  # both stored; search shows the story once
    hits = index.search("Ryabkov")
    assert [(h.story_id, h.copies) for h in hits] == [("a1", 2)]
    assert sorted(h.article_id for h in index.search("Ryabkov", collapse=False)) == ["a1", "a2"]


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


# --- article metadata in the index, search filters and order (issue 11, point 4) --------------------------


def event_with(article_id: str, text: str, *, published: str | None = None, site: str | None = None,
               url: str | None = None, authors: tuple[str, ...] = (), **meta) -> EnrichedEvent:
    base = article(article_id, text=text, title=f"Story {article_id}")
    fields = {"published_at": PageDate(value=published, provenance="jsonld:datePublished") if published else None,
              "site_name": site, "url": url, "authors": authors, **meta}
    return enrich(base.model_copy(update=fields), T0)


def metadata_index(path) -> SqliteIndex:
    index = SqliteIndex(path)
    for event in [
        event_with("old", "Talks in Geneva about grain exports.", published="2021-12-28", site="Reuters",
                   url="https://www.reuters.com/world/old", authors=("Jane Doe", "John Smith")),
        event_with("late", "Talks in Geneva resume after the holidays.", published="2022-01-10T23:30:00-05:00",
                   site="Le Monde", url="https://www.lemonde.fr/a", authors=("Renée Côté",)),
        event_with("early", "Talks in Geneva resume in Brussels.", published="2022-01-11T02:00:00+09:00",
                   url="https://uk.reuters.com/b", authors=("Janet Doerr",), agency="Reuters"),
        event_with("undated", "Talks in Geneva, an undated wire.", url="https://example.org/c"),
    ]:
        index.upsert(event)
    return index


def test_metadata_is_stored_beside_the_document(tmp_path):
    index = metadata_index(tmp_path / "i.db")
    row = index.db.execute("SELECT published_at, published_utc, published_day, authors, site_name, host, agency "
                           "FROM document_meta WHERE article_id = 'late'").fetchone()
    assert row == ("2022-01-10T23:30:00-05:00", "2022-01-11T04:30:00", "2022-01-10", '["Renée Côté"]', "Le Monde",
                   "lemonde.fr", None)
    assert index.db.execute("SELECT agency FROM document_meta WHERE article_id = 'early'").fetchone() == ("Reuters",)
    again = event_with("late", "Talks in Geneva resume after the holidays, again.", published="2022-01-12",
                       authors=("Someone Else",))
    index.upsert(again)
    assert index.db.execute("SELECT count(*) FROM document_authors WHERE article_id = 'late'").fetchone() == (1,)
    assert [h.published_at for h in index.search("again")] == ["2022-01-12"]


def ids(hits) -> list[str]:
    return [h.article_id for h in hits]


def test_search_filters_by_publication_day_site_and_author(tmp_path):
    index = metadata_index(tmp_path / "i.db")
    day = dt.date.fromisoformat
    # "late" is the 10th in New York (the 11th in UTC), "early" the 11th in Tokyo (the 10th in UTC): days are
    # the publisher's
    assert set(ids(index.search("Geneva", since=day("2022-01-11")))) == {"early"}
    assert set(ids(index.search("Geneva", until=day("2022-01-10")))) == {"old", "late"}
    assert ids(index.search("Geneva", since=day("2022-01-10"), until=day("2022-01-10"))) == ["late"]
    assert set(ids(index.search("Geneva", site="reuters.com"))) == {"old", "early"}  # www. and uk. subdomains
    assert set(ids(index.search("Geneva", site="REUTERS"))) == {"old"}  # the site's name, any case
    assert ids(index.search("Geneva", site="https://www.lemonde.fr/x")) == ["late"]
    assert ids(index.search("Geneva", site="le monde")) == ["late"]
    assert ids(index.search("Geneva", author="doe")) == ["old"]  # whole words: not "Doerr"
    assert ids(index.search("Geneva", author="Jane Doe")) == ["old"]
    assert ids(index.search("Geneva", author="renee cote")) == ["late"]  # accents and case ignored
    assert ids(index.search("Geneva", author="Doe Jane")) == []
    assert ids(index.search("Geneva", site="reuters.com", author="Janet")) == ["early"]
    assert ids(index.search("Geneva", since=day("2030-01-01"))) == []


def test_search_sorts_by_date_with_undated_documents_last(tmp_path):
    index = metadata_index(tmp_path / "i.db")
    assert ids(index.search("Geneva", sort="date")) == ["late", "early", "old", "undated"]  # late: 04:30 UTC
    assert ids(index.search("", site="reuters.com")) == ["early", "old"]  # no words: newest first
    by_relevance = ids(index.search("Geneva resume Brussels OR holidays"))
    assert len(by_relevance) == 2


OLD_SCHEMA = """
CREATE TABLE documents (
    article_id TEXT PRIMARY KEY, content_hash TEXT NOT NULL, url TEXT, title TEXT, language TEXT, summary TEXT,
    ingested_at TEXT NOT NULL, indexed_at TEXT NOT NULL, event TEXT NOT NULL
);
CREATE INDEX documents_content_hash ON documents(content_hash);
CREATE VIRTUAL TABLE documents_fts USING fts5(
    article_id UNINDEXED, title, text, entities, keywords, tokenize = 'unicode61 remove_diacritics 2'
);
"""


def old_insert(db: sqlite3.Connection, event: EnrichedEvent) -> None:
    """What the indexer before issue 11 wrote (its positional INSERT, kept as it was)."""
    db.execute("INSERT INTO documents VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
               (event.article_id, event.content_hash, event.url, event.title, "en", "", event.ingested_at.isoformat(),
                event.indexed_at.isoformat(), event.model_dump_json()))
    db.execute("INSERT INTO documents_fts VALUES (?, ?, ?, ?, ?)", (event.article_id, event.title, event.text, "", ""))
    db.commit()


def test_an_index_written_before_metadata_is_migrated_when_searched_and_when_the_indexer_starts(tmp_path):
    path = tmp_path / "old.db"
    db = sqlite3.connect(path)
    db.executescript(OLD_SCHEMA)
    old_insert(db, event_with("a", "Talks in Geneva.", url="https://www.reuters.com/a"))
    old_insert(db, event_with("b", "Talks in Geneva, dated.", published="2021-12-28", site="Reuters",
                              authors=("Jane Doe",)))
    db.close()

    reader = SqliteIndex(path, readonly=True)  # newsflow search on the old index: migrates, then reads
    assert ids(reader.search("Geneva", site="reuters.com")) == ["a"]  # from the URL the old row holds
    assert ids(reader.search("Geneva", site="Reuters")) == ["b"]
    assert ids(reader.search("Geneva", author="Doe", since=dt.date(2021, 12, 1))) == ["b"]
    assert reader.db.execute("PRAGMA user_version").fetchone() == (SCHEMA_VERSION,)
    reader.close()

    db = sqlite3.connect(path)  # an indexer of the old version still running: its writes still work...
    old_insert(db, event_with("c", "Talks in Geneva, late.", published="2022-01-05", site="Reuters"))
    db.close()
    assert ids(SqliteIndex(path, readonly=True).search("Geneva", site="Reuters")) == ["b"]
    writer = SqliteIndex(path)  # ...and the new indexer's start fills in what it missed
    assert set(ids(writer.search("Geneva", site="Reuters"))) == {"b", "c"}
    assert writer.count() == 3
    writer.upsert(event_with("d", "Talks in Geneva, new.", published="2022-01-06", site="Reuters"))
    assert ids(writer.search("Geneva", site="Reuters", sort="date")) == ["d", "c", "b"]


def test_tail_summary_shows_the_publication_day_and_site():
    dated = event_with("a1", "Talks in Geneva.", published="2022-01-10T23:30:00-05:00", site="Le Monde",
                       language="fr-FR")
    line = summary_line(dated)
    assert line.startswith("a1  2022-01-10  Le Monde  'Story a1'  lang=fr-FR  ")
    undated = event_with("a2", "Talks in Geneva.", url="https://www.reuters.com/x")
    assert summary_line(undated).startswith("a2  -  reuters.com  'Story a2'  lang=en  ")
    assert summary_line(event_with("a3", "Talks.")).startswith("a3  -  -  'Story a3'")


def test_odd_metadata_is_stored_sanely(tmp_path):
    index = SqliteIndex(tmp_path / "i.db")
    crowd = tuple(f"Author Number{i}" for i in range(10_000))
    index.upsert(event_with("crowd", "Talks in Geneva, by everyone.", authors=crowd, url="not a url"))
    index.upsert(event_with("ancient", "Talks in Geneva, long ago.", published="0001-01-01T00:30:00+01:00"))
    index.upsert(event_with("impossible", "Talks in Geneva, on no day.", published="2021-02-30T10:00:00Z"))
    assert index.db.execute("SELECT count(*) FROM document_authors").fetchone() == (100,)
    assert ids(index.search("Geneva", author="number9999")) == []  # beyond the first 100: not searchable
    assert ids(index.search("Geneva", author="number99")) == ["crowd"]
    rows = dict(index.db.execute("SELECT article_id, published_utc FROM document_meta").fetchall())
    assert rows == {"crowd": None, "ancient": "0001-01-01", "impossible": "2021-02-30"}
