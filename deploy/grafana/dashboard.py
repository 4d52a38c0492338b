"""The "newsflow pipeline" Grafana dashboard, as code: plain dicts written to dashboards/newsflow-pipeline.json.

    python deploy/grafana/dashboard.py           regenerate the JSON (commit it with the change here)
    python deploy/grafana/dashboard.py --check   exit 1 when the checked-in JSON is stale (tests do this)

Never edit the JSON or the dashboard in Grafana's UI (the provider sets allowUiUpdates: false).

Layout: a "Pipeline" row (targets up against the targets expected, halted processes, end-to-end latency,
articles enriched per minute, throughput by stage, boilerplate removed by category, entities extracted by type,
the fetcher's fetches in flight by host (top 10) and in total), a "Failures" row (where each halted process
halted and why, dead letters and retries by stage and reason over the time range, failures per second by
stage, reason and kind), then one "Stage" row per selected ``job`` (repeated by Grafana; a job is a stage): messages
in/out/dead-lettered per second, processing time p50/p95/p99, consumer lag per partition, messages in
progress, time since the last processed message, and per process (``instance``): messages in flight against
its max_in_flight bound, messages awaiting commit, mean window size. Every query filters by the ``job`` and
``instance`` template variables; a stage scaled out to several processes (each announced to Prometheus,
see deploy/prometheus/prometheus.yml) shows one series per process where that matters. Metric names: see
services/runtime/metrics.py. It writes (or, with ``--check``, compares) that one file: it calls no Grafana or
Prometheus API.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
OUTPUT = HERE / "dashboards" / "newsflow-pipeline.json"

UID = "newsflow-pipeline"
TITLE = "newsflow pipeline"
DATASOURCE = {"type": "prometheus", "uid": "newsflow-prometheus"}
# Every selector carries this filter, so the template variables apply to every panel.
F = 'job=~"$job", instance=~"$instance"'
QUANTILES = (("p50", 0.5), ("p95", 0.95), ("p99", 0.99))
# The fetcher processes' in-flight bounds added up (the most fetches that can be in flight at once).
FETCHER_BOUND = f'sum(newsflow_max_in_flight{{{F}, stage="fetcher"}})'


def target(expr: str, legend: str = "__auto", ref: str = "A", instant: bool = False, table: bool = False) -> dict:
    found = {
        "refId": ref,
        "datasource": DATASOURCE,
        "expr": expr,
        "legendFormat": legend,
        "range": not instant,
        "instant": instant,
        "editorMode": "code",
    }
    if table:
        found["format"] = "table"
    return found


def refs(targets: list[tuple[str, str]], instant: bool = False, table: bool = False) -> list[dict]:
    return [target(expr, legend, chr(ord("A") + i), instant, table) for i, (expr, legend) in enumerate(targets)]


class Layout:
    """Hands out panel ids and grid positions, left to right, then row by row."""

    def __init__(self) -> None:
        self.next_id = 1
        self.x = 0
        self.y = 0
        self.row_height = 0

    def place(self, w: int, h: int) -> tuple[int, dict]:
        if self.x + w > 24:
            self.x, self.y, self.row_height = 0, self.y + self.row_height, 0
        pos = {"x": self.x, "y": self.y, "w": w, "h": h}
        self.x += w
        self.row_height = max(self.row_height, h)
        panel_id, self.next_id = self.next_id, self.next_id + 1
        return panel_id, pos

    def row(self, title: str, repeat: str | None = None) -> dict:
        self.x, self.y, self.row_height = 0, self.y + self.row_height, 0
        panel_id, pos = self.place(24, 1)
        self.x, self.y, self.row_height = 0, self.y + 1, 0
        row = {"type": "row", "id": panel_id, "title": title, "collapsed": False, "gridPos": pos, "panels": []}
        if repeat:
            row["repeat"] = repeat
        return row


def timeseries(layout: Layout, title: str, description: str, targets: list[tuple[str, str]], unit: str,
               w: int = 8, h: int = 8, stack: bool = False, overrides: list[dict] | None = None) -> dict:
    panel_id, pos = layout.place(w, h)
    return {
        "type": "timeseries",
        "id": panel_id,
        "title": title,
        "description": description,
        "gridPos": pos,
        "datasource": DATASOURCE,
        "targets": refs(targets),
        "fieldConfig": {
            "defaults": {
                "unit": unit,
                "min": 0,
                "custom": {
                    "drawStyle": "line",
                    "lineWidth": 1,
                    "fillOpacity": 10,
                    "showPoints": "never",
                    "spanNulls": True,
                    "stacking": {"mode": "normal" if stack else "none", "group": "A"},
                },
            },
            "overrides": overrides or [],
        },
        "options": {
            "legend": {"displayMode": "list", "placement": "bottom", "showLegend": True},
            "tooltip": {"mode": "multi", "sort": "desc"},
        },
    }


def stat(layout: Layout, title: str, description: str, expr: str | list[tuple[str, str]], unit: str, w: int = 4,
         h: int = 8, thresholds: list[dict] | None = None, overrides: list[dict] | None = None,
         mappings: list[dict] | None = None) -> dict:
    """One value (``expr``), or one value per query, each with its legend as its name."""
    panel_id, pos = layout.place(w, h)
    several = not isinstance(expr, str)
    return {
        "type": "stat",
        "id": panel_id,
        "title": title,
        "description": description,
        "gridPos": pos,
        "datasource": DATASOURCE,
        "targets": refs(expr if several else [(expr, "__auto")]),
        "fieldConfig": {
            "defaults": {
                "unit": unit,
                "thresholds": {"mode": "absolute", "steps": thresholds or [{"color": "green", "value": None}]},
                "mappings": mappings or [],
            },
            "overrides": overrides or [],
        },
        "options": {
            "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
            "colorMode": "value",
            "graphMode": "none" if several else "area",
            "textMode": "value_and_name" if several else "value",
            "justifyMode": "auto",
            "orientation": "auto",
        },
    }


def table(layout: Layout, title: str, description: str, expr: str, columns: dict[str, str], no_value: str,
          w: int = 8, h: int = 8) -> dict:
    """The series of an instant query, one row each: their labels named in ``columns`` (label -> header, in
    order) and the value (header ``columns["Value"]``); ``no_value`` when there is none."""
    panel_id, pos = layout.place(w, h)
    order = {name: i for i, name in enumerate(columns)}
    return {
        "type": "table",
        "id": panel_id,
        "title": title,
        "description": description,
        "gridPos": pos,
        "datasource": DATASOURCE,
        "targets": refs([(expr, "__auto")], instant=True, table=True),
        "fieldConfig": {"defaults": {"noValue": no_value, "custom": {"align": "auto"}}, "overrides": []},
        "options": {"showHeader": True, "cellHeight": "sm", "footer": {"show": False}},
        "transformations": [{
            "id": "organize",
            "options": {
                "excludeByName": {"Time": True, "__name__": True, "job": True},
                "indexByName": order,
                "renameByName": columns,
            },
        }],
    }


def by_name(name: str, properties: list[dict]) -> dict:
    return {"matcher": {"id": "byName", "options": name}, "properties": properties}


def red_from(value: float) -> list[dict]:
    return [{"color": "green", "value": None}, {"color": "red", "value": value}]


def bargauge(layout: Layout, title: str, description: str, expr: str, legend: str, unit: str,
             w: int = 8, h: int = 8, no_value: str | None = None) -> dict:
    """Totals over the dashboard's time range, one bar per label value (an instant query)."""
    panel_id, pos = layout.place(w, h)
    return {
        "type": "bargauge",
        "id": panel_id,
        "title": title,
        "description": description,
        "gridPos": pos,
        "datasource": DATASOURCE,
        "targets": refs([(expr, legend)], instant=True),
        "fieldConfig": {
            "defaults": {
                "unit": unit,
                "min": 0,
                "decimals": 0,
                "color": {"mode": "continuous-BlPu"},
                "thresholds": {"mode": "absolute", "steps": [{"color": "green", "value": None}]},
                **({"noValue": no_value} if no_value else {}),
            },
            "overrides": [],
        },
        "options": {
            "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
            "orientation": "horizontal",
            "displayMode": "gradient",
            "showUnfilled": True,
            "valueMode": "color",
            "namePlacement": "left",
            "sizing": "auto",
        },
    }


