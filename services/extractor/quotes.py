"""Direct quotes and who said them.

A quote is the text between “ and ”, « and », „ and “/”, or a pair of straight double quotes, on one line, of
at least three words; its span is the text inside the marks. Nested quotes stay inside the outer one.

The speaker comes from the dependency parse: the subject (``nsubj``) of a reporting verb (said, told, added,
according to, ...) outside any quote. Sentences are searched in this order, and within one the verb nearest the
quote wins: the sentence(s) the quote is in; the two sentences before it and the one after it, within the same
paragraph; the last sentence of the previous paragraph when it ends with a colon. The subject is named as
- the aggregated name of the PERSON/ORG it belongs to ("Mr. Ryabkov" -> "Sergei Ryabkov");
- for "he"/"she", the last person mentioned before the quote;
- else its noun phrase ("an NSC spokesperson"), at most twelve words;
and the speaker is None when no reporting verb with a subject is found ("we", "they", "it" give None too).

Only the sentences holding a candidate reporting verb are parsed (``parse``, one sentence at a time, on the
tok2vec features of the whole text): the parser is a third of spaCy's cost and most sentences need none of it.
"""

from __future__ import annotations

import functools
import re
from bisect import bisect_right
from collections.abc import Callable
from dataclasses import dataclass

import numpy
from spacy.attrs import LOWER
from spacy.strings import StringStore
from spacy.tokens import Doc, Span, Token

from schemas.messages import Quote
from services.extractor.entities import Aggregate, Mention

_QUOTE = re.compile(r"“([^“”\n]+)”|«([^«»\n]+)»|„([^„“”\n]+)[“”]|\"([^\"\n]+)\"")
_MIN_WORDS = 3
_MAX_SPEAKER_TOKENS = 12
REPORTING_VERBS = frozenset(
    """say says said saying tell tells told telling add adds added adding state states stated note notes noted
    explain explains explained write writes wrote insist insists insisted claim claims claimed argue argues argued
    declare declares declared announce announces announced warn warns warned remark remarked reply replies replied
    respond responded acknowledge acknowledged admit admits admitted comment commented confirm confirmed
    suggest suggested ask asks asked recall recalls recalled continue continued conclude concluded caution cautioned
    stress stressed emphasise emphasised emphasize emphasized tweet tweeted posted predict predicted vow vowed
    promise promised concede conceded deny denied maintain maintained""".split()
)
_SUBJECTS = frozenset({"nsubj", "nsubjpass"})
_PERSONAL_PRONOUNS = frozenset({"he", "she", "him", "her"})


@dataclass(frozen=True)
class _Raw:
    start: int  # inside the marks
    end: int
    outer_start: int  # with the marks
    outer_end: int


def find_quotes(text: str) -> list[_Raw]:
    out: list[_Raw] = []
    for m in _QUOTE.finditer(text):
        group = next(i for i in range(1, 5) if m.group(i) is not None)
        start, end = m.span(group)
        inner = text[start:end]
        start += len(inner) - len(inner.lstrip())
        end -= len(inner) - len(inner.rstrip())
        if len(text[start:end].split()) >= _MIN_WORDS:
            out.append(_Raw(start, end, m.start(), m.end()))
    return out


Parser = Callable[[list[Span]], list[Doc]]
"""Gives the dependency parses of sentences of the main doc, each as a Doc of that sentence alone."""


def quotes(text: str, doc: Doc | None, found: list[Mention], names: Aggregate,
           parse: Parser | None = None, sentences: list[Span] | None = None) -> list[Quote]:
    """The quotes in ``text``, with speakers when ``doc`` (tagged, with sentences) covers them; ``sentences`` is
    ``list(doc.sents)`` when the caller has it already."""
    raw = find_quotes(text)
    if doc is None or not raw:
        return [Quote(text=text[q.start:q.end], start=q.start, end=q.end) for q in raw]
    # spaCy may have seen only a prefix: no speakers past it (doc.text would rebuild that prefix token by token)
    covered = doc[-1].idx + len(doc[-1].text_with_ws) if len(doc) else 0
    context = _Context(doc, text[:covered], found, names, [(q.outer_start, q.outer_end) for q in raw], parse,
                       list(doc.sents) if sentences is None else sentences)
    context.parse_all([i for q in raw if q.outer_end <= covered for group in context.groups(q) for i in group
                       if context.verbs[i]])
    out = []
    for q in raw:
        speaker = context.speaker(q) if q.outer_end <= covered else None
        out.append(Quote(text=text[q.start:q.end], start=q.start, end=q.end, speaker=speaker))
    return out


