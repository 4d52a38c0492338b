"""The text-extraction metric of Zyte's article-extraction-benchmark, as bench/cleaner.py scores the cleaner
and tests/unit/test_cleaner.py checks it: 4-token shingles of ``\\w+`` tokens, per-page tp/fp/fn normalised by
their sum, precision averaged over non-empty predictions, recall over pages with truth, F1 their harmonic mean.

Pure functions of strings: no I/O, no pytest, nothing under bench/ or services/.
"""

from __future__ import annotations

import re
import statistics
from collections import Counter
from dataclasses import dataclass

TOKEN_RE = re.compile(r"\w+", re.UNICODE)


def tokens(text: str) -> list[str]:
    """The ``\\w+`` tokens of ``text`` (none for an empty or missing text)."""
    return TOKEN_RE.findall(text or "")


def shingles(text: str, n: int = 4) -> Counter:
    """Multiset of n-token shingles; a text of 1..n-1 tokens is one shorter shingle, an empty text has none."""
    toks = tokens(text)
    if not toks:
        return Counter()
    return Counter(" ".join(toks[i : i + n]) for i in range(max(1, len(toks) - n + 1)))


def page_counts(truth: str, pred: str) -> tuple[float, float, float]:
    """(tp, fp, fn) of one page, normalised by their sum (all zero when both texts are empty)."""
    t, p = shingles(truth), shingles(pred)
    tp = fp = fn = 0
    for key in t.keys() | p.keys():
        tc, pc = t.get(key, 0), p.get(key, 0)
        tp += min(tc, pc)
        fp += max(0, pc - tc)
        fn += max(0, tc - pc)
    total = tp + fp + fn
    return (tp / total, fp / total, fn / total) if total else (0.0, 0.0, 0.0)


def _precision(tp: float, fp: float, fn: float) -> float:
    if fp == fn == 0:
        return 1.0
    return tp / (tp + fp) if tp + fp else 0.0


def _recall(tp: float, fp: float, fn: float) -> float:
    if fp == fn == 0:
        return 1.0
    return tp / (tp + fn) if tp + fn else 0.0


def page_f1(tp: float, fp: float, fn: float) -> float:
    if fp == fn == 0:
        return 1.0
    return 2 * tp / (2 * tp + fp + fn)


@dataclass(frozen=True)
class Scores:
    """The metric over a set of pages (``f1``, ``precision``, ``recall`` as the benchmark defines them)."""

    f1: float
    precision: float
    recall: float
    page_f1: float
    accuracy: float
    empty: int
    pages: int


def score(truths: list[str], preds: list[str]) -> Scores:
    counts = [page_counts(t, p) for t, p in zip(truths, preds)]
    precisions = [_precision(*c) for c in counts if c[0] + c[1] > 0]
    recalls = [_recall(*c) for c in counts if c[0] + c[2] > 0]
    precision = statistics.mean(precisions) if precisions else 0.0
    recall = statistics.mean(recalls) if recalls else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return Scores(
        f1=f1,
        precision=precision,
        recall=recall,
        page_f1=statistics.mean(page_f1(*c) for c in counts) if counts else 0.0,
        accuracy=statistics.mean(tokens(t) == tokens(p) for t, p in zip(truths, preds)) if counts else 0.0,
        empty=sum(not tokens(p) for p in preds),
        pages=len(preds),
    )