def dashed(legend_regex: str) -> dict:
    """An override drawing the series whose legend matches ``legend_regex`` as a dashed line, unfilled (a
    bound, not a quantity)."""
    return {
        "matcher": {"id": "byRegexp", "options": legend_regex},
        "properties": [
            {"id": "custom.lineStyle", "value": {"fill": "dash", "dash": [10, 10]}},
            {"id": "custom.fillOpacity", "value": 0},
        ],
    }


def quantiles(metric: str) -> list[tuple[str, str]]:
    return [
        (f"histogram_quantile({q}, sum by (le) (rate({metric}_bucket{{{F}}}[$__rate_interval])))", name)
        for name, q in QUANTILES
    ]


def pipeline_row(layout: Layout) -> list[dict]:
    row = layout.row("Pipeline")
    return [
        row,
        stat(
            layout, "Targets up",
            "up: service processes Prometheus scrapes successfully. expected: every target Prometheus is "
            "configured to scrape (count of the up series: each job's fixed target in "
            "deploy/prometheus/targets/<job>.yml, whether its service runs or not, plus each process announced "
            "in .data/targets/). down: expected - up, red from 1 (alert ServiceDown after a minute).",
            [
                (f"sum(up{{{F}}})", "up"),
                (f"count(up{{{F}}})", "expected"),
                (f"count(up{{{F}}} == 0) or count(up{{{F}}}) * 0", "down"),  # 0 rather than "No data"
            ],
            "none", w=4, overrides=[by_name("down", [{"id": "thresholds", "value": {
                "mode": "absolute", "steps": red_from(1)}}])],
        ),
        stat(
            layout, "Halted processes",
            "Service processes that stopped taking messages and hold the message they halted at, uncommitted "
            "(newsflow_circuit_open): their circuit breaker opened on too many systemic dead letters (a bug, "
            "a producer sending garbage), or the broker would not take a message's outcome. The Failures row "
            "says where and why (alert CircuitBreakerOpen). Fix the cause, then restart the service: "
            "make restart SERVICE=<stage> (docker compose restart <stage>); it resumes at that message.",
            f"sum(newsflow_circuit_open{{{F}}})", "none", w=4, thresholds=red_from(1),
        ),
        timeseries(
            layout, "End-to-end latency",
            "From an article's ingested_at to its enriched event (newsflow_end_to_end_latency_seconds, indexer).",
            quantiles("newsflow_end_to_end_latency_seconds"), "s", w=8,
        ),
        timeseries(
            layout, "Articles enriched per minute",
            "Enriched events the indexer produced to events.enriched, per minute.",
            [(f'sum(rate(newsflow_messages_produced_total{{{F}, stage="indexer"}}[$__rate_interval])) * 60',
              "enriched / min")],
            "none", w=8,
        ),
        timeseries(
            layout, "Copies among indexed articles",
            "The share of newly indexed articles that are copies of an earlier article's story (syndicated or "
            "near-duplicate: newsflow_documents_indexed_total{outcome=\"copy\"} over copy + new_story; "
            "redeliveries and re-pushes, outcome repeated, are left out), and the time the indexer takes to find "
            "an article's earlier copies (p95 of newsflow_story_lookup_seconds, right axis).",
            [
                (f'sum(rate(newsflow_documents_indexed_total{{{F}, outcome="copy"}}[$__rate_interval])) / '
                 f'sum(rate(newsflow_documents_indexed_total{{{F}, outcome=~"copy|new_story"}}[$__rate_interval]))',
                 "copies"),
                ("histogram_quantile(0.95, sum by (le) "
                 f"(rate(newsflow_story_lookup_seconds_bucket{{{F}}}[$__rate_interval])))", "lookup p95"),
            ],
            "percentunit", w=8, overrides=[by_name("lookup p95", [
                {"id": "unit", "value": "s"}, {"id": "custom.axisPlacement", "value": "right"}])],
        ),
        timeseries(
            layout, "Messages in per second, by stage",
            "Messages each stage takes from its input topic (newsflow_messages_consumed_total).",
            [(f"sum by (stage) (rate(newsflow_messages_consumed_total{{{F}}}[$__rate_interval]))", "{{stage}}")],
            "suffix: msg/s", w=8,
        ),
        bargauge(
            layout, "Boilerplate removed by category",
            "Blocks or lines the cleaner removed over the selected time range, by category.",
            f"sum by (category) (increase(newsflow_boilerplate_removed_total{{{F}}}[$__range]))",
            "{{category}}", "none",
        ),
        bargauge(
            layout, "Entities extracted by type",
            "Entity mentions the extractor found over the selected time range, by label.",
            f"sum by (label) (increase(newsflow_entities_extracted_total{{{F}}}[$__range]))",
            "{{label}}", "none",
        ),
        timeseries(
            layout, "Fetches in flight by host (top 10)",
            "The fetcher's HTTP fetches in flight (or waiting for their host's slot), all fetcher processes "
            "together, for the 10 busiest hosts at each instant (newsflow_fetches_in_flight; a host has a "
            "series only while it has a fetch in flight, so an idle fetcher shows no data).",
            [(f"topk(10, sum by (host) (newsflow_fetches_in_flight{{{F}}}))", "{{host}}")],
            "none", w=16, stack=True,
        ),
        timeseries(
            layout, "Fetches in flight",
            "All the fetcher's HTTP fetches in flight (0 when none), against the fetcher processes' "
            "max_in_flight bounds added up (dashed).",
            [
                # No fetch in flight means no series: show 0 instead of "No data".
                (f"sum(newsflow_fetches_in_flight{{{F}}}) or {FETCHER_BOUND} * 0", "fetches in flight"),
                (FETCHER_BOUND, "max_in_flight (all fetchers)"),
            ],
            "none", w=8, overrides=[dashed("max_in_flight.*")],
        ),
    ]


