"""Binds a :class:`~services.runtime.stage.Stage` to a faust-streaming worker: the Kafka edge of every service.

One agent per service, concurrency 1 (faust-streaming issue 606: higher concurrency can commit past a
message still in flight); scale out with partitions and more processes of the same service, which join the
same consumer group (``newsflow-<stage>``). At-least-once: faust commits only offsets of handled events and
flushes its producer before committing; ``processing_guarantee`` stays ``at_least_once`` (exactly_once has
open duplicate bugs) and the indexer is idempotent. SIGTERM: faust's worker stops the agent, commits, exits.
"""

from __future__ import annotations

import asyncio
import logging
import os
import ssl
import time

import faust
from aiokafka import errors as kafka_errors

from services.runtime.breaker import CircuitOpen
from services.runtime.clients import wait_for_broker
from services.runtime.errors import PermanentError, Reason, TransientError
from services.runtime.metrics import stage_metrics
from services.runtime.settings import KafkaSettings, StageSettings
from services.runtime.stage import Delivery, Stage, StageRunner

log = logging.getLogger("newsflow.service")
EXIT_HALTED = 3  # exit status of a service stopped while its circuit breaker was open


def faust_broker_options(kafka: KafkaSettings) -> dict:
    options: dict = {"broker": ";".join(f"kafka://{server}" for server in kafka.servers)}
    if kafka.security_protocol.startswith("SASL"):
        options["broker_credentials"] = faust.SASLCredentials(
            username=kafka.sasl_username,
            password=kafka.sasl_password.get_secret_value() if kafka.sasl_password else None,
            mechanism=kafka.sasl_mechanism or "PLAIN",
            ssl_context=ssl.create_default_context() if kafka.security_protocol == "SASL_SSL" else None,
        )
    elif kafka.security_protocol == "SSL":
        options["broker_credentials"] = ssl.create_default_context()
    return options


