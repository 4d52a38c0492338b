"""The stories' tables in the index store: LSH band keys beside the documents, one row per article with its
signature and story, so that any indexer process, a restart, a replay or a rebuild sees the same state.

Storage only (SQL over a connection the caller owns, inside the caller's transaction); the decision of what is
a copy is :func:`services.indexer.stories.assign`. Must not commit or open transactions itself.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

import numpy as np

from services.indexer import stories

SCHEMA = """
CREATE TABLE IF NOT EXISTS story_bands (
    band_key   INTEGER NOT NULL,
    article_id TEXT NOT NULL,
    PRIMARY KEY (band_key, article_id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS story_members (
    article_id TEXT PRIMARY KEY,
    story_id   TEXT NOT NULL,
    signature  BLOB NOT NULL,
    shingles   INTEGER NOT NULL,
    first_seen TEXT NOT NULL,   -- the order of copies: publication time (UTC ISO) when known, else ingest time
    similarity REAL NOT NULL,   -- to the story's canonical copy when it joined (1.0 for the first)
    site       TEXT
);
CREATE INDEX IF NOT EXISTS story_members_story ON story_members(story_id, first_seen);
"""


@dataclass(frozen=True)
class Member:
    article_id: str
    story_id: str
    signature: np.ndarray
    shingles: int
    first_seen: str
    similarity: float
    site: str | None


def ensure_schema(db: sqlite3.Connection) -> None:
    db.executescript(SCHEMA)


def member(db: sqlite3.Connection, article_id: str) -> Member | None:
    row = db.execute("SELECT * FROM story_members WHERE article_id = ?", (article_id,)).fetchone()
    return _member(row) if row else None


def candidates(db: sqlite3.Connection, keys: list[int], exclude: str, limit: int = 200) -> list[Member]:
    """Articles that share at least one band key, most shared bands first (at most ``limit``)."""
    if not keys:
        return []
    marks = ",".join("?" * len(keys))
    rows = db.execute(
        f"SELECT m.* FROM (SELECT article_id, count(*) AS n FROM story_bands WHERE band_key IN ({marks}) "
        f"AND article_id != ? GROUP BY article_id ORDER BY n DESC LIMIT ?) c "
        f"JOIN story_members m ON m.article_id = c.article_id",
        (*keys, exclude, limit),
    ).fetchall()
    return [_member(r) for r in rows]


def add(db: sqlite3.Connection, m: Member, keys: list[int]) -> None:
    db.execute(
        "INSERT OR REPLACE INTO story_members VALUES (?, ?, ?, ?, ?, ?, ?)",
        (m.article_id, m.story_id, stories.to_blob(m.signature), m.shingles, m.first_seen, m.similarity, m.site),
    )
    db.executemany("INSERT OR IGNORE INTO story_bands VALUES (?, ?)", [(k, m.article_id) for k in keys])


def copies(db: sqlite3.Connection, story_id: str) -> list[Member]:
    """The story's copies, earliest first (the first is the canonical one)."""
    rows = db.execute(
        "SELECT * FROM story_members WHERE story_id = ? ORDER BY first_seen, article_id", (story_id,)
    ).fetchall()
    return [_member(r) for r in rows]


def _member(row: tuple) -> Member:
    return Member(row[0], row[1], stories.from_blob(row[2]), row[3], row[4], row[5], row[6])
