"""Near-duplicate detection (services/indexer/stories.py, storytable.py): what counts as a copy of a story, on the
seeds' real texts, and that the band table in SQLite finds what the signatures say."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import numpy as np
import pytest

from services.indexer import stories, storytable

SEEDS = Path(__file__).resolve().parents[2] / "seeds"


def paras(name: str) -> list[str]:
    return [p for p in (SEEDS / name).read_text().split("\n\n") if p.strip()]


WIRE = paras("000_81597562a20f18e4.txt")
BANK = paras("003_central_bank_rates.txt")
VACCINE = paras("004_vaccine_trial.txt")


def sim(a: str, b: str) -> float:
    return stories.similarity(stories.signature(a), len(stories.shingles(a)), stories.signature(b), len(stories.shingles(b)))


def test_signature_is_fixed_length_and_deterministic():
    text = "\n\n".join(BANK)
    a, b = stories.signature(text), stories.signature(text)
    assert a.dtype == np.uint32 and len(a) == stories.NUM_PERM
    assert np.array_equal(a, b)
    assert stories.band_keys(a) == stories.band_keys(b) and len(stories.band_keys(a)) == stories.BANDS
    assert stories.from_blob(stories.to_blob(a)).tolist() == a.tolist()


def test_a_syndicated_copy_is_a_copy():
    original = "\n\n".join(WIRE)
    # another outlet: its own headline, the first paragraph cut, a local paragraph added, a typo fixed
    copy = "\n\n".join(["Russia sets out its demands before Geneva talks", *WIRE[1:-2],
                        "Local officials said they would follow the talks closely."]).replace("the ", "teh ", 1)
    assert sim(original, copy) >= stories.THRESHOLD
    assert set(stories.band_keys(stories.signature(original))) & set(stories.band_keys(stories.signature(copy)))


def test_a_trimmed_copy_is_a_copy_although_its_jaccard_similarity_is_low():
    original = "\n\n".join(WIRE)
    trimmed = "\n\n".join(WIRE[: len(WIRE) // 2])
    assert stories.jaccard(stories.signature(original), stories.signature(trimmed)) < stories.THRESHOLD
    assert sim(original, trimmed) >= stories.THRESHOLD


@pytest.mark.parametrize("other", [BANK, VACCINE], ids=["bank", "vaccine"])
def test_different_stories_are_not_copies(other):
    assert sim("\n\n".join(WIRE), "\n\n".join(other)) == 0.0


def test_a_follow_up_repeating_one_paragraph_is_not_a_copy():
    follow_up = "\n\n".join([*BANK[:4], max(WIRE, key=len), *BANK[4:]])
    assert sim("\n\n".join(WIRE), follow_up) < stories.THRESHOLD


def test_a_short_text_inside_a_long_one_is_not_a_copy():
    short = " ".join(" ".join(WIRE).split()[40:60])
    assert sim("\n\n".join(WIRE), short) == 0.0  # all of it is in the long one, but it is a twentieth of it


def test_empty_text_has_no_shingles():
    assert stories.shingles("") == set() and stories.shingles("  \n ") == set()
    assert stories.shingles("one two") == {b"one two"}


def test_best_match_takes_the_most_similar_and_breaks_ties_by_id():
    text = "\n\n".join(WIRE)
    sig, n = stories.signature(text), len(stories.shingles(text))
    other = "\n\n".join(BANK)
    members = [
        storytable.Member("b", "story-b", sig, n, "2", 1.0, None),
        storytable.Member("a", "story-a", sig, n, "1", 1.0, None),
        storytable.Member("c", "story-c", stories.signature(other), len(stories.shingles(other)), "0", 1.0, None),
    ]
    match = stories.best_match(sig, n, members)
    assert match is not None and (match.article_id, match.story_id, match.similarity) == ("a", "story-a", 1.0)
    assert stories.best_match(sig, n, members[2:]) is None


def test_the_band_table_finds_copies_and_only_them():
    db = sqlite3.connect(":memory:", isolation_level=None)
    storytable.ensure_schema(db)
    for article_id, text in (("wire", "\n\n".join(WIRE)), ("bank", "\n\n".join(BANK))):
        sig = stories.signature(text)
        member = storytable.Member(article_id, article_id, sig, len(stories.shingles(text)), "0", 1.0, "site")
        storytable.add(db, member, stories.band_keys(sig))
    copy = "\n\n".join(WIRE[1:])
    sig = stories.signature(copy)
    found = storytable.candidates(db, stories.band_keys(sig), exclude="copy")
    assert [m.article_id for m in found] == ["wire"]
    assert storytable.member(db, "wire").site == "site"
    assert [m.article_id for m in storytable.copies(db, "bank")] == ["bank"]
