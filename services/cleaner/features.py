"""Line features of the cleaner: a text's lines, and the table of what the line models see of each line.

A document is a list of lines (blank lines separate blocks). ``FEATURE_TABLE`` names every feature once, with
the function that computes it (a column, or a few columns from one function) for all lines of a text at once:
lexical features (length, stopword ratio, punctuation, capitalisation, boilerplate vocabulary), structural ones
(its block's size, duplicates, position, the densest run of sentence-like lines, comment-thread cues) and the
same over its neighbours. ``FEATURES`` (the model files' feature list) and the matrix are both built from the
table, so no column position is kept by hand. The functions share a ``_Text``: what they all read of the text
(tokens, code points, counts), each computed once when first asked for. Imports only the vocabulary; pure: no
model, no I/O, no decisions about what to keep.
"""

from __future__ import annotations

import math
from collections import Counter
from functools import cached_property
from itertools import chain, repeat
from typing import Callable, NamedTuple

import numpy as np

from services.cleaner import vocabulary as V

LONG_LINE = 12  # words: a line at least this long and with stopwords looks like a sentence
LEXICON_MAX_WORDS = 40  # the vocabulary is only searched in lines this short


class Line(NamedTuple):
    """One non-blank line of a text, with its block (run of non-blank lines); a value, no behaviour."""

    text: str
    block: int  # index of the block (run of non-blank lines) it belongs to
    blank_before: bool
    extra: tuple[float, ...] = ()  # mode-specific features (the HTML mode adds DOM cues)


def split_lines(text: str) -> list[Line]:
    """Non-blank lines, stripped, with their block number (blank lines separate blocks)."""
    out: list[Line] = []
    block, blank = 0, True
    for raw in text.splitlines():
        line = raw.strip()
        if not line:
            if not blank:
                block += 1
            blank = True
            continue
        out.append(Line(line, block, blank))
        blank = False
    return out


def window_mean(values: np.ndarray, radius: int) -> np.ndarray:
    """Mean of ``values`` over a window of ±``radius`` positions (cut at the ends)."""
    n = values.shape[0]
    csum = np.concatenate(([0.0], np.cumsum(values)))
    idx = np.arange(n)
    lo = np.maximum(idx - radius, 0)
    hi = np.minimum(idx + radius + 1, n)
    return (csum[hi] - csum[lo]) / (hi - lo)


def best_run(gain: np.ndarray) -> tuple[int, int]:
    """[lo, hi) of the maximum-sum contiguous run of ``gain`` (Kadane)."""
    best, best_lo, best_hi = -math.inf, 0, 0
    cur, lo = 0.0, 0
    for i, g in enumerate(gain.tolist()):
        if cur <= 0:
            cur, lo = g, i
        else:
            cur += g
        if cur > best:
            best, best_lo, best_hi = cur, lo, i + 1
    return best_lo, best_hi


def _runs(flag: np.ndarray) -> np.ndarray:
    """Length of the run of equal values of ``flag`` each position belongs to."""
    change = np.concatenate(([True], flag[1:] != flag[:-1]))
    run_id = np.cumsum(change) - 1
    return np.bincount(run_id)[run_id]


def _matching(pattern, texts: list[str], candidates: list[int]) -> list[int]:
    """Which of the ``candidates`` (indexes into ``texts``) ``pattern`` matches in, a search a line (the pattern
    must not cross a line). The candidates are few (median 6 of ~170 lines): faster than one pass over them
    joined with the matches mapped back."""
    search = pattern.search
    return [i for i in candidates if search(texts[i])]


