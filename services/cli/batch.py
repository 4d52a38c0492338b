"""``newsflow clean`` and ``newsflow extract``: the cleaner's and the extractor's logic over JSONL, without
Kafka, so that anyone can score them on a benchmark (bench/ does).

One module for both commands, named after what they share: each is the batch mode of a service's pure step
(services/cleaner/batch.py, services/extractor/batch.py: JSONL in, JSONL out). Each imports its service's logic
only when run (so ``newsflow --help`` does not load models or spaCy) and never Kafka or faust."""

from __future__ import annotations

import argparse
import sys


def add_parser(sub: argparse._SubParsersAction) -> None:
    c = sub.add_parser("clean", help='JSONL {"id","html"|"text","url"?} on stdin -> {"id","text","title",'
                                    '"published_at","authors",...} on stdout')
    c.set_defaults(func=run_clean)
    e = sub.add_parser(
        "extract", help='JSONL {"id","text","published_at"?,"reference"?,"title"?} on stdin -> {"id", entities, '
        'dates, ...} on stdout; dates resolve against published_at when given, else reference (ingest time), else now',
        description="Each input line: a JSON object with a string text; optional published_at (ISO 8601 date or "
        "datetime: relative dates such as 'on Tuesday' or 'January 12' resolve against its day), reference (the "
        "ingest time, used when there is no published_at; default: the time the run starts) and title. Each "
        "output line: the id and the Extraction; every date says its anchor (published_at or ingested_at).")
    e.set_defaults(func=run_extract)


def run_clean(args: argparse.Namespace) -> int:
    from services.cleaner.batch import clean_jsonl

    clean_jsonl(sys.stdin, sys.stdout)
    return 0


def run_extract(args: argparse.Namespace) -> int:
    from services.extractor.batch import extract_jsonl

    extract_jsonl(sys.stdin, sys.stdout)
    return 0
