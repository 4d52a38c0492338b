"""The exported metrics stay exactly what dashboards, alerts, `newsflow status` and the README know: names, types,
labels and buckets as they were before the declarations moved into services.runtime.metrics.METRICS, and the
series every process has from its first scrape."""

from __future__ import annotations

from prometheus_client import generate_latest

from schemas.messages import BoilerplateCategory, EntityLabel
from services.runtime.errors import Reason
from services.runtime.metrics import DOCS, METRICS, SPARSE, StageMetrics, stage_metrics

LATENCY = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)
WINDOW = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512)
# (exported name, type, labels, buckets), taken from the registry before the declarations were rewritten
EXPORTED = [
    ("newsflow_boilerplate_removed_total", "counter", ("category",), None),
    ("newsflow_circuit_open", "gauge", ("stage",), None),
    ("newsflow_consumer_lag", "gauge", ("stage", "topic", "partition"), None),
    ("newsflow_documents_indexed_total", "counter", ("outcome",), None),
    ("newsflow_end_to_end_latency_seconds", "histogram", (), LATENCY),
    ("newsflow_entities_extracted_total", "counter", ("label",), None),
    ("newsflow_fetch_requests_total", "counter", ("outcome",), None),
    ("newsflow_fetched_bytes_total", "counter", (), None),
    ("newsflow_fetches_in_flight", "gauge", ("host",), None),
    ("newsflow_halted_offset", "gauge", ("stage", "cause", "reason", "topic", "partition"), None),
    ("newsflow_last_processed_timestamp_seconds", "gauge", ("stage",), None),
    ("newsflow_max_in_flight", "gauge", ("stage",), None),
    ("newsflow_messages_awaiting_commit", "gauge", ("stage",), None),
    ("newsflow_messages_consumed_total", "counter", ("stage", "topic"), None),
    ("newsflow_messages_dead_lettered_total", "counter", ("stage", "reason"), None),
    ("newsflow_messages_failed_total", "counter", ("stage", "reason", "kind"), None),
    ("newsflow_messages_in_flight", "gauge", ("stage",), None),
    ("newsflow_messages_in_progress", "gauge", ("stage",), None),
    ("newsflow_messages_produced_total", "counter", ("stage", "topic"), None),
    ("newsflow_messages_retried_total", "counter", ("stage", "reason"), None),
    ("newsflow_processing_seconds", "histogram", ("stage",), LATENCY),
    ("newsflow_story_lookup_seconds", "histogram", (), LATENCY),
    ("newsflow_window_messages", "histogram", ("stage",), WINDOW),
]


def registered(metrics: StageMetrics) -> list[tuple]:
    rows = []
    for metric in METRICS:
        if metric.attribute is None:
            rows.append((metric.name, "gauge", metric.labels, None))
            continue
        wrapper = getattr(metrics, metric.attribute)
        bounds = tuple(getattr(wrapper, "_upper_bounds", ())[:-1]) or None  # without +Inf
        exported = f"{wrapper._name}_total" if wrapper._type == "counter" else wrapper._name
        rows.append((exported, wrapper._type, tuple(wrapper._labelnames), bounds))
    return sorted(rows)


def test_names_types_labels_and_buckets_are_unchanged():
    assert registered(stage_metrics("cleaner")) == EXPORTED
    assert sorted(DOCS) == [name for name, *_ in EXPORTED] and all(DOCS.values())
    assert SPARSE == {"newsflow_fetches_in_flight", "newsflow_halted_offset"}


def test_every_declared_metric_is_exported_with_its_help_text():
    metrics = stage_metrics("fetcher")
    metrics.watch_fetches(lambda: {"example.com": 2})
    families = {family.name: family.documentation for family in metrics.registry.collect()}
    # prometheus_client names a counter's family without its _total
    assert {name.removesuffix("_total"): doc for name, doc in DOCS.items()} == families


def test_the_series_every_process_has_from_its_first_scrape():
    metrics = stage_metrics("extractor")
    series = {}
    for family in metrics.registry.collect():
        for sample in family.samples:
            if not sample.name.endswith(("_created", "_bucket", "_sum", "_count")):
                series.setdefault(sample.name, []).append(sample.labels)
    assert len(series["newsflow_messages_failed_total"]) == 2 * len(Reason)
    assert len(series["newsflow_messages_dead_lettered_total"]) == len(Reason)
    assert series["newsflow_messages_retried_total"] == [{"stage": "extractor", "reason": "http_unavailable"}]
    assert len(series["newsflow_boilerplate_removed_total"]) == len(BoilerplateCategory)
    assert len(series["newsflow_entities_extracted_total"]) == len(EntityLabel)
    for per_stage in ("newsflow_messages_in_progress", "newsflow_circuit_open", "newsflow_max_in_flight"):
        assert series[per_stage] == [{"stage": "extractor"}]
    for later in ("newsflow_messages_consumed_total", "newsflow_consumer_lag", "newsflow_halted_offset"):
        assert later not in series  # labelled by topic or partition: created when known
    text = generate_latest(metrics.registry).decode()
    assert 'newsflow_processing_seconds_bucket{le="120.0",stage="extractor"} 0.0' in text