class _Text:
    """What the feature functions of one text share, each value computed once on first use: the lines' tokens
    (flattened, with per-token flags summed per line), code points, counts and the densest sentence-like run.
    Holds no feature order: the table does."""

    def __init__(self, lines: list[Line], stopwords: frozenset[str], title: str | None):
        self.lines, self.stopwords = lines, stopwords
        self.texts = [line.text for line in lines]
        self.n = len(lines)
        self.idx = np.arange(self.n)
        self.title_words = {w.lower() for w in V.WORD_RE.findall(title or self.texts[0])}
        self.has_cjk = any(map(V.CJK_RE.search, self.texts))
        word_re = V.FEATURE_WORD_RE if self.has_cjk else V.WORD_RE
        self.words_per_line = [word_re.findall(t) for t in self.texts]
        self.nw_int = np.fromiter(map(len, self.words_per_line), dtype=np.intp, count=self.n)
        self.flat = list(chain.from_iterable(self.words_per_line))
        self.joined_tokens = "\n".join(self.flat)
        self.low = self.joined_tokens.lower().split("\n") if self.flat else []
        self.line_of_token = np.repeat(self.idx, self.nw_int)
        self.words = self.nw_int.astype(np.float64)
        self.nw = np.maximum(self.words, 1.0)

    def per_line(self, flags) -> np.ndarray:
        """Per-token ``flags`` summed per line."""
        if not self.flat:
            return np.zeros(self.n)
        if not isinstance(flags, np.ndarray):
            flags = np.fromiter(flags, dtype=np.float64, count=len(self.flat))
        return np.bincount(self.line_of_token, weights=flags, minlength=self.n)

    # tokens: per distinct token (stopword?, in the title?, vocabulary triggers), then gathered per token
    @cached_property
    def distinct(self) -> list[str]:
        return list(dict.fromkeys(self.low))

    @cached_property
    def token_ids(self) -> np.ndarray:
        ids = {w: i for i, w in enumerate(self.distinct)}
        return np.fromiter(map(ids.__getitem__, self.low), dtype=np.intp, count=len(self.low))

    def _per_distinct(self, fn, dtype=np.float64) -> np.ndarray:
        return np.fromiter(map(fn, self.distinct), dtype=dtype, count=len(self.distinct))[self.token_ids]

    @cached_property
    def stops(self) -> np.ndarray:
        stops = self.per_line(self._per_distinct(self.stopwords.__contains__))
        if self.has_cjk:
            flat = self.flat
            cjk_stop = np.fromiter((not V.CJK_FUNCTION_CHARS.isdisjoint(w) for w in flat), dtype=bool, count=len(flat))
            stops = stops + self.per_line(self.is_cjk & cjk_stop)
        return stops

    @cached_property
    def is_cjk(self) -> np.ndarray:
        return np.fromiter((bool(V.CJK_RE.match(w)) for w in self.flat), dtype=bool, count=len(self.flat))

    @cached_property
    def in_title(self) -> np.ndarray:
        return self.per_line(self._per_distinct(self.title_words.__contains__))

    @cached_property
    def trigger_bits(self) -> np.ndarray:
        prefixes = [w[: V.PREFIX_LEN] for w in self.distinct]
        bits = np.fromiter(map(V.TRIGGER_BITS.get, prefixes, repeat(0)), dtype=np.int64, count=len(prefixes))
        return bits[self.token_ids]

    # code points: of the tokens (a token per "\n"-separated segment) and of the lines
    @cached_property
    def tok_len(self) -> np.ndarray:
        return np.fromiter(map(len, self.flat), dtype=np.intp, count=len(self.flat))

    @cached_property
    def tok_start(self) -> np.ndarray:
        return np.concatenate(([0], np.cumsum(self.tok_len + 1)[:-1]))

    @cached_property
    def tok_cps(self) -> np.ndarray:
        return V.code_points(self.joined_tokens)

    @cached_property
    def upper(self) -> np.ndarray:
        """Per token: does it start upper-case?"""
        return V.UPPER_TABLE[self.tok_cps[self.tok_start]] if self.flat else np.zeros(0, dtype=bool)

    @cached_property
    def digits(self) -> np.ndarray:
        """Per line: how many all-digit tokens."""
        if not self.flat:
            return np.zeros(self.n)
        return self.per_line(np.add.reduceat(V.DIGIT_TABLE[self.tok_cps], self.tok_start) == self.tok_len)

    @cached_property
    def nc_int(self) -> np.ndarray:
        return np.fromiter(map(len, self.texts), dtype=np.intp, count=self.n)

    @cached_property
    def nc(self) -> np.ndarray:
        return self.nc_int.astype(np.float64)

    @cached_property
    def starts(self) -> np.ndarray:
        return np.concatenate(([0], np.cumsum(self.nc_int + 1)[:-1]))

    @cached_property
    def cps(self) -> np.ndarray:
        return V.code_points("\n".join(self.texts))

    @cached_property
    def last_chars(self) -> np.ndarray:
        return self.cps[self.starts + self.nc_int - 1]

    def chars_per_line(self, table: np.ndarray) -> np.ndarray:
        return np.add.reduceat(table[self.cps], self.starts).astype(np.float64)

    # derived values that several features read
    @cached_property
    def log_words(self) -> np.ndarray:
        return np.log1p(self.words)

    @cached_property
    def stop_ratio(self) -> np.ndarray:
        return self.stops / self.nw

    @cached_property
    def ends_punct(self) -> np.ndarray:
        return V.END_PUNCT_TABLE[self.last_chars]

    @cached_property
    def title_case(self) -> np.ndarray:
        return self.per_line(self.upper) / self.nw

    @cached_property
    def separator_ratio(self) -> np.ndarray:
        return self.chars_per_line(V.SEPARATOR_TABLE) / self.nw

    @cached_property
    def title_overlap(self) -> np.ndarray:
        return np.minimum(self.in_title / (len(self.title_words) or 1), 1.0)

    @cached_property
    def sentence(self) -> np.ndarray:
        """Lines that read like sentences (long with stopwords, or shorter, ending like a sentence)."""
        words, stop_ratio = self.words, self.stop_ratio
        return (((words >= LONG_LINE) & (stop_ratio > 0.12))
                | ((words >= 6) & (self.ends_punct > 0) & (stop_ratio > 0.2)))

    @cached_property
    def region(self) -> tuple[int, int]:
        """[lo, hi) of the densest run of sentence-like lines."""
        return best_run(np.where(self.sentence, np.minimum(self.words, 60.0), -np.minimum(self.words, 8.0) - 2.0))

    @cached_property
    def lexicon(self) -> np.ndarray:
        return _lexicon(self)

    @cached_property
    def strong_first(self) -> np.ndarray:
        """The strong vocabulary columns with only the first pattern a line matches (it names the line)."""
        strong_hits = self.lexicon[:, : len(V.STRONG)]
        if strong_hits.any():
            first = np.argmax(strong_hits, axis=1)
            has = strong_hits.max(axis=1) > 0
            strong_hits = np.zeros_like(strong_hits)
            strong_hits[self.idx[has], first[has]] = 1.0
        return strong_hits

    @cached_property
    def strong_any(self) -> np.ndarray:
        return self.strong_first.max(axis=1, initial=0)

    @cached_property
    def colon(self) -> np.ndarray:
        """Lines ending with a colon and holding a number: a comment's "<date> at <time>:" header."""
        return np.array([t.endswith(":") for t in self.texts]) & (self.digits > 0)

    @cached_property
    def signature(self) -> np.ndarray:
        return _signatures(self)


