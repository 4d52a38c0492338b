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
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from schemas.messages import BoilerplateCategory as Cat
from services.cleaner.categories import STRONG, TRIGGER_PREFIXES, WEAK, strong_index, weak_indexes

MODEL_PATH = Path(__file__).with_name("model") / "lines.json"
HTML_MODEL_PATH = Path(__file__).with_name("model") / "html.json"
WORD_RE = re.compile(r"\w+", re.UNICODE)
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
)
N_FEATURES = len(FEATURES)
STRONG_ANY = FEATURES.index("strong_any")
N_WORDS = N_FEATURES  # not a model input: appended after the features (raw word count)
SENTENCE_LIKE = FEATURES.index("sentence_like")
ENDS_PUNCT = FEATURES.index("ends_punct")
_STRONG0 = FEATURES.index("strong_0")
_WEAK0 = FEATURES.index("weak_0")


@dataclass(frozen=True)
class Line:
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
        spec = raw[stage]
        model[stage] = (
            np.asarray(spec["feature"], dtype=np.intp),
            np.asarray(spec["threshold"], dtype=np.float64),
            np.asarray(spec["left"], dtype=np.intp),
            np.asarray(spec["right"], dtype=np.intp),
            np.asarray(spec["value"], dtype=np.float64),
            np.asarray(spec["roots"], dtype=np.intp),
            int(spec["depth"]),
            float(spec["init"]),
        )
    model["extra_html"] = raw.get("extra_html", 0)
    return model


def predict_trees(spec: tuple, x: np.ndarray) -> np.ndarray:
    """Log-odds of a gradient-boosted ensemble for each row of ``x`` (leaves point to themselves)."""
    feature, threshold, left, right, value, roots, depth, init = spec
    if x.shape[0] == 0:
        return np.zeros(0)
    flat = np.ascontiguousarray(x).ravel()
    node = np.broadcast_to(roots, (x.shape[0], roots.shape[0])).copy()
    base = (np.arange(x.shape[0]) * x.shape[1])[:, None]
    for _ in range(depth):
        go_left = flat[base + feature[node]] <= threshold[node]
        node = np.where(go_left, left[node], right[node])
    return init + value[node].sum(axis=1)


def _window_mean(values: np.ndarray, radius: int) -> np.ndarray:
    n = values.shape[0]
    csum = np.concatenate(([0.0], np.cumsum(values)))
    idx = np.arange(n)
    lo = np.maximum(idx - radius, 0)
    hi = np.minimum(idx + radius + 1, n)
    return (csum[hi] - csum[lo]) / (hi - lo)


def _best_region(gain: np.ndarray) -> tuple[int, int]:
    """Maximum-sum contiguous run of ``gain`` (Kadane): the densest run of sentence-like lines."""
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


