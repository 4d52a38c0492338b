"""``newsflow search QUERY``: full-text search over the indexer's store.

Exit status: 0 hits printed, 1 no hits ("no hits" on stderr), 2 no index."""

from __future__ import annotations

import argparse
import json
import sys

from services.indexer.service import IndexerSettings
from services.indexer.store import SqliteIndex


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("search", help="search the index (FTS5 syntax: words, \"phrases\", OR, NOT, prefix*)",
                       description="Prints one line per hit, best first. Exit status: 0 hits, 1 no hits (said on "
                       "stderr), 2 no index yet.")
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
    if not hits:
        print(f"newsflow search: no hits for {' '.join(args.query)!r}", file=sys.stderr)
        return 1
    return 0
