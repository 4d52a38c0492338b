"""Line features and the line classifier shared by both modes.

A document is a list of lines (blank lines separate blocks). Each non-blank line gets lexical features
(length, stopword ratio, punctuation, capitalisation, boilerplate vocabulary), structural features (its block's
size, duplicates, position, distance to the longest run of sentence-like lines) and the same over its
neighbours. Two small gradient-boosted tree ensembles (``model/lines.json``, trained by
``bench/train_cleaner.py``) score it: the first from the features, the second also from the first one's scores
of the neighbouring lines. Trees are evaluated with numpy, all lines and trees at once.
"""

from __future__ import annotations

import json
import math
import operator
import re
from collections import Counter
from functools import lru_cache
from itertools import chain, repeat
from pathlib import Path
from typing import NamedTuple

import numpy as np

try:  # the regex parser, to find the characters a vocabulary pattern can start with (_line_pattern)
    from re import _constants as _sre
    from re._parser import parse as _sre_parse
except ImportError:  # pragma: no cover
    _sre = None

from schemas.messages import BoilerplateCategory as Cat
from services.cleaner.categories import COUNTED, REPLY, SAYING, STRONG, STRONG_PREFIXES, WEAK, WEAK_PREFIXES

MODEL_PATH = Path(__file__).with_name("model") / "lines.json"
HTML_MODEL_PATH = Path(__file__).with_name("model") / "html.json"
WORD_RE = re.compile(r"\w+", re.UNICODE)
# Chinese and Japanese are written without spaces: for the features, a run of their characters counts as one
# word every two characters (about the mean word length), and a chunk holding a function character (particle,
# auxiliary) counts as a stopword. Korean has spaces and stays as \w+ words.
_CJK = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
FEATURE_WORD_RE = re.compile(rf"[^\W{_CJK}]+|[{_CJK}]{{1,2}}")
_CJK_RE = re.compile(f"[{_CJK}]")
CJK_FUNCTION_CHARS = frozenset("のにはをがでともへやかなたてしいうるれらすまだよね"
                               "的了是在和有不这也就都而及与着或被把对从但并其之以于为")
# A comment's signature line ("jane says:", "John Smith wrote:", "March 3, 2019 at 6:34 am", "Reply",
# "34 responses to ..."): comment threads are runs of them between short texts.
_SIGNATURE_PATTERN = (  # categories.COMMENT_SIGNATURE, looser: also "Like", "Report", times of day
    rf"^(?:.{{1,60}}\s{SAYING}\s*:?|(?:{REPLY}|report|flag|like|\d+ likes?|permalink)|\d+\s+{COUNTED}\b.*|"
    r".{0,40}\b\d{1,2}:\d{2}\s*(?:[ap]\.?m\.?)?)$"
)
# searched in one candidate line at a time (\s kept within a line, as in the vocabulary patterns)
SIGNATURE_RE = re.compile(_SIGNATURE_PATTERN.replace(r"\s", r"[^\S\n]"), re.IGNORECASE | re.MULTILINE)
# the verbs of categories.SAYING as plain stems (a prefilter: keep the two lists together)
_is_signature_verb = operator.methodcaller("startswith", ("says", "said", "wrote", "writes", "dice", "disse", "escribi",
                                                          "schreibt", "schrieb", "crit", "écrit", "pisze", "пишет",
                                                          "написал"))
_REPLY_HEADS = frozenset(("reply", "respo", "répon", "repon", "antwo", "rispo", "ответ", "log i", "repor", "flag",
                          "like", "perma"))
END_PUNCT = frozenset(".!?。！？…\"'”’»):;")
SENT_PUNCT_RE = re.compile(r"[.,;:!?，。、]")
LONG_LINE = 12  # words: a line at least this long and with stopwords looks like a sentence

