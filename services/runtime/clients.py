"""kafka-python clients for the ``newsflow`` CLI, topic administration and the test harness.

(The services themselves consume and produce through faust-streaming/aiokafka: services.runtime.service.)
Topics are created from the registry (names, partitions, and each topic's config, max.message.bytes included),
and clients allow the registry's message size limit. A running stage uses only :func:`wait_for_broker` from here;
nothing here decides what a message means (that is the runner's and the CLI's business).
"""

from __future__ import annotations

import time
from typing import Iterable

from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import NewTopic
from kafka.errors import KafkaError, TopicAlreadyExistsError

from schemas import headers
from schemas.topics import TOPICS, Topic
from services.runtime.settings import KafkaSettings


def wait_for_broker(kafka: KafkaSettings, timeout: float | None = 60.0, on_wait=None) -> None:
    """Return once a broker answers; raise after ``timeout`` seconds (None: wait for ever). ``on_wait`` is
    called every ~10 s of waiting (to log it)."""
    started = time.monotonic()
    last_report = started
    while True:
        try:
            KafkaAdminClient(**kafka.kafka_python_config(), request_timeout_ms=5000).close()
            return
        except KafkaError:
            now = time.monotonic()
            if timeout is not None and now - started > timeout:
                raise
            if on_wait is not None and now - last_report >= 10:
                on_wait()
                last_report = now
            time.sleep(0.5)


def create_topics(kafka: KafkaSettings, topics: Iterable[Topic] = TOPICS, partitions: int | None = None) -> list[str]:
    """Create the registry's topics (idempotent). Returns the names created now."""
    admin = KafkaAdminClient(**kafka.kafka_python_config())
    created = []
    try:
        existing = set(admin.list_topics())
        new = [
            NewTopic(kafka.topic(t.name), partitions or kafka.partitions_of(t), kafka.replication_factor, topic_configs=t.config)
            for t in topics
            if kafka.topic(t.name) not in existing
        ]
        for topic in new:
            try:
                admin.create_topics([topic])
                created.append(topic.name)
            except TopicAlreadyExistsError:
                pass
    finally:
        admin.close()
    return created


def producer(kafka: KafkaSettings, **options) -> KafkaProducer:
    return KafkaProducer(
        **kafka.kafka_python_config(),
        acks="all",
        linger_ms=5,
        retries=5,
        max_request_size=TOPICS.max_message_bytes,
        **options,
    )


def schema_headers(topic: Topic) -> list[tuple[str, bytes]]:
    """The headers of a message to ``topic``: its schema id (what the stage runner sets on its outputs)."""
    return [(headers.SCHEMA, topic.schema_id.encode())]


def consumer(
    kafka: KafkaSettings,
    topic: Topic,
    *,
    group: str | None = None,
    from_beginning: bool = True,
    timeout_ms: int = 1000,
) -> KafkaConsumer:
    """A consumer of one registry topic. With a group, offsets are committed by the caller after handling
    (at-least-once); without one, all partitions are assigned and read from the beginning or the end."""
    name = kafka.topic(topic.name)
    c = KafkaConsumer(
        **kafka.kafka_python_config(),
        group_id=group,
        enable_auto_commit=False,
        auto_offset_reset="earliest" if from_beginning else "latest",
        consumer_timeout_ms=timeout_ms,
        max_partition_fetch_bytes=TOPICS.max_message_bytes,
    )
    if group:
        c.subscribe([name])
    else:
        partitions = c.partitions_for_topic(name) or set()
        tps = [TopicPartition(name, p) for p in sorted(partitions)]
        c.assign(tps)
        (c.seek_to_beginning if from_beginning else c.seek_to_end)(*tps)
    return c