def _lexicon(t: _Text) -> np.ndarray:
    """(n, len(PATTERNS)) 0/1 matrix: which strong and weak patterns each line of at most LEXICON_MAX_WORDS
    words matches. A pattern only runs on the lines that have one of its triggers."""
    hits = np.zeros((t.n, len(V.PATTERNS)))
    if not t.trigger_bits.size:
        return hits
    line_bits = np.zeros(t.n, dtype=np.int64)
    np.bitwise_or.at(line_bits, t.line_of_token, t.trigger_bits)
    if any(V.COPYRIGHT in text for text in t.texts):
        has = np.array([V.COPYRIGHT in text for text in t.texts], dtype=np.int64)
        line_bits |= has * V.TRIGGER_BITS[V.COPYRIGHT]
    line_bits[~(t.nw_int <= LEXICON_MAX_WORDS)] = 0
    lowered = "\n".join(t.texts).lower().split("\n")  # one call; lower() keeps every line's "\n" boundaries
    # the candidate lines of every pattern at once: (pattern, line) pairs, in pattern order
    pattern_of, candidates = np.nonzero((line_bits >> np.arange(len(V.PATTERNS))[:, None]) & 1)
    bounds = np.searchsorted(pattern_of, np.arange(len(V.PATTERNS) + 1)).tolist()
    candidates = candidates.tolist()
    for k, vocabulary in enumerate(V.PATTERNS):
        if bounds[k] < bounds[k + 1]:
            hits[_matching(vocabulary.line_pattern, lowered, candidates[bounds[k] : bounds[k + 1]]), k] = 1.0
    return hits