def failures_row(layout: Layout) -> list[dict]:
    """What failed, and what halted: across stages, each series labelled by stage (the job variable filters)."""
    row = layout.row("Failures")
    failed = f"newsflow_messages_failed_total{{{F}}}"
    return [
        row,
        table(
            layout, "Halted at",
            "Each halted process (newsflow_halted_offset): the message it halted at (topic, partition, "
            "offset; neither finished nor committed, so its partition's lag grows), the cause (breaker_in_a_row, "
            "breaker_share: its circuit breaker counted too many systemic dead letters, see "
            "NEWSFLOW_<SERVICE>_BREAKER_REASONS; undeliverable: the broker would not take the outcome) and the "
            "reason of that message's failure. Look at `newsflow dlq list --stage <stage>`, fix the cause, then "
            "make restart SERVICE=<stage>: it resumes at that offset. `newsflow status` says the same.",
            f"max by (stage, instance, cause, reason, topic, partition) (newsflow_halted_offset{{{F}}})",
            {"stage": "stage", "instance": "instance", "cause": "cause", "reason": "reason", "topic": "topic",
             "partition": "partition", "Value": "offset"},
            "no process is halted", w=8,
        ),
        bargauge(
            layout, "Dead letters by reason",
            "Messages sent to articles.dlq over the selected time range, by stage and reason "
            "(newsflow_messages_dead_lettered_total). An article's own outcome (http_status, blocked_address, "
            "too_large, unsupported_content, empty_content, robots_disallowed...) is normal in a news feed; "
            "processing_error (a bug), malformed_json or invalid_message (a producer sending garbage) are "
            "not, and trip the circuit breaker. `newsflow dlq list --reason R` shows them.",
            f"sum by (stage, reason) (increase(newsflow_messages_dead_lettered_total{{{F}}}[$__range])) > 0",
            "{{stage}}: {{reason}}", "none", no_value="no dead letter",
        ),
        bargauge(
            layout, "Retries by reason",
            "Retries after a transient failure over the selected time range, by stage and reason "
            "(newsflow_messages_retried_total): http_unavailable (a site answering 5xx, 429 or 408, or timing "
            "out: retried with backoff, then dead-lettered), broker_unavailable (the broker not taking a "
            "produce: retried for as long as it lasts, never dead-lettered).",
            f"sum by (stage, reason) (increase(newsflow_messages_retried_total{{{F}}}[$__range])) > 0",
            "{{stage}}: {{reason}}", "none", no_value="no retry",
        ),
        timeseries(
            layout, "Failures per second, by reason",
            "newsflow_messages_failed_total by stage, reason and kind (permanent: dead-lettered; transient: "
            "retried), for the reasons that failed at least once in the selected time range.",
            [(f"sum by (stage, reason, kind) (rate({failed}[$__rate_interval])) and on (stage, reason, kind) "
              f"sum by (stage, reason, kind) (increase({failed}[$__range])) > 0", "{{stage}}: {{reason}} ({{kind}})")],
            "suffix: msg/s", w=24,
        ),
    ]


