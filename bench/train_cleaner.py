"""Train the cleaner's line classifier (``services/cleaner/model/lines.json``) on the benchmark's dev split.

Reproducible: the dev split is the even positions of the sorted page ids (``bench.cleaner.split_ids``), the
inputs are the pages flattened by ``html_text.extract_text`` (exactly the benchmark's text mode), the seeds are
fixed. A line's label: most of its 4-token shingles occur in the page's true article text (a line of fewer than
4 tokens: a shingle spanning it and a neighbouring line occurs). Each page weighs the same (line weight =
its tokens + 2, normalised per page), as in the metric.

Stage 1 is a gradient-boosted tree ensemble on the line features; stage 2 adds stage 1's scores of the
neighbouring lines, computed out-of-fold (5 folds by page) so stage 2 learns from honest scores.
Needs scikit-learn at training time only; the service evaluates the exported trees with numpy.

    .venv/bin/pip install scikit-learn==1.9.1 && .venv/bin/python bench/train_cleaner.py
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.cleaner import load_pages, score, tokens  # noqa: E402
from services.cleaner import lines as L  # noqa: E402

STOPLIST_LANGUAGES = ("English", "Portuguese", "Spanish", "French", "German", "Italian", "Russian", "Dutch",
                      "Polish", "Swedish", "Turkish", "Indonesian", "Czech", "Romanian", "Ukrainian")
STOPWORDS_PER_LANGUAGE = 150  # justext's lists are ordered by frequency


def trafilatura_fast(html: str) -> str:
    from services.cleaner.html import main_content

    return main_content(html)[0]


def build_stopwords() -> list[str]:
    import justext

    words: set[str] = set()
    for lang in STOPLIST_LANGUAGES:
        path = Path(justext.__file__).parent / "stoplists" / f"{lang}.txt"
        words.update(w.strip().lower() for w in path.read_text(encoding="utf-8").splitlines()[:STOPWORDS_PER_LANGUAGE]
                     if w.strip())
    return sorted(words)


def label_lines(lines: list[L.Line], truth: str) -> tuple[np.ndarray, np.ndarray]:
    t = tokens(truth)
    truth4 = {tuple(t[i : i + 4]) for i in range(len(t) - 3)}
    line_toks = [tokens(line.text) for line in lines]
    labels = np.zeros(len(lines))
    for i, toks in enumerate(line_toks):
        if len(toks) >= 4:
            grams = [tuple(toks[j : j + 4]) for j in range(len(toks) - 3)]
            labels[i] = sum(g in truth4 for g in grams) / len(grams) >= 0.5
        elif toks:
            prev = line_toks[i - 1][-3:] if i else []
            nxt = line_toks[i + 1][:3] if i + 1 < len(lines) else []
            ctx_before = prev + toks
            ctx_after = toks + nxt
            spans = [tuple(ctx_before[j : j + 4]) for j in range(max(0, len(ctx_before) - 3))]
            spans += [tuple(ctx_after[j : j + 4]) for j in range(max(0, len(ctx_after) - 3))]
            labels[i] = any(g in truth4 for g in spans)
    weights = np.array([len(toks) + 2.0 for toks in line_toks])
    return labels, weights / weights.sum()


def export(clf, n_features: int) -> dict:
    feature, threshold, left, right, value, roots = [], [], [], [], [], []
    depth = 0
    for est in clf.estimators_[:, 0]:
        tree = est.tree_
        offset = len(feature)
        roots.append(offset)
        depth = max(depth, tree.max_depth)
        for node in range(tree.node_count):
            if tree.children_left[node] == -1:
                feature.append(0)
                threshold.append(1e300)
                left.append(offset + node)
                right.append(offset + node)
                value.append(float(tree.value[node, 0, 0]) * clf.learning_rate)
            else:
                feature.append(int(tree.feature[node]))
                threshold.append(float(tree.threshold[node]))
                left.append(offset + int(tree.children_left[node]))
                right.append(offset + int(tree.children_right[node]))
                value.append(0.0)
    init = float(clf._raw_predict_init(np.zeros((1, n_features)))[0, 0])
    return {"feature": feature, "threshold": threshold, "left": left, "right": right,
            "value": [round(v, 6) for v in value], "roots": roots, "depth": depth, "init": init}


def fit(x, y, w, seed):
    from sklearn.ensemble import GradientBoostingClassifier

    clf = GradientBoostingClassifier(n_estimators=150, max_depth=4, learning_rate=0.08, subsample=0.8,
                                     min_samples_leaf=30, random_state=seed)
    clf.fit(x, y, sample_weight=w * len(w))
    return clf


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--split", default="dev", choices=("dev", "all"), help="pages to train on")
    parser.add_argument("--mode", default="text", choices=("text", "html"),
                        help="text: lines of the page flattened by html-text (model/lines.json); html: lines of "
                             "trafilatura's fast extraction (model/html.json)")
    parser.add_argument("--out", default="")
    args = parser.parse_args(argv)
    out = Path(args.out or (L.MODEL_PATH if args.mode == "text" else L.HTML_MODEL_PATH))

    stopwords = build_stopwords()
    stopset = frozenset(stopwords)
    pages = load_pages(args.split)
    xs, ys, ws, groups = [], [], [], []
    for g, page in enumerate(pages):
        lines = L.split_lines(page.text if args.mode == "text" else trafilatura_fast(page.html))
        if not lines:
            continue
        y, w = label_lines(lines, page.truth)
        xs.append(L.features(lines, stopset)[:, : L.N_FEATURES])
        ys.append(y)
        ws.append(w)
        groups.append(np.full(len(lines), g))
    x, y, w, grp = np.vstack(xs), np.concatenate(ys), np.concatenate(ws), np.concatenate(groups)
    print(f"{len(pages)} pages, {len(y)} lines, {y.mean():.2f} positive", file=sys.stderr)

    # Stage 1 out-of-fold scores for stage 2.
    folds = grp % 5
    oof = np.zeros(len(y))
    for k in range(5):
        train, held = folds != k, folds == k
        oof[held] = fit(x[train], y[train], w[train], k).predict_proba(x[held])[:, 1]
    stage1 = fit(x, y, w, 0)
    x2 = np.vstack([L.stage2_features(x[grp == g], oof[grp == g]) for g in np.unique(grp)])
    y2 = np.concatenate([y[grp == g] for g in np.unique(grp)])
    w2 = np.concatenate([w[grp == g] for g in np.unique(grp)])
    stage2 = fit(x2, y2, w2, 1)

    model = {"about": "newsflow cleaner line classifier; trained by bench/train_cleaner.py on the "
                      f"{args.split} split, {args.mode} mode; features: services/cleaner/lines.py FEATURES",
             "features": list(L.FEATURES), "stopwords": stopwords, "threshold": 0.5,
             "stage1": export(stage1, x.shape[1]), "stage2": export(stage2, x2.shape[1])}
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(model, separators=(",", ":")), encoding="utf-8")
    print(f"wrote {out} ({out.stat().st_size / 1e6:.2f} MB)", file=sys.stderr)

    imp = sorted(zip(stage1.feature_importances_, L.FEATURES), reverse=True)[:15]
    print("stage-1 top features:", ", ".join(f"{n} {v:.3f}" for v, n in imp), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
