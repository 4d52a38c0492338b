"""Benchmark of the cleaner's article metadata (publication date, title, authors) against trafilatura, htmldate
(fast and extensive) and newspaper4k, on ../shared/data/metadata-dev (1,048 labelled pages; its README).

The scorer is ../shared/tools/meta_eval.py, unchanged: ``newsflow clean`` runs as its ``--cmd-batch`` (one
subprocess fed {"id","url","html"} lines) and the baselines run in process, in the same run (``--baselines``).
Its table is printed as it goes; its results JSON goes to bench/results/metadata-<time>/, beside newsflow's own
output lines (``newsflow.jsonl``). From those lines this script then adds:

- where newsflow's publication dates came from (provenance counts) and how often each source was right;
- examples of what still goes wrong (wrong day, missed authors or extra ones), by source;
- the time metadata adds to the cleaner, per page: ``clean_html`` on every page, in process, with and without
  its metadata (the same work minus ``meta.page_meta``, the body lines' ``textmeta.text_meta`` and the htmldate
  fallback), best of ``--repeat`` rounds.

    .venv/bin/python bench/metadata.py [--limit N] [--no-baselines] [--repeat 2]
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.runs import result_path, run_stamp  # noqa: E402

SHARED = Path(os.environ.get("NEWSFLOW_SHARED", REPO.parent / "shared"))
META_EVAL = SHARED / "tools" / "meta_eval.py"
GOLD = SHARED / "data" / "metadata-dev" / "gold.jsonl"


def load_meta_eval():
    sys.path.insert(0, str(META_EVAL.parent))
    import meta_eval  # noqa: PLC0415 - the scorer lives outside the repository

    return meta_eval


def provenance_report(rows: list[dict], preds: dict[str, dict], E) -> None:
    """Where the dates came from, how often each source was right, and examples of errors."""
    by_source: dict[str, Counter] = defaultdict(Counter)
    wrong: dict[str, list] = defaultdict(list)
    for r in rows:
        p = preds.get(r["id"], {})
        src = (p.get("published_at") or {}).get("provenance") or "none"
        if "date" not in r:
            by_source[src]["unlabelled"] += 1
            continue
        g, x = E.day(r["date"]), E.day(p.get("published"))
        verdict = "tn" if x is None and g is None else "fn" if x is None else "tp" if x == g else "fp"
        by_source[src][verdict] += 1
        if verdict == "fp":
            wrong[src].append(f"{r['id']}: gold {g}, found {p.get('published')}")
    print("\n## publication date: where it came from (pages; tp right day, fp wrong day, fn/tn none found)\n")
    print("| provenance | pages | tp | fp | fn | tn | right when found |")
    print("|---|---|---|---|---|---|---|")
    for src, c in sorted(by_source.items(), key=lambda kv: -sum(kv[1].values())):
        found = c["tp"] + c["fp"]
        share = f"{c['tp'] / found:.3f}" if found else "-"
        print(f"| {src} | {sum(c.values())} | {c['tp']} | {c['fp']} | {c['fn']} | {c['tn']} | {share} |")
    print("\n## examples of wrong dates (first 3 a source)\n")
    for src, items in wrong.items():
        for item in items[:3]:
            print(f"- {src}: {item}")
    missed, extra = [], []
    for r in rows:
        if "authors" not in r:
            continue
        g, x = E.names(r["authors"]), E.names(preds.get(r["id"], {}).get("authors"))
        if g - x:
            missed.append(f"{r['id']}: gold {sorted(g)}, found {sorted(x)}")
        elif x - g:
            extra.append(f"{r['id']}: gold {sorted(g)}, found {sorted(x)}")
    print(f"\n## authors: {len(missed)} pages with a gold name missed, {len(extra)} with only extra names; examples\n")
    for item in missed[:6] + extra[:6]:
        print(f"- {item}")


def added_time(rows: list[dict], E, repeat: int) -> dict:
    """Seconds a page of clean_html with and without its metadata, in process, best of ``repeat`` rounds."""
    from services.cleaner import html as H  # noqa: PLC0415
    from services.cleaner import meta as M
    from services.cleaner import textmeta as T
    from services.cleaner.html import clean_html

    pages = [(E.read_html(r), r.get("url")) for r in rows]
    clean_html(pages[0][0], pages[0][1])  # warm up: models, parsers

    def without_meta(html, url):
        saved = (M.page_meta, T.text_meta, M.htmldate_date)
        M.page_meta = lambda *a, **k: M.EMPTY_META
        T.text_meta = lambda lines, now=None: ({}, set())
        M.htmldate_date = lambda *a, **k: None
        try:
            return clean_html(html, url)
        finally:
            M.page_meta, T.text_meta, M.htmldate_date = saved

    best = {"with": float("inf"), "without": float("inf")}
    for _ in range(repeat):
        for name, fn in (("without", without_meta), ("with", clean_html)):
            t0 = time.process_time()
            for html, url in pages:
                fn(html, url)
            best[name] = min(best[name], (time.process_time() - t0) / len(pages))
    del H
    return best


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--limit", type=int, help="the first N pages only")
    ap.add_argument("--no-baselines", action="store_true", help="newsflow alone (faster)")
    ap.add_argument("--repeat", type=int, default=2, help="rounds of the in-process speed measurement")
    ap.add_argument("--no-speed", action="store_true", help="skip the in-process speed measurement")
    args = ap.parse_args()
    E = load_meta_eval()
    out = result_path("metadata", run_stamp(), suffix="")
    out.mkdir(parents=True, exist_ok=True)
    lines = out / "newsflow.jsonl"
    cmd = f"{shlex.quote(sys.executable)} -m services.cli clean | tee {shlex.quote(str(lines))}"
    argv = [sys.executable, str(META_EVAL), "--dataset", str(GOLD), "--cmd-batch", cmd, "--name", "newsflow",
            "--out", str(out)]
    if not args.no_baselines:
        argv.append("--baselines")
    if args.limit:
        argv += ["--limit", str(args.limit)]
    print("$ " + " ".join(shlex.quote(a) for a in argv), flush=True)
    proc = subprocess.run(argv, cwd=REPO)
    if proc.returncode:
        return proc.returncode
    rows = E.load(str(GOLD), args.limit)
    preds = {}
    for line in lines.read_text(encoding="utf8").splitlines():
        try:
            p = json.loads(line)
            preds[str(p["id"])] = p
        except (ValueError, KeyError):
            pass
    provenance_report(rows, preds, E)
    if not args.no_speed:
        t = added_time(rows, E, args.repeat)
        added = t["with"] - t["without"]
        print(f"\n## time metadata adds to the cleaner (HTML mode, in process, CPU, best of {args.repeat})\n")
        print(f"clean_html without metadata {1000 * t['without']:.2f} ms/page, with {1000 * t['with']:.2f} ms/page: "
              f"+{1000 * added:.2f} ms/page ({100 * added / t['without']:.1f} %)")
        (out / "speed.json").write_text(json.dumps(t))
    print(f"\nresults: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
