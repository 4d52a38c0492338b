"""The stage runner: how every service turns one Kafka message into one output message or one dead letter.

    bytes --decode--> model --step--> model --(effect)--> produce to sink --> (offset committed by faust)
                 \\________________ any PermanentError / bug ______________/--> dead letter, then move on

The runner (:class:`StageRunner`) knows nothing of faust: it takes a :class:`Delivery` (payload bytes plus
transport metadata) and an injected ``send`` coroutine, so its behaviour is unit-tested without a broker.
:func:`run_service` binds it to a faust-streaming app (one agent, concurrency 1: faust-streaming issue 606)
and serves its metrics. Produces are awaited (``send_and_wait``) before the message counts as handled, and
faust commits only handled offsets (after flushing its producer): at-least-once, no auto-commit.
"""

from __future__ import annotations

import asyncio
import hashlib
import inspect
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Awaitable, Callable

from pydantic import ValidationError

from schemas import messages
from schemas.topics import TOPICS, Topic
from services.runtime.breaker import CircuitBreaker, CircuitOpen
from services.runtime.errors import PermanentError, Reason, TransientError
from services.runtime.metrics import StageMetrics
from services.runtime.settings import KafkaSettings, StageSettings

log = logging.getLogger("newsflow.stage")

SCHEMA_HEADER = "newsflow-schema"
TRUNCATED_BYTES = 64 * 1024  # inline part of an original too large to dead-letter whole
ATTEMPTS_HEADER = "newsflow-attempts"  # set by `newsflow dlq replay`: how many times this message failed before
Send = Callable[[str, bytes, bytes, list[tuple[str, bytes]]], Awaitable[Any]]


@dataclass(frozen=True)
class Delivery:
    """A consumed message: its bytes and where it came from (transport metadata, never in the payload)."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Stage:
    """What a service is: its name, its input and output topics, and its logic.

    ``step`` is the pure function of the input message (sync: run in a worker thread so parsing and NLP do
    not starve the event loop; async: awaited, for I/O-bound steps such as the fetcher's download).
    ``effect`` is the side effect applied to the step's output before it is produced (the indexer's store);
    it may return a changed output. ``observe`` records domain metrics of a produced output. ``warm_up``
    loads models before the first message, so that it does not pay for them.
    """

    name: messages.Stage
    source: Topic
    sink: Topic
    step: Callable[[Any], Any]
    effect: Callable[[Any], Any] | None = None
    observe: Callable[[Any, StageMetrics], None] | None = None
    warm_up: Callable[[], Any] | None = None


def decode(topic: Topic, value: bytes) -> messages.Message:
    """Parse bytes into the topic's model, or raise PermanentError(malformed_json | invalid_message)."""
    try:
        return topic.model.model_validate_json(value)
    except ValidationError as exc:
        errors = exc.errors(include_url=False)
        if any(e["type"] in ("json_invalid", "json_type") for e in errors):
            raise PermanentError(f"not valid UTF-8 JSON: {errors[0]['msg']}", Reason.malformed_json) from None
        detail = "; ".join(f"{'.'.join(map(str, e['loc'])) or '<root>'}: {e['msg']}" for e in errors[:5])
        raise PermanentError(f"does not match {topic.schema_id}: {detail}", Reason.invalid_message) from None


