"""A short extractive summary: at most three sentences and 400 characters, in text order.

Sentences (spaCy's for English, a punctuation split for other languages, never across a line break) from the
first ``LEAD`` are scored by position (news puts the point first) plus their overlap with the keywords and the
title; the best are taken while they fit. Sentences that open with a quote are left out (a quote is rarely the
point of a story) unless there is nothing else. Headline-like lines (the
title again, or a line without final punctuation), fragments under six words and sentences starting in lowercase
are skipped. A single sentence longer than the limit is cut
at a word boundary with "…"; a text without any sentence (a list) gets its first line of three words or more.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

MAX_SENTENCES = 3
MAX_CHARS = 400
LEAD = 12
MIN_WORDS = 6
_SPLIT = re.compile(r"(?<=[.!?…])[\"'”’»)]*\s+(?=[\"'“‘«(]?[A-ZÀ-ÖØ-ÞА-ЯΑ-Ω0-9])")
_ABBREVIATION = re.compile(r"(?:\b(?:Mr|Mrs|Ms|Dr|Prof|St|Sr|Jr|Gen|Sen|Rep|Gov|Lt|Col|Capt|Corp|Inc|Ltd|Co|No|vs|"
                           r"Nr|Hr|Fr|Mme|Mlle|Dr|Sra|Sr|etc|ca|z\.B|u\.a|bzw)|\b[A-Z])\.$")
_END = re.compile(r"[.!?…][\"'”’»)]*$")
_WORD = re.compile(r"\w+", re.U)
_QUOTES = "\"“«„'‘"


def split_sentences(text: str) -> list[tuple[int, int]]:
    """Sentence spans for languages spaCy does not parse here: split at end punctuation and at line breaks."""
    spans: list[tuple[int, int]] = []
    for line in re.finditer(r"[^\n]+", text):
        start = line.start()
        for m in _SPLIT.finditer(line.group()):
            if _ABBREVIATION.search(line.group()[: m.start()]):
                continue
            spans.append((start, line.start() + m.start()))
            start = line.start() + m.end()
        spans.append((start, line.end()))
    return [(s, e) for s, e in spans if text[s:e].strip()]


def by_lines(spans: Iterable[tuple[int, int]], text: str) -> list[tuple[int, int]]:
    """Cut sentence spans at line breaks (a headline and the first paragraph are never one sentence)."""
    out = []
    for start, end in spans:
        for m in re.finditer(r"[^\n]+", text[start:end]):
            if m.group().strip():
                out.append((start + m.start(), start + m.end()))
    return out


def summarise(text: str, sentences: list[tuple[int, int]], keywords: Iterable[str], title: str | None) -> str:
    title_words = {w.lower() for w in _WORD.findall(title or "")}
    key_words = {w for k in keywords for w in k.split()} | title_words
    candidates: list[tuple[int, str, list[str]]] = []
    quoted: list[tuple[int, str, list[str]]] = []
    for start, end in sentences:
        sentence = " ".join(text[start:end].split())
        words = [w.lower() for w in _WORD.findall(sentence)]
        if len(words) < MIN_WORDS or not _END.search(sentence) or sentence[:1].islower():
            continue  # headlines, datelines, bylines, fragments
        if title_words and set(words) <= title_words:
            continue
        if sentence[:1] in _QUOTES:
            quoted.append((start, sentence, words))
            continue
        candidates.append((start, sentence, words))
        if len(candidates) == LEAD:
            break
    if not candidates:
        candidates = quoted[:LEAD]
    if not candidates:  # no sentence in sight (a list, a table): the first line with a few words
        lines = (" ".join(text[s:e].split()) for s, e in sentences)
        first = next((line for line in lines if len(_WORD.findall(line)) >= 3), "")
        return first if len(first) <= MAX_CHARS else _cut(first)

    def score(index: int) -> float:
        _start, _sentence, words = candidates[index]
        overlap = sum(w in key_words for w in words) / len(words)
        return 1.0 / (1 + index) + overlap

    chosen: list[int] = []
    used = 0
    for index in sorted(range(len(candidates)), key=lambda i: (-score(i), i)):
        length = len(candidates[index][1]) + (1 if chosen else 0)
        if used + length <= MAX_CHARS:
            chosen.append(index)
            used += length
        if len(chosen) == MAX_SENTENCES:
            break
    if not chosen:
        return _cut(candidates[0][1])
    return " ".join(candidates[i][1] for i in sorted(chosen))


def _cut(sentence: str) -> str:
    cut = sentence[: MAX_CHARS - 1]
    if " " in cut:
        cut = cut[: cut.rindex(" ")]
    return cut.rstrip(",;:") + "…"
