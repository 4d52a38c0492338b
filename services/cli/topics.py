"""``newsflow topics create|list``: the registry's topics (schemas/topics/) on the cluster. It creates topics
that are missing and lists them; it never deletes or reconfigures a topic, and reads or writes no message."""

from __future__ import annotations

import argparse

from schemas.topics import TOPICS
from services.runtime.clients import create_topics, wait_for_broker
from services.runtime.settings import KafkaSettings


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("topics", help="create or list newsflow's topics")
    p.add_argument("action", choices=["create", "list"])
    p.add_argument("--partitions", type=int, help="override every topic's partition count (create)")
    p.add_argument("--wait", type=float, default=60.0, help="seconds to wait for the broker (default 60)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    kafka = KafkaSettings()
    wait_for_broker(kafka, args.wait)
    if args.action == "create":
        created = create_topics(kafka, partitions=args.partitions)
        for name in created:
            print(f"created {name}")
        print(f"{len(created)} created, {len(list(TOPICS)) - len(created)} already there")
        return 0
    for t in TOPICS:
        print(f"{kafka.topic(t.name):22} {t.partitions:>2} partitions  {t.schema_id:20} {t.producers} -> {t.consumers}")
    return 0
