"""Throughput of the extractor beside spaCy's NER alone, on the same texts in the same run.

Texts: the true article bodies of Zyte's article-extraction-benchmark (181 pages, several languages) under
``../shared/data`` (override: NEWSFLOW_BENCH_DATA), each with its own ingested_at (the same day), plus the seed
article for a per-5k-chars figure. Modes, in
this order, each over all the bodies:

- ``ner_alone16`` / ``ner_alone64``: ``nlp.pipe`` (batch size 16 / 64) of the same model package with every
  pipe disabled but tok2vec and ner; the faster of the two is the reference ("NER alone": what any NER-based
  extractor has to pay);
- ``pipeline``: ``nlp.pipe`` of the pipeline as the extractor loads it (``nlp.load()``), English and not;
- ``analyse``: ``nlp.analyse`` one text at a time;
- ``batch16`` / ``batch64``: ``logic.extract_batch`` over windows of 16 / 64 CleanedArticles (as the stage runner
  calls it).

Each mode reports wall and process CPU seconds, articles/s, ms and CPU ms per article, and its articles/s over
NER alone's (the issue's goal: extractor >= 0.6 x NER alone), by wall and by CPU time (the machine is shared:
CPU time is the steadier figure). With ``--rounds N`` the modes run N times interleaved and each figure is the
median round. Results go to ``bench/results/extractor-<UTC time>.json``.

    .venv/bin/python bench/extractor.py [--rounds 1] [--limit 181] [--repeat 5]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import statistics
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import spacy  # noqa: E402

from bench.runs import write_result  # noqa: E402
from schemas.messages import CleanedArticle  # noqa: E402
from services.extractor.logic import extract_batch  # noqa: E402
from services.extractor.nlp import MODEL, SPACY_MAX_CHARS, analyse, load  # noqa: E402

DATA = Path(os.environ.get("NEWSFLOW_BENCH_DATA", REPO.parent / "shared" / "data"))
SEED = REPO.parent / "shared" / "seeds" / "000_81597562a20f18e4.txt"
REFERENCE = dt.datetime(2021, 12, 28, tzinfo=dt.timezone.utc)
NER_PIPES = ("tok2vec", "ner")


def _timed(run: Callable[[], None]) -> tuple[float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    run()
    return time.perf_counter() - wall, time.process_time() - cpu


def _windows(items: list, size: int) -> list[list]:
    return [items[i:i + size] for i in range(0, len(items), size)]


def _drain(results: Iterable) -> None:
    for _ in results:
        pass


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=1, help="interleaved runs of every mode (median reported)")
    parser.add_argument("--limit", type=int, default=181, help="benchmark articles to use")
    parser.add_argument("--repeat", type=int, default=5, help="runs over the seed article")
    args = parser.parse_args()

    truth = DATA / "article-extraction-benchmark" / "ground-truth.json"
    bodies = [v["articleBody"] for _k, v in sorted(json.loads(truth.read_text(encoding="utf-8")).items())]
    bodies = [b for b in bodies if b.strip()][: args.limit]
    chars = sum(len(b) for b in bodies)
    # one ingested_at per article, a minute and a half apart, as a day's feed gives them (caches keyed on the
    # exact time would look better with a single one)
    references = [REFERENCE + dt.timedelta(seconds=97 * i) for i in range(len(bodies))]
    articles = [CleanedArticle(article_id=f"bench-{i:03d}", ingested_at=reference, text=b)
                for i, (b, reference) in enumerate(zip(bodies, references, strict=True))]

    started = time.perf_counter()
    nlp = load()
    load_seconds = time.perf_counter() - started
    ner = spacy.load(MODEL)
    ner_disabled = [name for name in ner.pipe_names if name not in NER_PIPES]
    prefixes = [b[:SPACY_MAX_CHARS] for b in bodies]
    languages = Counter(analyse(b, REFERENCE).language for b in bodies)  # also warms every part up
    _drain(ner.pipe(prefixes[:8], disable=ner_disabled))

    modes: dict[str, Callable[[], None]] = {
        "ner_alone16": lambda: _drain(ner.pipe(prefixes, disable=ner_disabled, batch_size=16)),
        "ner_alone64": lambda: _drain(ner.pipe(prefixes, disable=ner_disabled, batch_size=64)),
        "pipeline": lambda: _drain(nlp.pipe(prefixes)),
        "analyse": lambda: _drain(analyse(b, reference) for b, reference in zip(bodies, references, strict=True)),
        "batch16": lambda: _drain(extract_batch(w) for w in _windows(articles, 16)),
        "batch64": lambda: _drain(extract_batch(w) for w in _windows(articles, 64)),
    }
    runs: dict[str, list[tuple[float, float]]] = {name: [] for name in modes}
    for _round in range(args.rounds):
        for name, run in modes.items():
            runs[name].append(_timed(run))

    n = len(bodies)
    wall_ner = min(statistics.median(w for w, _c in runs[name]) for name in ("ner_alone16", "ner_alone64"))
    cpu_ner = min(statistics.median(c for _w, c in runs[name]) for name in ("ner_alone16", "ner_alone64"))
    results: dict = {
        "run_at": dt.datetime.now(dt.timezone.utc).isoformat(), "model": MODEL, "spacy": spacy.__version__,
        "articles": n, "chars": chars, "median_chars": statistics.median(map(len, bodies)),
        "languages": dict(languages.most_common()), "rounds": args.rounds, "model_load_seconds": load_seconds,
        "cpus": os.cpu_count(), "load_average": os.getloadavg(),
        "ner_alone": {"wall_seconds": wall_ner, "cpu_seconds": cpu_ner}, "modes": {},
    }
    print(f"{n} benchmark bodies, {chars} chars (median {results['median_chars']:.0f}), languages "
          f"{dict(languages.most_common(6))}; model load {load_seconds:.2f} s; {args.rounds} round(s)")
    print(f"{'mode':11} {'wall s':>7} {'cpu s':>7} {'art/s':>7} {'ms/art':>7} {'cpu ms/art':>10} "
          f"{'x NER (wall)':>12} {'x NER (cpu)':>11}")
    for name in modes:
        wall = statistics.median(w for w, _c in runs[name])
        cpu = statistics.median(c for _w, c in runs[name])
        row = {
            "wall_seconds": wall, "cpu_seconds": cpu, "articles_per_second": n / wall,
            "ms_per_article": 1000 * wall / n, "cpu_seconds_per_article": cpu / n,
            "cpu_ms_per_1k_chars": 1000 * cpu / (chars / 1000),
            "ratio_to_ner_alone_wall": wall_ner / wall, "ratio_to_ner_alone_cpu": cpu_ner / cpu,
            "each_round": [{"wall_seconds": w, "cpu_seconds": c} for w, c in runs[name]],
        }
        results["modes"][name] = row
        print(f"{name:11} {wall:7.2f} {cpu:7.2f} {n / wall:7.2f} {1000 * wall / n:7.1f} {1000 * cpu / n:10.1f} "
              f"{wall_ner / wall:12.2f} {cpu_ner / cpu:11.2f}")

    seed = SEED.read_text(encoding="utf-8")
    wall, cpu = _timed(lambda: _drain(analyse(seed, REFERENCE) for _ in range(args.repeat)))
    results["seed"] = {"chars": len(seed), "ms_per_article": 1000 * wall / args.repeat,
                       "cpu_ms_per_article": 1000 * cpu / args.repeat}
    print(f"seed ({len(seed)} chars), analyse: {1000 * wall / args.repeat:.0f} ms, "
          f"cpu {1000 * cpu / args.repeat:.0f} ms")

    out = write_result("extractor", results)
    print(f"results: {out.relative_to(REPO)}")


if __name__ == "__main__":
    main()