def features(lines: list[Line], stopwords: frozenset[str], title: str | None = None) -> np.ndarray:
    n = len(lines)
    if n == 0:
        return np.zeros((0, N_FEATURES + 1))
    title_words = {w.lower() for w in WORD_RE.findall(title or lines[0].text)}
    counts: dict[str, int] = {}
    for line in lines:
        counts[line.text] = counts.get(line.text, 0) + 1
    block_sizes: dict[int, int] = {}
    for line in lines:
        block_sizes[line.block] = block_sizes.get(line.block, 0) + 1
    n_strong, n_weak = len(STRONG), len(WEAK)
    rows: list[list[float]] = []
    words_list: list[int] = []
    chars_list: list[int] = []
    prev_block, pos_in_block = -1, 0
    log1p = math.log1p
    zeros = [0.0] * N_FEATURES
    for i, line in enumerate(lines):
        text = line.text
        words = WORD_RE.findall(text)
        lower = [w.lower() for w in words]
        nw = len(words) or 1
        nc = len(text)
        stops = sum(w in stopwords for w in lower)
        row = zeros.copy()
        row[0] = log1p(len(words))
        row[1] = log1p(nc)
        row[2] = nc / nw
        row[3] = stops / nw
        row[4] = log1p(stops)
        row[5] = text[-1] in END_PUNCT
        row[6] = not (text[0].isalnum() or text[0] in "\"'“‘«(¿¡")
        row[7] = len(SENT_PUNCT_RE.findall(text)) / nw
        row[8] = sum(w[0].isupper() for w in words) / nw
        row[9] = text[0].isupper()
        row[10] = sum(w.isdigit() for w in words) / nw
        row[11] = sum(text.count(c) for c in "|»›·•/") / nw
        row[12] = "http" in text or "www." in text or ".com" in text
        if nw <= 40:
            prefixes = {w[:4] for w in lower}
            if "©" in text:
                prefixes.add("c")
            if not TRIGGER_PREFIXES.isdisjoint(prefixes):
                s = strong_index(prefixes, text)
                if s >= 0:
                    row[13] = 1.0
                    row[15 + s] = 1.0
                for w in weak_indexes(prefixes, text):
                    row[14] += 1
                    row[15 + n_strong + w] = 1.0
        k = 15 + n_strong + n_weak
        row[k] = i / n
        row[k + 3] = block_sizes[line.block]
        if line.block != prev_block:
            prev_block, pos_in_block = line.block, 0
        else:
            pos_in_block += 1
        row[k + 4] = pos_in_block
        row[k + 5] = math.log(counts[text])
        row[k + 6] = len(title_words.intersection(lower)) / (len(title_words) or 1)
        row[k + 7] = i == 0
        rows.append(row)
        words_list.append(len(words))
        chars_list.append(nc)
    words_arr = np.array(words_list, dtype=np.float64)
    x = np.hstack([np.array(rows, dtype=np.float64), words_arr[:, None]])
    chars_arr = np.array(chars_list, dtype=np.float64)
    k = 13 + 2 + n_strong + n_weak
    cum_chars = np.cumsum(chars_arr)
    x[:, k + 1] = (cum_chars - chars_arr) / max(cum_chars[-1], 1.0)
    cum_words = np.cumsum(words_arr)
    x[:, k + 2] = (cum_words[-1] - cum_words) / max(cum_words[-1], 1.0)
    stop_ratio = x[:, 3]
    sentence = ((words_arr >= LONG_LINE) & (stop_ratio > 0.12)) | ((words_arr >= 6) & (x[:, 5] > 0) & (stop_ratio > 0.2))
    gain = np.where(sentence, np.minimum(words_arr, 60.0), -np.minimum(words_arr, 8.0) - 2.0)
    lo, hi = _best_region(gain)
    idx = np.arange(n)
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
    return x


def stage2_features(x: np.ndarray, p1: np.ndarray) -> np.ndarray:
    """Stage-1 scores of the neighbours, appended to the features."""
    n = p1.shape[0]
    extra = np.zeros((n, 9))
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
    return np.hstack([x, extra])


def category_of(row: np.ndarray, in_list: bool) -> Cat:
    """Why a removed line was removed, from its features: strong cue, else weak cue, else list item or other."""
    if row[STRONG_ANY]:
        return STRONG[int(np.argmax(row[_STRONG0 : _STRONG0 + len(STRONG)]))][0]
    if row[N_WORDS] <= 12:
        weak = row[_WEAK0 : _WEAK0 + len(WEAK)]
        if weak.any():
            return WEAK[int(np.argmax(weak))][0]
    if in_list and row[N_WORDS] <= 6:
        return Cat.navigation
    return Cat.other


def sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(z, -30, 30)))


def score_lines(x: np.ndarray, model: dict) -> np.ndarray:
    """Probability that each line belongs to the article body."""
    x = x[:, :N_FEATURES]
    p1 = sigmoid(predict_trees(model["stage1"], x))
    return sigmoid(predict_trees(model["stage2"], stage2_features(x, p1)))
