"""The stories' tables in the index store: LSH band keys beside the documents, one row per article with its
signature and story, so that any indexer process, a restart, a replay or a rebuild sees the same state.

SQL over a connection the caller owns, inside the caller's transaction (``BEGIN IMMEDIATE``: two indexer
processes on one index decide one after the other); it must not commit or open transactions itself. What counts
as a copy is decided in :mod:`services.indexer.stories`; :func:`place` applies that decision to the tables.

A story's id is the id of the article that started it (the first to arrive); its canonical copy is its earliest
member by ``first_seen`` (publication time where known, else ingest time), computed when read, so a copy that
arrives later but was published earlier takes the canonical place without rewriting anything.
"""

from __future__ import annotations

import sqlite3
import time
from dataclasses import dataclass
from typing import Literal

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
CREATE TABLE IF NOT EXISTS story_params (params TEXT NOT NULL);
"""


@dataclass(frozen=True)
class Member:
    """One stored article as its story sees it: its MinHash signature, shingle count, site, when it was first
    seen and its similarity to the story's canonical copy. A value read from the story tables."""

    article_id: str
    story_id: str
    signature: np.ndarray
    shingles: int
    first_seen: str
    similarity: float
    site: str | None


def ensure_schema(db: sqlite3.Connection) -> None:
    db.executescript(SCHEMA)


def current(db: sqlite3.Connection) -> bool:
    """True when the stored signatures and bands were made with this version's parameters (stories.PARAMS)."""
    return db.execute("SELECT params FROM story_params").fetchall() == [(stories.PARAMS,)]


def reset(db: sqlite3.Connection) -> None:
    """Forget every story (to place the documents again, with this version's parameters)."""
    db.execute("DELETE FROM story_bands")
    db.execute("DELETE FROM story_members")
    db.execute("DELETE FROM story_params")
    db.execute("INSERT INTO story_params VALUES (?)", (stories.PARAMS,))


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


Outcome = Literal["new_story", "copy", "repeated"]


@dataclass(frozen=True)
class Placement:
    """Where an article went: its story, the story's canonical copy, how many copies the story has, the
    similarity to the canonical copy, and whether it started the story, joined one, or was there already."""

    story_id: str
    canonical_id: str
    copies: int
    similarity: float
    outcome: Outcome
    lookup_seconds: float


def place(db: sqlite3.Connection, article_id: str, text: str, first_seen: str, site: str | None) -> Placement | None:
    """Put the article in its story (an earlier one it copies, or a new one) and return where it went; None for
    a text without a word (it is no story). An article already placed (redelivered, replayed, re-pushed under
    its id) stays in the story it had; its signature and bands follow its text."""
    found = stories.sketch(text)
    if found is None:
        return None
    sig, size = found
    keys = stories.band_keys(sig)
    started = time.perf_counter()
    before = member(db, article_id)
    if before is not None:
        story_id, outcome = before.story_id, "repeated"
        first_seen = min(first_seen, before.first_seen)  # a re-push later on does not make it a later copy
        stale = set(stories.band_keys(before.signature)) - set(keys)
        db.executemany("DELETE FROM story_bands WHERE band_key = ? AND article_id = ?", [(k, article_id) for k in stale])
    else:
        match = stories.best_match(sig, size, candidates(db, keys, article_id))
        story_id, outcome = (match.story_id, "copy") if match else (article_id, "new_story")
    lookup = time.perf_counter() - started
    others = db.execute("SELECT count(*) FROM story_members WHERE story_id = ? AND article_id != ?",
                        (story_id, article_id)).fetchone()[0]
    head = db.execute(
        "SELECT * FROM story_members WHERE story_id = ? AND article_id != ? ORDER BY first_seen, article_id LIMIT 1",
        (story_id, article_id),
    ).fetchone()
    if head is None or (first_seen, article_id) < (head[4], head[0]):
        canonical_id, similarity = article_id, 1.0  # the earliest copy: the canonical one
    else:
        canonical = _member(head)
        canonical_id = canonical.article_id
        similarity = stories.similarity(sig, size, canonical.signature, canonical.shingles)
    add(db, Member(article_id, story_id, sig, size, first_seen, similarity, site), keys)
    return Placement(story_id, canonical_id, others + 1, similarity, outcome, lookup)


def sites(db: sqlite3.Connection, story_id: str) -> list[str]:
    """The sites that ran the story, in the order of their first copy."""
    rows = db.execute(
        "SELECT site FROM story_members WHERE story_id = ? AND site IS NOT NULL ORDER BY first_seen, article_id",
        (story_id,),
    ).fetchall()
    return list(dict.fromkeys(r[0] for r in rows))
