"""``newsflow story ID``: the copies of one story in the index (ID: the story's id or any of its articles'),
canonical copy first (the earliest published, else the first ingested).

Exit status: 0 listed, 1 no such article or story, 2 no index.

Like ``newsflow search``, it opens the index read-only and touches no Kafka: the index's path comes from the
indexer's settings (services/indexer/settings.py), never from the indexer's faust wiring."""

from __future__ import annotations

import argparse
import json
import sys

from services.indexer.settings import IndexerSettings
from services.indexer.store import SqliteIndex


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("story", help="list the copies of a story (syndicated or near-duplicate articles)",
                       description="One line per copy, canonical first: id, first seen (publication time, else "
                       "ingest time), similarity to the canonical copy, site, title. Exit status: 0 listed, 1 no "
                       "such article or story, 2 no index.")
    p.add_argument("id", help="a story id, or the id of any article of the story")
    p.add_argument("--json", action="store_true", help="print each copy as JSON")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    settings = IndexerSettings()
    if not settings.db_path.exists():
        print(f"newsflow story: no index at {settings.db_path} (has the indexer run?)", file=sys.stderr)
        return 2
    index = SqliteIndex(settings.db_path, readonly=True)
    try:
        copies = index.story(args.id)
    finally:
        index.close()
    if not copies:
        print(f"newsflow story: no article or story {args.id!r} in the index", file=sys.stderr)
        return 1
    for member, event in copies:
        title = (event.title if event else None) or ""
        if args.json:
            print(json.dumps({"story_id": member.story_id, "article_id": member.article_id,
                              "first_seen": member.first_seen, "similarity": round(member.similarity, 3),
                              "site": member.site, "title": title, "url": event.url if event else None},
                             ensure_ascii=False))
        else:
            print(f"{member.article_id}  {member.first_seen}  sim={member.similarity:.2f}  {member.site or '-'}  "
                  f"{title[:70]!r}")
    return 0
