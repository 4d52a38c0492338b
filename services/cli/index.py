"""``newsflow search QUERY``: full-text search over the indexer's store."""

from __future__ import annotations

import argparse
import json
import sys

from services.indexer.service import IndexerSettings
from services.indexer.store import SqliteIndex


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("search", help="search the index (FTS5 syntax: words, \"phrases\", OR, NOT, prefix*)")
    p.add_argument("query", nargs="+")
    p.add_argument("-n", "--limit", type=int, default=10)
    p.add_argument("--json", action="store_true", help="print each hit as JSON")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    settings = IndexerSettings()
    if not settings.db_path.exists():
        print(f"newsflow search: no index at {settings.db_path} (has the indexer run?)", file=sys.stderr)
        return 2
    index = SqliteIndex(settings.db_path, readonly=True)
    try:
        hits = index.search(" ".join(args.query), args.limit)
    finally:
        index.close()
    for hit in hits:
        if args.json:
            print(json.dumps(hit.__dict__, ensure_ascii=False))
        else:
            print(f"{hit.article_id}  {(hit.title or '')[:70]!r}  {hit.snippet}")
    return 0 if hits else 1
