"""Every metric newsflow exports, in one documented list, :data:`METRICS` (mirrored in the README's Metrics section).

Each metric is declared once, as a :class:`Metric` (name, type, help text, labels, buckets): the help texts
(:data:`DOCS`), the attributes of :class:`StageMetrics` and the registration all come from it. No metric is
created anywhere else, and nothing here decides anything about messages: it records and serves.

One prefix (``newsflow_``), base units, bounded labels: ``stage`` (fetcher|cleaner|extractor|indexer),
``topic`` (a registry topic), ``reason`` (services.runtime.errors.Reason), ``kind`` (permanent|transient),
``partition`` (a partition number), ``category`` (a BoilerplateCategory), ``label`` (an EntityLabel),
``outcome`` (a bounded fetch outcome), ``cause`` (what halted a stage: :data:`HALT_CAUSES`). Never a URL or an
article id.

Each service process registers all of them in its own registry and serves them on its own port; a
metric a stage never touches stays at zero (so dashboards and alert expressions always find a series).
"""

from __future__ import annotations

import errno
import itertools
from dataclasses import dataclass, field
from typing import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from schemas.messages import BoilerplateCategory, EntityLabel
from services.runtime.errors import Reason

# Messages per window: powers of two up to the largest window worth having.
WINDOW_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512)
# Latency buckets (seconds) from 1 ms (a cleaned paragraph) to 2 min (a slow download plus NLP).
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)


@dataclass(frozen=True)
class Metric:
    """One metric's declaration: the one place its name, type, help text, labels and buckets are written. The
    StageMetrics attribute ``attribute`` is made from it (None: exported at scrape time by a collector instead),
    and every series whose labels all have known values (``stage``: the process's stage; others: ``values``) is
    created up front. A declaration only: it registers nothing until :func:`stage_metrics` asks it to."""

    attribute: str | None
    kind: type[Counter] | type[Gauge] | type[Histogram]
    name: str  # as exported; a counter's ends in _total
    labels: tuple[str, ...]
    doc: str
    buckets: tuple[float, ...] = ()
    values: dict[str, tuple[str, ...]] = field(default_factory=dict)  # known values of labels other than stage
    sparse: bool = False  # a series only while something is going on (every other metric has its series at once)

    def register(self, registry: CollectorRegistry, stage: str) -> Counter | Gauge | Histogram:
        """The metric in ``registry``, with the series it has from the first scrape."""
        options = {"buckets": self.buckets} if self.buckets else {}
        metric = self.kind(self.name, self.doc, self.labels, registry=registry, **options)
        known = {"stage": (stage,), **self.values}
        if self.labels and all(label in known for label in self.labels):
            for values in itertools.product(*(known[label] for label in self.labels)):
                metric.labels(*values)
        return metric


REASONS = tuple(reason.value for reason in Reason)
# What halted a stage (the ``cause`` label of newsflow_halted_offset): its circuit breaker, on too many systemic
# dead letters in a row or too large a share of them; or a message whose outcome (output or dead letter) the
# broker would not take.
HALT_CAUSES = ("breaker_in_a_row", "breaker_share", "undeliverable")
FETCH_OUTCOMES = ("downloaded", "inline")
INDEX_OUTCOMES = ("new_story", "copy", "repeated")

# Read from the fetcher at each scrape (StageMetrics.watch_fetches), so it has no StageMetrics attribute.
FETCHES_IN_FLIGHT = Metric(
    None, Gauge, "newsflow_fetches_in_flight", ("host",),
    "Fetcher only: HTTP fetches in flight (or waiting for their host's slot), by host; a series exists only while "
    "its host has one, so at most max_in_flight series at a time.", sparse=True)

