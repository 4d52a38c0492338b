"""``newsflow dlq list`` and ``newsflow dlq replay``: the dead letters (articles.dlq), and sending their originals
again after a fix.

A replay re-sends the original bytes, same key, to the topic they came from. An original that is a JSON object
gets ``replayed_at`` (now) in it, so the indexer measures the article's end-to-end latency from the replay while
``ingested_at`` keeps the first push; every replayed message also carries the headers ``newsflow-replayed-at``
and ``newsflow-replayed-from`` (the dead letter, as topic/offset), whatever its bytes.

Each replay is recorded in articles.dlq.replays (:class:`schemas.messages.Replay`: when, by whom, to which
topic/partition/offset), keyed by the dead letter's offset. The record lives on the broker, next to the dead
letters: it survives restarts and is seen by every user of the cluster, and the topic is compacted, so each
dead letter's last replay stays for the topic's retention. ``dlq list`` reads it to mark replayed dead letters.
Neither command deletes or changes a dead letter: a replay only adds records (the original to its source topic,
the record to articles.dlq.replays).
"""

from __future__ import annotations

import argparse
import getpass
import hashlib
import json
import socket
import sys
import time
from datetime import datetime, timezone

from kafka import KafkaConsumer, TopicPartition
from kafka.errors import KafkaError

from schemas import headers as header
from schemas.messages import DeadLetter, Replay
from schemas.topics import TOPICS
from services.cli import reader
from services.runtime.clients import consumer, create_topics, producer, schema_headers
from services.runtime.settings import KafkaSettings


def add_parser(sub: argparse._SubParsersAction) -> None:
    d = sub.add_parser(
        "dlq", help="list dead letters, or replay chosen ones after a fix",
        description="list: print the dead letters there are now, and stop (--follow waits for new ones); a "
        "replayed one is marked 'replayed <when> -> <topic>/<partition>/<offset>'. replay: re-send the chosen "
        "dead letters' originals (same key) to the topic they came from, with replayed_at set in a JSON "
        "original (latency is measured from the replay; ingested_at is kept) and the headers newsflow-attempts, "
        "newsflow-replayed-at and newsflow-replayed-from; choose with --offsets/--reason/--stage, or --all. "
        "Dead letters are never deleted; a replayed message that fails again is dead-lettered again with "
        "attempts + 1.",
    )
    d.add_argument("action", choices=["list", "replay"])
    reader.add_options(d, default_beginning=True)
    d.add_argument("--format", choices=["summary", "json"], default="summary")
    d.add_argument("--stage", help="only this stage's dead letters")
    d.add_argument("--reason", help="only dead letters with this reason (e.g. http_unavailable)")
    d.add_argument("--offsets", help="only these DLQ offsets: e.g. 3,7-12")
    d.add_argument("--all", action="store_true", help="replay: every dead letter that matches (needed without filters)")
    d.add_argument("--dry-run", action="store_true", help="replay: show what would be re-sent, send nothing")
    d.set_defaults(func=run)


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


def with_replayed_at(original: bytes, when: datetime) -> bytes:
    """The original with ``replayed_at`` set, when it is a JSON object; any other bytes unchanged."""
    try:
        data = json.loads(original)
    except ValueError:
        return original
    if not isinstance(data, dict):
        return original
    data["replayed_at"] = when.isoformat().replace("+00:00", "Z")
    return json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode()


def replay_mark(replay: Replay) -> str:
    return f"replayed {replay.replayed_at:%Y-%m-%d %H:%M:%S} -> {replay.topic}/{replay.partition}/{replay.offset}"


def run(args: argparse.Namespace) -> int:
    return run_replay(args) if args.action == "replay" else run_list(args)


def run_list(args: argparse.Namespace) -> int:
    offsets = parse_offsets(args.offsets)
    replays = last_replays(KafkaSettings())
    seen = 0
    for record, letter in reader.read(args, TOPICS.dlq):
        assert isinstance(letter, DeadLetter)
        if not chosen(args, record.offset, letter, offsets):
            continue
        replay = replays.get(record.offset)
        if args.format == "json":
            extra = {"dlq_offset": record.offset, "last_replay": replay and replay.model_dump(mode="json")}
            print(json.dumps({**json.loads(letter.model_dump_json()), **extra}), flush=True)
        else:
            preview = letter.value[:80].decode("utf-8", "replace").replace("\n", " ")
            mark = f"  [{replay_mark(replay)}]" if replay else ""
            print(f"{record.offset:>6}  {letter.failed_at:%Y-%m-%d %H:%M:%S}  {letter.stage.value:9} "
                  f"{letter.reason:18} {letter.source_topic}/{letter.partition}/{letter.offset}  {letter.detail[:100]}"
                  f"  | {preview!r}{mark}", flush=True)
        seen += 1
        if args.count and seen >= args.count:
            return 0
    if not seen and args.format == "summary":
        print("newsflow dlq list: no dead letters" + (" match" if args.stage or args.reason or offsets else ""),
              file=sys.stderr)
    return 1 if args.count and seen < args.count else 0


