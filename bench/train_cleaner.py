"""Train the cleaner's line classifiers (``services/cleaner/model/{lines,html}.json``) on the benchmark's dev split.

Reproducible: the dev split is the even positions of the sorted page ids (``bench.cleaner.split_ids``), the
inputs are the pages flattened by ``html_text.extract_text`` (text mode, exactly the benchmark's) or
trafilatura's fast extraction (HTML mode), the seeds are fixed. A line's label: most of its 4-token shingles
occur in the page's true article text (a line of fewer than 4 tokens: a shingle spanning it and a neighbouring
line occurs). Each page weighs the same (line weight = its tokens + 2, normalised per page), as in the metric.

Stage 1 is a histogram gradient-boosted tree ensemble on the line features; the optional stage 2 adds stage 1's
scores of the neighbouring lines, computed out-of-fold (5 folds by page). The settings (``PARAMS``,
``STAGES``) were chosen by ``--cv``: 5-fold cross-validation within dev, folds grouped by page, scored with the
benchmark's F1 on the text the service would keep. ``--split test`` trains on the test pages instead, only to
gauge variance (evaluate that model on dev). scikit-learn at training time only; the service evaluates the
exported trees with numpy.

    .venv/bin/pip install scikit-learn==1.9.1
    .venv/bin/python bench/train_cleaner.py --mode text --cv     # compare CV_GRID, write nothing
    .venv/bin/python bench/train_cleaner.py --mode text          # -> services/cleaner/model/lines.json
    .venv/bin/python bench/train_cleaner.py --mode html          # -> services/cleaner/model/html.json
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
from services.cleaner import features as L  # noqa: E402
from services.cleaner import model as M  # noqa: E402

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


def export(bag: list) -> dict:
    """Fitted HistGradientBoostingClassifiers as one ensemble of flat node arrays (leaves point to themselves;
    x <= t goes left) whose log-odds are the mean of theirs: leaf values divided by the bag size."""
    feature, threshold, left, right, value, roots = [], [], [], [], [], []
    depth = 0
    for clf in bag:
        for (predictor,) in clf._predictors:
            nodes = predictor.nodes
            offset = len(feature)
            roots.append(offset)
            depth = max(depth, int(nodes["depth"].max()))
            for node in nodes:
                if node["is_leaf"]:
                    own = len(feature)
                    feature.append(0)
                    threshold.append(1e300)
                    left.append(own)
                    right.append(own)
                    value.append(round(float(node["value"]) / len(bag), 6))
                else:
                    feature.append(int(node["feature_idx"]))
                    threshold.append(float(node["num_threshold"]))
                    left.append(offset + int(node["left"]))
                    right.append(offset + int(node["right"]))
                    value.append(0.0)
    init = float(np.mean([np.ravel(clf._baseline_prediction)[0] for clf in bag]))
    return {"feature": feature, "threshold": threshold, "left": left, "right": right, "value": value,
            "roots": roots, "depth": depth, "init": init}


# Chosen by 5-fold cross-validation within dev, folds grouped by page (``--cv``); see bench/README.md.
_TREES = {"max_depth": 4, "min_samples_leaf": 30, "learning_rate": 0.08, "max_iter": 150}
# Text mode: each stage the mean of BAG ensembles of 60 trees, each split looking at half the features (seeded).
# 5-fold CV F1 within dev, at each one's best span decoding: this 0.943; 3 x 150 trees at rate 0.08: 0.941 (2.5x
# the trees to evaluate); without bagging, one ensemble of 150 on all features: about 0.005 lower in a cheaper
# CV (bench/README.md). HTML mode: one ensemble of 150 on all features (its lines are few).
PARAMS = {"text": {**_TREES, "max_features": 0.5, "max_iter": 60, "learning_rate": 0.2}, "html": dict(_TREES)}
BAG = {"text": 3, "html": 1}
STAGES = {"text": 2, "html": 1}  # HTML: stage 2 within CV noise (0.972 vs 0.970), and stage 1 is faster


def fit(x, y, w, seed, params, bag) -> list:
    """``bag`` classifiers that differ only by their seed (so by the features each split may look at)."""
    from sklearn.ensemble import HistGradientBoostingClassifier

    models = []
    for b in range(bag):
        clf = HistGradientBoostingClassifier(early_stopping=False, random_state=seed * 100 + b, **params)
        clf.fit(x, y, sample_weight=w * len(w))
        models.append(clf)
    return models


def predict_bag(bag: list, x: np.ndarray) -> np.ndarray:
    z = np.mean([clf.decision_function(x) for clf in bag], axis=0)
    return 1.0 / (1.0 + np.exp(-np.clip(z, -30, 30)))


def page_lines(page, mode: str) -> list[L.Line]:
    return L.split_lines(page.text if mode == "text" else trafilatura_fast(page.html))


def kept_text(lines: list[L.Line], x: np.ndarray, p: np.ndarray, mode: str) -> str:
    """The text the service would keep for these scores (``text.decide``, as ``classify_lines`` calls it)."""
    from services.cleaner.text import decide

    keep, _ = decide(x, p, [line.text for line in lines], span=mode == "text")
    return "\n".join(line.text for line, k in zip(lines, keep) if k)


def train(docs: list[dict], params: dict, stages: int, bag: int):
    """Stage 1 on the features; stage 2 (optional) also on stage 1's out-of-fold scores of the neighbours."""
    x = np.vstack([d["x"] for d in docs])
    y = np.concatenate([d["y"] for d in docs])
    w = np.concatenate([d["w"] for d in docs])
    stage1 = fit(x, y, w, 0, params, bag)
    if stages == 1:
        return stage1, None
    grp = np.concatenate([np.full(len(d["y"]), g) for g, d in enumerate(docs)])
    oof = np.zeros(len(y))
    for k in range(5):
        train_rows, held = grp % 5 != k, grp % 5 == k
        oof[held] = predict_bag(fit(x[train_rows], y[train_rows], w[train_rows], k + 1, params, bag), x[held])
    x2 = np.vstack([L.stage2_features(x[grp == g], oof[grp == g]) for g in range(len(docs))])
    return stage1, fit(x2, y, w, 99, params, bag)