FEATURES = (
    "log_words", "log_chars", "chars_per_word", "stop_ratio", "log_stops", "ends_punct", "starts_punct",
    "punct_per_word", "title_case_ratio", "starts_upper", "digit_ratio", "separator_chars", "is_url_like",
    "strong_any", "weak_count", *(f"strong_{i}" for i in range(len(STRONG))), *(f"weak_{i}" for i in range(len(WEAK))),
    "rel_pos", "rel_char_pos", "tokens_after_ratio", "block_lines", "pos_in_block", "log_dup", "title_overlap",
    "is_first", "in_region", "region_dist", "region_len_ratio", "sentence_like",
    "prev_words", "next_words", "prev_blank", "next_blank",
    "w1_words", "w3_words", "w7_words", "w1_stop", "w3_stop", "w7_stop", "w3_sent", "w7_sent", "w15_sent",
    "w3_strong", "w7_strong", "dist_long_before", "dist_long_after", "long_lines_after", "long_lines_before",
    "short_run", "w3_separators", "w3_title_case", "head_title_case", "header_colon", "after_header_colon",
    "w7_header_colon", "after_comment_cue",
    "signature", "w5_signature", "signatures_before", "signatures_before_share",
    "headline_side", "headline_dist", "cjk_share",
)
N_FEATURES = len(FEATURES)
STRONG_ANY = FEATURES.index("strong_any")
N_WORDS = N_FEATURES  # not a model input: appended after the features (raw word count)
SENTENCE_LIKE = FEATURES.index("sentence_like")
BLOCK_LINES = FEATURES.index("block_lines")
ENDS_PUNCT = FEATURES.index("ends_punct")
_STRONG0 = FEATURES.index("strong_0")
_WEAK0 = FEATURES.index("weak_0")

# Character classes as lookup tables over the Basic Multilingual Plane (other code points map to U+FFFF).
_BMP = 0x10000


def _char_table(chars) -> np.ndarray:
    table = np.zeros(_BMP, dtype=bool)
    table[[ord(c) for c in chars]] = True
    return table


_SENT_PUNCT_TABLE = _char_table(".,;:!?，。、")
_SEPARATOR_TABLE = _char_table("|»›·•/")
_END_PUNCT_TABLE = _char_table(END_PUNCT)
_COLON_TABLE = _char_table(":")
_UPPER_TABLE = np.fromiter((chr(c).isupper() for c in range(_BMP)), dtype=bool, count=_BMP)
_DIGIT_TABLE = np.fromiter((chr(c).isdigit() for c in range(_BMP)), dtype=bool, count=_BMP)


def _code_points(text: str) -> np.ndarray:
    """The code points of ``text`` (those beyond the BMP as U+FFFF, for the tables above)."""
    return np.minimum(np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32), _BMP - 1)


def _first_chars(items) -> set[str] | None:
    """The characters a parsed regex can start with (after anchors), or None when that is not a small set."""
    out: set[str] = set()
    for op, av in items:
        if op is _sre.AT:
            continue
        if op is _sre.LITERAL:
            return out | {chr(av)}
        if op is _sre.IN:
            for o, a in av:
                if o is _sre.LITERAL:
                    out.add(chr(a))
                elif o is _sre.RANGE and a[1] - a[0] < 64:
                    out.update(chr(c) for c in range(a[0], a[1] + 1))
                else:
                    return None
            return out
        if op is _sre.BRANCH or op is _sre.SUBPATTERN:
            for branch in av[1] if op is _sre.BRANCH else (av[-1],):
                first = _first_chars(branch)
                if first is None:
                    return None
                out |= first
            return out
        if op is _sre.MAX_REPEAT or op is _sre.MIN_REPEAT:
            first = _first_chars(av[2])
            if first is None:
                return None
            out |= first
            if av[0] == 0:
                continue  # optional: what follows can start the match too
            return out
        return None
    return None


