"""The names of the Kafka headers newsflow writes, each declared once.

Producers (the stage runner, ``newsflow push``), the runner's dead letters and ``newsflow dlq replay`` set them;
tools and tests read them. Headers repeat what is useful for filtering without parsing a payload; they never
carry what only a header would know (the payload stays complete on its own). Names only: no Kafka, no I/O.
"""

from __future__ import annotations

SCHEMA = "newsflow-schema"  # every message: its model and version, e.g. IngestRequest/v1 (Topic.schema_id)
ATTEMPTS = "newsflow-attempts"  # dead letters and replays: how many times this message failed before

# Dead letters repeat these from the payload, for filtering.
STAGE = "newsflow-stage"  # the stage that failed (StageName)
REASON = "newsflow-reason"  # why (services.runtime.errors.Reason)
ERROR_CLASS = "newsflow-error-class"  # the exception's class
SOURCE = "newsflow-source"  # where the original is: topic/partition/offset

# `newsflow dlq replay` sets these on every message it re-sends.
REPLAYED_AT = "newsflow-replayed-at"  # when (ISO 8601)
REPLAYED_FROM = "newsflow-replayed-from"  # the dead letter it came from: dlq topic/offset
