"""Many messages in flight, at-least-once kept: the steps between taking a window and committing its offsets.

    window of deliveries (the transport takes up to N messages or T ms)
      └─► InFlight slots      backpressure: at most ``max_in_flight`` messages being processed per process
           └─► KeyOrder        messages with the same key one after another, in offset order
                └─► runner.handle   decode, step (batched in a worker thread, or awaited), produce; the output's
                                    or dead letter's broker acknowledgement awaited by this message alone
                     └─► CommitTracker  an offset becomes committable when it and every earlier one of its
                                        partition are finished; those messages are then acked to the transport
                                        in offset order (faust commits acked offsets)

Each step is its own small piece (services.runtime.ordering, .commits, .batching), unit-tested alone; this
module only composes them. A message that finished is released from its slot at once, and waits (as a small
entry in the tracker) only for its partition's earlier messages before it is acked.

When the circuit breaker opens (CircuitOpen from ``handle``), the message that tripped it is never finished:
nothing at or past it on its partition is committed; the runner exports the halt (where, and why: see
``StageRunner.halted``), ``on_halt`` is called once, and the flow stops admitting windows. An unexpected
exception out of ``handle`` (it dead-letters bad messages itself, so this is the broker refusing a dead letter)
halts the same way: nothing is acked that was not delivered.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Callable, Generic, TypeVar

from services.runtime.breaker import CircuitOpen
from services.runtime.commits import CommitTracker
from services.runtime.ordering import KeyOrder
from services.runtime.stage import Delivery, StageRunner

log = logging.getLogger("newsflow.flow")
Token = TypeVar("Token")


class Flow(Generic[Token]):
    """Admits windows of deliveries into the runner, many at once but one key at a time, and acks each message
    to the transport only once it and every earlier one of its partition are finished. It never processes a
    message itself (the runner does) and never acks one that was not finished."""

    def __init__(
        self,
        runner: StageRunner,
        max_in_flight: int,
        ack: Callable[[Token], Any],
        on_halt: Callable[[BaseException, Delivery], None],
    ):
        self.runner = runner
        self.max_in_flight = max_in_flight
        self.ack = ack
        self.on_halt = on_halt
        self.slots = asyncio.Semaphore(max_in_flight)
        self.order = KeyOrder()
        self.commits: CommitTracker[Token] = CommitTracker()
        self.halted: BaseException | None = None
        self.tasks: set[asyncio.Task] = set()
        self.processing = 0
        m, label = runner.metrics, runner.stage.name.value
        self._in_flight = m.in_flight.labels(label)
        self._awaiting = m.awaiting_commit.labels(label)
        self._window = m.window.labels(label)
        m.max_in_flight.labels(label).set(max_in_flight)

    async def admit(self, window: list[tuple[Delivery, Token]]) -> None:
        """Start every message of ``window``; returns once each has a slot (waits while the process is full).
        Messages of one partition must be admitted in offset order (the transport delivers them so)."""
        if self.halted is not None:
            return  # halted: nothing more is taken (and nothing of it acked)
        self._window.observe(len(window))
        for delivery, token in window:
            await self.slots.acquire()
            if self.halted is not None:
                self.slots.release()
                return
            self.commits.taken((delivery.topic, delivery.partition), delivery.offset, token)
            turn = self.order.turn(delivery.key)  # claimed now, in offset order
            self.processing += 1
            self._gauges()
            task = asyncio.get_running_loop().create_task(self._run(delivery, turn))
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)

    async def _run(self, delivery: Delivery, turn) -> None:
        try:
            async with turn:
                await self.runner.handle(delivery)
        except asyncio.CancelledError:
            raise
        except BaseException as exc:  # noqa: BLE001 - CircuitOpen, or the broker refusing a dead letter
            self._halt(exc, delivery)
            await asyncio.Event().wait()  # never finished, never acked; holds its key and slot until exit
        finally:
            self.processing -= 1
        self.slots.release()
        for token in self.commits.finished((delivery.topic, delivery.partition), delivery.offset):
            self.ack(token)
        self._gauges()

    def _halt(self, exc: BaseException, delivery: Delivery) -> None:
        if self.halted is None:
            self.halted = exc
            self.runner.halted(exc, delivery)
            if not isinstance(exc, CircuitOpen):
                log.critical("%s: cannot deliver the outcome of %s[%d]@%d (%s: %s); halting",
                             self.runner.stage.name.value, delivery.topic, delivery.partition, delivery.offset,
                             type(exc).__name__, exc)
            self.on_halt(exc, delivery)

    def _gauges(self) -> None:
        self._in_flight.set(self.processing + self.commits.awaiting)
        self._awaiting.set(self.commits.awaiting)

    def position(self, tp: tuple[str, int]) -> int | None:
        """Next offset to commit on ``tp`` (for the lag gauge)."""
        return self.commits.position(tp)

    def forget(self, tps: list[tuple[str, int]]) -> None:
        self.commits.forget(tps)
        self._gauges()
