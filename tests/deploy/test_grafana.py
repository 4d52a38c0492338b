"""deploy/grafana: provisioning, and the dashboard as code (deploy/grafana/dashboard.py -> JSON)."""

from __future__ import annotations

import re
import subprocess

import yaml

from deploy_helpers import (
    DASHBOARD_JSON,
    GRAFANA_DIR,
    dashboard,
    exported_names,
    load_dashboard_module,
    metric_names,
    panels,
    queries,
    repeated_panels,
    substitute,
    tool,
)
DATASOURCE_UID = "newsflow-prometheus"


def test_checked_in_dashboard_json_is_what_the_generator_writes():
    module = load_dashboard_module()
    assert DASHBOARD_JSON.read_text() == module.render(), (
        "deploy/grafana/dashboards/newsflow-pipeline.json is stale: run python deploy/grafana/dashboard.py"
    )
    assert module.main(["--check"]) == 0


def test_generator_check_fails_on_a_stale_file(tmp_path):
    stale = tmp_path / "board.json"
    stale.write_text(DASHBOARD_JSON.read_text().replace("newsflow pipeline", "old title"))
    assert load_dashboard_module().main(["--check", "--output", str(stale)]) == 1


def test_dashboard_identity_and_variables():
    board = dashboard()
    assert (board["uid"], board["title"]) == ("newsflow-pipeline", "newsflow pipeline")
    variables = {v["name"]: v for v in board["templating"]["list"]}
    assert set(variables) == {"job", "instance"}
    assert variables["job"]["query"]["query"] == "label_values(up, job)"
    assert variables["instance"]["query"]["query"] == 'label_values(up{job=~"$job"}, instance)'
    for v in variables.values():
        assert v["datasource"]["uid"] == DATASOURCE_UID and v["includeAll"] and v["multi"]


def test_every_panel_uses_the_fixed_datasource_and_filters_by_job_and_instance():
    board = dashboard()
    assert queries(board)
    for panel, target in queries(board):
        assert panel["datasource"]["uid"] == target["datasource"]["uid"] == DATASOURCE_UID, panel["title"]
        selectors = re.findall(r"\b(\w+)\{([^}]*)\}", target["expr"])
        assert selectors, panel["title"]
        for name, matchers in selectors:
            assert 'job=~"$job"' in matchers and 'instance=~"$instance"' in matchers, (panel["title"], name)


def test_dashboard_uses_only_metrics_that_metrics_py_exports():
    exported = exported_names()
    for panel, target in queries(dashboard()):
        assert metric_names(target["expr"]) <= exported, panel["title"]


def test_dashboard_has_the_per_stage_and_pipeline_panels():
    board = dashboard()
    titles = {p["title"] for p in panels(board)}
    assert {
        "Messages per second", "Processing time", "Consumer lag", "In progress",  # per stage
        "End-to-end latency", "Articles enriched per minute", "Boilerplate removed by category",
        "Entities extracted by type",  # whole pipeline
    } <= titles
    per_stage = {p["title"] for p in panels(board) if p["id"] in repeated_panels(board)}
    assert {"Messages per second", "Processing time", "Consumer lag", "In progress"} <= per_stage
    legends = {(p["title"], t["legendFormat"]) for p, t in queries(board)}
    for title in ("Processing time", "End-to-end latency"):
        assert {(title, q) for q in ("p50", "p95", "p99")} <= legends
    assert {("Messages per second", x) for x in ("in", "out", "dead-lettered")} <= legends
    ids = [p["id"] for p in board["panels"]]
    assert len(ids) == len(set(ids))


def test_dashboard_has_the_in_flight_panels_per_process():
    """Issue 9: in flight against max_in_flight, awaiting commit and mean window size per stage row, one series
    per process (by stage, instance); the fetcher's fetches in flight by host (top 10) and in total."""
    board = dashboard()
    per_stage = {p["title"]: p for p in panels(board) if p["id"] in repeated_panels(board)}
    exprs = {title: [t["expr"] for t in per_stage[title]["targets"]]
             for title in ("In flight", "Awaiting commit", "Mean window size")}
    in_flight = [metric_names(e) for e in exprs["In flight"]]
    assert in_flight == [{"newsflow_messages_in_flight"}, {"newsflow_max_in_flight"}]
    assert metric_names(exprs["Awaiting commit"][0]) == {"newsflow_messages_awaiting_commit"}
    window = metric_names(exprs["Mean window size"][0])
    assert window == {"newsflow_window_messages_sum", "newsflow_window_messages_count"}
    assert all("by (stage, instance)" in e for es in exprs.values() for e in es)
    pipeline = {p["title"]: p for p in panels(board) if p["id"] not in repeated_panels(board)}
    (by_host,) = pipeline["Fetches in flight by host (top 10)"]["targets"]
    assert by_host["expr"].startswith("topk(10, sum by (host) (newsflow_fetches_in_flight{")
    assert "newsflow_fetches_in_flight" in pipeline["Fetches in flight"]["targets"][0]["expr"]