def _line_pattern(pattern: str) -> re.Pattern[str]:
    """``pattern`` made to match within one line of a "\n"-joined lower-cased text (lower-casing once is much
    faster than IGNORECASE), behind a lookahead of the characters it can start with: the regex engine then
    skips to those characters in a tight loop instead of trying every branch at every position (3x faster)."""
    pattern = pattern.replace(r"\s", r"[^\S\n]")
    try:
        first = _first_chars(_sre_parse(pattern))
    except Exception:  # private module changed: no lookahead, same matches
        first = None
    if first:
        pattern = "(?=[" + "".join(re.escape(c) for c in sorted(first)) + "])(?:" + pattern + ")"
    return re.compile(pattern, re.MULTILINE)


# The strong then the weak patterns.
_ML_PATTERNS = tuple(_line_pattern(p.pattern) for _, p in (*STRONG, *WEAK))
_PREFIX_BITS: dict[str, int] = {}
for _k, _prefixes in enumerate((*STRONG_PREFIXES, *WEAK_PREFIXES)):
    for _p in _prefixes:
        _PREFIX_BITS[_p] = _PREFIX_BITS.get(_p, 0) | (1 << _k)
_COPYRIGHT_BITS = _PREFIX_BITS.get("c", 0)
_WEAK_COMMENTS = [c for c, _ in WEAK].index(Cat.comments)


class Line(NamedTuple):
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


@lru_cache(maxsize=1)
def load_model(path: str = str(MODEL_PATH)) -> dict | None:
    try:
        raw = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    model = {"stopwords": frozenset(raw["stopwords"]), "threshold": raw.get("threshold", 0.5)}
    for stage in ("stage1", "stage2"):
        spec = raw.get(stage)
        if spec is None:  # a one-stage model
            continue
        model[stage] = (
            np.asarray(spec["feature"], dtype=np.intp),
            np.asarray(spec["threshold"], dtype=np.float64),
            # children[2 * node + (x > threshold)]: one gather a level instead of two and a select
            np.stack([np.asarray(spec["left"], dtype=np.intp), np.asarray(spec["right"], dtype=np.intp)], 1).ravel(),
            np.asarray(spec["value"], dtype=np.float64),
            np.asarray(spec["roots"], dtype=np.intp),
            int(spec["depth"]),
            float(spec["init"]),
        )
    return model


def predict_trees(spec: tuple, x: np.ndarray) -> np.ndarray:
    """Log-odds of a gradient-boosted ensemble for each row of ``x`` (leaves point to themselves)."""
    feature, threshold, children, value, roots, depth, init = spec
    n = x.shape[0]
    if n == 0:
        return np.zeros(0)
    x = np.ascontiguousarray(x)
    node = np.broadcast_to(roots, (n, roots.shape[0]))
    if depth >= 2:
        # the first two levels a column at a time (every row is at the roots, then at one of their two children):
        # column takes instead of a gather of each row's feature and threshold
        left, right = children[2 * roots], children[2 * roots + 1]
        go_right = np.take(x, feature[roots], axis=1) > threshold[roots]
        node = np.where(go_right, right, left)
        go_right = np.where(go_right, np.take(x, feature[right], axis=1) > threshold[right],
                            np.take(x, feature[left], axis=1) > threshold[left])
        node = children[2 * node + go_right]
        depth -= 2
    flat = x.ravel()
    base = (np.arange(n) * x.shape[1])[:, None]
    for _ in range(depth):
        go_right = flat[base + feature[node]] > threshold[node]
        node = children[2 * node + go_right]
    return init + value[node].sum(axis=1)  # (n, trees), C order: the same sums as ever


def _window_mean(values: np.ndarray, radius: int) -> np.ndarray:
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