def _signatures(t: _Text) -> np.ndarray:
    """0/1 a line: a comment's signature line (``vocabulary.SIGNATURE_RE``). Only short lines ending with a
    colon or a verb of saying, with a digit, or starting like a reply button can match: the regex runs on those."""
    sig = np.zeros(t.n)
    last_words = [w[-1].lower() if w else "" for w in t.words_per_line]
    heads = [text[: V.REPLY_HEAD_LEN].lower() for text in t.texts]
    maybe = np.flatnonzero((t.nw_int <= 12) & (V.COLON_TABLE[t.last_chars] | (t.digits > 0)
                                               | np.fromiter(map(V.may_be_signature, last_words, heads), bool, t.n)))
    if maybe.size:
        sig[_matching(V.SIGNATURE_RE, t.texts, maybe.tolist())] = 1.0
    return sig


# ----------------------------------------------------------------------------- feature groups of several columns
def _neighbours(t: _Text) -> tuple:
    prev_words, next_words, next_blank = np.zeros(t.n), np.zeros(t.n), np.zeros(t.n)
    prev_words[1:] = t.log_words[:-1]
    next_words[:-1] = t.log_words[1:]
    blank_before = np.fromiter((line.blank_before for line in t.lines), dtype=bool, count=t.n)
    next_blank[:-1] = blank_before[1:]
    next_blank[-1] = 1.0
    return prev_words, next_words, blank_before, next_blank


def _region(t: _Text) -> tuple:
    lo, hi = t.region
    idx = t.idx
    dist = np.where(idx < lo, idx - lo, np.where(idx >= hi, idx - hi + 1, 0)) / 10.0
    return (idx >= lo) & (idx < hi), dist, (hi - lo) / t.n, t.sentence


def _long_lines(t: _Text) -> tuple:
    """Distances to the nearest sentence-like lines before and after, and the share of them after / before."""
    idx, n = t.idx, t.n
    long_idx = np.flatnonzero(t.sentence)
    if not long_idx.size:
        return n / 10.0, n / 10.0, 0.0, 0.0
    before = np.searchsorted(long_idx, idx, side="right") - 1  # last long line at or before i
    after = np.searchsorted(long_idx, idx, side="left")  # first long line at or after i
    return (np.where(before >= 0, idx - long_idx[np.maximum(before, 0)], n) / 10.0,
            np.where(after < long_idx.size, long_idx[np.minimum(after, long_idx.size - 1)] - idx, n) / 10.0,
            (long_idx.size - after) / long_idx.size,
            (before + 1) / long_idx.size)


def _comment_cues(t: _Text) -> tuple:
    """A comment header ("<date> at <time>:"), after one, its density, and after the first comment cue."""
    colon, idx = t.colon, t.idx
    cue = (t.lexicon[:, len(V.STRONG) + V.WEAK_COMMENTS] > 0) | colon
    after_cue = (np.cumsum(cue) > 0) & (idx > np.argmax(cue) if cue.any() else False)
    return colon, np.cumsum(colon) > 0, window_mean(colon.astype(np.float64), 7), after_cue


def _signature_features(t: _Text) -> tuple:
    sig = t.signature
    sig_before = np.cumsum(sig) - sig
    return sig, window_mean(sig, 5), np.log1p(sig_before), sig_before / max(sig.sum(), 1.0)


def _headline(t: _Text) -> tuple:
    """The headline repeated in the text (the first line is the page title): article text follows it."""
    idx = t.idx
    heads = np.flatnonzero((t.title_overlap >= 0.7) & (t.words <= 1.5 * max(len(t.title_words), 1) + 2) & (idx > 0))
    if not heads.size:
        return 0.0, 0.0
    h = heads[0]
    return np.sign(idx - h), np.clip((idx - h) / 10.0, -5.0, 5.0)