def test_every_panel_query_is_valid_promql(tmp_path):
    """promtool parses each query (variables substituted) as a recording rule."""
    rules = [{"record": f"panel_{i}", "expr": substitute(t["expr"])} for i, (_, t) in enumerate(queries(dashboard()))]
    path = tmp_path / "panels.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "panels", "rules": rules}]}))
    result = subprocess.run([tool("promtool"), "check", "rules", str(path)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


def test_datasource_provisioning_has_the_fixed_uid():
    config = yaml.safe_load((GRAFANA_DIR / "provisioning" / "datasources" / "prometheus.yml").read_text())
    (source,) = config["datasources"]
    assert (source["uid"], source["type"], source["access"]) == (DATASOURCE_UID, "prometheus", "proxy")
    assert source["url"] == "${NEWSFLOW_PROMETHEUS_URL}"


def test_dashboard_provider_loads_files_and_forbids_ui_changes():
    config = yaml.safe_load((GRAFANA_DIR / "provisioning" / "dashboards" / "newsflow.yml").read_text())
    (provider,) = config["providers"]
    assert provider["type"] == "file"
    assert provider["allowUiUpdates"] is False and provider["disableDeletion"] is True
    assert provider["options"]["path"] == "${NEWSFLOW_GRAFANA_DASHBOARDS}"


def test_dashboard_answers_what_failed_and_is_it_healthy():
    """Issue 10.7: dead letters by reason, retries, halted stages, and targets up against the targets expected."""
    board = dashboard()
    by_title = {p["title"]: p for p in panels(board)}
    exprs = {title: [t["expr"] for t in p["targets"]] for title, p in by_title.items()}
    legends = {title: [t["legendFormat"] for t in p["targets"]] for title, p in by_title.items()}

    assert legends["Targets up"] == ["up", "expected", "down"]
    assert [e.split("(")[0] for e in exprs["Targets up"]] == ["sum", "count", "count"]
    assert all(metric_names(e) == set() and "up{" in e for e in exprs["Targets up"])
    assert by_title["Targets up"]["options"]["textMode"] == "value_and_name"

    assert [metric_names(e) for e in exprs["Halted processes"]] == [{"newsflow_circuit_open"}]
    halted_at = by_title["Halted at"]
    assert halted_at["type"] == "table" and halted_at["targets"][0]["instant"]
    (halted,) = exprs["Halted at"]
    assert metric_names(halted) == {"newsflow_halted_offset"}
    assert "by (stage, instance, cause, reason, topic, partition)" in halted

    for title, metric in (("Dead letters by reason", "newsflow_messages_dead_lettered_total"),
                          ("Retries by reason", "newsflow_messages_retried_total")):
        (expr,) = exprs[title]
        assert metric_names(expr) == {metric} and expr.startswith("sum by (stage, reason) (increase(")
        assert legends[title] == ["{{stage}}: {{reason}}"]
    (failures,) = exprs["Failures per second, by reason"]
    assert metric_names(failures) == {"newsflow_messages_failed_total"} and "by (stage, reason, kind)" in failures
    # none of them repeats per stage: one view of every stage's failures
    repeated = {p["title"] for p in panels(board) if p["id"] in repeated_panels(board)}
    assert not {"Targets up", "Halted processes", "Halted at", "Dead letters by reason", "Retries by reason",
                "Failures per second, by reason"} & repeated


def test_panels_do_not_overlap():
    taken: set[tuple[int, int]] = set()
    for panel in board_panels_with_rows():
        pos = panel["gridPos"]
        assert pos["x"] + pos["w"] <= 24, panel["title"]
        cells = {(x, y) for x in range(pos["x"], pos["x"] + pos["w"]) for y in range(pos["y"], pos["y"] + pos["h"])}
        assert not cells & taken, panel["title"]
        taken |= cells


def board_panels_with_rows() -> list[dict]:
    return [p for p in dashboard()["panels"]] + [c for p in dashboard()["panels"] for c in p.get("panels", [])]