def _lexicon(texts: list[str], tok_bits: np.ndarray, line_of_token: np.ndarray, eligible: np.ndarray) -> np.ndarray:
    """(n, len(STRONG) + len(WEAK)) 0/1 matrix: which strong and weak patterns each eligible line matches.

    A pattern only runs on the lines that have one of its trigger words (first four letters)."""
    n = len(texts)
    hits = np.zeros((n, len(_ML_PATTERNS)))
    if not tok_bits.size:
        return hits
    line_bits = np.zeros(n, dtype=np.int64)
    np.bitwise_or.at(line_bits, line_of_token, tok_bits)
    if any("©" in t for t in texts):
        line_bits |= np.array(["©" in t for t in texts], dtype=np.int64) * _COPYRIGHT_BITS
    line_bits[~eligible] = 0
    lowered = "\n".join(texts).lower().split("\n")  # one call; lower() keeps every line's "\n" boundaries
    # the candidate lines of every pattern at once: (pattern, line) pairs, in pattern order
    pattern_of, candidates = np.nonzero((line_bits >> np.arange(len(_ML_PATTERNS))[:, None]) & 1)
    bounds = np.searchsorted(pattern_of, np.arange(len(_ML_PATTERNS) + 1)).tolist()
    candidates = candidates.tolist()
    for k, pattern in enumerate(_ML_PATTERNS):
        if bounds[k] < bounds[k + 1]:
            hits[_matching(pattern, lowered, candidates[bounds[k] : bounds[k + 1]]), k] = 1.0
    return hits


def _matching(pattern: re.Pattern[str], texts: list[str], candidates: list[int]) -> list[int]:
    """Which of the ``candidates`` (indexes into ``texts``) ``pattern`` matches in, a search a line (the pattern
    must not cross a line). The candidates are few (median 6 of ~170 lines): faster than one pass over them
    joined with the matches mapped back."""
    search = pattern.search
    return [i for i in candidates if search(texts[i])]


def _runs(flag: np.ndarray) -> np.ndarray:
    """Length of the run of equal values of ``flag`` each position belongs to."""
    change = np.concatenate(([True], flag[1:] != flag[:-1]))
    run_id = np.cumsum(change) - 1
    return np.bincount(run_id)[run_id]


