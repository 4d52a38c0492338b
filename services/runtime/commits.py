"""In-order commit tracking: which offsets may be committed when messages finish in any order.

A message is *finished* when its output (or its dead letter) was acknowledged by the broker. Its offset may be
committed only when it and every earlier message of its partition are finished, whatever order they finished
in; so a finished message behind a slow one is held back ("awaiting commit") until the slow one finishes:

    partition 3:   40 ✓   41 …   42 ✓   43 ✓        finished(41)  ->  releases 41, 42, 43: commit 44
                          ^ the head

The tracker is pure bookkeeping (no Kafka): ``taken`` in offset order per partition, ``finished`` in any order;
``finished`` returns the tokens (the transport's handles of those messages, e.g. faust events) that became
committable, in offset order, for the caller to acknowledge. Unit-tested in tests/unit/test_flow.py.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Generic, TypeVar

TP = tuple[str, int]
Token = TypeVar("Token")


class CommitTracker(Generic[Token]):
    """Per partition, the messages taken and not yet committable; says which became committable when one
    finishes. Bookkeeping only: it never acks or commits (its caller does), and it refuses offsets taken out
    of order."""

    def __init__(self) -> None:
        # per partition: offset -> [token, finished], in offset order (messages are taken in order)
        self._pending: dict[TP, OrderedDict[int, list]] = {}
        self._positions: dict[TP, int] = {}
        self.awaiting = 0  # finished, held behind an unfinished earlier message

    def taken(self, tp: TP, offset: int, token: Token) -> None:
        pending = self._pending.setdefault(tp, OrderedDict())
        if pending and offset <= next(reversed(pending)):
            raise ValueError(f"{tp}: offset {offset} taken after {next(reversed(pending))} (must increase)")
        pending[offset] = [token, False]

    def finished(self, tp: TP, offset: int) -> list[Token]:
        """Mark ``offset`` finished; return the tokens now committable, in offset order (often none)."""
        pending = self._pending.get(tp)
        if pending is None or offset not in pending:
            return []  # a partition revoked meanwhile (forget), or unknown: nothing to commit here
        pending[offset][1] = True
        self.awaiting += 1
        released: list[Token] = []
        while pending:
            head_offset, (token, done) = next(iter(pending.items()))
            if not done:
                break
            pending.popitem(last=False)
            released.append(token)
            self._positions[tp] = head_offset + 1
        self.awaiting -= len(released)
        return released

    def position(self, tp: TP) -> int | None:
        """The next offset to commit on ``tp`` (one past the last released), None before any."""
        return self._positions.get(tp)

    def in_flight(self) -> int:
        return sum(len(p) for p in self._pending.values())

    def forget(self, tps: list[TP]) -> None:
        """Drop partitions this process no longer owns: their messages are never acknowledged by us (the new
        owner re-reads them from the last commit: at-least-once)."""
        for tp in tps:
            pending = self._pending.pop(tp, None)
            if pending:
                self.awaiting -= sum(1 for _, done in pending.values() if done)
            self._positions.pop(tp, None)

