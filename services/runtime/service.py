"""Binds a :class:`~services.runtime.stage.Stage` to a faust-streaming worker: the Kafka edge of every service.

One agent per service (concurrency 1), taking *windows* with ``stream.noack_take(window_size, window_ms)``: up
to N messages or T ms at once, never acked by faust itself. The window goes to a :class:`~services.runtime.flow.Flow`
(many messages in flight, key order, backpressure), which acks each message to faust only when it and every
earlier message of its partition have their output or dead letter acknowledged by the broker; faust commits
acked offsets. Acking strictly in offset order also keeps faust's own gap handling (faust-streaming issue 606:
it can commit past an unacked message when acks arrive out of order) out of play.

Scale out with partitions and more processes of the same service, which join the same consumer group
(``newsflow-<stage>``); each serves its metrics on its configured port, or a free one when that is taken, and
announces it (services.runtime.discovery). At-least-once: ``processing_guarantee`` stays ``at_least_once``
(exactly_once has open duplicate bugs) and the indexer is idempotent. SIGTERM: faust's worker stops the agent,
waits for the messages in flight to be acked (``stream_wait_empty``), commits, exits.

Wiring only: no message is decoded, stepped or dead-lettered here (services.runtime.stage does that), and
nothing here reads the environment (the settings objects arrive by argument).
"""

from __future__ import annotations

import asyncio
import ctypes
import logging
import os
import ssl
import time

import faust
from aiokafka import errors as kafka_errors

from schemas.topics import TOPICS
from services.runtime import discovery
from services.runtime.breaker import CircuitOpen, restart_command
from services.runtime.clients import wait_for_broker
from services.runtime.flow import Flow
from services.runtime.errors import PermanentError, Reason, TransientError
from services.runtime.metrics import stage_metrics
from services.runtime.settings import KafkaSettings, StageSettings
from services.runtime.stage import Delivery, Send, Stage, StageRunner

log = logging.getLogger("newsflow.service")
EXIT_HALTED = 3  # exit status of a service stopped while halted (circuit breaker open, or an undeliverable outcome)


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
    """The faust app of one stage: its runner fed by one agent through a Flow, and the lag kept current."""
    label = stage.name.value
    app = faust_app(label, settings, kafka)
    runner = StageRunner(stage, settings, kafka, stage_metrics(label), _sender(app))
    flow: Flow = Flow(runner, settings.max_in_flight, ack=lambda event: event.ack(),
                      on_halt=lambda exc, delivery: app.loop.create_task(_halt(app, label, exc, delivery)))
    source = app.topic(kafka.topic(stage.source.name), key_serializer="raw", value_serializer="raw")

    @app.agent(source, concurrency=1, name=f"newsflow.{label}")
    async def process(stream):
        async for events in stream.noack_take(settings.window_size, within=settings.window_ms / 1000):
            await flow.admit([(_delivery(event.message), event) for event in events])

    _watch_partitions(app, label, settings, runner, flow)
    return app, runner


def faust_app(label: str, settings: StageSettings, kafka: KafkaSettings) -> faust.App:
    """The faust app of the stage ``label``: its consumer group, at-least-once, no auto-ack, bounded buffers."""
    (settings.data_dir / label).mkdir(parents=True, exist_ok=True)
    return faust.App(
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
        producer_max_request_size=TOPICS.max_message_bytes,
        topic_replication_factor=kafka.replication_factor,  # for faust's internal leader-election topic
        topic_allow_declare=True,
        topic_partitions=kafka.partitions or 8,  # only for topics faust would declare itself (its own)
        stream_wait_empty=True,
        # the stream's own buffer: what faust prefetches beyond the windows we hold (memory stays bounded)
        stream_buffer_maxsize=max(settings.window_size, 16),
        producer_linger=0.005,  # records produced within 5 ms share a request (many are in flight)
    )


def _sender(app: faust.App) -> Send:
    async def send(topic: str, key: bytes, value: bytes, headers: list[tuple[str, bytes]]):
        """Enqueue one record; returns the awaitable of its broker acknowledgement (errors mapped on both)."""
        try:
            acknowledgement = await app.producer.send(topic, key, value, None, None, headers)
        except Exception as exc:  # noqa: BLE001 - mapped below
            raise _produce_error(exc, value) from None
        return _mapped(acknowledgement, value)

    return send


def _delivery(message) -> Delivery:
    """A faust message as the runner's Delivery (bytes and transport metadata)."""
    return Delivery(
        topic=message.topic,
        partition=message.partition,
        offset=message.offset,
        key=message.key,
        value=message.value if message.value is not None else b"",
        headers={k: _header(v) for k, v in (message.headers or [])},
    )