def features(lines: list[Line], stopwords: frozenset[str], title: str | None = None) -> np.ndarray:
    """Feature matrix (one row a line, FEATURES then the raw word count), computed for the whole text at once."""
    n = len(lines)
    if n == 0:
        return np.zeros((0, N_FEATURES + 1))
    texts = [line.text for line in lines]
    idx = np.arange(n)
    x = np.zeros((n, N_FEATURES + 1))
    # tokens of every line, flattened; per-token flags summed per line
    has_cjk = any(map(_CJK_RE.search, texts))
    words_per_line = [(FEATURE_WORD_RE if has_cjk else WORD_RE).findall(t) for t in texts]
    nw_int = np.fromiter(map(len, words_per_line), dtype=np.intp, count=n)
    flat = list(chain.from_iterable(words_per_line))
    joined_tokens = "\n".join(flat)
    low = joined_tokens.lower().split("\n") if flat else []
    line_of_token = np.repeat(idx, nw_int)

    def per_line(flags) -> np.ndarray:
        if not flat:
            return np.zeros(n)
        if not isinstance(flags, np.ndarray):
            flags = np.fromiter(flags, dtype=np.float64, count=len(flat))
        return np.bincount(line_of_token, weights=flags, minlength=n)

    # per distinct token: stopword?, in the title?, trigger bits of the vocabulary; then gathered per token
    distinct = list(dict.fromkeys(low))
    token_ids = np.fromiter(map({w: i for i, w in enumerate(distinct)}.__getitem__, low), dtype=np.intp,
                            count=len(low))
    title_words = {w.lower() for w in WORD_RE.findall(title or texts[0])}
    is_stop = np.fromiter(map(stopwords.__contains__, distinct), dtype=np.float64, count=len(distinct))[token_ids]
    in_title = per_line(np.fromiter(map(title_words.__contains__, distinct), dtype=np.float64,
                                    count=len(distinct))[token_ids])
    tok_bits = np.fromiter(map(_PREFIX_BITS.get, [w[:4] for w in distinct], repeat(0)), dtype=np.int64,
                           count=len(distinct))[token_ids]
    stops = per_line(is_stop)
    cjk_tokens = np.zeros(n)
    if has_cjk:
        is_cjk = np.fromiter((bool(_CJK_RE.match(w)) for w in flat), dtype=bool, count=len(flat))
        cjk_stop = np.fromiter((not CJK_FUNCTION_CHARS.isdisjoint(w) for w in flat), dtype=bool, count=len(flat))
        stops = stops + per_line(is_cjk & cjk_stop)
        cjk_tokens = per_line(is_cjk)
    # first letter upper-case? all digits? from the tokens' code points (a token per "\n"-separated segment)
    tok_len = np.fromiter(map(len, flat), dtype=np.intp, count=len(flat))
    tok_start = np.concatenate(([0], np.cumsum(tok_len + 1)[:-1]))
    tok_cps = _code_points(joined_tokens)
    upper = _UPPER_TABLE[tok_cps[tok_start]] if flat else np.zeros(0, dtype=bool)
    capitalised = per_line(upper)
    token_pos = np.arange(len(flat)) - np.repeat(np.cumsum(nw_int) - nw_int, nw_int)
    head_capitalised = per_line(upper & (token_pos < 6))
    digits = per_line(np.add.reduceat(_DIGIT_TABLE[tok_cps], tok_start) == tok_len) if flat else np.zeros(n)
    # characters of the whole text as code points
    nc_int = np.fromiter(map(len, texts), dtype=np.intp, count=n)
    starts = np.concatenate(([0], np.cumsum(nc_int + 1)[:-1]))
    cps = _code_points("\n".join(texts))
    sent_punct = np.add.reduceat(_SENT_PUNCT_TABLE[cps], starts).astype(np.float64)
    separators = np.add.reduceat(_SEPARATOR_TABLE[cps], starts).astype(np.float64)

    words_arr = nw_int.astype(np.float64)
    nw = np.maximum(words_arr, 1.0)
    nc = nc_int.astype(np.float64)
    x[:, 0] = np.log1p(words_arr)
    x[:, 1] = np.log1p(nc)
    x[:, 2] = nc / nw
    x[:, 3] = stops / nw
    x[:, 4] = np.log1p(stops)
    x[:, 5] = _END_PUNCT_TABLE[cps[starts + nc_int - 1]]
    x[:, 6] = [not (t[0].isalnum() or t[0] in "\"'“‘«(¿¡") for t in texts]
    x[:, 7] = sent_punct / nw
    x[:, 8] = capitalised / nw
    x[:, 9] = [t[0].isupper() for t in texts]
    x[:, 10] = digits / nw
    x[:, 11] = separators / nw
    x[:, 12] = [("http" in t or "www." in t or ".com" in t) for t in texts]
    lex = _lexicon(texts, tok_bits, line_of_token, nw_int <= 40)
    n_strong = len(STRONG)
    strong_hits = lex[:, :n_strong]
    if strong_hits.any():  # only the first strong pattern a line matches names it
        first = np.argmax(strong_hits, axis=1)
        has = strong_hits.max(axis=1) > 0
        strong_hits = np.zeros_like(strong_hits)
        strong_hits[idx[has], first[has]] = 1.0
        x[:, 13] = has
    x[:, _STRONG0 : _STRONG0 + n_strong] = strong_hits
    x[:, _WEAK0 : _WEAK0 + len(WEAK)] = lex[:, n_strong:]
    x[:, 14] = lex[:, n_strong:].sum(axis=1)
    k = _WEAK0 + len(WEAK)
    x[:, k] = idx / n
    cum_chars = np.cumsum(nc)
    x[:, k + 1] = (cum_chars - nc) / max(cum_chars[-1], 1.0)
    cum_words = np.cumsum(words_arr)
    x[:, k + 2] = (cum_words[-1] - cum_words) / max(cum_words[-1], 1.0)
    blocks = np.fromiter((line.block for line in lines), dtype=np.intp, count=n)
    x[:, k + 3] = np.bincount(blocks)[blocks]
    block_start = np.concatenate(([True], blocks[1:] != blocks[:-1]))
    x[:, k + 4] = idx - np.maximum.accumulate(np.where(block_start, idx, 0))
    counts = Counter(texts)
    x[:, k + 5] = np.log([counts[t] for t in texts])
    x[:, k + 6] = np.minimum(in_title / (len(title_words) or 1), 1.0)
    x[0, k + 7] = 1.0
    stop_ratio = x[:, 3]
    sentence = ((words_arr >= LONG_LINE) & (stop_ratio > 0.12)) | ((words_arr >= 6) & (x[:, 5] > 0) & (stop_ratio > 0.2))
    gain = np.where(sentence, np.minimum(words_arr, 60.0), -np.minimum(words_arr, 8.0) - 2.0)
    lo, hi = best_run(gain)  # the densest run of sentence-like lines
    x[:, k + 8] = (idx >= lo) & (idx < hi)
    x[:, k + 9] = np.where(idx < lo, idx - lo, np.where(idx >= hi, idx - hi + 1, 0)) / 10.0
    x[:, k + 10] = (hi - lo) / n
    x[:, k + 11] = sentence
    k += 12
    log_words = x[:, 0]
    x[1:, k] = log_words[:-1]
    x[:-1, k + 1] = log_words[1:]
    blank_before = np.fromiter((line.blank_before for line in lines), dtype=bool, count=n)
    x[:, k + 2] = blank_before
    x[:-1, k + 3] = blank_before[1:]
    x[-1, k + 3] = 1.0
    k += 4
    for j, r in enumerate((1, 3, 7)):
        x[:, k + j] = _window_mean(log_words, r)
        x[:, k + 3 + j] = _window_mean(stop_ratio, r)
    sent_f = sentence.astype(np.float64)
    x[:, k + 6] = _window_mean(sent_f, 3)
    x[:, k + 7] = _window_mean(sent_f, 7)
    x[:, k + 8] = _window_mean(sent_f, 15)
    strong = x[:, 13]
    x[:, k + 9] = _window_mean(strong, 3)
    x[:, k + 10] = _window_mean(strong, 7)
    k += 11
    long_idx = np.flatnonzero(sentence)
    if long_idx.size:
        before = np.searchsorted(long_idx, idx, side="right") - 1  # last long line at or before i
        after = np.searchsorted(long_idx, idx, side="left")  # first long line at or after i
        x[:, k] = np.where(before >= 0, idx - long_idx[np.maximum(before, 0)], n) / 10.0
        x[:, k + 1] = np.where(after < long_idx.size, long_idx[np.minimum(after, long_idx.size - 1)] - idx, n) / 10.0
        x[:, k + 2] = (long_idx.size - after) / long_idx.size
        x[:, k + 3] = (before + 1) / long_idx.size
    else:
        x[:, k] = x[:, k + 1] = n / 10.0
    k += 4
    short = words_arr <= 4
    x[:, k] = np.where(short, np.log1p(_runs(short)), 0.0)
    x[:, k + 1] = _window_mean(x[:, 11], 3)
    x[:, k + 2] = _window_mean(x[:, 8], 3)
    # headline-shaped start ("Title Case Words Then A Sentence": teaser lists) and comment-thread cues
    x[:, k + 3] = head_capitalised / np.minimum(nw, 6)
    colon = np.array([t.endswith(":") for t in texts]) & (digits > 0)
    x[:, k + 4] = colon
    x[:, k + 5] = np.cumsum(colon) > 0
    x[:, k + 6] = _window_mean(colon.astype(np.float64), 7)
    cue = (lex[:, n_strong + _WEAK_COMMENTS] > 0) | colon
    x[:, k + 7] = (np.cumsum(cue) > 0) & (idx > np.argmax(cue) if cue.any() else False)
    k += 8
    # comment threads: signature lines, their density and how many came before
    sig = np.zeros(n)
    # only short lines ending with a colon or a verb of saying, with a digit, or starting like a reply button
    # can match: the regex runs on those only
    last_words = [w[-1].lower() if w else "" for w in words_per_line]
    maybe = np.flatnonzero((nw_int <= 12) & (_COLON_TABLE[cps[starts + nc_int - 1]] | (digits > 0)
                                             | np.fromiter(map(_is_signature_verb, last_words), bool, n)
                                             | np.fromiter((t[:5].lower() in _REPLY_HEADS for t in texts), bool, n)))
    if maybe.size:
        sig[_matching(SIGNATURE_RE, texts, maybe.tolist())] = 1.0
    x[:, k] = sig
    x[:, k + 1] = _window_mean(sig, 5)
    sig_before = np.cumsum(sig) - sig
    x[:, k + 2] = np.log1p(sig_before)
    x[:, k + 3] = sig_before / max(sig.sum(), 1.0)
    # the headline repeated in the text (the first line is the page title): article text follows it
    overlap = x[:, FEATURES.index("title_overlap")]
    heads = np.flatnonzero((overlap >= 0.7) & (words_arr <= 1.5 * max(len(title_words), 1) + 2) & (idx > 0))
    if heads.size:
        h = heads[0]
        x[:, k + 4] = np.sign(idx - h)
        x[:, k + 5] = np.clip((idx - h) / 10.0, -5.0, 5.0)
    x[:, k + 6] = cjk_tokens / nw
    x[:, N_WORDS] = words_arr
    return x


