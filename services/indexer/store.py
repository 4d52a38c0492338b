"""The embedded search index: SQLite with FTS5 (in Python's standard library; no server).

Idempotent: documents are keyed by article id, so a redelivered or re-pushed article replaces its own
document. Stories (issue 12): every article is stored, and placed in the story of the earlier articles it copies
(the same or nearly the same clean text: :mod:`services.indexer.stories`), in tables beside the documents
(:mod:`services.indexer.storytable`), in the same transaction as its document; search collapses a story's
copies into one hit. Writers (one thread per indexer process; several processes may share the file) take the
write lock before deciding; readers (``newsflow search``) may run at the same time (WAL).

The article's metadata (publication date, authors, site, ...; issue 11) lives in its own tables beside
``documents``, one row per document (``document_meta``) and one per author (``document_authors``), so that an
index written by an older version stays readable and writable by it (its positional INSERT into ``documents``
is unchanged). Migration is automatic: opening the index for writing (the indexer's start) creates the tables
and fills them from the events the documents already hold (``documents.event``, the whole EnrichedEvent), for
every document that has no metadata row yet; a reader (``newsflow search``) that opens an index not migrated yet
does the same through a short writable connection first (``migrate``). ``PRAGMA user_version`` records the
schema version (``SCHEMA_VERSION``).

Dates: ``published_at`` is kept as the page gave it; ``published_utc`` is its instant in UTC
(``YYYY-MM-DDTHH:MM:SS``; a date alone stays ``YYYY-MM-DD``, which sorts before that day's times; a time without
an offset is taken as UTC), the column ``sort="date"`` orders by; ``published_day`` is the publisher's own
calendar day (the value's date), the column ``since``/``until`` compare with.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import sqlite3
import unicodedata
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable, Literal
from urllib.parse import urlsplit

from schemas.messages import EnrichedEvent, PageDate
from services.indexer import storytable

SCHEMA = """
CREATE TABLE IF NOT EXISTS documents (
    article_id   TEXT PRIMARY KEY,
    content_hash TEXT NOT NULL,
    url          TEXT,
    title        TEXT,
    language     TEXT,
    summary      TEXT,
    ingested_at  TEXT NOT NULL,
    indexed_at   TEXT NOT NULL,
    event        TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS documents_content_hash ON documents(content_hash);
CREATE VIRTUAL TABLE IF NOT EXISTS documents_fts USING fts5(
    article_id UNINDEXED, title, text, entities, keywords, tokenize = 'unicode61 remove_diacritics 2'
);
"""
SCHEMA_VERSION = 3  # 2: document_meta, document_authors (issue 11); 3: story_bands, story_members (issue 12)
META_SCHEMA = """
CREATE TABLE IF NOT EXISTS document_meta (
    article_id    TEXT PRIMARY KEY,
    published_at  TEXT,
    published_utc TEXT,
    published_day TEXT,
    modified_at   TEXT,
    authors       TEXT NOT NULL DEFAULT '[]',
    agency        TEXT,
    canonical_url TEXT,
    site_name     TEXT,
    site_key      TEXT,
    host          TEXT,
    section       TEXT,
    tags          TEXT NOT NULL DEFAULT '[]',
    language      TEXT
);
CREATE INDEX IF NOT EXISTS document_meta_published_utc ON document_meta(published_utc);
CREATE INDEX IF NOT EXISTS document_meta_published_day ON document_meta(published_day);
CREATE INDEX IF NOT EXISTS document_meta_host ON document_meta(host);
CREATE INDEX IF NOT EXISTS document_meta_site_key ON document_meta(site_key);
CREATE TABLE IF NOT EXISTS document_authors (
    article_id TEXT NOT NULL,
    name       TEXT NOT NULL,
    name_key   TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS document_authors_article_id ON document_authors(article_id);
"""
Sort = Literal["relevance", "date"]
MMAP_BYTES = 8 << 30  # address space, not memory: what the OS caches of the file is shared by every reader
_KEY_WORD = re.compile(r"[^\W_]+")


@dataclass(frozen=True)
class Hit:
    """One search result as ``search`` returns it: the article, a snippet around the matched words, its score
    and the metadata a listing shows. A value only."""

    article_id: str
    title: str | None
    url: str | None
    snippet: str
    score: float
    published_at: str | None = None
    site_name: str | None = None
    authors: tuple[str, ...] = ()
    story_id: str | None = None
    copies: int = 1  # with collapsed search: how many copies of the story the index holds
    sites: tuple[str, ...] = ()  # ... and the sites that ran it


@dataclass(frozen=True)
class Meta:
    """One document_meta row and its authors: what the index stores of an event's ArticleMeta."""

    published_at: str | None
    published_utc: str | None
    published_day: str | None
    modified_at: str | None
    authors: tuple[str, ...]
    agency: str | None
    canonical_url: str | None
    site_name: str | None
    site_key: str | None
    host: str | None
    section: str | None
    tags: tuple[str, ...]
    language: str | None

    @classmethod
    def of(cls, event: EnrichedEvent) -> Meta:
        published = event.published_at
        return cls(
            published_at=published.value if published else None,
            published_utc=utc_sort_key(published) if published else None,
            published_day=published.value[:10] if published else None,
            modified_at=event.modified_at.value if event.modified_at else None,
            authors=event.authors,
            agency=event.agency,
            canonical_url=event.canonical_url,
            site_name=event.site_name,
            site_key=name_key(event.site_name) if event.site_name else None,
            host=host_of(event.canonical_url or event.url),
            section=event.section,
            tags=event.tags,
            language=event.language or event.extraction.language,
        )

    def row(self, article_id: str) -> tuple:
        return (article_id, self.published_at, self.published_utc, self.published_day, self.modified_at,
                json.dumps(self.authors, ensure_ascii=False), self.agency, self.canonical_url, self.site_name,
                self.site_key, self.host, self.section, json.dumps(self.tags, ensure_ascii=False), self.language)


def utc_sort_key(date: PageDate) -> str:
    """The instant of a publication date in UTC, sortable as text: ``YYYY-MM-DDTHH:MM:SS``, or ``YYYY-MM-DD`` for
    a date alone; a time without an offset counts as UTC."""
    if len(date.value) == 10:
        return date.value
    try:
        moment = dt.datetime.fromisoformat(date.value.replace("Z", "+00:00"))
    except ValueError:  # matches the pattern but is no datetime ("2025-02-30T10:00")
        return date.value[:10]
    if moment.tzinfo is not None:
        try:
            moment = moment.astimezone(dt.timezone.utc)
        except OverflowError:  # 0001-01-01T00:00+01:00
            return date.value[:10]
    return moment.strftime("%Y-%m-%dT%H:%M:%S")


def first_seen(event: EnrichedEvent) -> str:
    """The order of a story's copies: the publication time in UTC where known, else the ingest time."""
    if event.published_at is not None:
        return utc_sort_key(event.published_at)
    return event.ingested_at.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")


def site_of(event: EnrichedEvent) -> str | None:
    """The site a copy ran on, as `newsflow story` lists it: the site's name, else the URL's host."""
    return event.site_name or host_of(event.canonical_url or event.url)


def name_key(name: str) -> str:
    """A name as the filters compare it: case-folded words without accents, spaced and padded (" jane doe ")."""
    plain = unicodedata.normalize("NFKD", name.casefold())
    plain = "".join(c for c in plain if not unicodedata.combining(c))
    return " " + " ".join(_KEY_WORD.findall(plain)) + " "


def host_of(url: str | None) -> str | None:
    """The URL's host, lower-cased, without "www."; None without a URL."""
    if not url:
        return None
    try:
        host = (urlsplit(url).hostname or "").lower()
    except ValueError:
        return None
    return host.removeprefix("www.") or None


class IndexOutdated(RuntimeError):
    """A reader found an index written by an older version and could not upgrade it (see ``migrate``)."""


class SqliteIndex:
    """The embedded search index: one SQLite file with FTS5 for text, tables for metadata and authors, and the
    story tables (storytable.py) for syndicated copies. The indexer writes it (``upsert``, idempotent by article
    id); the CLI opens it read-only for ``search`` and ``story``. It knows nothing of Kafka or metrics: the
    indexer's wiring hands it ``on_placement`` to be told where each article went."""

    def __init__(self, path: Path | str, readonly: bool = False,
                 on_placement: Callable[[storytable.Placement], None] | None = None):
        self.path = Path(path)
        self.on_placement = on_placement  # told where each stored article went (the indexer's metrics)
        if readonly:
            if _schema_version(self.path) < SCHEMA_VERSION:
                try:
                    migrate(self.path)  # an index an older indexer wrote: a short writable connection upgrades it
                except sqlite3.OperationalError as exc:  # read-only file or disk, or locked past busy_timeout
                    raise IndexOutdated(
                        f"the index at {self.path} was written by an older newsflow and could not be upgraded "
                        f"here ({exc}); start the indexer once (it upgrades the index), or make the file writable"
                    ) from exc
            self.db = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, check_same_thread=False)
        else:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=NORMAL")
            self.db.execute("PRAGMA busy_timeout=5000")
            self.db.executescript(SCHEMA)
            _migrate(self.db)
        self.db.execute("PRAGMA busy_timeout=5000")
        # Pages read through a memory map (the OS page cache) instead of a read() each: a story lookup touches a
        # few hundred scattered pages of a multi-GB index (bench/dedup.py: the lookup cost at 1M stored).
        self.db.execute(f"PRAGMA mmap_size={MMAP_BYTES}")

    def upsert(self, event: EnrichedEvent) -> EnrichedEvent:
        """Store the event's document (a copy of another article's story too: search collapses them) and place
        it in its story; return the event with its story (``story_id``, ``copies``, ``similarity``, and for a
        copy ``duplicate_of``: the story's canonical copy). One transaction: a redelivery after a crash finds
        either nothing or all of it."""
        x = event.extraction
        entities = " ".join(dict.fromkeys(e.text for e in x.entities))
        self.db.execute("BEGIN IMMEDIATE")
        try:
            placed = storytable.place(self.db, event.article_id, event.text, first_seen(event), site_of(event))
            if placed is not None:
                canonical = placed.canonical_id if placed.canonical_id != event.article_id else None
                event = event.model_copy(update={"story_id": placed.story_id, "copies": placed.copies,
                                                 "similarity": placed.similarity, "duplicate_of": canonical})
            self.db.execute(
                "INSERT INTO documents VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(article_id) DO UPDATE SET "
                "content_hash=excluded.content_hash, url=excluded.url, title=excluded.title, "
                "language=excluded.language, summary=excluded.summary, ingested_at=excluded.ingested_at, "
                "indexed_at=excluded.indexed_at, event=excluded.event",
                (event.article_id, event.content_hash, event.url, event.title, x.language, x.summary,
                 event.ingested_at.isoformat(), event.indexed_at.isoformat(), event.model_dump_json()),
            )
            self.db.execute("DELETE FROM documents_fts WHERE article_id = ?", (event.article_id,))
            self.db.execute(
                "INSERT INTO documents_fts VALUES (?, ?, ?, ?, ?)",
                (event.article_id, event.title or "", event.text, entities, " ".join(x.keywords)),
            )
            _write_meta(self.db, event.article_id, Meta.of(event))
            self.db.execute("COMMIT")
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        if placed is not None and self.on_placement is not None:
            self.on_placement(placed)
        return event

    def search(self, query: str, limit: int = 10, *, since: dt.date | None = None, until: dt.date | None = None,
               site: str | None = None, author: str | None = None, sort: Sort = "relevance",
               collapse: bool = True) -> list[Hit]:
        """Full-text search (FTS5 query syntax; plain words are ANDed), best matches first, or the newest
        publications first with ``sort="date"`` (documents without a publication date last). An empty query
        lists the documents the filters keep, newest first. Filters (all optional, ANDed):
        ``since``/``until``: the publication day (the publisher's calendar) within these days, inclusive (a
        document without a publication date never passes a date filter); ``site``: the site's name (case and
        accents ignored), or its host or a subdomain of it ("reuters.com" keeps "www.reuters.com" and
        "uk.reuters.com"; a URL counts by its host), from the canonical URL or else the URL; ``author``: an author
        whose name holds these words, in this order, whole ("Doe" and "jane doe" keep "Jane Doe", "Jan" does not).
        ``collapse``: one hit per story (its best-placed copy), with the story's number of copies and the sites
        that ran it; False lists every copy."""
        where, params = _filters(since, until, site, author)
        if not query.strip():
            return self._hits("", where, params, limit, "date", collapse)
        try:
            return self._hits(query, where, params, limit, sort, collapse)
        except sqlite3.OperationalError:
            # Not valid FTS5 syntax (quotes, colons, ...): search the words as plain terms instead.
            words = query.replace('"', " ").split()
            return self._hits(" ".join(f'"{w}"' for w in words), where, params, limit, sort, collapse) if words else []

    def _hits(self, query: str, where: list[str], params: list, limit: int, sort: Sort, collapse: bool) -> list[Hit]:
        if not collapse:
            return [_hit(r) for r in self._rows(query, where, params, limit, sort)]
        fetch = limit * 4 + 16
        while True:  # fetch more rows until ``limit`` stories are found or the rows run out
            rows = self._rows(query, where, params, fetch, sort)
            best: dict[str, tuple] = {}
            for r in rows:  # a story stands at its best-placed copy's rank, as its canonical copy if that is a hit
                story_id = r[-1] or r[0]
                if story_id not in best:
                    best[story_id] = r
                elif r[0] == self._canonical(story_id):
                    best[story_id] = r
            if len(best) >= limit or len(rows) < fetch:
                break
            fetch *= 4
        hits = []
        for story_id, r in list(best.items())[:limit]:
            members = self.db.execute("SELECT count(*) FROM story_members WHERE story_id = ?", (story_id,)).fetchone()
            hit = _hit(r)
            hits.append(replace(hit, copies=max(1, members[0]), sites=tuple(storytable.sites(self.db, story_id))))
        return hits

    def _canonical(self, story_id: str) -> str | None:
        row = self.db.execute("SELECT article_id FROM story_members WHERE story_id = ? ORDER BY first_seen, article_id "
                              "LIMIT 1", (story_id,)).fetchone()
        return row[0] if row else None

    def story(self, article_or_story_id: str) -> list[tuple[storytable.Member, EnrichedEvent | None]]:
        """The copies of a story (given its id or any of its articles' ids), canonical first, with their events."""
        mine = storytable.member(self.db, article_or_story_id)
        story_id = mine.story_id if mine else article_or_story_id
        return [(m, self.get(m.article_id)) for m in storytable.copies(self.db, story_id)]

    def _rows(self, query: str, where: list[str], params: list, limit: int, sort: Sort) -> list[tuple]:
        by_date = "m.published_utc DESC NULLS LAST"
        if query:
            source = ("documents_fts f JOIN documents d ON d.article_id = f.article_id "
                      "LEFT JOIN document_meta m ON m.article_id = d.article_id")
            found = "snippet(documents_fts, 2, '[', ']', ' … ', 12), bm25(documents_fts)"
            where, params = ["documents_fts MATCH ?", *where], [query, *params]
            order = f"{by_date}, bm25(documents_fts)" if sort == "date" else "bm25(documents_fts)"
        else:
            source = "documents d LEFT JOIN document_meta m ON m.article_id = d.article_id"
            found = "coalesce(d.summary, ''), 0.0"
            order = f"{by_date}, d.indexed_at DESC"
        return self.db.execute(
            f"SELECT d.article_id, d.title, d.url, {found}, m.published_at, m.site_name, m.authors, s.story_id "
            f"FROM {source} LEFT JOIN story_members s ON s.article_id = d.article_id "
            f"WHERE {' AND '.join(where) or '1'} ORDER BY {order} LIMIT ?",
            (*params, limit),
        ).fetchall()

    def get(self, article_id: str) -> EnrichedEvent | None:
        row = self.db.execute("SELECT event FROM documents WHERE article_id = ?", (article_id,)).fetchone()
        return EnrichedEvent.model_validate(json.loads(row[0])) if row else None

    def count(self) -> int:
        return self.db.execute("SELECT count(*) FROM documents").fetchone()[0]

    def close(self) -> None:
        self.db.close()


MAX_AUTHORS = 100  # authors stored (and searchable) per document; a 10,000-name byline keeps its first 100


def _write_meta(db: sqlite3.Connection, article_id: str, meta: Meta) -> None:
    """The document's metadata rows, replacing any it had (inside the caller's transaction)."""
    db.execute("INSERT OR REPLACE INTO document_meta VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
               meta.row(article_id))
    db.execute("DELETE FROM document_authors WHERE article_id = ?", (article_id,))
    db.executemany("INSERT INTO document_authors VALUES (?, ?, ?)",
                   [(article_id, name, name_key(name)) for name in meta.authors[:MAX_AUTHORS]])


def _filters(since: dt.date | None, until: dt.date | None, site: str | None, author: str | None
             ) -> tuple[list[str], list]:
    """SQL conditions (on documents d, document_meta m) and their parameters for ``search``'s filters."""
    where: list[str] = []
    params: list = []
    if since is not None:
        where.append("m.published_day >= ?")
        params.append(since.isoformat())
    if until is not None:
        where.append("m.published_day <= ?")
        params.append(until.isoformat())
    if site:
        host = host_of(site if "://" in site else f"http://{site.strip()}") or ""
        where.append("(m.site_key = ? OR m.host = ? OR m.host LIKE ?)")
        params += [name_key(site), host, f"%.{host}"]  # a host holds no LIKE wildcard but "_", which is harmless
    if author:
        where.append("EXISTS (SELECT 1 FROM document_authors a WHERE a.article_id = d.article_id "
                     "AND a.name_key LIKE ?)")
        params.append(f"%{name_key(author)}%")  # keys are words and spaces only: no wildcard inside
    return where, params


def _hit(row: tuple) -> Hit:
    article_id, title, url, snippet, rank, published_at, site_name, authors, story_id = row
    return Hit(article_id=article_id, title=title, url=url, snippet=snippet, score=-rank,
               published_at=published_at, site_name=site_name, authors=tuple(json.loads(authors or "[]")),
               story_id=story_id)


def _schema_version(path: Path) -> int:
    """The index's ``PRAGMA user_version``; the current one when there is no index (nothing to migrate)."""
    if not path.exists():
        return SCHEMA_VERSION
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return db.execute("PRAGMA user_version").fetchone()[0]
    finally:
        db.close()


def migrate(path: Path | str) -> None:
    """Bring the index at ``path``, written by any earlier version, to ``SCHEMA_VERSION`` (module docstring)."""
    db = sqlite3.connect(path, isolation_level=None)
    try:
        db.execute("PRAGMA busy_timeout=5000")
        _migrate(db)
    finally:
        db.close()


def _migrate(db: sqlite3.Connection) -> None:
    """Create the metadata tables and fill them, from the stored events, for documents that have no row."""
    db.executescript(META_SCHEMA)
    storytable.ensure_schema(db)
    db.execute("BEGIN IMMEDIATE")
    try:
        missing = db.execute("SELECT d.article_id, d.event FROM documents d LEFT JOIN document_meta m "
                             "ON m.article_id = d.article_id WHERE m.article_id IS NULL").fetchall()
        for article_id, raw in missing:
            try:
                meta = Meta.of(EnrichedEvent.model_validate_json(raw))
            except ValueError:  # an event no model reads any more: its document stays, without metadata
                meta = Meta(None, None, None, None, (), None, None, None, None, None, None, (), None)
            _write_meta(db, article_id, meta)
        # Stories for documents an older version stored (or all of them, when the signatures were made with other
        # parameters), in the order they were indexed.
        if not storytable.current(db):
            storytable.reset(db)
        unplaced = db.execute("SELECT d.event FROM documents d LEFT JOIN story_members s ON s.article_id = d.article_id "
                              "WHERE s.article_id IS NULL ORDER BY d.indexed_at").fetchall()
        for (raw,) in unplaced:
            try:
                event = EnrichedEvent.model_validate_json(raw)
            except ValueError:
                continue
            storytable.place(db, event.article_id, event.text, first_seen(event), site_of(event))
        db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        db.execute("COMMIT")
    except BaseException:
        db.execute("ROLLBACK")
        raise
