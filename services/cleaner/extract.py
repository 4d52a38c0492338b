"""The cleaner's pure logic: a fetched page (HTML) or a flattened text in, the article body and what was removed out.

    clean_text(text)  lines -> features -> line classifier (model/lines.json) -> rules -> kept lines
    clean_html(html)  trafilatura (fast settings, no fallbacks) finds the main content; the same line
                      classifier then removes leftover boilerplate lines from it; page furniture that
                      trafilatura dropped is counted by category from the page flattened to text

Both are pure, deterministic and thread-safe (the model is read once, then only read), and never raise:
odd input gives ``Cleaned(text="")`` at worst.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field

import numpy as np

from schemas.messages import BoilerplateCategory
from services.cleaner import lines as L
from services.cleaner.categories import categorise

log = logging.getLogger("newsflow.cleaner")

MAX_STRONG_WORDS = 30  # a line this short with strong boilerplate vocabulary goes whatever the model says


@dataclass(frozen=True)
class Cleaned:
    text: str  # article body, paragraphs separated by "\n\n"
    title: str | None
    removed: dict[BoilerplateCategory, int] = field(default_factory=dict)  # only non-zero counts


EMPTY = Cleaned(text="", title=None, removed={})


def _join(kept: list[L.Line]) -> str:
    parts: list[str] = []
    prev_block = None
    for line in kept:
        if parts:
            parts.append("\n" if line.block == prev_block else "\n\n")
        parts.append(line.text)
        prev_block = line.block
    return "".join(parts)


def classify_lines(lines: list[L.Line], model: dict | None, title: str | None = None) -> tuple[list[bool], Counter]:
    """Keep/drop decision for every line, and the categories of the dropped ones (no model: sentence-like lines)."""
    if not lines:
        return [], Counter()
    stopwords = model["stopwords"] if model else frozenset()
    x = L.features(lines, stopwords, title)
    if model is None:
        keep = (x[:, L.SENTENCE_LIKE] > 0).tolist()
    else:
        keep = (L.score_lines(x, model) >= model["threshold"]).tolist()
    if not any(keep):  # a short text or an odd page: keep what reads like sentences rather than nothing
        keep = ((x[:, L.SENTENCE_LIKE] > 0) | ((x[:, L.ENDS_PUNCT] > 0) & (x[:, L.N_WORDS] >= 5))).tolist()
    keep_arr = np.array(keep, dtype=bool) & ~((x[:, L.STRONG_ANY] > 0) & (x[:, L.N_WORDS] <= MAX_STRONG_WORDS))
    dropped = np.flatnonzero(~keep_arr)
    removed: Counter = Counter(L.categories_of(x[dropped], x[dropped, L.BLOCK_LINES] > 2)) if dropped.size else Counter()
    return keep_arr.tolist(), removed


def clean_text(text: str) -> Cleaned:
    try:
        return _clean_text(text)
    except Exception:  # never raise on odd input: the worst outcome is no text
        log.exception("clean_text failed")
        return EMPTY


def _clean_text(text: str) -> Cleaned:
    if not isinstance(text, str) or not text.strip():
        return EMPTY
    text = text.replace("\x00", "")
    lines = L.split_lines(text)
    keep, removed = classify_lines(lines, L.load_model())
    title = None
    if lines and len(lines[0].text) <= 300:
        first = lines[0].text
        if not keep[0]:
            title = first
            # The headline line is not boilerplate: don't count it as removed.
            removed[categorise(first, len(L.WORD_RE.findall(first)), False)] -= 1
        elif len(lines) > 1 and _looks_like_a_headline(first):
            title, keep[0] = first, False
    kept = [line for line, k in zip(lines, keep) if k]
    return Cleaned(text=_join(kept), title=title, removed={c: n for c, n in removed.items() if n > 0})


def _looks_like_a_headline(line: str) -> bool:
    """A short first line that does not end like a sentence: the headline, returned as the title."""
    return len(L.WORD_RE.findall(line)) <= 25 and not line.endswith((".", "!", "?", ":", ";", ",", "…"))


def clean_html(html: str) -> Cleaned:
    try:
        from services.cleaner.html import clean_html as _clean_html

        return _clean_html(html)
    except Exception:
        log.exception("clean_html failed")
        return EMPTY
