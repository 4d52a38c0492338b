"""The circuit breaker: halts a stage that dead-letters too much (like arroyo's DlqLimit).

A stage that suddenly dead-letters everything usually has a bug or a broken dependency, not a flood of bad
input; dead-lettering on would bury every message in the DLQ. The breaker trips *before* the dead letter that
would cross a limit is produced, so that message is neither dead-lettered nor committed: after a fix and a
restart, processing resumes exactly there.

Limits (per stage process, 0 disables one): ``max_consecutive`` dead letters in a row, or a share of dead
letters above ``max_ratio`` among the last ``window`` messages (checked only once ``window`` were seen).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field


class CircuitOpen(Exception):
    """The stage must halt: too many dead letters."""


@dataclass
class CircuitBreaker:
    max_consecutive: int = 50
    max_ratio: float = 0.5
    window: int = 200
    consecutive: int = 0
    recent: deque = field(default_factory=deque)

    def before_dead_letter(self) -> None:
        """Call before producing a dead letter; raises CircuitOpen when that dead letter would cross a limit."""
        if self.max_consecutive and self.consecutive + 1 >= self.max_consecutive:
            raise CircuitOpen(f"{self.consecutive + 1} consecutive dead letters (limit {self.max_consecutive})")
        if self.max_ratio and self.window and len(self.recent) + 1 >= self.window:
            last = list(self.recent)[-(self.window - 1):] + [True]
            share = sum(last) / len(last)
            if share > self.max_ratio:
                raise CircuitOpen(f"{share:.0%} of the last {len(last)} messages dead-lettered (limit {self.max_ratio:.0%})")
        self._record(True)

    def processed(self) -> None:
        self._record(False)

    def _record(self, dead: bool) -> None:
        self.consecutive = self.consecutive + 1 if dead else 0
        self.recent.append(dead)
        while len(self.recent) > self.window:
            self.recent.popleft()
