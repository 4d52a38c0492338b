"""Benchmark of the cleaner against trafilatura and readability-lxml, in HTML mode and in text mode.

Data: Zyte's article-extraction-benchmark (181 pages) under ``../shared/data`` (override: NEWSFLOW_BENCH_DATA).
Metric: exactly the benchmark's own (see ``../shared/data/README.md``; the code is tests/harness/scoring.py,
shared with the unit tests): 4-token shingles of ``\\w+`` tokens,
per-page tp/fp/fn normalised by their sum, precision averaged over non-empty predictions, recall over pages
with truth, F1 = harmonic mean of the two; plus the mean per-page F1 (empty prediction = 0) and empty outputs.

Modes: ``html`` (the page's HTML in) and ``text`` (the page flattened with ``html_text.extract_text``; the HTML
extractors get each line wrapped as a ``<p>``). The cleaner runs as the service runs it: one
``python -m services.cleaner.batch`` subprocess per mode fed JSONL on stdin; its interpreter start-up (measured
with an empty input) is subtracted from its time and reported apart.

Split: page ids sorted; even positions are ``dev`` (used for tuning and training), odd positions are ``test``.
Speed: ``--repeat N`` times every extractor N times in rounds (each in turn) and reports the best round, so that a
load swing on the shared machine does not decide a comparison; every round's figure is printed too.

    .venv/bin/python bench/cleaner.py --split all --repeat 3
"""

from __future__ import annotations

import argparse
import gzip
import html as html_lib
import json
import os
import resource
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Iterable

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.runs import write_result  # noqa: E402
from tests.harness.scoring import page_counts, page_f1, score, tokens  # noqa: E402,F401  (tokens: for train_cleaner)
from tests.harness.seeds import SEED_ARTICLE as SEED, SEED_BOILERPLATE  # noqa: E402

DEFAULT_DATA = REPO.parent / "shared" / "data"


# ------------------------------------------------------------------------------------------------ the data
@dataclass(frozen=True)
class Page:
    """One page of the benchmark: its HTML, its text-mode input and the benchmark's ground truth."""

    id: str
    html: str
    text: str  # the page flattened by html-text: the input of text mode
    truth: str


def data_dir() -> Path:
    return Path(os.environ.get("NEWSFLOW_BENCH_DATA", DEFAULT_DATA)) / "article-extraction-benchmark"


def split_ids(ids: Iterable[str], split: str) -> list[str]:
    """dev = even positions of the sorted ids, test = odd positions, all = every id."""
    ordered = sorted(ids)
    if split == "dev":
        return ordered[0::2]
    if split == "test":
        return ordered[1::2]
    return ordered


def load_pages(split: str = "all") -> list[Page]:
    import html_text

    root = data_dir()
    truth = json.loads((root / "ground-truth.json").read_text(encoding="utf-8"))
    pages = []
    for pid in split_ids(truth, split):
        raw = gzip.decompress((root / "html" / f"{pid}.html.gz").read_bytes()).decode("utf-8", "replace")
        pages.append(Page(pid, raw, html_text.extract_text(raw), truth[pid].get("articleBody", "")))
    return pages


# ------------------------------------------------------------------------------------------ the extractors
def lines_as_html(text: str) -> str:
    paras = "".join(f"<p>{html_lib.escape(line)}</p>\n" for line in text.splitlines() if line.strip())
    return f"<html><head><title></title></head><body>\n{paras}</body></html>"


def trafilatura_extract(html: str) -> str:
    import trafilatura

    return trafilatura.extract(html, include_comments=False) or ""


def readability_extract(html: str) -> str:
    import lxml.html
    from readability import Document

    try:
        summary = Document(html).summary()
        return lxml.html.fromstring(summary).text_content() if summary.strip() else ""
    except Exception:
        return ""


def run_inprocess(fn: Callable[[str], str], inputs: list[str]) -> tuple[list[str], float]:
    out, start = [], time.perf_counter()
    for doc in inputs:
        try:
            out.append(fn(doc))
        except Exception:
            out.append("")
    return out, time.perf_counter() - start


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_service(kind: str, ids: list[str], inputs: list[str]) -> tuple[list[str], float, float, float]:
    """Run ``python -m services.cleaner.batch`` on JSONL; returns (texts, seconds without start-up, start-up,
    CPU seconds without start-up's)."""
    cmd = [sys.executable, "-m", "services.cleaner.batch"]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    start, cpu = time.perf_counter(), _children_cpu()
    subprocess.run(cmd, input="", capture_output=True, text=True, cwd=REPO, env=env, check=True)
    startup, startup_cpu = time.perf_counter() - start, _children_cpu() - cpu
    payload = "".join(json.dumps({"id": i, kind: doc}) + "\n" for i, doc in zip(ids, inputs))
    start, cpu = time.perf_counter(), _children_cpu()
    proc = subprocess.run(cmd, input=payload, capture_output=True, text=True, cwd=REPO, env=env, check=True)
    elapsed, cpu = time.perf_counter() - start, _children_cpu() - cpu
    by_id = {}
    for line in proc.stdout.splitlines():
        rec = json.loads(line)
        by_id[rec["id"]] = rec.get("text", "")
    return [by_id.get(i, "") for i in ids], max(elapsed - startup, 1e-9), startup, max(cpu - startup_cpu, 0.0)


