"""``newsflow tail`` (events.enriched) and ``newsflow dlq list`` (the dead-letter topic)."""

from __future__ import annotations

import argparse
import sys
import time

from schemas.messages import DeadLetter, EnrichedEvent
from schemas.topics import TOPICS, Topic
from services.runtime.clients import consumer
from services.runtime.settings import KafkaSettings


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("tail", help="print enriched events as they arrive")
    _common(p)
    p.add_argument("--format", choices=["summary", "json"], default="summary",
                   help="one line per event (default) or the whole event as JSON")
    p.add_argument("--ids", help="comma-separated article ids: print only these, stop when all were seen")
    p.set_defaults(func=run_tail)

    d = sub.add_parser("dlq", help="inspect dead letters")
    d.add_argument("action", choices=["list"])
    _common(d, default_beginning=True)
    d.add_argument("--format", choices=["summary", "json"], default="summary")
    d.add_argument("--stage", help="only this stage's dead letters")
    d.set_defaults(func=run_dlq)


def _common(p: argparse.ArgumentParser, default_beginning: bool = False) -> None:
    where = p.add_mutually_exclusive_group()
    where.add_argument("--from-beginning", dest="beginning", action="store_true", default=default_beginning,
                       help="start at the oldest retained message" + (" (default)" if default_beginning else ""))
    where.add_argument("--from-now", dest="beginning", action="store_false",
                       help="only messages arriving from now on" + ("" if default_beginning else " (default)"))
    p.add_argument("-n", "--count", type=int, help="stop after this many")
    p.add_argument("--timeout", type=float, help="stop after this many seconds (exit 0 if --count reached, else 1)")
    p.add_argument("--group", help="consume as this consumer group, committing after each message is printed")


def _follow(args: argparse.Namespace, topic: Topic):
    """Yield (message, model) until count or timeout; commits after the caller handled each (with --group)."""
    c = consumer(KafkaSettings(), topic, group=args.group, from_beginning=args.beginning, timeout_ms=500)
    deadline = time.monotonic() + args.timeout if args.timeout else None
    try:
        while deadline is None or time.monotonic() < deadline:
            batches = c.poll(timeout_ms=500)
            for records in batches.values():
                for record in records:
                    try:
                        model = topic.model.model_validate_json(record.value)
                    except ValueError as exc:
                        print(f"newsflow: skipping unreadable message at {record.topic}/{record.partition}/"
                              f"{record.offset}: {exc}", file=sys.stderr)
                        continue
                    yield record, model
                    if args.group:
                        c.commit()
    finally:
        c.close()


def summary_line(event: EnrichedEvent) -> str:
    x = event.extraction
    title = (event.title or event.text[:60].replace("\n", " ")).strip()
    dup = f"  duplicate of {event.duplicate_of}" if event.duplicate_of else ""
    return (f"{event.article_id}  {title[:60]!r}  lang={x.language}  chars={len(event.text)}  "
            f"people={len(x.people)} orgs={len(x.organisations)} places={len(x.places)} quotes={len(x.quotes)}  "
            f"e2e={event.end_to_end_seconds:.2f}s{dup}")


def run_tail(args: argparse.Namespace) -> int:
    wanted = set(filter(None, (args.ids or "").split(",")))
    seen = 0
    for _record, event in _follow(args, TOPICS.enriched):
        assert isinstance(event, EnrichedEvent)
        if wanted and event.article_id not in wanted:
            continue
        print(event.model_dump_json() if args.format == "json" else summary_line(event), flush=True)
        seen += 1
        wanted.discard(event.article_id)
        if (args.count and seen >= args.count) or (args.ids and not wanted):
            return 0
    return 1 if (args.count and seen < args.count) or wanted else 0


def run_dlq(args: argparse.Namespace) -> int:
    seen = 0
    for record, letter in _follow(args, TOPICS.dlq):
        assert isinstance(letter, DeadLetter)
        if args.stage and letter.stage.value != args.stage:
            continue
        if args.format == "json":
            print(letter.model_dump_json(), flush=True)
        else:
            preview = letter.value[:80].decode("utf-8", "replace").replace("\n", " ")
            print(f"{record.offset:>6}  {letter.failed_at:%Y-%m-%d %H:%M:%S}  {letter.stage.value:9} {letter.reason:18} "
                  f"{letter.source_topic}/{letter.partition}/{letter.offset}  {letter.detail[:100]}  | {preview!r}",
                  flush=True)
        seen += 1
        if args.count and seen >= args.count:
            return 0
    return 1 if args.count and seen < args.count else 0


