"""Near-duplicate detection for the indexer: a MinHash signature of a clean text's word shingles, the
locality-sensitive band keys under which it is stored and looked up, and the similarity of two signatures.

Pure functions only (no storage, no clock): the index store keeps the band keys in a table beside the
documents, so that every indexer process, a restart, a replay or a rebuild sees the same candidates.
The hashing is datasketch's MinHash; the parameters below were chosen with ``bench/dedup.py`` (its README
section and the issue note give the measurement behind them).
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
from datasketch import MinHash

SHINGLE_WORDS = 4  # k: a text is the set of its k-word shingles
NUM_PERM = 256  # MinHash permutations (signature length)
BANDS, ROWS = 64, 4  # LSH: 64 bands of 4 values: a pair at Jaccard 0.2 is a candidate 10 % of the time, at 0.3
#                      41 %, at 0.5 98 %; unrelated texts rarely (measured on the corpus: 6 chance candidates per
#                      lookup among 1M stored). 42 bands of 3 (128 values) found more trimmed copies (recall
#                      +0.01) but met 7x more chance candidates: 5.4 ms per lookup at 1M stored against 1.1 ms
THRESHOLD = 0.7  # overlap (shared shingles / the smaller text's) from which a candidate is a copy
JACCARD_FLOOR = 0.2  # ... and the Jaccard estimate at least this: a short text inside a long one is not a copy
SEED = 1  # the permutations: fixed, so that signatures stored by any process compare
SCHEME = "affine32"  # datasketch 2.x hashing scheme: values below 2**32, stored as 4 bytes each

# What a stored signature and its band keys depend on: an index made with other values is re-placed when opened.
PARAMS = f"words={SHINGLE_WORDS} perm={NUM_PERM} seed={SEED} scheme={SCHEME} bands={BANDS}x{ROWS}"

_WORD = re.compile(r"\w+")
_PERMUTATIONS = MinHash(num_perm=NUM_PERM, seed=SEED).permutations  # computed once, shared by every signature


def words(text: str) -> list[str]:
    """The text's words, case-folded and without accents' compatibility forms (NFKC)."""
    return _WORD.findall(unicodedata.normalize("NFKC", text).casefold())


def shingles(text: str, k: int = SHINGLE_WORDS) -> set[bytes]:
    """The set of k-word shingles; a text shorter than k words is one shingle (empty text: none)."""
    w = words(text)
    if len(w) < k:
        return {" ".join(w).encode()} if w else set()
    return {" ".join(w[i : i + k]).encode() for i in range(len(w) - k + 1)}


def signature(text: str) -> np.ndarray:
    """The MinHash signature (NUM_PERM unsigned 32-bit values) of the text's shingles."""
    return _minhash(shingles(text))


def sketch(text: str) -> tuple[np.ndarray, int] | None:
    """The signature and the number of shingles it summarises; None for a text without a word."""
    found = shingles(text)
    return (_minhash(found), len(found)) if found else None


def _minhash(found: set[bytes]) -> np.ndarray:
    m = MinHash(num_perm=NUM_PERM, seed=SEED, permutations=_PERMUTATIONS, scheme=SCHEME)
    m.update_batch(list(found))
    return m.hashvalues.astype(np.uint32)


def band_keys(sig: np.ndarray) -> list[int]:
    """One signed 64-bit key per band (the band's number is hashed in, so equal rows in two bands differ)."""
    raw = sig.astype("<u4").tobytes()
    width = ROWS * 4
    return [
        int.from_bytes(hashlib.blake2b(raw[i * width : (i + 1) * width], digest_size=8, salt=i.to_bytes(8, "little")).digest(), "little", signed=True)
        for i in range(BANDS)
    ]


def jaccard(a: np.ndarray, b: np.ndarray) -> float:
    """Estimated Jaccard similarity of the two texts' shingle sets: the share of equal signature values."""
    return float(np.count_nonzero(a == b)) / len(a)


def similarity(a: np.ndarray, size_a: int, b: np.ndarray, size_b: int) -> float:
    """How much of the smaller text the other one holds (the overlap coefficient, estimated from the Jaccard
    estimate and the two shingle counts), or 0 below JACCARD_FLOOR. A copy with its first paragraphs cut or a
    local paragraph added keeps a high overlap where its Jaccard similarity drops."""
    j = jaccard(a, b)
    if j < JACCARD_FLOOR or not size_a or not size_b:
        return 0.0
    return min(1.0, j / (1 + j) * (size_a + size_b) / min(size_a, size_b))


@dataclass(frozen=True)
class Match:
    """The earlier article a new one copies, and how similar they are."""

    article_id: str
    story_id: str
    similarity: float


def best_match(sig: np.ndarray, size: int, candidates: Iterable) -> Match | None:
    """The most similar candidate (objects with article_id, story_id, signature, shingles) at or above
    THRESHOLD; ties go to the smaller id, so that every process decides alike."""
    best: Match | None = None
    for c in candidates:
        s = similarity(sig, size, c.signature, c.shingles)
        better = best is None or s > best.similarity or (s == best.similarity and c.article_id < best.article_id)
        if s >= THRESHOLD and better:
            best = Match(c.article_id, c.story_id, s)
    return best


def to_blob(sig: np.ndarray) -> bytes:
    return sig.astype("<u4").tobytes()


def from_blob(blob: bytes) -> np.ndarray:
    return np.frombuffer(blob, dtype="<u4")