def predict(models, x: np.ndarray) -> np.ndarray:
    stage1, stage2 = models
    p = predict_bag(stage1, x)
    return p if stage2 is None else predict_bag(stage2, L.stage2_features(x, p))


def cross_validate(docs: list[dict], params: dict, stages: int, bag: int, mode: str, folds: int = 5) -> float:
    """Benchmark F1 of ``folds``-fold cross-validation, folds grouped by page; prints it for a few decodings."""
    from services.cleaner import text as E

    preds: list = [None] * len(docs)
    for k in range(folds):
        models = train([d for g, d in enumerate(docs) if g % folds != k], params, stages, bag)
        for g in range(k, len(docs), folds):
            preds[g] = predict(models, docs[g]["x"])
    truths = [d["truth"] for d in docs]
    f1 = score(truths, [kept_text(d["lines"], d["x_full"], p, mode) for d, p in zip(docs, preds)]).f1
    if mode == "text":  # the span decoding's settings (text.SPAN_SCORE ...), on the same scores
        saved = (E.SPAN_SCORE, E.SPAN_WORDS, E.SCORE_INSIDE, E.SCORE_OUTSIDE)
        for setting in DECODE_GRID:
            E.SPAN_SCORE, E.SPAN_WORDS, E.SCORE_INSIDE, E.SCORE_OUTSIDE = setting
            f = score(truths, [kept_text(d["lines"], d["x_full"], p, mode) for d, p in zip(docs, preds)]).f1
            print(f"   decoding SPAN_SCORE, SPAN_WORDS, SCORE_INSIDE, SCORE_OUTSIDE = {setting}: CV F1 {f:.4f}")
        E.SPAN_SCORE, E.SPAN_WORDS, E.SCORE_INSIDE, E.SCORE_OUTSIDE = saved
    return f1


