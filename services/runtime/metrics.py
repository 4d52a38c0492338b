"""Every metric newsflow exports, in one documented list (mirrored in the README's Metrics section).

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
from dataclasses import dataclass
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

DOCS = {
    "newsflow_messages_consumed_total": "Messages taken from the stage's input topic (attempts).",
    "newsflow_messages_produced_total": "Messages produced to the stage's output topic.",
    "newsflow_messages_failed_total": "Failures by reason and kind (permanent: dead-lettered; transient: retried).",
    "newsflow_messages_dead_lettered_total": "Messages sent to the dead-letter topic, by reason.",
    "newsflow_messages_retried_total": "Retries after a transient failure, by reason.",
    "newsflow_processing_seconds": "Time from taking a message to producing its result (histogram).",
    "newsflow_messages_in_progress": "Messages being processed right now (in a step or its retries).",
    "newsflow_messages_in_flight": "Messages taken from the input topic whose offset is not yet committable "
                                   "(processing, waiting behind a message with the same key, or their output "
                                   "awaiting the broker's acknowledgement); bounded by max_in_flight.",
    "newsflow_messages_awaiting_commit": "Messages finished (output or dead letter acknowledged) but held back "
                                         "because an earlier message of their partition is still in flight.",
    "newsflow_window_messages": "Messages per window the stage took at once (histogram).",
    "newsflow_max_in_flight": "The configured bound on messages in flight per process (max_in_flight).",
    "newsflow_last_processed_timestamp_seconds": "Unix time the stage last finished a message.",
    "newsflow_circuit_open": "1 while the stage is halted (its circuit breaker opened on too many systemic dead "
                             "letters, or the broker would not take a message's outcome), else 0.",
    "newsflow_halted_offset": "While the stage is halted: the offset of the message it halted at (neither "
                              "finished nor committed; a restart resumes there), labelled with its topic and "
                              "partition, the cause (breaker_in_a_row, breaker_share, undeliverable) and the "
                              "reason of that message's failure. No series while the stage runs.",
    "newsflow_consumer_lag": "Messages not yet processed, per input partition (high watermark - position).",
    "newsflow_end_to_end_latency_seconds": "Indexer only: from ingested_at (replayed_at, for a replay) to the "
                                           "enriched event (histogram).",
    "newsflow_boilerplate_removed_total": "Cleaner only: boilerplate blocks or lines removed, by category.",
    "newsflow_entities_extracted_total": "Extractor only: entity mentions found, by label.",
    "newsflow_fetch_requests_total": "Fetcher only: articles fetched, by outcome (downloaded, inline); failures are in messages_failed_total.",
    "newsflow_fetched_bytes_total": "Fetcher only: body bytes downloaded.",
    "newsflow_fetches_in_flight": "Fetcher only: HTTP fetches in flight (or waiting for their host's slot), by "
                                  "host; a series exists only while its host has one, so at most "
                                  "max_in_flight series at a time.",
    "newsflow_documents_indexed_total": "Indexer only: articles indexed, by outcome: new_story (the first copy of "
                                        "a story), copy (a copy of an earlier article's story), repeated (an "
                                        "article id indexed before: redelivered, replayed or re-pushed).",
    "newsflow_story_lookup_seconds": "Indexer only: time to find an article's earlier copies in the index (LSH "
                                     "band lookup and similarity of the candidates; histogram).",
}

# Metrics with a series only while something is going on (one per host with a fetch in flight): every other
# metric has its series from the first scrape.
SPARSE = frozenset({"newsflow_fetches_in_flight", "newsflow_halted_offset"})

# What halted a stage (the ``cause`` label of newsflow_halted_offset): its circuit breaker, on too many systemic
# dead letters in a row or too large a share of them; or a message whose outcome (output or dead letter) the
# broker would not take.
HALT_CAUSES = ("breaker_in_a_row", "breaker_share", "undeliverable")

FETCH_OUTCOMES = ("downloaded", "inline")
INDEX_OUTCOMES = ("new_story", "copy", "repeated")


@dataclass
class StageMetrics:
    """The metrics of one stage process, bound to its stage label."""

    stage: str
    registry: CollectorRegistry
    consumed: Counter
    produced: Counter
    failed: Counter
    dead_lettered: Counter
    retried: Counter
    processing: Histogram
    in_progress: Gauge
    in_flight: Gauge
    awaiting_commit: Gauge
    window: Histogram
    max_in_flight: Gauge
    last_processed: Gauge
    lag: Gauge
    circuit_open: Gauge
    halted_offset: Gauge
    end_to_end: Histogram
    boilerplate_removed: Counter
    entities: Counter
    fetch_requests: Counter
    fetched_bytes: Counter
    documents: Counter
    story_lookup: Histogram

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
        family = GaugeMetricFamily("newsflow_fetches_in_flight", DOCS["newsflow_fetches_in_flight"], labels=["host"])
        for host, count in sorted(self.source().items()):
            family.add_metric([host], count)
        yield family


def stage_metrics(stage: str, registry: CollectorRegistry | None = None) -> StageMetrics:
    r = registry or CollectorRegistry()
    d = DOCS
    m = StageMetrics(
        stage=stage,
        registry=r,
        consumed=Counter("newsflow_messages_consumed", d["newsflow_messages_consumed_total"], ["stage", "topic"], registry=r),
        produced=Counter("newsflow_messages_produced", d["newsflow_messages_produced_total"], ["stage", "topic"], registry=r),
        failed=Counter("newsflow_messages_failed", d["newsflow_messages_failed_total"], ["stage", "reason", "kind"], registry=r),
        dead_lettered=Counter(
            "newsflow_messages_dead_lettered", d["newsflow_messages_dead_lettered_total"], ["stage", "reason"], registry=r
        ),
        retried=Counter("newsflow_messages_retried", d["newsflow_messages_retried_total"], ["stage", "reason"], registry=r),
        processing=Histogram(
            "newsflow_processing_seconds", d["newsflow_processing_seconds"], ["stage"], buckets=LATENCY_BUCKETS, registry=r
        ),
        in_progress=Gauge("newsflow_messages_in_progress", d["newsflow_messages_in_progress"], ["stage"], registry=r),
        in_flight=Gauge("newsflow_messages_in_flight", d["newsflow_messages_in_flight"], ["stage"], registry=r),
        awaiting_commit=Gauge(
            "newsflow_messages_awaiting_commit", d["newsflow_messages_awaiting_commit"], ["stage"], registry=r
        ),
        window=Histogram(
            "newsflow_window_messages", d["newsflow_window_messages"], ["stage"], buckets=WINDOW_BUCKETS, registry=r
        ),
        max_in_flight=Gauge("newsflow_max_in_flight", d["newsflow_max_in_flight"], ["stage"], registry=r),
        last_processed=Gauge(
            "newsflow_last_processed_timestamp_seconds", d["newsflow_last_processed_timestamp_seconds"], ["stage"], registry=r
        ),
        circuit_open=Gauge("newsflow_circuit_open", d["newsflow_circuit_open"], ["stage"], registry=r),
        halted_offset=Gauge(
            "newsflow_halted_offset", d["newsflow_halted_offset"], ["stage", "cause", "reason", "topic", "partition"],
            registry=r,
        ),
        lag=Gauge("newsflow_consumer_lag", d["newsflow_consumer_lag"], ["stage", "topic", "partition"], registry=r),
        end_to_end=Histogram(
            "newsflow_end_to_end_latency_seconds",
            d["newsflow_end_to_end_latency_seconds"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        ),
        boilerplate_removed=Counter(
            "newsflow_boilerplate_removed", d["newsflow_boilerplate_removed_total"], ["category"], registry=r
        ),
        entities=Counter("newsflow_entities_extracted", d["newsflow_entities_extracted_total"], ["label"], registry=r),
        fetch_requests=Counter("newsflow_fetch_requests", d["newsflow_fetch_requests_total"], ["outcome"], registry=r),
        fetched_bytes=Counter("newsflow_fetched_bytes", d["newsflow_fetched_bytes_total"], registry=r),
        documents=Counter("newsflow_documents_indexed", d["newsflow_documents_indexed_total"], ["outcome"], registry=r),
        story_lookup=Histogram(
            "newsflow_story_lookup_seconds", d["newsflow_story_lookup_seconds"], buckets=LATENCY_BUCKETS, registry=r
        ),
    )
    # Create every labelled child up front, so every series exists from the first scrape.
    m.processing.labels(stage)
    for reason in Reason:
        m.dead_lettered.labels(stage, reason.value)
        for kind in ("permanent", "transient"):
            m.failed.labels(stage, reason.value, kind)
    m.retried.labels(stage, Reason.http_unavailable.value)
    m.in_progress.labels(stage)
    m.in_flight.labels(stage)
    m.awaiting_commit.labels(stage)
    m.window.labels(stage)
    m.max_in_flight.labels(stage)
    m.last_processed.labels(stage)
    m.circuit_open.labels(stage)
    for category in BoilerplateCategory:
        m.boilerplate_removed.labels(category.value)
    for label in EntityLabel:
        m.entities.labels(label.value)
    for outcome in FETCH_OUTCOMES:
        m.fetch_requests.labels(outcome)
    for outcome in INDEX_OUTCOMES:
        m.documents.labels(outcome)
    return m