def stage_row(layout: Layout) -> list[dict]:
    """One row per selected job (Grafana repeats it); inside it, $job is that one job, i.e. one stage."""
    row = layout.row("Stage: $job", repeat="job")
    rate = "sum(rate({metric}{{%s}}[$__rate_interval]))" % F
    consumed = rate.format(metric="newsflow_messages_consumed_total")
    return [
        row,
        timeseries(
            layout, "Messages per second",
            "In: taken from the input topic. Out: produced to the output topic. Dead-lettered: sent to "
            "articles.dlq (zero while there are none).",
            [
                (consumed, "in"),
                (rate.format(metric="newsflow_messages_produced_total"), "out"),
                # No dead letter yet means no series: show 0 instead of "No data".
                (f"{rate.format(metric='newsflow_messages_dead_lettered_total')} or {consumed} * 0", "dead-lettered"),
            ],
            "suffix: msg/s", w=6,
        ),
        timeseries(
            layout, "Processing time",
            "From taking a message to producing its result (newsflow_processing_seconds).",
            quantiles("newsflow_processing_seconds"), "s", w=6,
        ),
        timeseries(
            layout, "Consumer lag",
            "Messages not yet processed, per input partition (high watermark - position).",
            [(f"sum by (topic, partition) (newsflow_consumer_lag{{{F}}})", "{{topic}} [{{partition}}]")],
            "none", w=5, stack=True,
        ),
        timeseries(
            layout, "In progress", "Messages being processed right now.",
            [(f"sum(newsflow_messages_in_progress{{{F}}})", "in progress")], "none", w=3,
        ),
        stat(
            layout, "Since last processed",
            "Time since the stage last finished a message (newsflow_last_processed_timestamp_seconds); "
            "very large when it has processed none since it started.",
            f"time() - max(newsflow_last_processed_timestamp_seconds{{{F}}})", "s", w=4,
        ),
        # Per process (instance): a stage scaled out shows each of its processes.
        timeseries(
            layout, "In flight",
            "Per process: messages taken from the input topic whose offset is not yet committable (being "
            "processed, waiting behind a message with the same key, or their output awaiting the broker's "
            "acknowledgement), against the process's max_in_flight bound (dashed). A process that stays at "
            "its bound while the lag grows cannot keep up: scale the stage out (alert StageSaturated).",
            [
                (f"sum by (stage, instance) (newsflow_messages_in_flight{{{F}}})", "{{instance}} in flight"),
                (f"max by (stage, instance) (newsflow_max_in_flight{{{F}}})", "{{instance}} max_in_flight"),
            ],
            "none", w=8, overrides=[dashed(".* max_in_flight")],
        ),
        timeseries(
            layout, "Awaiting commit",
            "Per process: messages finished (output or dead letter acknowledged) but held back because an "
            "earlier message of their partition is still in flight. Normal in short bursts; a count that only "
            "grows means one message holds its partition (alert CommitStalled).",
            [(f"sum by (stage, instance) (newsflow_messages_awaiting_commit{{{F}}})", "{{instance}}")],
            "none", w=8,
        ),
        timeseries(
            layout, "Mean window size",
            "Per process: messages taken at once per window, on average over the rate interval "
            "(newsflow_window_messages _sum / _count). Near 1: the stage keeps up message by message; near "
            "window_size: it works through a backlog in full windows.",
            [(
                f"sum by (stage, instance) (rate(newsflow_window_messages_sum{{{F}}}[$__rate_interval]))"
                f" / sum by (stage, instance) (rate(newsflow_window_messages_count{{{F}}}[$__rate_interval]))",
                "{{instance}}",
            )],
            "none", w=8,
        ),
    ]