# ----------------------------------------------------------------------------------------------- the seed
def seed_check() -> dict:
    from services.cleaner.text import clean_text

    raw = SEED.read_text(encoding="utf-8")
    result = clean_text(raw)
    kept_lines = {line.strip() for line in result.text.splitlines() if line.strip()}
    headline, *rest = [p.strip() for p in raw.split("\n\n") if p.strip()]
    story = [p for p in rest if not any(b in p for b in SEED_BOILERPLATE)]
    missing = [p for p in story if p not in kept_lines]
    leaked = [b for b in SEED_BOILERPLATE if b in result.text]
    headline_ok = headline in kept_lines or result.title == headline
    return {"story_paragraphs": len(story), "story_missing": missing, "boilerplate_left": leaked,
            "headline_as_title": result.title == headline,
            "removed": {c.value: n for c, n in result.removed.items()},
            "ok": not missing and not leaked and headline_ok}


# ------------------------------------------------------------------------------------------------- report
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--split", choices=("dev", "test", "all"), default="all")
    parser.add_argument("--modes", default="html,text")
    parser.add_argument("--only", default="", help="comma list of extractors (newsflow,trafilatura,readability)")
    parser.add_argument("--repeat", type=int, default=1,
                        help="timing rounds (every extractor in turn each round); pages/s = the best round")
    args = parser.parse_args(argv)

    pages = load_pages("all")
    dev_ids = set(split_ids((p.id for p in pages), "dev"))
    wanted = {p.id for p in pages} if args.split == "all" else set(split_ids((p.id for p in pages), args.split))
    pages = [p for p in pages if p.id in wanted]
    ids = [p.id for p in pages]
    truths = [p.truth for p in pages]
    extractors = [e for e in ("newsflow", "trafilatura", "readability") if not args.only or e in args.only]

    import html_text

    start = time.perf_counter()
    for p in pages:
        html_text.extract_text(p.html)
    reference = len(pages) / (time.perf_counter() - start)
    print(f"machine-load reference: html-text flattening runs at {reference:.0f} pages/s in this run "
          f"(~270 on an idle machine of this kind, per ../shared/data/README.md)")
    results: dict = {"reference_html_text_pages_per_second": reference, "split": args.split, "pages": len(pages), "run_at": datetime.now(timezone.utc).isoformat(),
                     "modes": {}}
    for mode in args.modes.split(","):
        inputs = [p.html if mode == "html" else p.text for p in pages]
        print(f"\n## {mode} mode ({args.split}: {len(pages)} pages; dev/test = even/odd sorted ids)\n")
        print(f"pages/s: best of {args.repeat} round(s), every extractor in turn each round\n")
        print("| extractor | split | F1 | precision | recall | per-page F1 | empty | pages/s |")
        print("|---|---|---|---|---|---|---|---|")
        results["modes"][mode] = {}
        runs: dict[str, list] = {name: [] for name in extractors}
        for _ in range(args.repeat):  # rounds of every extractor in turn: a load swing hits them all alike
            for name in extractors:
                if name == "newsflow":
                    preds, secs, startup, cpu = run_service(mode, ids, inputs)
                else:
                    fn = trafilatura_extract if name == "trafilatura" else readability_extract
                    docs = inputs if mode == "html" else [lines_as_html(t) for t in inputs]
                    (preds, secs), startup, cpu = run_inprocess(fn, docs), None, None
                runs[name].append((preds, secs, startup, cpu))
        for name in extractors:
            preds, _, startup, _ = runs[name][0]
            speeds = [len(pages) / secs for _, secs, _, _ in runs[name]]
            cpu_per_page = [cpu / len(pages) for _, _, _, cpu in runs[name] if cpu is not None]
            speed = max(speeds)
            per_split = {}
            subsets = {"dev": [i for i, pid in enumerate(ids) if pid in dev_ids],
                       "test": [i for i, pid in enumerate(ids) if pid not in dev_ids],
                       "all": list(range(len(ids)))}
            for split_name, idx in subsets.items():
                if not idx:
                    continue
                s = score([truths[i] for i in idx], [preds[i] for i in idx])
                per_split[split_name] = asdict(s)
                print(f"| {name} | {split_name} ({s.pages}) | {s.f1:.3f} | {s.precision:.3f} | {s.recall:.3f} | "
                      f"{s.page_f1:.3f} | {s.empty} | {speed:.0f} |")
            results["modes"][mode][name] = {"scores": per_split, "pages_per_second": speed,
                                            "pages_per_second_each_round": speeds,
                                            "startup_seconds": startup,
                                            "cpu_seconds_per_page_each_round": cpu_per_page,
                                            "per_page_f1": {pid: page_f1(*page_counts(t, p))
                                                            for pid, t, p in zip(ids, truths, preds)}}
        print("\npages/s of each round: " + "; ".join(
            f"{name} " + " / ".join(f"{v:.0f}" for v in results["modes"][mode][name]["pages_per_second_each_round"])
            for name in extractors))
        if "newsflow" in extractors:
            nf = results["modes"][mode]["newsflow"]
            print(f"\n(newsflow: one subprocess per mode; interpreter start-up {nf['startup_seconds']:.2f}s excluded "
                  f"from pages/s; its CPU s/page of each round, start-up's excluded: "
                  + " / ".join(f"{c:.4f}" for c in nf["cpu_seconds_per_page_each_round"]) + ")")

    seed = seed_check()
    results["seed"] = seed
    print(f"\n## seed article (text mode)\n\nstory paragraphs kept: {seed['story_paragraphs'] - len(seed['story_missing'])}"
          f"/{seed['story_paragraphs']}; boilerplate lines left: {len(seed['boilerplate_left'])}/6; "
          f"headline returned as title: {seed['headline_as_title']}; removed: {seed['removed']} "
          f"-> {'OK' if seed['ok'] else 'FAIL'}")
    for line in seed["story_missing"] + seed["boilerplate_left"]:
        print(f"  ! {line[:100]}")

    out = write_result(f"cleaner-{args.split}", results)
    print(f"\nresults: {out.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
