"""The error tree every stage uses. Two kinds, and nothing else decides what happens to a message:

    StageError
    ├── PermanentError   the message itself is bad: dead-letter it (with its reason) and move on
    └── TransientError   the world is in trouble (HTTP 5xx, timeouts, the broker): back off and retry

Any other exception escaping a step is a bug; the runner dead-letters the message as ``processing_error``
with the exception class, so that one poison message can neither be lost nor crash-loop a service. Steps raise
these; they never catch them to dead-letter or retry by themselves (the runner does both).
"""

from __future__ import annotations

import enum


class Reason(str, enum.Enum):
    """Bounded set of failure reasons: the ``reason`` label of metrics and the dead letter's ``reason``.

    Most are an article's own outcome (a 404, a blocked address, an empty page: that one article's fate). A few
    say that the stage or its input stream is broken (processing_error, malformed_json, invalid_message,
    broker_unavailable): only those count towards the circuit breaker (services.runtime.breaker.SYSTEMIC,
    setting ``NEWSFLOW_<SERVICE>_BREAKER_REASONS``)."""

    malformed_json = "malformed_json"            # bytes are not JSON (or not UTF-8)
    invalid_message = "invalid_message"          # JSON that does not validate against the topic's model
    blocked_address = "blocked_address"          # URL host resolves to a loopback/private/link-local address
    invalid_url = "invalid_url"                  # unsupported scheme, no host, unresolvable host
    http_status = "http_status"                  # 4xx answer (404, 410, 403, ...)
    http_unavailable = "http_unavailable"        # 5xx/429/timeouts still failing after every retry
    too_large = "too_large"                      # body over the configured maximum
    too_many_redirects = "too_many_redirects"
    robots_disallowed = "robots_disallowed"      # the host's robots.txt disallows the URL for the fetcher
    unsupported_content = "unsupported_content"  # content type that is neither HTML nor text
    empty_content = "empty_content"              # nothing left to process (empty page, no article text)
    message_too_large = "message_too_large"      # output larger than the broker accepts
    processing_error = "processing_error"        # unexpected exception in a step: a bug, kept for replay
    broker_unavailable = "broker_unavailable"    # transient only: the broker did not take a produce; retried


class StageError(Exception):
    """Base of the two errors a step may raise, with its ``reason`` and a human ``detail``. Never raised as
    itself: raise PermanentError or TransientError, which say what the runner must do."""

    reason: Reason = Reason.processing_error

    def __init__(self, detail: str, reason: Reason | None = None):
        super().__init__(detail)
        self.detail = detail
        if reason is not None:
            self.reason = reason


class PermanentError(StageError):
    """This message can never be processed as it is; dead-letter it."""


class TransientError(StageError):
    """Trouble outside the message; retrying later may succeed."""

    reason = Reason.http_unavailable