def build_app(stage: Stage, settings: StageSettings, kafka: KafkaSettings) -> tuple[faust.App, StageRunner]:
    label = stage.name.value
    (settings.data_dir / label).mkdir(parents=True, exist_ok=True)
    app = faust.App(
        f"{kafka.topic_prefix}newsflow-{label}",  # the consumer group id
        **faust_broker_options(kafka),
        datadir=str(settings.data_dir / label),
        store="memory://",
        web_enabled=settings.web_enabled,
        web_port=settings.web_port,
        web_host="127.0.0.1",
        processing_guarantee="at_least_once",
        consumer_auto_offset_reset="earliest",
        broker_commit_interval=1.0,
        broker_session_timeout=settings.session_timeout_seconds,
        broker_heartbeat_interval=min(3.0, settings.session_timeout_seconds / 3),
        producer_acks=-1,
        producer_max_request_size=10 * 1024 * 1024,
        topic_replication_factor=kafka.replication_factor,  # for faust's internal leader-election topic
        topic_allow_declare=True,
        stream_wait_empty=True,
    )
    metrics = stage_metrics(label)

    async def send(topic: str, key: bytes, value: bytes, headers: list[tuple[str, bytes]]) -> None:
        try:
            await app.producer.send_and_wait(topic, key, value, None, None, headers)
        except (kafka_errors.MessageSizeTooLargeError, kafka_errors.RecordTooLargeError,
                kafka_errors.RecordListTooLargeError) as exc:
            raise PermanentError(f"the broker refused a {len(value)}-byte record: {exc!r}",
                                 Reason.message_too_large) from None
        except kafka_errors.KafkaError as exc:
            raise TransientError(f"{type(exc).__name__}: {exc}", Reason.broker_unavailable) from None

    runner = StageRunner(stage, settings, kafka, metrics, send)
    source = app.topic(kafka.topic(stage.source.name), key_serializer="raw", value_serializer="raw")

    @app.agent(source, concurrency=1, name=f"newsflow.{label}")
    async def process(stream):
        async for event in stream.events():
            message = event.message
            delivery = Delivery(
                topic=message.topic,
                partition=message.partition,
                offset=message.offset,
                key=message.key,
                value=message.value if message.value is not None else b"",
                headers={k: _header(v) for k, v in (message.headers or [])},
            )
            try:
                await runner.handle(delivery)
            except CircuitOpen as exc:
                await halt(exc, delivery)

    async def halt(exc: CircuitOpen, delivery: Delivery) -> None:
        """Stop taking messages, and never let this one be acked (so never committed). The process stays up
        (metrics, heartbeats, its partitions) until told to stop, so the halt is visible and no other
        instance takes over the same poison; restart it after a fix to resume at this message. On SIGTERM
        it exits at once with EXIT_HALTED: returning to the stream would ack the message."""
        log.critical("%s: circuit breaker open (%s) at %s[%d]@%d; halted, nothing past it is committed. "
                     "Inspect with `newsflow dlq list`, fix, then restart this service.", label, exc,
                     delivery.topic, delivery.partition, delivery.offset)
        while not app.should_stop:
            await asyncio.sleep(0.5)
        log.critical("%s: stopping while halted; exit %d", label, EXIT_HALTED)
        logging.shutdown()
        os._exit(EXIT_HALTED)

    @app.timer(interval=settings.lag_interval_seconds, on_leader=False)
    async def refresh_lag():
        # A faust timer that raises crashes the whole app: while the broker is away (offset requests time
        # out after 90 s), keep the last lag values and try again at the next tick.
        assigned = list(app.consumer.assignment())
        if not assigned:
            return
        try:
            highwaters = await asyncio.wait_for(app.consumer.highwaters(*assigned), 30)
            fallback = {(tp.topic, tp.partition): await app.consumer.position(tp)
                        for tp in assigned if (tp.topic, tp.partition) not in runner.positions}
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - broker trouble; the lag gauge just goes stale
            log.warning("%s: cannot read high watermarks (%s: %s); lag not refreshed", label, type(exc).__name__, exc)
            return
        runner.update_lag({(tp.topic, tp.partition): hw for tp, hw in highwaters.items()}, fallback)

    @app.on_partitions_revoked.connect
    async def forget_revoked(app_, revoked, **kwargs):  # noqa: ARG001
        runner.forget(revoked_partitions=[(tp.topic, tp.partition) for tp in revoked])

    return app, runner


def _header(value: bytes | None) -> str:
    return (value or b"").decode("utf-8", "replace")


def run_service(stage: Stage, settings: StageSettings, kafka: KafkaSettings | None = None) -> None:
    """Entry point of every ``python -m services.<name>``: serve metrics, run the faust worker until SIGTERM."""
    kafka = kafka or KafkaSettings()
    logging.basicConfig(level=settings.log_level.upper(), format="[%(asctime)s] %(levelname)s %(name)s: %(message)s")
    log.info("starting %s (pid %d): kafka=%s topics %s -> %s, metrics on %s:%d", stage.name.value, os.getpid(),
             kafka.bootstrap_servers, kafka.topic(stage.source.name), kafka.topic(stage.sink.name),
             settings.metrics_host, settings.metrics_port)
    if stage.warm_up is not None:
        started = time.perf_counter()
        stage.warm_up()
        log.info("%s: warmed up in %.1f s", stage.name.value, time.perf_counter() - started)
    app, runner = build_app(stage, settings, kafka)
    runner.metrics.serve(settings.metrics_port, settings.metrics_host)
    # faust gives up when no broker answers at start; wait for one instead of crash-looping.
    wait_for_broker(kafka, timeout=None, on_wait=lambda: log.warning(
        "%s: no Kafka broker answers at %s yet; waiting", stage.name.value, kafka.bootstrap_servers))
    worker = faust.Worker(app, loglevel=settings.log_level, quiet=True)
    worker.execute_from_commandline()
