"""``newsflow search QUERY``: full-text search over the indexer's store.

Filters (publication day, site, author) and the order (relevance or date) are the store's (``SqliteIndex.search``).
Exit status: 0 hits printed, 1 no hits ("no hits" on stderr), 2 no index, or neither words nor a filter.

It opens the index read-only and touches no Kafka: it takes the index's path from the indexer's settings
(services/indexer/settings.py), never from the indexer's faust wiring (services/indexer/service.py)."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys

from services.indexer.settings import IndexerSettings
from services.indexer.store import IndexOutdated, SqliteIndex


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("search", help="search the index (FTS5 syntax: words, \"phrases\", OR, NOT, prefix*)",
                       description="Prints one line per hit, best first. Exit status: 0 hits, 1 no hits (said on "
                       "stderr), 2 no index yet (or neither words nor a filter given). Each line: id, publication day, "
                       "site, title, snippet, and for a story with copies: how many and the sites that ran it "
                       "(newsflow story ID lists them).")
    p.add_argument("query", nargs="*", help="words to find; none: the documents the filters keep, newest first")
    p.add_argument("-n", "--limit", type=int, default=10)
    p.add_argument("--since", type=_day, metavar="YYYY-MM-DD", help="published on or after this day")
    p.add_argument("--until", type=_day, metavar="YYYY-MM-DD", help="published on or before this day")
    p.add_argument("--site", help="site name (e.g. Reuters) or host (reuters.com, its subdomains too)")
    p.add_argument("--author", help="an author's name or part of it, whole words (e.g. Doe, 'Jane Doe')")
    p.add_argument("--sort", choices=["relevance", "date"], default="relevance",
                   help="best match first (default), or newest publication first (undated last)")
    p.add_argument("--all-copies", action="store_true",
                   help="list every copy of a story (default: one hit per story, with its copies and sites)")
    p.add_argument("--json", action="store_true", help="print each hit as JSON")
    p.set_defaults(func=run)


def _day(value: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a day (YYYY-MM-DD): {value!r}") from None


def run(args: argparse.Namespace) -> int:
    if not (args.query or args.since or args.until or args.site or args.author):
        print("newsflow search: give words to find or a filter (--since, --until, --site, --author)", file=sys.stderr)
        return 2
    settings = IndexerSettings()
    if not settings.db_path.exists():
        print(f"newsflow search: no index at {settings.db_path} (has the indexer run?)", file=sys.stderr)
        return 2
    try:
        index = SqliteIndex(settings.db_path, readonly=True)
    except IndexOutdated as exc:
        print(f"newsflow search: {exc}", file=sys.stderr)
        return 2
    try:
        hits = index.search(" ".join(args.query), args.limit, since=args.since, until=args.until, site=args.site,
                            author=args.author, sort=args.sort, collapse=not args.all_copies)
    finally:
        index.close()
    for hit in hits:
        if args.json:
            print(json.dumps(hit.__dict__, ensure_ascii=False))
        else:
            sites = f": {', '.join(hit.sites[:5])}{' ...' if len(hit.sites) > 5 else ''}" if hit.sites else ""
            copies = f"  [{hit.copies} copies{sites}]" if hit.copies > 1 else ""
            print(f"{hit.article_id}  {(hit.published_at or '-')[:10]}  {hit.site_name or '-'}  "
                  f"{(hit.title or '')[:70]!r}  {hit.snippet}{copies}")
    if not hits:
        print(f"newsflow search: no hits for {' '.join(args.query)!r}", file=sys.stderr)
        return 1
    return 0
