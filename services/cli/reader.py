"""Reading a topic to show it (``newsflow tail``, ``newsflow dlq list``): where to start, and when to stop.

Where: ``--from-beginning`` (the oldest retained message), ``--from-now``, or ``--since TIME`` (the first message
the broker stamped at or after TIME).

When to stop: a listing stops at the end of the topic, as it was when the command started. It goes on waiting
for new messages only when told to (``--follow``) or when waiting is the point: ``--from-now`` (nothing before
now is shown, so there is nothing to list), or a caller that waits for named messages (``tail --ids``).
``-n``/``--count`` and ``--timeout`` stop it earlier, whichever comes first.

Shared by the commands that show a topic; not a command itself. It only reads: it produces nothing.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Iterator

from kafka import KafkaConsumer, TopicPartition

from schemas.messages import Message
from schemas.topics import Topic
from services.runtime.clients import consumer
from services.runtime.settings import KafkaSettings


def add_options(p: argparse.ArgumentParser, default_beginning: bool = False) -> None:
    where = p.add_mutually_exclusive_group()
    where.add_argument("--from-beginning", dest="beginning", action="store_true", default=default_beginning,
                       help="start at the oldest retained message" + (" (default)" if default_beginning else ""))
    where.add_argument("--from-now", dest="beginning", action="store_false",
                       help="only messages arriving from now on, waiting for them"
                       + ("" if default_beginning else " (default)"))
    where.add_argument("--since", type=_timestamp, metavar="TIME",
                       help="start at the first message written at or after TIME (ISO 8601 with a zone, "
                       "e.g. 2026-01-05T09:30:00Z); with --group, the group's committed offsets win")
    p.add_argument("-f", "--follow", action="store_true",
                   help="at the end of the topic, wait for new messages (until --count or --timeout, or Ctrl-C); "
                   "without it a listing stops at the end")
    p.add_argument("-n", "--count", type=int, help="stop after this many")
    p.add_argument("--timeout", type=float, help="stop after this many seconds (exit 0 if --count reached, else 1)")
    p.add_argument("--group", help="consume as this consumer group, committing after each message is printed")


def _timestamp(text: str) -> datetime:
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO 8601 time: {text!r}") from None
    if value.tzinfo is None:
        raise argparse.ArgumentTypeError(f"{text!r} needs a zone (e.g. Z for UTC)")
    return value


def following(args: argparse.Namespace) -> bool:
    """Whether the reader waits at the end of the topic (see module doc)."""
    return bool(args.follow or (not args.beginning and args.since is None))


@dataclass
class Reading:
    """What a read saw: whether it stopped at the end of the topic (rather than by timeout)."""

    at_end: bool = False


def read(args: argparse.Namespace, topic: Topic, follow: bool | None = None,
         reading: Reading | None = None) -> Iterator[tuple[object, Message]]:
    """Yield (record, model) from ``topic`` as the options say (module doc); with ``--group``, commits after the
    caller handled each. Unreadable messages are reported on stderr and skipped. ``follow`` overrides
    :func:`following`; ``reading.at_end`` tells the caller the read ended at the end of the topic."""
    follow = following(args) if follow is None else follow
    c = consumer(KafkaSettings(), topic, group=args.group, from_beginning=args.beginning or args.since is not None,
                 timeout_ms=500)
    if args.since is not None and not args.group:
        seek_to_time(c, args.since)
    ends: dict[TopicPartition, int] = {}
    deadline = time.monotonic() + args.timeout if args.timeout else None
    try:
        while deadline is None or time.monotonic() < deadline:
            if not follow and _at_end(c, ends):
                if reading:
                    reading.at_end = True
                return
            for tp, records in c.poll(timeout_ms=500).items():
                for record in records:
                    if not follow and record.offset >= ends.get(tp, float("inf")):
                        continue  # written after the listing started
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


def _at_end(c: KafkaConsumer, ends: dict[TopicPartition, int]) -> bool:
    """True once every partition assigned to ``c`` is read up to its end as it was when first seen (a group's
    partitions are assigned at its first poll: until then nothing is at its end)."""
    assigned = c.assignment()
    if not assigned:
        return c.subscription() is None  # assigned no partition at all: the topic has none (not created)
    new = [tp for tp in assigned if tp not in ends]
    if new:
        ends.update(c.end_offsets(new))
    return all(c.position(tp) >= ends[tp] for tp in assigned)


def seek_to_time(c: KafkaConsumer, when: datetime) -> None:
    """Move every assigned partition to its first message written at or after ``when`` (its end if none)."""
    tps = list(c.assignment())
    found = c.offsets_for_times({tp: int(when.timestamp() * 1000) for tp in tps})
    for tp in tps:
        if found.get(tp) is None:
            c.seek_to_end(tp)
        else:
            c.seek(tp, found[tp].offset)
