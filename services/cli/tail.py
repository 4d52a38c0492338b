"""``newsflow tail``: the enriched events (events.enriched), one summary line or the whole event each; where to
start and when to stop are :mod:`services.cli.reader`'s options. It only reads: it produces nothing and must
not import the services' faust wiring."""

from __future__ import annotations

import argparse

from schemas.messages import EnrichedEvent
from schemas.topics import TOPICS
from services.cli import reader
from services.indexer.store import site_of  # the site as the index and `newsflow story` name it


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("tail", help="print enriched events as they arrive")
    reader.add_options(p)
    p.add_argument("--format", choices=["summary", "json"], default="summary",
                   help="one line per event (default) or the whole event as JSON")
    p.add_argument("--ids", help="comma-separated article ids: print only these, waiting for them (it follows), "
                   "stop when all were seen")
    p.add_argument("--new-stories", action="store_true",
                   help="only the first copy of each story (skip the articles the indexer found to be copies)")
    p.set_defaults(func=run_tail)


def summary_line(event: EnrichedEvent) -> str:
    """One line: id, publication day (the publisher's calendar; "-" when unknown), site (its name, else the host
    of its canonical URL or URL; "-"), title, language (the page's tag checked against the text), counts, latency."""
    x = event.extraction
    title = (event.title or event.text[:60].replace("\n", " ")).strip()
    dup = f"  copy of {event.duplicate_of} (story {event.story_id}, {event.copies} copies)" if event.duplicate_of else ""
    day = event.published_at.value[:10] if event.published_at else "-"
    site = site_of(event) or "-"
    return (f"{event.article_id}  {day}  {site[:40]}  {title[:60]!r}  lang={event.language or x.language}  "
            f"chars={len(event.text)}  "
            f"people={len(x.people)} orgs={len(x.organisations)} places={len(x.places)} quotes={len(x.quotes)}  "
            f"e2e={event.end_to_end_seconds:.2f}s{dup}")


def run_tail(args: argparse.Namespace) -> int:
    wanted = set(filter(None, (args.ids or "").split(",")))
    seen = 0
    for _record, event in reader.read(args, TOPICS.enriched, follow=reader.following(args) or bool(wanted)):
        assert isinstance(event, EnrichedEvent)
        if wanted and event.article_id not in wanted:
            continue
        if args.new_stories and event.story_id not in (None, event.article_id):
            continue  # a copy: its story started with another article
        if args.since and event.indexed_at < args.since:
            continue  # written to the topic after --since, but indexed before it: not this run's
        print(event.model_dump_json() if args.format == "json" else summary_line(event), flush=True)
        seen += 1
        wanted.discard(event.article_id)
        if (args.count and seen >= args.count) or (args.ids and not wanted):
            return 0
    return 1 if (args.count and seen < args.count) or wanted else 0
