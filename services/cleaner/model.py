"""The cleaner's line models: load a model file, check it against the features table, score lines with it.

A model file (``model/lines.json`` for text mode, ``model/html.json`` for HTML mode, written by
``bench/train_cleaner.py``) holds the names of the features it was trained on, its stopwords, and one or two
stages of gradient-boosted tree ensembles exported to arrays. ``load_model`` refuses a file whose feature list
is not ``features.FEATURES`` (``ModelMismatch`` names the missing, extra or reordered features): a model fed
other columns than it was trained on would give wrong scores without a sign. Trees are evaluated with numpy, all
lines and trees at once (no scikit-learn at run time). Imports the features table only; no decisions about what
to keep, no I/O beyond reading the model file once.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

import numpy as np

from services.cleaner.features import FEATURES, N_FEATURES, stage2_features

MODEL_PATH = Path(__file__).with_name("model") / "lines.json"
HTML_MODEL_PATH = Path(__file__).with_name("model") / "html.json"


class ModelMismatch(ValueError):
    """A model file whose feature list is not the features table's: it cannot be used (retrain it, or restore
    the features it was trained on). Raised at load, never while scoring."""


def check_features(stored: list[str], path: str = "model") -> None:
    """Raise ``ModelMismatch`` unless ``stored`` (a model file's feature names) is ``FEATURES``, in order."""
    if list(stored) == list(FEATURES):
        return
    missing = [f for f in FEATURES if f not in stored]
    extra = [f for f in stored if f not in FEATURES]
    common = [f for f in stored if f in FEATURES]
    moved = [f for f, g in zip(common, [f for f in FEATURES if f in stored]) if f != g]
    raise ModelMismatch(f"{path}: its features are not the features table's (services/cleaner/features.py): "
                        f"missing {missing}, extra {extra}, reordered {moved}")


def _stage(spec: dict) -> tuple:
    return (
        np.asarray(spec["feature"], dtype=np.intp),
        np.asarray(spec["threshold"], dtype=np.float64),
        # children[2 * node + (x > threshold)]: one gather a level instead of two and a select
        np.stack([np.asarray(spec["left"], dtype=np.intp), np.asarray(spec["right"], dtype=np.intp)], 1).ravel(),
        np.asarray(spec["value"], dtype=np.float64),
        np.asarray(spec["roots"], dtype=np.intp),
        int(spec["depth"]),
        float(spec["init"]),
    )


@lru_cache(maxsize=4)
def load_model(path: str = str(MODEL_PATH)) -> dict:
    """The model at ``path`` (read once), as ``{"stopwords", "threshold", "stage1"[, "stage2"]}``. A missing or
    unreadable file raises (OSError, ValueError): the cleaner cannot work without its models."""
    raw = json.loads(Path(path).read_text(encoding="utf-8"))
    check_features(raw["features"], path)
    model = {"stopwords": frozenset(raw["stopwords"]), "threshold": raw.get("threshold", 0.5)}
    for stage in ("stage1", "stage2"):
        if stage in raw:  # stage2 is absent from a one-stage model
            model[stage] = _stage(raw[stage])
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


def sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(z, -30, 30)))


def score_lines(x: np.ndarray, model: dict) -> np.ndarray:
    """Probability that each line belongs to the article body (``x``: the lines' feature matrix)."""
    x = x[:, :N_FEATURES]
    p1 = sigmoid(predict_trees(model["stage1"], x))
    if "stage2" not in model:
        return p1
    return sigmoid(predict_trees(model["stage2"], stage2_features(x, p1)))