async def _halt(app: faust.App, label: str, exc: BaseException, delivery: Delivery) -> None:
    """Stop taking messages, and never let the halted message be acked (so never committed). The process
    stays up (metrics, heartbeats, its partitions) until told to stop, so the halt is visible and no other
    instance takes over the same poison; restart it after a fix to resume at this message. On SIGTERM
    it exits at once with EXIT_HALTED: a clean stop would wait for the halted message for ever."""
    reason = f"circuit breaker open ({exc})" if isinstance(exc, CircuitOpen) else f"{type(exc).__name__}: {exc}"
    log.critical("%s: %s at %s[%d]@%d; HALTED, nothing from there on is committed. Inspect with `newsflow dlq "
                 "list --stage %s`, fix the cause, then restart this service (%s): it resumes at that message.",
                 label, reason, delivery.topic, delivery.partition, delivery.offset, label, restart_command(label))
    while not app.should_stop:
        await asyncio.sleep(0.5)
    log.critical("%s: stopping while halted; exit %d", label, EXIT_HALTED)
    logging.shutdown()
    os._exit(EXIT_HALTED)


def _watch_partitions(app: faust.App, label: str, settings: StageSettings, runner: StageRunner, flow: Flow) -> None:
    """Refresh the lag gauge every ``lag_interval_seconds``; forget revoked partitions (flow and lag series)."""

    @app.timer(interval=settings.lag_interval_seconds, on_leader=False)
    async def refresh_lag():
        # A faust timer that raises crashes the whole app: while the broker is away (offset requests time
        # out after 90 s), keep the last lag values and try again at the next tick.
        assigned = list(app.consumer.assignment())
        if not assigned:
            return
        try:
            highwaters = await asyncio.wait_for(app.consumer.highwaters(*assigned), 30)
            positions = {}
            for tp in assigned:
                ours = flow.position((tp.topic, tp.partition))
                positions[(tp.topic, tp.partition)] = ours if ours is not None else await app.consumer.position(tp)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - broker trouble; the lag gauge just goes stale
            log.warning("%s: cannot read high watermarks (%s: %s); lag not refreshed", label, type(exc).__name__, exc)
            return
        runner.update_lag({(tp.topic, tp.partition): hw for tp, hw in highwaters.items()}, positions)

    @app.on_partitions_revoked.connect
    async def forget_revoked(app_, revoked, **kwargs):  # noqa: ARG001
        tps = [(tp.topic, tp.partition) for tp in revoked]
        flow.forget(tps)
        runner.forget(revoked_partitions=tps)


def _produce_error(exc: BaseException, value: bytes) -> BaseException:
    """A producer exception as the runner's error: the broker refusing the record is permanent (dead-letter
    it), any other Kafka trouble transient (retried for as long as it lasts)."""
    if isinstance(exc, (kafka_errors.MessageSizeTooLargeError, kafka_errors.RecordTooLargeError,
                        kafka_errors.RecordListTooLargeError)):
        return PermanentError(f"the broker refused a {len(value)}-byte record: {exc!r}", Reason.message_too_large)
    if isinstance(exc, kafka_errors.KafkaError):
        return TransientError(f"{type(exc).__name__}: {exc}", Reason.broker_unavailable)
    return exc


async def _mapped(acknowledgement, value: bytes):
    try:
        return await acknowledgement
    except Exception as exc:  # noqa: BLE001
        raise _produce_error(exc, value) from None


def _header(value: bytes | None) -> str:
    return (value or b"").decode("utf-8", "replace")


def one_malloc_arena() -> bool:
    """Ask glibc for one malloc arena. The step runs in a worker thread, and glibc gives every thread an arena
    of its own that keeps what it freed: measured on the extractor, 253 MB RSS with the batches in the main
    thread, 430-440 MB in a worker thread, 253 MB in a worker thread with one arena (the GIL serialises
    allocation anyway). Must run before the worker threads start; a no-op off glibc."""
    try:
        return bool(ctypes.CDLL("libc.so.6").mallopt(-8, 1))  # M_ARENA_MAX = 1
    except (OSError, AttributeError):
        return False


def run_service(stage: Stage, settings: StageSettings, kafka: KafkaSettings | None = None) -> None:
    """Entry point of every ``python -m services.<name>``: serve metrics, run the faust worker until SIGTERM."""
    one_malloc_arena()
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
    port = runner.metrics.serve(settings.metrics_port, settings.metrics_host)
    if port:
        if port != settings.metrics_port:
            log.warning("%s: metrics port %d is taken (another process of this service?); serving on %d",
                        stage.name.value, settings.metrics_port, port)
        discovery.announce(settings.targets_dir, stage.name.value, settings.metrics_host, port)
        log.info("%s: metrics on http://%s:%d/metrics (announced in %s)", stage.name.value,
                 settings.metrics_host, port, settings.targets_dir)
    # faust gives up when no broker answers at start; wait for one instead of crash-looping.
    wait_for_broker(kafka, timeout=None, on_wait=lambda: log.warning(
        "%s: no Kafka broker answers at %s yet; waiting", stage.name.value, kafka.bootstrap_servers))
    worker = faust.Worker(app, loglevel=settings.log_level, quiet=True)
    worker.execute_from_commandline()