def variable(name: str, label: str, query: str) -> dict:
    return {
        "name": name,
        "label": label,
        "type": "query",
        "datasource": DATASOURCE,
        "query": {"query": query, "refId": "PrometheusVariableQueryEditor-VariableQuery"},
        "definition": query,
        "refresh": 2,  # on time range change: new processes show up
        "multi": True,
        "includeAll": True,
        "allValue": ".*",
        "current": {"selected": True, "text": ["All"], "value": ["$__all"]},
        "options": [],
        "sort": 1,
        "regex": "",
        "hide": 0,
    }


def build() -> dict:
    layout = Layout()
    panels = pipeline_row(layout) + failures_row(layout) + stage_row(layout)
    return {
        "uid": UID,
        "title": TITLE,
        "description": "newsflow: per-stage throughput, latency, lag and failures, and the whole pipeline's "
        "end-to-end latency and output. Generated by deploy/grafana/dashboard.py.",
        "tags": ["newsflow", "kafka"],
        "timezone": "browser",
        "editable": False,
        "graphTooltip": 1,  # shared crosshair
        "refresh": "10s",
        "time": {"from": "now-30m", "to": "now"},
        "timepicker": {},
        "schemaVersion": 39,
        "version": 1,
        "links": [],
        "annotations": {
            "list": [
                {
                    "builtIn": 1,
                    "datasource": {"type": "grafana", "uid": "-- Grafana --"},
                    "enable": True,
                    "hide": True,
                    "iconColor": "rgba(0, 211, 255, 1)",
                    "name": "Annotations & Alerts",
                    "type": "dashboard",
                }
            ]
        },
        "templating": {
            "list": [
                variable("job", "Job", "label_values(up, job)"),
                variable("instance", "Instance", 'label_values(up{job=~"$job"}, instance)'),
            ]
        },
        "panels": panels,
    }


def render() -> str:
    return json.dumps(build(), indent=2) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if the checked-in JSON is stale")
    parser.add_argument("--output", type=Path, default=OUTPUT)
    args = parser.parse_args(argv)
    text = render()
    if args.check:
        current = args.output.read_text() if args.output.exists() else ""
        if current != text:
            print(f"{args.output} is stale: run python deploy/grafana/dashboard.py", file=sys.stderr)
            return 1
        return 0
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(text)
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
