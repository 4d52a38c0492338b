"""``newsflow tail`` (events.enriched) and ``newsflow dlq list`` (the dead-letter topic)."""

from __future__ import annotations

import argparse
import sys
import time

from kafka import TopicPartition

from schemas.messages import DeadLetter, EnrichedEvent
from schemas.topics import TOPICS, Topic
from services.runtime.clients import consumer, producer
from services.runtime.settings import KafkaSettings
from services.runtime.stage import ATTEMPTS_HEADER


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("tail", help="print enriched events as they arrive")
    _common(p)
    p.add_argument("--format", choices=["summary", "json"], default="summary",
                   help="one line per event (default) or the whole event as JSON")
    p.add_argument("--ids", help="comma-separated article ids: print only these, stop when all were seen")
    p.set_defaults(func=run_tail)

    d = sub.add_parser(
        "dlq", help="list dead letters, or replay chosen ones after a fix",
        description="list: print dead letters. replay: re-send the chosen dead letters' original bytes (same key) "
        "to the topic they came from, with a newsflow-attempts header; choose with --offsets/--reason/--stage, "
        "or --all. Dead letters are never deleted; a replayed message that fails again is dead-lettered again "
        "with attempts + 1.",
    )
    d.add_argument("action", choices=["list", "replay"])
    _common(d, default_beginning=True)
    d.add_argument("--format", choices=["summary", "json"], default="summary")
    d.add_argument("--stage", help="only this stage's dead letters")
    d.add_argument("--reason", help="only dead letters with this reason (e.g. http_unavailable)")
    d.add_argument("--offsets", help="only these DLQ offsets: e.g. 3,7-12")
    d.add_argument("--all", action="store_true", help="replay: every dead letter that matches (needed without filters)")
    d.add_argument("--dry-run", action="store_true", help="replay: show what would be re-sent, send nothing")
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


def parse_offsets(spec: str | None) -> set[int] | None:
    if not spec:
        return None
    chosen: set[int] = set()
    for part in spec.split(","):
        low, _, high = part.strip().partition("-")
        chosen.update(range(int(low), int(high or low) + 1))
    return chosen


def chosen(args: argparse.Namespace, offset: int, letter: DeadLetter, offsets: set[int] | None) -> bool:
    return ((not args.stage or letter.stage.value == args.stage)
            and (not args.reason or letter.reason == args.reason)
            and (offsets is None or offset in offsets))


def run_dlq(args: argparse.Namespace) -> int:
    if args.action == "replay":
        return run_replay(args)
    offsets = parse_offsets(args.offsets)
    seen = 0
    for record, letter in _follow(args, TOPICS.dlq):
        assert isinstance(letter, DeadLetter)
        if not chosen(args, record.offset, letter, offsets):
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




def run_replay(args: argparse.Namespace) -> int:
    """Re-send chosen dead letters to their source topics. Reads the DLQ up to its end as of now."""
    offsets = parse_offsets(args.offsets)
    if not (args.all or args.stage or args.reason or offsets):
        print("newsflow dlq replay: choose with --offsets, --reason or --stage, or say --all", file=sys.stderr)
        return 2
    kafka = KafkaSettings()
    c = consumer(kafka, TOPICS.dlq, from_beginning=True, timeout_ms=500)
    ends = c.end_offsets(list(c.assignment()))
    letters: list[tuple[int, DeadLetter]] = []
    deadline = time.monotonic() + (args.timeout or 60)
    try:
        while any(c.position(tp) < end for tp, end in ends.items()) and time.monotonic() < deadline:
            for records in c.poll(timeout_ms=500).values():
                for r in records:
                    if r.offset >= ends[TopicPartition(r.topic, r.partition)]:
                        continue
                    letter = DeadLetter.model_validate_json(r.value)
                    if chosen(args, r.offset, letter, offsets):
                        letters.append((r.offset, letter))
    finally:
        c.close()
    if args.count:
        letters = letters[: args.count]
    if args.dry_run or not letters:
        for offset, letter in letters:
            print(f"would replay {offset}: {letter.reason} -> {letter.source_topic} key={letter.key!r}")
        print(f"{len(letters)} dead letters {'would be ' if args.dry_run else ''}replayed")
        return 0
    p = producer(kafka)
    try:
        for offset, letter in letters:
            headers = [(ATTEMPTS_HEADER, str(letter.attempts).encode()),
                       ("newsflow-replayed-from", f"{kafka.topic(TOPICS.dlq.name)}/{offset}".encode())]
            p.send(letter.source_topic, key=letter.key or None, value=letter.value, headers=headers).get(30)
            print(f"replayed {offset}: {letter.reason} -> {letter.source_topic}")
    finally:
        p.close(timeout=30)
    print(f"{len(letters)} dead letters replayed")
    return 0