def _position(t: _Text) -> tuple:
    cum_chars, cum_words = np.cumsum(t.nc), np.cumsum(t.words)
    return (t.idx / t.n, (cum_chars - t.nc) / max(cum_chars[-1], 1.0),
            (cum_words[-1] - cum_words) / max(cum_words[-1], 1.0))


def _block(t: _Text) -> tuple:
    blocks = np.fromiter((line.block for line in t.lines), dtype=np.intp, count=t.n)
    block_start = np.concatenate(([True], blocks[1:] != blocks[:-1]))
    return np.bincount(blocks)[blocks], t.idx - np.maximum.accumulate(np.where(block_start, t.idx, 0))


def _is_first(t: _Text) -> np.ndarray:
    first = np.zeros(t.n)
    first[0] = 1.0
    return first


def _log_duplicates(t: _Text) -> np.ndarray:
    counts = Counter(t.texts)
    return np.log([counts[s] for s in t.texts])


_OPENERS = "\"'“‘«(¿¡"

# name(s) -> function of the text giving that column (or those columns: a matrix, or a tuple of columns). The model files store the
# names (``FEATURES``); ``model.load_model`` checks them against this table.
FEATURE_TABLE: tuple[tuple[tuple[str, ...], Callable[[_Text], object]], ...] = (
    (("log_words",), lambda t: t.log_words),
    (("log_chars",), lambda t: np.log1p(t.nc)),
    (("chars_per_word",), lambda t: t.nc / t.nw),
    (("stop_ratio",), lambda t: t.stop_ratio),
    (("log_stops",), lambda t: np.log1p(t.stops)),
    (("ends_punct",), lambda t: t.ends_punct),
    (("starts_punct",), lambda t: [not (s[0].isalnum() or s[0] in _OPENERS) for s in t.texts]),
    (("punct_per_word",), lambda t: t.chars_per_line(V.SENT_PUNCT_TABLE) / t.nw),
    (("title_case_ratio",), lambda t: t.title_case),
    (("starts_upper",), lambda t: [s[0].isupper() for s in t.texts]),
    (("digit_ratio",), lambda t: t.digits / t.nw),
    (("separator_chars",), lambda t: t.separator_ratio),
    (("is_url_like",), lambda t: [("http" in s or "www." in s or ".com" in s) for s in t.texts]),
    (("strong_any",), lambda t: t.strong_any),
    (("weak_count",), lambda t: t.lexicon[:, len(V.STRONG) :].sum(axis=1)),
    (tuple(f"strong_{i}" for i in range(len(V.STRONG))), lambda t: t.strong_first),
    (tuple(f"weak_{i}" for i in range(len(V.WEAK))), lambda t: t.lexicon[:, len(V.STRONG) :]),
    (("rel_pos", "rel_char_pos", "tokens_after_ratio"), _position),
    (("block_lines", "pos_in_block"), _block),
    (("log_dup",), _log_duplicates),
    (("title_overlap",), lambda t: t.title_overlap),
    (("is_first",), _is_first),
    (("in_region", "region_dist", "region_len_ratio", "sentence_like"), _region),
    (("prev_words", "next_words", "prev_blank", "next_blank"), _neighbours),
    (("w1_words", "w3_words", "w7_words"), lambda t: [window_mean(t.log_words, r) for r in (1, 3, 7)]),
    (("w1_stop", "w3_stop", "w7_stop"), lambda t: [window_mean(t.stop_ratio, r) for r in (1, 3, 7)]),
    (("w3_sent", "w7_sent", "w15_sent"), lambda t: [window_mean(t.sentence.astype(np.float64), r) for r in (3, 7, 15)]),
    (("w3_strong", "w7_strong"), lambda t: [window_mean(t.strong_any, r) for r in (3, 7)]),
    (("dist_long_before", "dist_long_after", "long_lines_after", "long_lines_before"), _long_lines),
    (("short_run",), lambda t: np.where(t.words <= 4, np.log1p(_runs(t.words <= 4)), 0.0)),
    (("w3_separators",), lambda t: window_mean(t.separator_ratio, 3)),
    (("w3_title_case",), lambda t: window_mean(t.title_case, 3)),
    # headline-shaped start ("Title Case Words Then A Sentence": teaser lists)
    (("head_title_case",), lambda t: t.per_line(t.upper & (_token_positions(t) < 6)) / np.minimum(t.nw, 6)),
    (("header_colon", "after_header_colon", "w7_header_colon", "after_comment_cue"), _comment_cues),
    (("signature", "w5_signature", "signatures_before", "signatures_before_share"), _signature_features),
    (("headline_side", "headline_dist"), _headline),
    (("cjk_share",), lambda t: (t.per_line(t.is_cjk) if t.has_cjk else np.zeros(t.n)) / t.nw),
)