class StageRunner:
    def __init__(
        self,
        stage: Stage,
        settings: StageSettings,
        kafka: KafkaSettings,
        metrics: StageMetrics,
        send: Send,
        *,
        max_message_bytes: int = 10 * 1024 * 1024,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ):
        self.stage = stage
        self.settings = settings
        self.metrics = metrics
        self.send = send
        self.sink_name = kafka.topic(stage.sink.name)
        self.dlq_name = kafka.topic(TOPICS.dlq.name)
        self.max_message_bytes = max_message_bytes
        self.sleep = sleep
        self.positions: dict[tuple[str, int], int] = {}
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"{stage.name.value}-step")
        self._label = stage.name.value
        self.breaker = CircuitBreaker(settings.dlq_max_consecutive, settings.dlq_max_ratio, settings.dlq_window)
        metrics.consumed.labels(self._label, stage.source.name)
        metrics.produced.labels(self._label, stage.sink.name)

    async def handle(self, delivery: Delivery) -> messages.Message | messages.DeadLetter:
        """Process one delivery to its end: an output produced, or a dead letter produced. Never raises
        for a bad message; raises when the broker cannot take the output or the dead letter, and
        CircuitOpen when the circuit breaker halts the stage (that message is then not handled)."""
        m, label = self.metrics, self._label
        m.consumed.labels(label, self.stage.source.name).inc()
        m.in_progress.labels(label).inc()
        started = time.perf_counter()
        try:
            try:
                message = decode(self.stage.source, delivery.value)
                output = await self._with_retries(message)
                timing = messages.StageTiming(
                    stage=self.stage.name, seconds=time.perf_counter() - started, finished_at=_now()
                )
                output = output.with_timing(timing)
                value = output.to_bytes()
                if len(value) > self.max_message_bytes:
                    raise PermanentError(
                        f"output of {len(value)} bytes exceeds the {self.max_message_bytes}-byte message limit",
                        Reason.message_too_large,
                    )
                headers = [(SCHEMA_HEADER, self.stage.sink.schema_id.encode())]
                await self._produce(self.sink_name, output.article_id.encode(), value, headers)
            except PermanentError as exc:
                m.failed.labels(label, exc.reason.value, "permanent").inc()
                return await self._dead_letter(delivery, exc.reason, exc.detail, type(exc).__name__)
            except Exception as exc:  # a bug in a step: keep the message, keep running
                log.exception("%s: unexpected error on %s[%d]@%d", label, delivery.topic, delivery.partition, delivery.offset)
                m.failed.labels(label, Reason.processing_error.value, "permanent").inc()
                return await self._dead_letter(
                    delivery, Reason.processing_error, f"{type(exc).__name__}: {exc}", type(exc).__name__
                )
            self._handled(delivery)
            m.produced.labels(label, self.stage.sink.name).inc()
            self.breaker.processed()
            if self.stage.observe:
                self.stage.observe(output, m)
            return output
        finally:
            m.processing.labels(label).observe(time.perf_counter() - started)
            m.in_progress.labels(label).dec()
            m.last_processed.labels(label).set(time.time())

    async def _with_retries(self, message: messages.Message) -> messages.Message:
        attempts = self.settings.max_attempts
        for attempt in range(1, attempts + 1):
            try:
                output = await self._call(self.stage.step, message)
                if self.stage.effect is not None:
                    output = await self._call(self.stage.effect, output)
                return output
            except TransientError as exc:
                self.metrics.failed.labels(self._label, exc.reason.value, "transient").inc()
                if attempt == attempts:
                    raise PermanentError(f"{exc.detail} (still failing after {attempts} attempts)", exc.reason) from exc
                self.metrics.retried.labels(self._label, exc.reason.value).inc()
                delay = self.settings.retry_backoff_seconds * 2 ** (attempt - 1)
                log.warning("%s: transient failure (%s), retry %d/%d in %.1fs", self._label, exc.detail, attempt, attempts - 1, delay)
                await self.sleep(delay)
        raise AssertionError("unreachable")

    async def _produce(self, topic: str, key: bytes, value: bytes, headers: list[tuple[str, bytes]]) -> None:
        """Send and wait for the broker's acknowledgement. Broker trouble (TransientError from ``send``) is
        retried with capped backoff for as long as it lasts: it is never a reason to dead-letter a message.
        A PermanentError (the broker refuses the record, e.g. too large) propagates."""
        delay = self.settings.retry_backoff_seconds
        while True:
            try:
                return await self.send(topic, key, value, headers)
            except TransientError as exc:
                self.metrics.failed.labels(self._label, Reason.broker_unavailable.value, "transient").inc()
                self.metrics.retried.labels(self._label, Reason.broker_unavailable.value).inc()
                log.warning("%s: broker trouble sending to %s (%s); retrying in %.1fs", self._label, topic, exc.detail, delay)
                await self.sleep(delay)
                delay = min(delay * 2, 30.0)

    async def _call(self, fn: Callable[[Any], Any], arg: Any) -> Any:
        if inspect.iscoroutinefunction(fn):
            return await fn(arg)
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn, arg)

    async def _dead_letter(self, delivery: Delivery, reason: Reason, detail: str, error_class: str) -> messages.DeadLetter:
        try:
            self.breaker.before_dead_letter()
        except CircuitOpen:
            self.metrics.circuit_open.labels(self._label).set(1)
            raise
        attempts = _int(delivery.headers.get(ATTEMPTS_HEADER), 0) + 1
        letter = messages.DeadLetter(
            stage=self.stage.name,
            reason=reason.value,
            detail=detail[:2000],
            error_class=error_class,
            source_topic=delivery.topic,
            partition=delivery.partition,
            offset=delivery.offset,
            key=delivery.key,
            value=delivery.value,
            headers=delivery.headers,
            failed_at=_now(),
            attempts=attempts,
        )
        headers = [
            (SCHEMA_HEADER, TOPICS.dlq.schema_id.encode()),
            ("newsflow-stage", self._label.encode()),
            ("newsflow-reason", reason.value.encode()),
            ("newsflow-error-class", error_class.encode()),
            ("newsflow-source", f"{delivery.topic}/{delivery.partition}/{delivery.offset}".encode()),
            (ATTEMPTS_HEADER, str(attempts).encode()),
        ]
        log.warning("%s: dead-lettered %s[%d]@%d: %s: %s", self._label, delivery.topic, delivery.partition,
                    delivery.offset, reason.value, detail[:300])
        value = letter.to_bytes()
        if len(value) > self.max_message_bytes:
            # The original stays in its source topic: the dead letter carries it by reference (topic,
            # partition, offset) with its size and digest, and only its first bytes inline.
            letter = letter.model_copy(update={
                "value": delivery.value[:TRUNCATED_BYTES], "value_truncated": True, "value_size": len(delivery.value),
                "value_sha256": hashlib.sha256(delivery.value).hexdigest(),
            })
            value = letter.to_bytes()
        await self._produce(self.dlq_name, delivery.key or b"", value, headers)
        self._handled(delivery)
        self.metrics.dead_lettered.labels(self._label, reason.value).inc()
        return letter

    def _handled(self, delivery: Delivery) -> None:
        self.positions[(delivery.topic, delivery.partition)] = delivery.offset + 1

    def forget(self, revoked_partitions: list[tuple[str, int]]) -> None:
        """Drop positions (and lag series) of partitions this process no longer owns."""
        for topic, partition in revoked_partitions:
            self.positions.pop((topic, partition), None)
            try:
                self.metrics.lag.remove(self._label, self.stage.source.name, str(partition))
            except KeyError:
                pass

    def update_lag(
        self, highwaters: dict[tuple[str, int], int | None], fallback: dict[tuple[str, int], int | None]
    ) -> None:
        """Set the lag gauge of each assigned (topic, partition): high watermark minus the next offset to
        process (ours once we handled a message there, else the consumer's position)."""
        for tp, highwater in highwaters.items():
            position = self.positions.get(tp, fallback.get(tp))
            if highwater is None or position is None:
                continue
            self.metrics.lag.labels(self._label, self.stage.source.name, str(tp[1])).set(max(highwater - position, 0))


def _int(value: str | None, default: int) -> int:
    try:
        return int(value) if value is not None else default
    except ValueError:
        return default


def _now() -> datetime:
    return datetime.now(timezone.utc)