class _Context:
    def __init__(self, doc: Doc, doc_text: str, found: list[Mention], names: Aggregate,
                 inside: list[tuple[int, int]], parse: Parser | None, sentences: list[Span]):
        self.doc = doc
        self.sentences = sentences
        self.starts = [s.start_char for s in self.sentences]
        self.breaks = [m.start() for m in re.finditer(r"\n", doc_text)]
        self.people = [m for m in found if m.label == "PERSON"]
        self.by_token = {i: m for m in found for i in range(m.start_token, m.end_token)}
        self.names = names
        self.inside = inside
        self.parse = parse
        self.parsed: dict[int, Doc] = {}
        self.verbs: list[list[Token]] = [[] for _ in self.sentences]
        # only the tokens spelled like a reporting verb become Token objects (a doc has ~500 tokens, ~5 of them)
        words = doc.to_array(LOWER)
        sentence_starts = [s.start for s in self.sentences]
        for i in numpy.flatnonzero(numpy.isin(words, _reporting_hashes(doc.vocab.strings))).tolist():
            token = doc[i]
            if _is_reporting(token) and not _in_any(token.idx, inside):
                self.verbs[bisect_right(sentence_starts, i) - 1].append(token)

    def parse_all(self, indices: list[int]) -> None:
        """Parse these sentences in one batch (the parser's per-call overhead dominates on short sentences)."""
        todo = sorted(set(indices) - set(self.parsed))
        if self.parse is None or self.doc.has_annotation("DEP") or not todo:
            return
        for i, parsed in zip(todo, self.parse([self.sentences[i] for i in todo]), strict=True):
            self.parsed[i] = parsed

    def paragraph(self, offset: int) -> int:
        return bisect_right(self.breaks, offset)

    def groups(self, q: _Raw) -> list[list[int]]:
        """Sentence indices where q's speaker may be named, in the order they are searched."""
        if not self.sentences:
            return []
        first = max(bisect_right(self.starts, q.outer_start) - 1, 0)
        last = max(bisect_right(self.starts, max(q.outer_end - 1, q.outer_start)) - 1, first)
        paragraph = self.paragraph(q.outer_start)

        def same(i: int) -> bool:
            return 0 <= i < len(self.sentences) and self.paragraph(self.starts[i]) == paragraph

        groups = [list(range(first, last + 1))]
        groups += [[i] for i in (first - 1, first - 2) if same(i)]
        groups += [[i] for i in (last + 1,) if same(i)]
        before = first - 1
        if (not same(before) and before >= 0 and self.sentences[before].text.rstrip().endswith(":")):
            groups.append([before])  # He said:\n“...”
        return groups

    def speaker(self, q: _Raw) -> str | None:
        for group in self.groups(q):
            verbs = [(i, t) for i in group for t in self.verbs[i]]
            verbs.sort(key=lambda it: min(abs(it[1].idx - q.outer_start), abs(it[1].idx - q.outer_end)))
            for i, verb in verbs:
                speaker = self.subject_of(i, verb, q)
                if speaker:
                    return speaker
        return None

    def sentence_doc(self, i: int) -> tuple[Doc, int]:
        """The parsed sentence ``i`` and the main-doc index of its first token."""
        sentence = self.sentences[i]
        if self.parse is None or self.doc.has_annotation("DEP"):
            return self.doc, 0
        if i not in self.parsed:
            self.parse_all([i])
        return self.parsed[i], sentence.start

    def subject_of(self, i: int, verb: Token, q: _Raw) -> str | None:
        sub, offset = self.sentence_doc(i)
        v = sub[verb.i - offset]
        if v.lower_ == "according":
            to = sub[v.i + 1] if v.i + 1 < len(sub) else v
            candidates = [c for c in to.children if c.dep_ == "pobj"] or list(sub[to.i + 1:to.i + 2])
        else:
            candidates = [c for c in v.children if c.dep_ in _SUBJECTS]
        if not candidates:  # no parse, or no subject: a name right next to the verb
            candidates = [
                sub[j] for j in (v.i - 1, v.i + 1)
                if 0 <= j < len(sub) and (m := self.by_token.get(j + offset)) is not None
                and m.label in ("PERSON", "ORG")
            ]
        for subject in candidates:
            main = self.doc[subject.i + offset]
            if _in_any(main.idx, self.inside):
                continue
            mention = self.by_token.get(main.i)
            if mention is not None and mention.label in ("PERSON", "ORG", "NORP", "GPE"):
                return self.names.name_of(mention)
            if subject.lower_ in _PERSONAL_PRONOUNS:
                before = [m for m in self.people if m.end <= q.outer_start]
                return self.names.name_of(before[-1]) if before else None
            if subject.tag_ == "PRP":
                return None
            return _noun_phrase(subject, offset, self.doc, self.inside)
        return None


@functools.cache
def _reporting_hashes(strings: StringStore) -> numpy.ndarray:
    return numpy.array([strings[word] for word in REPORTING_VERBS | {"according"}], dtype=numpy.uint64)


def _is_reporting(token: Token) -> bool:
    word = token.lower_
    if word == "according":
        return token.i + 1 < len(token.doc) and token.doc[token.i + 1].lower_ == "to"
    return word in REPORTING_VERBS and token.tag_.startswith("VB")


def _in_any(offset: int, spans: list[tuple[int, int]]) -> bool:
    return any(start <= offset < end for start, end in spans)


def _noun_phrase(head: Token, offset: int, doc: Doc, inside: list[tuple[int, int]]) -> str | None:
    """The subject's words (main-doc text), or fewer of them when that is long or runs into a quote."""
    start, end = head.left_edge.i, head.right_edge.i + 1
    if end - start > _MAX_SPEAKER_TOKENS or any(_in_any(doc[j + offset].idx, inside) for j in range(start, end)):
        start, end = head.left_edge.i, head.i + 1
    sub = head.doc
    while end > start and (sub[end - 1].is_punct or sub[end - 1].is_space):
        end -= 1
    while start < end and sub[start].is_punct:
        start += 1
    if end - start > _MAX_SPEAKER_TOKENS or start >= end:
        start, end = head.i, head.i + 1
    return " ".join(sub[start:end].text.split()) or None