def _token_positions(t: _Text) -> np.ndarray:
    """Each token's position in its line."""
    return np.arange(len(t.flat)) - np.repeat(np.cumsum(t.nw_int) - t.nw_int, t.nw_int)


FEATURES: tuple[str, ...] = tuple(chain.from_iterable(names for names, _ in FEATURE_TABLE))
N_FEATURES = len(FEATURES)
N_WORDS = N_FEATURES  # not a model input: appended after the features (raw word count)
STRONG_ANY = FEATURES.index("strong_any")
SENTENCE_LIKE = FEATURES.index("sentence_like")
BLOCK_LINES = FEATURES.index("block_lines")
ENDS_PUNCT = FEATURES.index("ends_punct")
_STRONG = slice(FEATURES.index("strong_0"), FEATURES.index("strong_0") + len(V.STRONG))
_WEAK = slice(FEATURES.index("weak_0"), FEATURES.index("weak_0") + len(V.WEAK))


def features(lines: list[Line], stopwords: frozenset[str], title: str | None = None) -> np.ndarray:
    """Feature matrix (one row a line, FEATURES then the raw word count), computed for the whole text at once."""
    n = len(lines)
    x = np.zeros((n, N_FEATURES + 1))
    if n == 0:
        return x
    text = _Text(lines, stopwords, title)
    col = 0
    for names, fn in FEATURE_TABLE:
        values = fn(text)
        if len(names) == 1:
            x[:, col] = values
        elif isinstance(values, np.ndarray):  # an (n, len(names)) matrix
            x[:, col : col + len(names)] = values
        else:  # a tuple or list of columns
            for j, value in enumerate(values):
                x[:, col + j] = value
        col += len(names)
    x[:, N_WORDS] = text.words
    return x


def categories_of(x: np.ndarray, in_list: np.ndarray) -> list:
    """``vocabulary.categorise`` of feature rows (their vocabulary columns and word counts)."""
    return V.categorise(x[:, _STRONG], x[:, _WEAK], x[:, N_WORDS], in_list)


def stage2_features(x: np.ndarray, p1: np.ndarray) -> np.ndarray:
    """Stage-1 scores of the neighbours, appended to the features (the second line model's input)."""
    n = p1.shape[0]
    extra = np.zeros((n, 14))
    extra[:, 0] = p1
    extra[1:, 1] = p1[:-1]
    extra[:-1, 2] = p1[1:]
    extra[2:, 3] = p1[:-2]
    extra[:-2, 4] = p1[2:]
    extra[:, 5] = window_mean(p1, 3)
    extra[:, 6] = window_mean(p1, 8)
    extra[:, 7] = window_mean(p1, 20)
    if n:
        idx = np.arange(n)
        body = np.flatnonzero(p1 > 0.5)
        if body.size:
            extra[:, 8] = np.where((idx >= body[0]) & (idx <= body[-1]), 1.0, 0.0)
        # page-relative: how this line's score compares with the page's best lines (a page whose article
        # scores low everywhere still has its article as its best lines)
        top = np.sort(p1)[::-1]
        extra[:, 9] = p1 / max(top[0], 1e-6)
        extra[:, 10] = p1 - top[: max(3, n // 20)].mean()
        extra[:, 11] = np.argsort(np.argsort(p1)) / n
        extra[:, 12] = np.log1p(body.size)
        words = np.exp(x[:, 0]) - 1.0
        extra[:, 13] = (words * (p1 > 0.5)).sum() / max(words.sum(), 1.0)
    return np.hstack([x, extra])
