"""Text mode: a flattened text in, the article body, its title, what was removed and the text's metadata out.

    clean_text(text)  lines -> features -> line model (model/lines.json) -> decoding as a page -> kept lines

Also the parts HTML mode reuses on its extraction's lines: ``classify_lines`` (keep/drop and the categories of
the dropped lines), ``decide`` (the decoding) and ``Cleaned``. Imports the vocabulary, features, model and
metadata layers, never HTML mode. Pure, deterministic and thread-safe (the models are read once, then only
read). An empty or non-string text gives ``EMPTY``; anything else that goes wrong is a bug and raises.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np

from schemas.messages import BoilerplateCategory
from services.cleaner import features as F
from services.cleaner import textmeta
from services.cleaner.meta import EMPTY_META, PageMeta
from services.cleaner.model import load_model, score_lines
from services.cleaner.vocabulary import COMMENT_SIGNATURE, WORD_RE, line_category

MAX_STRONG_WORDS = 30  # a line this short with strong boilerplate vocabulary goes whatever the model says


@dataclass(frozen=True)
class Cleaned:
    """What either mode makes of a page or a text: the body, the title, removed counts and metadata (a value)."""

    text: str  # article body, paragraphs separated by "\n\n"
    title: str | None
    removed: dict[BoilerplateCategory, int] = field(default_factory=dict)  # only non-zero counts
    meta: PageMeta = EMPTY_META  # what the page or text says about the article (meta.py, textmeta.py)


EMPTY = Cleaned(text="", title=None, removed={})


def join_lines(kept: list[F.Line]) -> str:
    """The kept lines as text: a line break within a block, a blank line between blocks."""
    parts: list[str] = []
    prev_block = None
    for line in kept:
        if parts:
            parts.append("\n" if line.block == prev_block else "\n\n")
        parts.append(line.text)
        prev_block = line.block
    return "".join(parts)


# Text mode's decoding of the line scores (chosen by cross-validation within the dev split: bench/README.md).
# The article is one stretch of the page: the stretch with the most body-like words (scores above SPAN_SCORE,
# weighed by words, up to SPAN_WORDS a line) is found first; inside it a line needs SCORE_INSIDE, outside it
# SCORE_OUTSIDE. On a page whose best lines all score low (an odd layout), the first two scale down with them.
SPAN_SCORE, SPAN_WORDS, SCORE_INSIDE, SCORE_OUTSIDE = 0.5, 40, 0.3, 0.9
COMMENT_SIGNATURES, COMMENT_WINDOW, COMMENT_MIN_BODY_WORDS = 3, 30, 50


def comment_thread_start(texts: list[str]) -> int | None:
    """Index of the line a comment thread starts at: the first of COMMENT_SIGNATURES signature lines within
    COMMENT_WINDOW lines ("jane says:", "Reply", "34 responses to ..."), or None."""
    sigs = [i for i, t in enumerate(texts) if len(t) <= 120 and COMMENT_SIGNATURE.match(t)]
    for j, i in enumerate(sigs[: len(sigs) - COMMENT_SIGNATURES + 1]):
        if sigs[j + COMMENT_SIGNATURES - 1] < i + COMMENT_WINDOW:
            return i
    return None


def decide(x: np.ndarray, p: np.ndarray, texts: list[str], span: bool,
           model_threshold: float = 0.5) -> tuple[np.ndarray, int | None]:
    """Which lines to keep, from their features and scores, and where a comment thread was cut (or None).

    ``span`` (text mode, where the input is the whole page): the stretch decoding above, and a comment thread
    after the article goes from its first signature on. Both modes: a short line with strong boilerplate
    vocabulary goes whatever its score; if nothing is left, the lines that read like sentences are kept."""
    n_words = x[:, F.N_WORDS]
    if span and p.size:
        scale = min(1.0, float(np.sort(p)[-3:].mean()) / 0.9)
        lo, hi = F.best_run((p - SPAN_SCORE * scale) * (np.minimum(n_words, SPAN_WORDS) + 1))
        idx = np.arange(p.size)
        inside = (idx >= lo) & (idx < hi)
        keep = np.where(inside, p >= SCORE_INSIDE, p >= SCORE_OUTSIDE)
        # the lowered threshold only keeps lines that read like sentences: a page with no article (a title, a
        # menu) must not give its least bad lines
        keep |= inside & (p >= SCORE_INSIDE * scale) & (x[:, F.SENTENCE_LIKE] > 0)
    else:
        keep = p >= model_threshold
    keep &= ~((x[:, F.STRONG_ANY] > 0) & (n_words <= MAX_STRONG_WORDS))
    thread = comment_thread_start(texts) if span else None
    if thread is not None and n_words[:thread][keep[:thread]].sum() >= COMMENT_MIN_BODY_WORDS:
        keep[thread:] = False
    else:
        thread = None
    if not keep.any():  # a short text or an odd page: keep what reads like sentences rather than nothing
        keep = (x[:, F.SENTENCE_LIKE] > 0) | ((x[:, F.ENDS_PUNCT] > 0) & (n_words >= 5))
        keep &= ~((x[:, F.STRONG_ANY] > 0) & (n_words <= MAX_STRONG_WORDS))
    return keep, thread


def classify_lines(lines: list[F.Line], model: dict | None, title: str | None = None,
                   span: bool = False, x: np.ndarray | None = None,
                   meta_lines: set[int] = frozenset()) -> tuple[list[bool], Counter]:
    """Keep/drop decision for every line, and the categories of the dropped ones (no model: sentence-like lines).

    ``x``: the lines' features if the caller has them already (``features.features(lines, model's stopwords, title)``).
    ``meta_lines``: lines that left the body for the metadata (``textmeta.text_meta``): dropped, counted as
    ``metadata`` whatever the model says."""
    if not lines:
        return [], Counter()
    if x is None:
        x = F.features(lines, model["stopwords"] if model else frozenset(), title)
    p = score_lines(x, model) if model is not None else (x[:, F.SENTENCE_LIKE] > 0).astype(np.float64)
    keep_arr, thread = decide(x, p, [line.text for line in lines], span and model is not None,
                              model["threshold"] if model is not None else 0.5)
    if meta_lines:
        keep_arr[list(meta_lines)] = False
    dropped = np.flatnonzero(~keep_arr)
    cats = F.categories_of(x[dropped], x[dropped, F.BLOCK_LINES] > 2) if dropped.size else []
    if thread is not None:  # what the thread cut took counts as comments, whatever its own cues say
        cats = [BoilerplateCategory.comments if i >= thread else c for i, c in zip(dropped.tolist(), cats)]
    if meta_lines:
        cats = [BoilerplateCategory.metadata if i in meta_lines else c for i, c in zip(dropped.tolist(), cats)]
    removed = Counter(cats)
    return keep_arr.tolist(), removed


def clean_text(text: str, now: datetime | None = None) -> Cleaned:
    """``now``: the latest credible publication time (the article's ingest time; default: the clock)."""
    if not isinstance(text, str) or not text.strip():
        return EMPTY
    text = text.replace("\x00", "")
    lines = F.split_lines(text)
    found, meta_lines = textmeta.text_meta([line.text for line in lines], now)
    meta_lines.discard(0)  # the first line is the headline's place: a "By ..." first line is not taken as one
    keep, removed = classify_lines(lines, load_model(), span=True, meta_lines=meta_lines)
    title = None
    if lines and len(lines[0].text) <= 300:
        first = lines[0].text
        if not keep[0]:
            title = first
            # The headline line is not boilerplate: don't count it as removed.
            removed[line_category(first)] -= 1
        elif len(lines) > 1 and looks_like_a_headline(first):
            title, keep[0] = first, False
    kept = [line for line, k in zip(lines, keep) if k]
    body = join_lines(kept)
    meta = PageMeta(**found, language=textmeta.check_language(None, body), title=title)
    return Cleaned(text=body, title=title, removed={c: n for c, n in removed.items() if n > 0}, meta=meta)


def looks_like_a_headline(line: str) -> bool:
    """A short first line that does not end like a sentence: the headline, returned as the title."""
    return len(WORD_RE.findall(line)) <= 25 and not line.endswith((".", "!", "?", ":", ";", ",", "…"))