DECODE_GRID = tuple((c, 40, t_in, t_out) for c in (0.3, 0.5) for t_in in (0.3, 0.4, 0.5) for t_out in (0.5, 0.7, 0.9))

# Candidates compared by ``--cv`` (5-fold CV within the training split, folds grouped by page).
CV_GRID = {  # (params, stages, bag)
    "text": ((PARAMS["text"], 2, BAG["text"]), ({**_TREES, "max_features": 0.5}, 2, BAG["text"])),
    "html": ((PARAMS["html"], 1, BAG["html"]), (PARAMS["html"], 2, BAG["html"])),
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--split", default="dev", choices=("dev", "test", "all"),
                        help="pages to train on (test: only to gauge variance by the swapped split)")
    parser.add_argument("--mode", default="text", choices=("text", "html"),
                        help="text: lines of the page flattened by html-text (model/lines.json); html: lines of "
                             "trafilatura's fast extraction (model/html.json)")
    parser.add_argument("--stages", type=int, default=0, choices=(0, 1, 2), help="0: STAGES[mode]")
    parser.add_argument("--cv", action="store_true", help="print the cross-validated F1 of CV_GRID, write nothing")
    parser.add_argument("--out", default="")
    args = parser.parse_args(argv)
    out = Path(args.out or (M.MODEL_PATH if args.mode == "text" else M.HTML_MODEL_PATH))

    stopwords = build_stopwords()
    stopset = frozenset(stopwords)
    docs = []
    for page in load_pages(args.split):
        lines = page_lines(page, args.mode)
        if not lines:
            continue
        y, w = label_lines(lines, page.truth)
        x_full = L.features(lines, stopset)
        docs.append({"lines": lines, "x": x_full[:, : L.N_FEATURES], "x_full": x_full, "y": y, "w": w,
                     "truth": page.truth})
    print(f"{len(docs)} pages, {sum(len(d['y']) for d in docs)} lines", file=sys.stderr)
    if args.cv:
        for params, stages, bag in CV_GRID[args.mode]:
            f1 = cross_validate(docs, params, stages, bag, args.mode)
            print(f"CV F1 {f1:.4f}  stages={stages} bag={bag} {params}", flush=True)
        return 0

    stage1, stage2 = train(docs, PARAMS[args.mode], args.stages or STAGES[args.mode], BAG[args.mode])
    model = {"about": "newsflow cleaner line classifier; trained by bench/train_cleaner.py on the "
                      f"{args.split} split, {args.mode} mode; features: services/cleaner/features.py FEATURES; "
                      f"each stage the mean of {BAG[args.mode]} tree ensemble(s)",
             "features": list(L.FEATURES), "stopwords": stopwords, "threshold": 0.5, "stage1": export(stage1)}
    if stage2 is not None:
        model["stage2"] = export(stage2)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(model, separators=(",", ":")), encoding="utf-8")
    print(f"wrote {out} ({out.stat().st_size / 1e6:.2f} MB)", file=sys.stderr)
    if args.split == "test":  # the 2-fold swap: this model on the dev pages
        print(f"swap (trained on test) F1 on dev: {score_model(out, args.mode, 'dev'):.3f}")
    return 0


def score_model(path: Path, mode: str, split: str) -> float:
    """Benchmark F1 on ``split`` of the line model at ``path``, applied as the service applies it."""
    from services.cleaner.text import classify_lines, join_lines, looks_like_a_headline

    model = M.load_model(str(path))
    truths, preds = [], []
    for page in load_pages(split):
        lines = page_lines(page, mode)
        keep, _ = classify_lines(lines, model, span=mode == "text") if lines else ([], None)
        if mode == "text" and len(lines) > 1 and keep[0] and len(lines[0].text) <= 300 \
                and looks_like_a_headline(lines[0].text):
            keep[0] = False  # clean_text returns it as the title
        truths.append(page.truth)
        preds.append(join_lines([line for line, k in zip(lines, keep) if k]))
    return score(truths, preds).f1


if __name__ == "__main__":
    sys.exit(main())
