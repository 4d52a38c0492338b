"""The stage runner: how every service turns one Kafka message into one output message or one dead letter.

    bytes --decode--> model --step--> model --(effect)--> produce to sink, broker ack --> finished
                 \\________________ any PermanentError / bug ______________/--> dead letter, broker ack --> finished

The runner (:class:`StageRunner`) knows nothing of faust: it takes a :class:`Delivery` (payload bytes plus
transport metadata) and an injected ``send`` coroutine, so its behaviour is unit-tested without a broker.
Many deliveries are handled at once (services.runtime.flow: windows, backpressure, key order, in-order
commits); a synchronous step runs in one worker thread, micro-batched (services.runtime.batching: the stage's
``step_batch`` sees the messages that arrived together), an async step (the fetcher's download) is awaited.
``send`` may return the broker's acknowledgement as an awaitable (produce pipelined: the message awaits its own
acknowledgement while others proceed); a message is finished only once it is acknowledged.
:func:`services.runtime.service.run_service` binds this to a faust-streaming app and serves its metrics.
"""

from __future__ import annotations

import asyncio
import hashlib
import inspect
import logging
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from typing import Any, Awaitable, Callable

from pydantic import ValidationError

from schemas import headers as header, messages
from schemas.topics import TOPICS, Topic
from services.runtime.batching import Batcher, one_by_one
from services.runtime.breaker import CircuitBreaker, CircuitOpen
from services.runtime.errors import PermanentError, Reason, StageError, TransientError
from services.runtime.metrics import StageMetrics
from services.runtime.settings import KafkaSettings, StageSettings

log = logging.getLogger("newsflow.stage")

TRUNCATED_BYTES = 64 * 1024  # inline part of an original too large to dead-letter whole
# send(topic, key, value, headers): enqueue a record; returns None once acknowledged, or an awaitable of the
# broker's acknowledgement. Raises TransientError (broker trouble: retried) or PermanentError (refused).
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

    def dead_letter(self, **why: Any) -> messages.DeadLetter:
        """This delivery as a dead letter: its bytes and where they came from, with ``why`` (stage, reason,
        detail, error_class, attempts)."""
        where = asdict(self)
        where["source_topic"] = where.pop("topic")
        return messages.DeadLetter(**where, **why, failed_at=_now())


