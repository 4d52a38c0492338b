"""Throughput of the extractor's ``analyse`` (one text at a time, as the service runs it) and of ``analyse_many``
(spaCy batching, as ``newsflow extract`` runs it).

Texts: the seed article, and the true article bodies of Zyte's article-extraction-benchmark (181 pages, several
languages) under ``../shared/data`` (override: NEWSFLOW_BENCH_DATA). Reports articles/s, ms per article and ms per
1k characters, in wall time and in process CPU time (the machine is shared: CPU time is the steadier figure),
plus the language mix.

    .venv/bin/python bench/extractor.py [--repeat 5] [--limit 181]
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
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from services.extractor.nlp import analyse, analyse_many, load  # noqa: E402

DATA = Path(os.environ.get("NEWSFLOW_BENCH_DATA", REPO.parent / "shared" / "data"))
SEED = REPO.parent / "shared" / "seeds" / "000_81597562a20f18e4.txt"
REFERENCE = dt.datetime(2021, 12, 28, tzinfo=dt.timezone.utc)


def _report(name: str, texts: list[str], wall: float, cpu: float) -> None:
    chars = sum(len(t) for t in texts)
    print(f"{name:34} {len(texts):4d} texts  {len(texts) / wall:6.2f} articles/s  "
          f"{1000 * wall / len(texts):7.1f} ms/article (cpu {1000 * cpu / len(texts):6.1f})  "
          f"{1000 * wall / (chars / 1000):6.1f} ms/1k chars (cpu {1000 * cpu / (chars / 1000):5.1f})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=5, help="runs over the seed article")
    parser.add_argument("--limit", type=int, default=181, help="benchmark articles to use")
    args = parser.parse_args()

    started = time.perf_counter()
    load()
    print(f"model load: {time.perf_counter() - started:.2f} s")

    seed = SEED.read_text(encoding="utf-8")
    analyse(seed, REFERENCE)  # warm-up
    wall, cpu = time.perf_counter(), time.process_time()
    for _ in range(args.repeat):
        analyse(seed, REFERENCE)
    _report(f"seed ({len(seed)} chars), analyse", [seed] * args.repeat,
            time.perf_counter() - wall, time.process_time() - cpu)

    truth = DATA / "article-extraction-benchmark" / "ground-truth.json"
    if not truth.exists():
        print(f"no benchmark data at {truth}; skipped")
        return
    bodies = [v["articleBody"] for _k, v in sorted(json.loads(truth.read_text(encoding="utf-8")).items())]
    bodies = [b for b in bodies if b.strip()][: args.limit]
    print(f"benchmark bodies: {len(bodies)}, median {statistics.median(map(len, bodies)):.0f} chars")

    languages: Counter[str] = Counter()
    wall, cpu = time.perf_counter(), time.process_time()
    for body in bodies:
        languages[analyse(body, REFERENCE).language] += 1
    _report("benchmark, analyse one by one", bodies, time.perf_counter() - wall, time.process_time() - cpu)
    english = [b for b in bodies if analyse(b, REFERENCE).language == "en"]

    wall, cpu = time.perf_counter(), time.process_time()
    for _ in analyse_many((b, REFERENCE, None) for b in bodies):
        pass
    _report("benchmark, analyse_many (batched)", bodies, time.perf_counter() - wall, time.process_time() - cpu)

    wall, cpu = time.perf_counter(), time.process_time()
    for body in english:
        analyse(body, REFERENCE)
    _report("benchmark English only, analyse", english, time.perf_counter() - wall, time.process_time() - cpu)
    print("languages:", dict(languages.most_common()))


if __name__ == "__main__":
    main()