def stage2_features(x: np.ndarray, p1: np.ndarray) -> np.ndarray:
    """Stage-1 scores of the neighbours, appended to the features."""
    n = p1.shape[0]
    extra = np.zeros((n, 14))
    extra[:, 0] = p1
    extra[1:, 1] = p1[:-1]
    extra[:-1, 2] = p1[1:]
    extra[2:, 3] = p1[:-2]
    extra[:-2, 4] = p1[2:]
    extra[:, 5] = _window_mean(p1, 3)
    extra[:, 6] = _window_mean(p1, 8)
    extra[:, 7] = _window_mean(p1, 20)
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


def category_of(row: np.ndarray, in_list: bool) -> Cat:
    """Why a removed line was removed, from its features: strong cue, else weak cue, else list item or other."""
    return categories_of(row[None, :], np.array([in_list]))[0]


_CATS = tuple(Cat)
_STRONG_CAT = np.array([_CATS.index(c) for c, _ in STRONG])
_WEAK_CAT = np.array([_CATS.index(c) for c, _ in WEAK])


def categories_of(x: np.ndarray, in_list: np.ndarray) -> list[Cat]:
    """``category_of`` for every row at once."""
    strong = x[:, _STRONG0 : _STRONG0 + len(STRONG)]
    weak = x[:, _WEAK0 : _WEAK0 + len(WEAK)]
    short = x[:, N_WORDS]
    out = np.where(in_list & (short <= 6), _CATS.index(Cat.navigation), _CATS.index(Cat.other))
    out = np.where((short <= 12) & (weak.max(axis=1, initial=0) > 0), _WEAK_CAT[np.argmax(weak, axis=1)], out)
    out = np.where(x[:, STRONG_ANY] > 0, _STRONG_CAT[np.argmax(strong, axis=1)], out)
    return [_CATS[i] for i in out.tolist()]


def sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(z, -30, 30)))


def score_lines(x: np.ndarray, model: dict) -> np.ndarray:
    """Probability that each line belongs to the article body."""
    x = x[:, :N_FEATURES]
    p1 = sigmoid(predict_trees(model["stage1"], x))
    if "stage2" not in model:
        return p1
    return sigmoid(predict_trees(model["stage2"], stage2_features(x, p1)))
