"""Keyphrases: up to ten, lowercased, most relevant first, none inside another.

English (a tagged spaCy doc): candidates are runs of up to four adjectives/nouns ending in a noun, without stop
words, numbers or dates ("military aid", "biden administration"); a phrase scores by how often it occurs, how
common its words are in the text, how early it first appears, its length, and half as much when it is a single
common noun ("officials"). This costs ~1 ms where yake costs ~120 ms on a 5k-char text.

Other languages: yake (it has stop word lists for ~30 languages) on the first ``YAKE_MAX_CHARS`` characters.
"""

from __future__ import annotations

import functools
import math
from collections import Counter

from spacy.tokens import Doc

MAX_KEYWORDS = 10
MAX_WORDS = 4
YAKE_MAX_CHARS = 20_000
_CANDIDATE_TAGS = frozenset({"JJ", "JJR", "JJS", "NN", "NNS", "NNP", "NNPS", "VBN", "VBG"})
_NOUN_TAGS = frozenset({"NN", "NNS", "NNP", "NNPS"})
_NUMERIC_LABELS = frozenset({"DATE", "TIME", "PERCENT", "MONEY", "QUANTITY", "ORDINAL", "CARDINAL"})


def from_doc(doc: Doc) -> list[str]:
    phrases: list[list[str]] = []
    proper: set[str] = set()
    run: list = []
    numeric = {i for ent in doc.ents if ent.label_ in _NUMERIC_LABELS for i in range(ent.start, ent.end)}

    def close() -> None:
        while run and run[-1].tag_ not in _NOUN_TAGS:
            run.pop()
        while run and run[0].tag_ not in ("JJ", "NN", "NNS", "NNP", "NNPS"):
            run.pop(0)
        if run:
            phrases.append([t.lower_ for t in run[-MAX_WORDS:]])
            if any(t.tag_ in ("NNP", "NNPS") for t in run[-MAX_WORDS:]):
                proper.add(" ".join(phrases[-1]))
        run.clear()

    for token in doc:
        if (token.tag_ in _CANDIDATE_TAGS and token.is_alpha and not token.is_stop and len(token.text) > 1
                and token.i not in numeric):
            run.append(token)
            if "\n" in token.whitespace_:
                close()
        else:
            close()
    close()
    if not phrases:
        return []

    word_count = Counter(w for p in phrases for w in p)
    first: dict[str, int] = {}
    count: Counter[str] = Counter()
    for order, p in enumerate(phrases):
        key = " ".join(p)
        count[key] += 1
        first.setdefault(key, order)
    total = len(phrases)

    def score(key: str) -> float:
        words = key.split()
        spread = sum(math.log1p(word_count[w]) for w in words) / len(words)
        lead = 1.0 + (1.0 - first[key] / total)  # 2 for the first phrase, ~1 for the last
        generic = len(words) == 1 and key not in proper  # "officials", "concerns"
        return count[key] * spread * lead * (1.0 + 0.3 * (len(words) - 1)) * (0.5 if generic else 1.0)

    ranked = sorted(count, key=lambda k: (-score(k), first[k]))
    return _distinct(ranked)


def from_text(text: str, language: str) -> list[str]:
    sample = text[:YAKE_MAX_CHARS]
    if not sample.strip():
        return []
    try:
        found = _yake(language).extract_keywords(sample)
    except Exception:  # yake trips on some degenerate inputs (e.g. only punctuation); no keywords then
        return []
    return _distinct([" ".join(phrase.lower().split()) for phrase, _score in found])


@functools.lru_cache(maxsize=16)
def _yake(language: str):
    import yake

    return yake.KeywordExtractor(lan=language, n=3, top=MAX_KEYWORDS * 2, dedupLim=0.7)


def _distinct(ranked: list[str]) -> list[str]:
    out: list[str] = []
    for key in ranked:
        padded = f" {key} "
        if not key or any(padded in f" {o} " or f" {o} " in padded for o in out):
            continue
        out.append(key)
        if len(out) == MAX_KEYWORDS:
            break
    return out