@dataclass(frozen=True)
class Stage:
    """What a service is: its name, its input and output topics, and its logic.

    ``step`` is the pure function of the input message (sync: run in a worker thread so parsing and NLP do
    not starve the event loop; async: awaited, for I/O-bound steps such as the fetcher's download).
    ``step_batch`` (sync steps only, optional) is the same function over a list: one result per message, in
    order, a failed message's exception in its slot; the runner calls it with the messages that arrived together.
    ``effect`` is the side effect applied to the step's output before it is produced (the indexer's store);
    it may return a changed output. ``observe`` records domain metrics of a produced output. ``warm_up``
    loads models before the first message, so that it does not pay for them. ``watch`` registers gauges read
    at scrape time (the fetcher's fetches in flight per host).
    """

    name: messages.StageName
    source: Topic
    sink: Topic
    step: Callable[[Any], Any]
    step_batch: Callable[[list[Any]], list[Any]] | None = None
    effect: Callable[[Any], Any] | None = None
    observe: Callable[[Any, StageMetrics], None] | None = None
    watch: Callable[[StageMetrics], None] | None = None
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
    """Runs one stage's :class:`Stage` over deliveries: decode, step (with retries), produce, or dead-letter; counts
    all of it in the stage's metrics and halts through its circuit breaker. It never talks to Kafka itself (the
    injected ``send`` does), never acks or commits (services.runtime.flow does), and never drops a message: each
    ends as an output or a dead letter, or the stage halts at it."""

    def __init__(
        self,
        stage: Stage,
        settings: StageSettings,
        kafka: KafkaSettings,
        metrics: StageMetrics,
        send: Send,
        *,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ):
        self.stage = stage
        self.settings = settings
        self.metrics = metrics
        self.send = send
        self.sink_name = kafka.topic(stage.sink.name)
        self.dlq_name = kafka.topic(TOPICS.dlq.name)
        # the largest output and dead letter the broker takes, from the topic registry
        self.sink_limit = stage.sink.max_message_bytes
        self.dlq_limit = TOPICS.dlq.max_message_bytes
        self.sleep = sleep
        self._label = stage.name.value
        self.batcher = Batcher(lambda items: self._batch_fn()(items), max_batch=settings.window_size, name=self._label)
        self.breaker = CircuitBreaker(settings.dlq_max_consecutive, settings.dlq_max_ratio, settings.dlq_window,
                                      counted=settings.breaker_reasons)
        if stage.watch is not None:
            stage.watch(metrics)
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
                if len(value) > self.sink_limit:
                    raise PermanentError(
                        f"output of {len(value)} bytes exceeds the {self.sink_limit}-byte message limit",
                        Reason.message_too_large,
                    )
                headers = [(header.SCHEMA, self.stage.sink.schema_id.encode())]
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
            m.produced.labels(label, self.stage.sink.name).inc()
            self.breaker.processed()
            if self.stage.observe:
                self.stage.observe(output, m)
            return output
        finally:
            m.processing.labels(label).observe(time.perf_counter() - started)
            m.in_progress.labels(label).dec()
            m.last_processed.labels(label).set(time.time())

    def _async_step(self) -> bool:
        return inspect.iscoroutinefunction(self.stage.step)

    def _batch_fn(self):
        """What the worker thread runs for a batch of messages: the step (batched when the stage can), then the
        effect of each output; one result or exception per message."""
        step_batch = self.stage.step_batch or one_by_one(self.stage.step)
        effect = self.stage.effect
        if self._async_step():
            step_batch = lambda outputs: list(outputs)  # noqa: E731 - the async step ran on the loop already
        if effect is None:
            return step_batch
        apply_effect = one_by_one(effect)

        def batch(items: list[Any]) -> list[Any]:
            results = list(step_batch(items))
            done = [i for i, r in enumerate(results) if not isinstance(r, BaseException)]
            for i, applied in zip(done, apply_effect([results[i] for i in done]), strict=True):
                results[i] = applied
            return results

        return batch

    async def _with_retries(self, message: messages.Message) -> messages.Message:
        attempts = self.settings.max_attempts
        for attempt in range(1, attempts + 1):
            try:
                if self._async_step():
                    output = await self.stage.step(message)
                    if self.stage.effect is not None:
                        output = await self.batcher.submit(output)
                    return output
                return await self.batcher.submit(message)
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
                acknowledgement = await self.send(topic, key, value, headers)
                if inspect.isawaitable(acknowledgement):
                    await acknowledgement
                return
            except TransientError as exc:
                self.metrics.failed.labels(self._label, Reason.broker_unavailable.value, "transient").inc()
                self.metrics.retried.labels(self._label, Reason.broker_unavailable.value).inc()
                log.warning("%s: broker trouble sending to %s (%s); retrying in %.1fs", self._label, topic, exc.detail, delay)
                await self.sleep(delay)
                delay = min(delay * 2, 30.0)

    async def _dead_letter(self, delivery: Delivery, reason: Reason, detail: str, error_class: str) -> messages.DeadLetter:
        try:
            self.breaker.before_dead_letter(reason)
        except CircuitOpen:
            self.metrics.circuit_open.labels(self._label).set(1)
            raise
        attempts = _int(delivery.headers.get(header.ATTEMPTS), 0) + 1
        letter = delivery.dead_letter(stage=self.stage.name, reason=reason.value, detail=detail[:2000],
                                      error_class=error_class, attempts=attempts)
        headers = [
            (header.SCHEMA, TOPICS.dlq.schema_id.encode()),
            (header.STAGE, self._label.encode()),
            (header.REASON, reason.value.encode()),
            (header.ERROR_CLASS, error_class.encode()),
            (header.SOURCE, f"{delivery.topic}/{delivery.partition}/{delivery.offset}".encode()),
            (header.ATTEMPTS, str(attempts).encode()),
        ]
        log.warning("%s: dead-lettered %s[%d]@%d: %s: %s", self._label, delivery.topic, delivery.partition,
                    delivery.offset, reason.value, detail[:300])
        value = letter.to_bytes()
        if len(value) > self.dlq_limit:
            # The original stays in its source topic: the dead letter carries it by reference (topic,
            # partition, offset) with its size and digest, and only its first bytes inline.
            letter = letter.model_copy(update={
                "value": delivery.value[:TRUNCATED_BYTES], "value_truncated": True, "value_size": len(delivery.value),
                "value_sha256": hashlib.sha256(delivery.value).hexdigest(),
            })
            value = letter.to_bytes()
        await self._produce(self.dlq_name, delivery.key or b"", value, headers)
        self.metrics.dead_lettered.labels(self._label, reason.value).inc()
        return letter

    def halted(self, exc: BaseException, delivery: Delivery) -> None:
        """Export that the stage halts at ``delivery`` because of ``exc`` (CircuitOpen from :meth:`handle`, or
        any other exception out of it: an outcome the broker would not take): newsflow_circuit_open and
        newsflow_halted_offset, read by `newsflow status`, the dashboard and the CircuitBreakerOpen alert."""
        if isinstance(exc, CircuitOpen):
            cause, reason = f"breaker_{exc.rule}", exc.reason
        else:
            cause = "undeliverable"
            reason = exc.reason if isinstance(exc, StageError) else Reason.processing_error
        self.metrics.halted(cause, reason.value, self.stage.source.name, delivery.partition, delivery.offset)

    def forget(self, revoked_partitions: list[tuple[str, int]]) -> None:
        """Drop the lag series of partitions this process no longer owns."""
        for topic, partition in revoked_partitions:
            try:
                self.metrics.lag.remove(self._label, self.stage.source.name, str(partition))
            except KeyError:
                pass

    def update_lag(
        self, highwaters: dict[tuple[str, int], int | None], positions: dict[tuple[str, int], int | None]
    ) -> None:
        """Set the lag gauge of each assigned (topic, partition): high watermark minus the next offset to
        commit there (after the last message finished in order, else the consumer's position). ``highwaters``
        holds the whole current assignment: the series of any other partition (moved to another process by a
        rebalance whose revocation this process did not see) are dropped, so lag summed over processes counts
        each partition once."""
        source = self.stage.source.name
        assigned = {partition for _topic, partition in highwaters}
        shown = {int(s.labels["partition"]) for s in next(iter(self.metrics.lag.collect())).samples}
        self.forget([(source, partition) for partition in shown - assigned])
        for tp, highwater in highwaters.items():
            position = positions.get(tp)
            if highwater is None or position is None:
                continue
            self.metrics.lag.labels(self._label, source, str(tp[1])).set(max(highwater - position, 0))


def _int(value: str | None, default: int) -> int:
    try:
        return int(value) if value is not None else default
    except ValueError:
        return default


def _now() -> datetime:
    return datetime.now(timezone.utc)
