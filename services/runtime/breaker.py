"""The circuit breaker: halts a stage whose failures say that the stage itself, or its input stream, is broken
(like arroyo's DlqLimit), and never because of what happened to one article.

A dead letter has a reason (services.runtime.errors.Reason). Some reasons are the *article's own outcome*: a
404, a blocked address, a page too large, an unsupported type, an empty page. A news feed full of removed pages
is normal, and each such message is dead-lettered and the stage goes on, however many come in a row. Other
reasons say that the *stage or its input* is broken: a bug (``processing_error``), a producer sending garbage
(``malformed_json``, ``invalid_message``), the broker refusing outputs (``broker_unavailable``). Dead-lettering
on would bury every message in the DLQ, so the breaker counts only those: ``counted``, the documented setting
``NEWSFLOW_<SERVICE>_BREAKER_REASONS`` (default :data:`SYSTEMIC`).

The breaker trips *before* the dead letter that would cross a limit is produced, so that message is neither
dead-lettered nor committed: after a fix and a restart, processing resumes exactly there.

Limits (per stage process, 0 disables one), over the messages that say something about the stage (processed,
or dead-lettered for a counted reason; an article's own outcome is left out of both, so it neither trips the
breaker nor resets it): ``max_consecutive`` counted dead letters in a row, or a share of counted dead letters
above ``max_ratio`` among the last ``window`` such messages (checked only once ``window`` were seen).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from services.runtime.errors import Reason

# The reasons that say the stage or its input stream is broken (the default of BREAKER_REASONS).
SYSTEMIC: frozenset[Reason] = frozenset({
    Reason.processing_error,    # a bug in a step
    Reason.malformed_json,      # a producer sending bytes that are not JSON
    Reason.invalid_message,     # a producer sending JSON of another shape (wrong topic, wrong version)
    Reason.broker_unavailable,  # the broker not taking outputs, still after every retry
})


def restart_command(stage: str) -> str:
    """How to restart the processes of one service of the local stack (``deploy/local/stack.sh restart``), as
    the halt's log line and `newsflow status` say it."""
    return f"make restart SERVICE={stage}"


class CircuitOpen(Exception):
    """The stage must halt. ``rule``: which limit was crossed (``in_a_row`` or ``share``); ``reason``: the
    reason of the dead letter that would have crossed it."""

    def __init__(self, detail: str, rule: str, reason: Reason):
        super().__init__(detail)
        self.rule = rule
        self.reason = reason


@dataclass
class CircuitBreaker:
    """Counts a stage's dead letters for systemic reasons against its limits and raises CircuitOpen before the
    one that would cross them. Pure bookkeeping: it neither produces nor halts anything itself (the runner and
    the flow do), and an article's own outcome never counts."""

    max_consecutive: int = 50
    max_ratio: float = 0.5
    window: int = 200
    counted: frozenset[Reason] = SYSTEMIC
    consecutive: int = 0
    recent: deque = field(default_factory=deque)

    def before_dead_letter(self, reason: Reason) -> None:
        """Call before producing a dead letter for ``reason``; raises CircuitOpen when that dead letter would
        cross a limit. A reason that is not counted (an article's own outcome) changes nothing."""
        if reason not in self.counted:
            return
        if self.max_consecutive and self.consecutive + 1 >= self.max_consecutive:
            raise CircuitOpen(
                f"{self.consecutive + 1} systemic dead letters in a row, the last {reason.value} "
                f"(limit {self.max_consecutive})", "in_a_row", reason)
        if self.max_ratio and self.window and len(self.recent) + 1 >= self.window:
            last = list(self.recent)[-(self.window - 1):] + [True]
            share = sum(last) / len(last)
            if share > self.max_ratio:
                raise CircuitOpen(
                    f"{share:.0%} of the last {len(last)} messages dead-lettered for a systemic reason, the last "
                    f"{reason.value} (limit {self.max_ratio:.0%})", "share", reason)
        self._record(True)

    def processed(self) -> None:
        self._record(False)

    def _record(self, dead: bool) -> None:
        self.consecutive = self.consecutive + 1 if dead else 0
        self.recent.append(dead)
        while len(self.recent) > self.window:
            self.recent.popleft()