def last_replays(kafka: KafkaSettings, timeout: float = 30) -> dict[int, Replay]:
    """The last replay of each dead letter, by its DLQ offset, from articles.dlq.replays (empty when that topic
    does not exist yet: nothing was replayed since newsflow created it)."""
    c = consumer(kafka, TOPICS.dlq_replays, from_beginning=True, timeout_ms=500)
    replays: dict[int, Replay] = {}
    try:
        ends = c.end_offsets(list(c.assignment()))
        deadline = time.monotonic() + timeout
        while any(c.position(tp) < end for tp, end in ends.items()) and time.monotonic() < deadline:
            for records in c.poll(timeout_ms=500).values():
                for r in records:
                    if r.value is not None:  # a tombstone has none
                        replay = Replay.model_validate_json(r.value)
                        replays[replay.dlq_offset] = replay
    finally:
        c.close()
    return replays


def run_replay(args: argparse.Namespace) -> int:
    """Re-send chosen dead letters to their source topics. Reads the DLQ up to its end as of now."""
    offsets = parse_offsets(args.offsets)
    if not (args.all or args.stage or args.reason or offsets):
        print("newsflow dlq replay: choose with --offsets, --reason or --stage, or say --all", file=sys.stderr)
        return 2
    kafka = KafkaSettings()
    letters = [(record.offset, letter) for record, letter in reader.read(args, TOPICS.dlq, follow=False)
               if chosen(args, record.offset, letter, offsets)]
    if args.count:
        letters = letters[: args.count]
    if args.dry_run or not letters:
        for offset, letter in letters:
            print(f"would replay {offset}: {letter.reason} -> {letter.source_topic} key={letter.key!r}")
        print(f"{len(letters)} dead letters {'would be ' if args.dry_run else ''}replayed")
        return 0
    try:
        create_topics(kafka, [TOPICS.dlq_replays])  # a cluster set up before the replay record existed
    except KafkaError as exc:
        print(f"newsflow dlq replay: cannot create {kafka.topic(TOPICS.dlq_replays.name)} ({exc}); "
              "replays will not be recorded", file=sys.stderr)
    by = f"{getpass.getuser()}@{socket.gethostname()}"
    dlq_name, record_topic = kafka.topic(TOPICS.dlq.name), kafka.topic(TOPICS.dlq_replays.name)
    failed = 0
    p = producer(kafka)
    try:
        for offset, letter in letters:
            original = original_of(kafka, letter)
            if original is None:
                failed += 1
                print(f"newsflow dlq replay: {offset}: its original ({letter.value_size} bytes, kept by reference) is "
                      f"no longer at {letter.source_topic}/{letter.partition}/{letter.offset}; not replayed",
                      file=sys.stderr)
                continue
            now = datetime.now(timezone.utc)
            headers = [(header.ATTEMPTS, str(letter.attempts).encode()),
                       (header.REPLAYED_AT, now.isoformat().encode()),
                       (header.REPLAYED_FROM, f"{dlq_name}/{offset}".encode())]
            sent = p.send(letter.source_topic, key=letter.key or None, value=with_replayed_at(original, now),
                          headers=headers).get(30)
            replay = Replay(dlq_offset=offset, replayed_at=now, topic=sent.topic, partition=sent.partition,
                            offset=sent.offset, by=by)
            try:
                p.send(record_topic, key=str(offset).encode(), value=replay.to_bytes(),
                       headers=schema_headers(TOPICS.dlq_replays)).get(30)
            except KafkaError as exc:
                print(f"newsflow dlq replay: {offset}: replayed but not recorded ({exc})", file=sys.stderr)
            print(f"replayed {offset}: {letter.reason} -> {sent.topic}/{sent.partition}/{sent.offset}")
    finally:
        p.close(timeout=30)
    print(f"{len(letters) - failed} dead letters replayed")
    return 1 if failed else 0


def original_of(kafka: KafkaSettings, letter: DeadLetter, timeout: float = 30) -> bytes | None:
    """The original bytes: the dead letter's own, or, when it kept only their first 64 KiB, the message still at
    its source offset (None when retention removed it)."""
    if not letter.value_truncated:
        return letter.value
    tp = TopicPartition(letter.source_topic, letter.partition)
    c = KafkaConsumer(**kafka.kafka_python_config(), enable_auto_commit=False,
                      max_partition_fetch_bytes=64 * 1024 * 1024)
    try:
        c.assign([tp])
        c.seek(tp, letter.offset)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and c.position(tp) <= letter.offset:
            for r in c.poll(timeout_ms=500).get(tp, []):
                if r.offset == letter.offset:
                    if letter.value_sha256 and hashlib.sha256(r.value).hexdigest() != letter.value_sha256:
                        return None
                    return r.value
    finally:
        c.close()
    return None
