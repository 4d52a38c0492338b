"""The embedded search index: SQLite with FTS5 (in Python's standard library; no server).

Idempotent: documents are keyed by article id, so a redelivered or re-pushed article replaces its own
document. Duplicates: an article whose clean text hashes like another article's (the same story under a
second URL, say) is not stored twice; its event says ``duplicate_of`` the first one.
One writer (the indexer's single step thread); readers (``newsflow search``) may run at the same time (WAL).
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from schemas.messages import EnrichedEvent

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


@dataclass(frozen=True)
class Hit:
    article_id: str
    title: str | None
    url: str | None
    snippet: str
    score: float


class SqliteIndex:
    def __init__(self, path: Path | str, readonly: bool = False):
        self.path = Path(path)
        if readonly:
            self.db = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, check_same_thread=False)
        else:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=NORMAL")
            self.db.executescript(SCHEMA)
        self.db.execute("PRAGMA busy_timeout=5000")

    def upsert(self, event: EnrichedEvent) -> EnrichedEvent:
        """Store the event's document; return the event, with ``duplicate_of`` set when another article
        already holds the same text (then nothing new is stored)."""
        row = self.db.execute(
            "SELECT article_id FROM documents WHERE content_hash = ? AND article_id != ? ORDER BY indexed_at LIMIT 1",
            (event.content_hash, event.article_id),
        ).fetchone()
        if row is not None:
            return event.model_copy(update={"duplicate_of": row[0]})
        x = event.extraction
        entities = " ".join(dict.fromkeys(e.text for e in x.entities))
        self.db.execute("BEGIN IMMEDIATE")
        try:
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
            self.db.execute("COMMIT")
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        return event

    def search(self, query: str, limit: int = 10) -> list[Hit]:
        """Full-text search (FTS5 query syntax; plain words are ANDed), best matches first."""
        try:
            rows = self._search(query, limit)
        except sqlite3.OperationalError:
            # Not valid FTS5 syntax (quotes, colons, ...): search the words as plain terms instead.
            words = query.replace('"', " ").split()
            rows = self._search(" ".join(f'"{w}"' for w in words), limit) if words else []
        return [Hit(article_id=r[0], title=r[1], url=r[2], snippet=r[3], score=-r[4]) for r in rows]

    def _search(self, query: str, limit: int) -> list[tuple]:
        return self.db.execute(
            "SELECT f.article_id, d.title, d.url, snippet(documents_fts, 2, '[', ']', ' … ', 12), bm25(documents_fts) "
            "FROM documents_fts f JOIN documents d ON d.article_id = f.article_id "
            "WHERE documents_fts MATCH ? ORDER BY bm25(documents_fts) LIMIT ?",
            (query, limit),
        ).fetchall()

    def get(self, article_id: str) -> EnrichedEvent | None:
        row = self.db.execute("SELECT event FROM documents WHERE article_id = ?", (article_id,)).fetchone()
        return EnrichedEvent.model_validate(json.loads(row[0])) if row else None

    def count(self) -> int:
        return self.db.execute("SELECT count(*) FROM documents").fetchone()[0]

    def close(self) -> None:
        self.db.close()
