"""``newsflow clean`` and ``newsflow extract``: the cleaner's and the extractor's logic over JSONL, without
Kafka, so that anyone can score them on a benchmark (bench/ does)."""

from __future__ import annotations

import argparse
import sys


def add_parser(sub: argparse._SubParsersAction) -> None:
    c = sub.add_parser("clean", help='JSONL {"id","html"|"text"} on stdin -> {"id","text",...} on stdout')
    c.set_defaults(func=run_clean)
    e = sub.add_parser("extract", help='JSONL {"id","text"} on stdin -> {"id", entities, dates, ...} on stdout')
    e.set_defaults(func=run_extract)


def run_clean(args: argparse.Namespace) -> int:
    from services.cleaner.batch import clean_jsonl

    clean_jsonl(sys.stdin, sys.stdout)
    return 0


def run_extract(args: argparse.Namespace) -> int:
    from services.extractor.batch import extract_jsonl

    extract_jsonl(sys.stdin, sys.stdout)
    return 0