METRICS = (
    Metric("consumed", Counter, "newsflow_messages_consumed_total", ("stage", "topic"),
           "Messages taken from the stage's input topic (attempts)."),
    Metric("produced", Counter, "newsflow_messages_produced_total", ("stage", "topic"),
           "Messages produced to the stage's output topic."),
    Metric("failed", Counter, "newsflow_messages_failed_total", ("stage", "reason", "kind"),
           "Failures by reason and kind (permanent: dead-lettered; transient: retried).",
           values={"reason": REASONS, "kind": ("permanent", "transient")}),
    Metric("dead_lettered", Counter, "newsflow_messages_dead_lettered_total", ("stage", "reason"),
           "Messages sent to the dead-letter topic, by reason.", values={"reason": REASONS}),
    Metric("retried", Counter, "newsflow_messages_retried_total", ("stage", "reason"),
           "Retries after a transient failure, by reason.", values={"reason": (Reason.http_unavailable.value,)}),
    Metric("processing", Histogram, "newsflow_processing_seconds", ("stage",),
           "Time from taking a message to producing its result (histogram).", LATENCY_BUCKETS),
    Metric("in_progress", Gauge, "newsflow_messages_in_progress", ("stage",),
           "Messages being processed right now (in a step or its retries)."),
    Metric("in_flight", Gauge, "newsflow_messages_in_flight", ("stage",),
           "Messages taken from the input topic whose offset is not yet committable (processing, waiting behind "
           "a message with the same key, or their output awaiting the broker's acknowledgement); bounded by "
           "max_in_flight."),
    Metric("awaiting_commit", Gauge, "newsflow_messages_awaiting_commit", ("stage",),
           "Messages finished (output or dead letter acknowledged) but held back because an earlier message of "
           "their partition is still in flight."),
    Metric("window", Histogram, "newsflow_window_messages", ("stage",),
           "Messages per window the stage took at once (histogram).", WINDOW_BUCKETS),
    Metric("max_in_flight", Gauge, "newsflow_max_in_flight", ("stage",),
           "The configured bound on messages in flight per process (max_in_flight)."),
    Metric("last_processed", Gauge, "newsflow_last_processed_timestamp_seconds", ("stage",),
           "Unix time the stage last finished a message."),
    Metric("circuit_open", Gauge, "newsflow_circuit_open", ("stage",),
           "1 while the stage is halted (its circuit breaker opened on too many systemic dead letters, or the "
           "broker would not take a message's outcome), else 0."),
    Metric("halted_offset", Gauge, "newsflow_halted_offset", ("stage", "cause", "reason", "topic", "partition"),
           "While the stage is halted: the offset of the message it halted at (neither finished nor committed; a "
           "restart resumes there), labelled with its topic and partition, the cause (breaker_in_a_row, "
           "breaker_share, undeliverable) and the reason of that message's failure. No series while the stage "
           "runs.", sparse=True),
    Metric("lag", Gauge, "newsflow_consumer_lag", ("stage", "topic", "partition"),
           "Messages not yet processed, per input partition (high watermark - position)."),
    Metric("end_to_end", Histogram, "newsflow_end_to_end_latency_seconds", (),
           "Indexer only: from ingested_at (replayed_at, for a replay) to the enriched event (histogram).",
           LATENCY_BUCKETS),
    Metric("boilerplate_removed", Counter, "newsflow_boilerplate_removed_total", ("category",),
           "Cleaner only: boilerplate blocks or lines removed, by category.",
           values={"category": tuple(category.value for category in BoilerplateCategory)}),
    Metric("entities", Counter, "newsflow_entities_extracted_total", ("label",),
           "Extractor only: entity mentions found, by label.",
           values={"label": tuple(label.value for label in EntityLabel)}),
    Metric("fetch_requests", Counter, "newsflow_fetch_requests_total", ("outcome",),
           "Fetcher only: articles fetched, by outcome (downloaded, inline); failures are in "
           "messages_failed_total.", values={"outcome": FETCH_OUTCOMES}),
    Metric("fetched_bytes", Counter, "newsflow_fetched_bytes_total", (), "Fetcher only: body bytes downloaded."),
    FETCHES_IN_FLIGHT,
    Metric("documents", Counter, "newsflow_documents_indexed_total", ("outcome",),
           "Indexer only: articles indexed, by outcome: new_story (the first copy of a story), copy (a copy of an "
           "earlier article's story), repeated (an article id indexed before: redelivered, replayed or re-pushed).",
           values={"outcome": INDEX_OUTCOMES}),
    Metric("story_lookup", Histogram, "newsflow_story_lookup_seconds", (),
           "Indexer only: time to find an article's earlier copies in the index (LSH band lookup and similarity of "
           "the candidates; histogram).", LATENCY_BUCKETS),
)
DOCS = {metric.name: metric.doc for metric in METRICS}  # exported name -> help text
SPARSE = frozenset(metric.name for metric in METRICS if metric.sparse)


class StageMetrics:
    """The metrics of one stage process, bound to its stage label: one attribute per declaration in
    :data:`METRICS` (``metrics.consumed``, ``metrics.lag`` ...), all in the process's own registry. It records
    and serves; it decides nothing about the messages."""

    def __init__(self, stage: str, registry: CollectorRegistry | None = None):
        self.stage = stage
        self.registry = registry or CollectorRegistry()
        for metric in METRICS:
            if metric.attribute is not None:
                setattr(self, metric.attribute, metric.register(self.registry, stage))

    def serve(self, port: int, host: str = "127.0.0.1") -> int:
        """Serve /metrics on ``port``; when that port is taken (a second process of the same service on this
        machine), on a free one instead. Returns the port served (0: ``port`` was 0, nothing served)."""
        if not port:
            return 0
        try:
            start_http_server(port, addr=host, registry=self.registry)
            return port
        except OSError as exc:
            if exc.errno != errno.EADDRINUSE:
                raise
        server, _thread = start_http_server(0, addr=host, registry=self.registry)
        return server.server_address[1]

    def halted(self, cause: str, reason: str, topic: str, partition: int, offset: int) -> None:
        """Record that the stage halted at ``topic[partition]@offset`` (newsflow_circuit_open 1, and the one
        series of newsflow_halted_offset). A process halts once and stays halted until it exits."""
        self.circuit_open.labels(self.stage).set(1)
        self.halted_offset.labels(self.stage, cause, reason, topic, str(partition)).set(offset)

    def watch_fetches(self, in_flight_by_host: Callable[[], dict[str, int]]) -> None:
        """Export ``newsflow_fetches_in_flight{host}`` read from the fetcher at each scrape (only hosts that
        have a fetch in flight, so the series stay bounded by the fetcher's in-flight limit)."""
        self.registry.register(_FetchesInFlight(in_flight_by_host))


class _FetchesInFlight(Collector):
    def __init__(self, source: Callable[[], dict[str, int]]):
        self.source = source

    def collect(self):
        family = GaugeMetricFamily(FETCHES_IN_FLIGHT.name, FETCHES_IN_FLIGHT.doc, labels=FETCHES_IN_FLIGHT.labels)
        for host, count in sorted(self.source().items()):
            family.add_metric([host], count)
        yield family


def stage_metrics(stage: str, registry: CollectorRegistry | None = None) -> StageMetrics:
    """Every metric of :data:`METRICS` for ``stage``, registered in ``registry`` (a new one by default)."""
    return StageMetrics(stage, registry)
