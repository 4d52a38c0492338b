"""Near-duplicate detection benchmark (issue 12): pairwise precision and recall, cluster purity, and the cost
of the lookup as the index grows.

    python bench/dedup.py                 # dev and held-out corpora, the chosen parameters
    python bench/dedup.py --sweep         # shingle size x permutations x bands x threshold on the dev corpus

Every generated document (bench/dedup_corpus.py) goes through the cleaner's step, as in the pipeline, then
through the detector in a shuffled arrival order: look up candidates by LSH band, take the most similar one at
or above the threshold, join its story (or start one). Pairs are scored over all pairs of documents.
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
import time
from collections import Counter, defaultdict
from datetime import datetime, timezone
from pathlib import Path

import sqlite3

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import dedup_corpus  # noqa: E402
from bench.runs import RESULTS, result_path, run_stamp, write_result  # noqa: E402
from services.indexer import stories, storytable  # noqa: E402
from services.indexer.store import MMAP_BYTES  # noqa: E402


def cleaned(docs: list[dedup_corpus.Doc]) -> dict[str, str]:
    """Each document's clean text, through the cleaner's step (cached by the document's content)."""
    import hashlib

    from schemas.messages import FetchedArticle
    from services.cleaner.logic import clean

    cache_path = RESULTS / "dedup-clean-cache.json"
    cache = json.loads(cache_path.read_text()) if cache_path.exists() else {}
    out, now = {}, datetime.now(timezone.utc)
    for d in docs:
        h = hashlib.sha256(f"{d.kind}\0{d.body}".encode()).hexdigest()[:20]
        if h not in cache:
            try:
                fetched = FetchedArticle(article_id=d.doc_id, ingested_at=now, kind=d.kind, body=d.body)
                cache[h] = clean(fetched).text
            except Exception:  # noqa: BLE001 - a page without text: nothing to compare
                cache[h] = ""
        out[d.doc_id] = cache[h]
    RESULTS.mkdir(exist_ok=True)
    cache_path.write_text(json.dumps(cache))
    return out


class Detector:
    """The indexer's decision over an in-memory band table (the store does the same over SQLite)."""

    def __init__(self, k: int, num_perm: int, bands: int, threshold: float, measure: str = "jaccard"):
        from datasketch import MinHash

        self.k, self.num_perm, self.bands, self.rows, self.threshold = k, num_perm, bands, num_perm // bands, threshold
        self.perm = MinHash(num_perm=num_perm, seed=stories.SEED).permutations
        self.table: dict[tuple[int, bytes], list[str]] = defaultdict(list)
        self.sigs: dict[str, np.ndarray] = {}
        self.story: dict[str, str] = {}
        self.sizes: dict[str, int] = {}
        self.measure = measure

    def signature(self, text: str) -> np.ndarray | None:
        from datasketch import MinHash

        sh = stories.shingles(text, self.k)
        self._size = len(sh)
        if not sh:
            return None
        m = MinHash(num_perm=self.num_perm, seed=stories.SEED, permutations=self.perm, scheme=stories.SCHEME)
        m.update_batch(list(sh))
        return m.hashvalues.astype(np.uint32)

    def add(self, doc_id: str, text: str) -> str:
        sig = self.signature(text)
        if sig is None:
            self.story[doc_id] = doc_id
            return doc_id
        keys = [(b, sig[b * self.rows : (b + 1) * self.rows].tobytes()) for b in range(self.bands)]
        candidates = {c for key in keys for c in self.table.get(key, ())}
        best, best_sim = None, 0.0
        for c in candidates:
            s = float(np.count_nonzero(self.sigs[c] == sig)) / self.num_perm
            if self.measure.startswith("overlap"):  # |A & B| / min(|A|, |B|), from the Jaccard estimate and sizes
                floor = float(self.measure.partition(":")[2] or 0)
                na, nb = self._size, self.sizes[c]
                s = min(1.0, s / (1 + s) * (na + nb) / min(na, nb)) if s >= floor else 0.0
            if s > best_sim or (s == best_sim and best is not None and c < best):
                best, best_sim = c, s
        story = self.story[best] if best is not None and best_sim >= self.threshold else doc_id
        self.story[doc_id] = story
        self.sigs[doc_id] = sig
        self.sizes[doc_id] = self._size
        for key in keys:
            self.table[key].append(doc_id)
        return story


def pairs_of(groups: dict[str, list[str]]) -> set[tuple[str, str]]:
    return {(a, b) if a < b else (b, a) for members in groups.values() for a, b in itertools.combinations(members, 2)}


def score(docs: list[dedup_corpus.Doc], predicted: dict[str, str]) -> dict:
    truth_groups, pred_groups = defaultdict(list), defaultdict(list)
    for d in docs:
        truth_groups[d.story].append(d.doc_id)
        pred_groups[predicted[d.doc_id]].append(d.doc_id)
    truth, pred = pairs_of(truth_groups), pairs_of(pred_groups)
    tp = len(truth & pred)
    true_story = {d.doc_id: d.story for d in docs}
    purity = sum(Counter(true_story[m] for m in members).most_common(1)[0][1] for members in pred_groups.values())
    return {
        "documents": len(docs),
        "true_pairs": len(truth),
        "predicted_pairs": len(pred),
        "precision": tp / len(pred) if pred else 1.0,
        "recall": tp / len(truth) if truth else 1.0,
        "purity": purity / len(docs),
        "stories_true": len(truth_groups),
        "stories_predicted": len(pred_groups),
    }


def errors(docs: list[dedup_corpus.Doc], predicted: dict[str, str], texts: dict[str, str], limit: int = 8) -> dict:
    """Examples: documents grouped with another story's (false merges) and copies left alone (misses)."""
    by_id = {d.doc_id: d for d in docs}
    first = {}
    for d in docs:
        first.setdefault(predicted[d.doc_id], d.doc_id)
    merges, misses = [], []
    truth_first = {}
    for d in docs:
        truth_first.setdefault(d.story, d.doc_id)
        head = by_id[first[predicted[d.doc_id]]]
        if head.story != d.story:
            merges.append({"doc": d.doc_id, "role": d.role, "grouped_with": head.doc_id, "role_of_other": head.role,
                           "words": len(texts[d.doc_id].split())})
        elif predicted[d.doc_id] != predicted[truth_first[d.story]]:
            misses.append({"doc": d.doc_id, "role": d.role, "story": d.story, "words": len(texts[d.doc_id].split())})
    return {"false_merges": merges[:limit], "missed": misses[:limit], "false_merge_roles": dict(Counter(m["role"] for m in merges)),
            "missed_count": len(misses)}


def run(docs, texts, k, num_perm, bands, threshold, measure="jaccard") -> tuple[dict, dict[str, str]]:
    det = Detector(k, num_perm, bands, threshold, measure)
    started = time.perf_counter()
    predicted = {d.doc_id: det.add(d.doc_id, texts[d.doc_id]) for d in docs}
    result = score(docs, predicted)
    result["seconds_per_doc"] = (time.perf_counter() - started) / len(docs)
    return result, predicted


def run_store(docs, texts, db: sqlite3.Connection) -> tuple[dict, dict[str, str]]:
    """The indexer's own code path (stories + storytable over SQLite) on the corpus, in arrival order."""
    storytable.ensure_schema(db)
    predicted, started = {}, time.perf_counter()
    for n, d in enumerate(docs):
        predicted[d.doc_id] = assign(db, d.doc_id, texts[d.doc_id], f"{n:08d}")
    result = score(docs, predicted)
    result["seconds_per_doc"] = (time.perf_counter() - started) / len(docs)
    return result, predicted


def assign(db: sqlite3.Connection, article_id: str, text: str, first_seen: str) -> str:
    """The story the indexer puts the article in (its own ``storytable.place``, in a write transaction)."""
    db.execute("BEGIN IMMEDIATE")
    placed = storytable.place(db, article_id, text, first_seen, None)
    db.execute("COMMIT")
    return placed.story_id if placed else article_id


def fill(db: sqlite3.Connection, start: int, stop: int, rng: np.random.Generator,
         pool: np.ndarray | None = None, share: float = 0.0) -> None:
    """Unrelated stored articles, start..stop: random signatures (similar to nothing) and random band keys, of
    which a ``share`` are taken from ``pool`` (the corpus's keys, band by band): the chance collisions of unrelated
    texts that share a few common shingles, at the rate measured on the corpus (``false_candidate_rate``), so
    that a lookup meets as many useless candidates as it would among real articles. Written in sorted chunks."""
    chunk = 50_000
    for lo in range(start, stop, chunk):
        hi = min(stop, lo + chunk)
        sigs = rng.integers(0, 2**32, size=(hi - lo, stories.NUM_PERM), dtype=np.uint64).astype("<u4")
        keys = rng.integers(-(2**63), 2**63 - 1, size=(hi - lo, stories.BANDS), dtype=np.int64)
        if pool is not None and share:
            hit = rng.random(keys.shape) < share
            picks = pool[rng.integers(0, len(pool), size=keys.shape), np.arange(stories.BANDS)[None, :]]
            keys = np.where(hit, picks, keys)
        ids = [f"x{i:09d}" for i in range(lo, hi)]
        db.execute("BEGIN")
        db.executemany(
            "INSERT INTO story_members VALUES (?, ?, ?, ?, ?, ?, NULL)",
            ((a, a, sig.tobytes(), 300, "0", 1.0) for a, sig in zip(ids, sigs)),
        )
        pairs = sorted((int(k), ids[i]) for i, row in enumerate(keys) for k in row)
        db.executemany("INSERT INTO story_bands VALUES (?, ?)", pairs)
        db.execute("COMMIT")


def lookup_scaling(docs, texts, sizes=(10_000, 100_000, 1_000_000), probes: int = 500) -> list[dict]:
    """Time of one article's lookup (band query + similarity of the candidates; signature excluded) with
    ``size`` articles stored: the corpus first (real copies to find), then unrelated fillers."""
    import tempfile

    out, rng = [], np.random.default_rng(7)
    with tempfile.TemporaryDirectory(dir=RESULTS) as tmp:
        db = sqlite3.connect(Path(tmp) / "index.db", isolation_level=None)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        db.execute(f"PRAGMA mmap_size={MMAP_BYTES}")  # as the store opens it
        storytable.ensure_schema(db)
        for n, d in enumerate(docs):
            assign(db, d.doc_id, texts[d.doc_id], f"{n:08d}")
        stored = len(docs)
        rate = false_candidate_rate(docs, texts)
        pool = np.array([stories.band_keys(stories.signature(texts[d.doc_id])) for d in docs
                         if texts[d.doc_id].strip()], dtype=np.int64)
        # P(a filler shares a band with a probe) = 1 - (1 - share / len(pool)) ** BANDS ~ BANDS * share / len(pool)
        share = rate * len(pool) / stories.BANDS
        print(f"  unrelated articles: {rate:.2e} false candidates per stored article and lookup (measured on the "
              f"corpus), {rate * 1e6:.0f} per lookup at 1M; fillers take {share:.2%} of their band keys from the corpus")
        probe = [(d.doc_id, texts[d.doc_id]) for d in docs if texts[d.doc_id].strip()][:probes]
        sigs = [(a, stories.signature(t), len(stories.shingles(t))) for a, t in probe]
        for size in sizes:
            fill(db, stored, size, rng, pool, share)
            stored = size
            times, found, seen = [], 0, 0
            for a, sig, n in sigs:
                keys = stories.band_keys(sig)
                t0 = time.perf_counter()
                cands = storytable.candidates(db, keys, a)
                match = stories.best_match(sig, n, cands)
                times.append(time.perf_counter() - t0)
                found += match is not None
                seen += len(cands)
            row = {"stored": size, "ms_mean": 1000 * float(np.mean(times)), "ms_p50": 1000 * float(np.median(times)),
                   "ms_p99": 1000 * float(np.percentile(times, 99)), "probes": len(sigs), "matched": found,
                   "candidates_mean": seen / len(sigs),
                   "db_mb": (Path(tmp) / "index.db").stat().st_size / 2**20}
            print(f"  lookup with {size:>9,} stored: mean {row['ms_mean']:.3f} ms, p50 {row['ms_p50']:.3f}, "
                  f"p99 {row['ms_p99']:.3f}, {row['candidates_mean']:.1f} candidates ({row['db_mb']:.0f} MB)", flush=True)
            out.append(row)
        db.close()
    return out


def false_candidate_rate(docs, texts) -> float:
    """Candidates from other stories per (lookup, stored article) pair, when the corpus streams in."""
    db = sqlite3.connect(":memory:", isolation_level=None)
    storytable.ensure_schema(db)
    story = {d.doc_id: d.story for d in docs}
    false, pairs, stored = 0, 0, 0
    for n, d in enumerate(docs):
        found = stories.sketch(texts[d.doc_id])
        if found is None:
            continue
        sig, size = found
        keys = stories.band_keys(sig)
        false += sum(story[m.article_id] != d.story for m in storytable.candidates(db, keys, d.doc_id))
        pairs += stored
        storytable.add(db, storytable.Member(d.doc_id, d.doc_id, sig, size, f"{n:08d}", 1.0, None), keys)
        stored += 1
    return false / pairs


def corpus(part: str, seed: int) -> tuple[list[dedup_corpus.Doc], dict[str, str]]:
    docs = dedup_corpus.make(dedup_corpus.split(dedup_corpus.load_bodies(), part), seed=seed)
    return docs, cleaned(docs)


def sweep(seed: int) -> None:
    docs, texts = corpus("dev", seed)
    print(f"dev corpus: {len(docs)} documents, roles {dict(Counter(d.role for d in docs))}")
    print("measure k perm bands rows thr  precision recall purity  ms/doc")
    for measure, k, num_perm in itertools.product(("jaccard", "overlap"), (3, 4, 5), (128, 256)):
        for bands in (b for b in (16, 32, 42, 64) if num_perm // b >= 2):
            for threshold in (0.3, 0.4, 0.5, 0.6, 0.7, 0.8):
                r, _ = run(docs, texts, k, num_perm, bands, threshold, measure)
                print(f"{measure} {k} {num_perm:4d} {bands:5d} {num_perm // bands:4d} {threshold:.1f}  {r['precision']:.4f}    "
                      f"{r['recall']:.4f} {r['purity']:.4f}  {r['seconds_per_doc'] * 1000:.2f}", flush=True)


def plot(report: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = report["lookup"]
    fig, ax = plt.subplots(figsize=(6, 4))
    x = [r["stored"] for r in rows]
    ax.plot(x, [r["ms_mean"] for r in rows], "o-", label="mean")
    ax.plot(x, [r["ms_p99"] for r in rows], "s--", label="p99")
    ax.axhline(5, color="red", lw=0.8, ls=":", label="goal at 1M: 5 ms")
    ax.set_xscale("log")
    ax.set_xlabel("articles stored")
    ax.set_ylabel("lookup per article (ms)")
    ax.set_title("Near-duplicate lookup (LSH bands in SQLite)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    print(f"wrote {path}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sweep", action="store_true")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--sizes", default="10000,100000,1000000", help="stored articles for the lookup timing")
    args = ap.parse_args()
    if args.sweep:
        sweep(args.seed)
        return 0
    report: dict = {"parameters": {"shingle_words": stories.SHINGLE_WORDS, "num_perm": stories.NUM_PERM,
                                   "bands": stories.BANDS, "rows": stories.ROWS, "threshold": stories.THRESHOLD,
                                   "jaccard_floor": stories.JACCARD_FLOOR}}
    RESULTS.mkdir(exist_ok=True)
    for part in ("dev", "heldout"):
        docs, texts = corpus(part, args.seed)
        db = sqlite3.connect(":memory:", isolation_level=None)
        r, predicted = run_store(docs, texts, db)
        r["errors"] = errors(docs, predicted, texts)
        r["roles"] = dict(Counter(d.role for d in docs))
        report[part] = r
        print(f"{part}: " + ", ".join(f"{k} {v:.4f}" if isinstance(v, float) else f"{k} {v}"
                                      for k, v in r.items() if k not in ("errors", "roles")))
        print(f"  false merges by role: {r['errors']['false_merge_roles']}; missed copies: {r['errors']['missed_count']}")
        if part == "dev":
            report["lookup"] = lookup_scaling(docs, texts, tuple(int(x) for x in args.sizes.split(",")))
    lookup = report["lookup"]
    report["lookup_growth"] = lookup[-1]["ms_mean"] / lookup[0]["ms_mean"]
    print(f"lookup time growth {lookup[0]['stored']:,} -> {lookup[-1]['stored']:,} stored: "
          f"x{report['lookup_growth']:.2f} (goal: <= 2, and <= 5 ms at 1M)")
    stamp = run_stamp()  # one name for the run's JSON and its plot
    plot(report, result_path("dedup", stamp, "-lookup.png"))
    out = write_result("dedup", report, stamp, indent=2)
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
