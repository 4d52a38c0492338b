"""deploy/prometheus: the scrape config, the alert rules and their promtool unit tests (promtool required:
deploy/prometheus/install.sh installs it; these tests fail, never skip, without it)."""

from __future__ import annotations

import shutil
import subprocess

import pytest
import yaml

from deploy_helpers import (
    METRICS_PORTS,
    PROMETHEUS_DIR,
    STAGES,
    alert_rules,
    condition_operands,
    exported_names,
    metric_names,
    split_top_level,
    strip_comparison,
    tool,
)
from services.runtime.settings import StageSettings

ALERTS = {"ServiceDown", "ConsumerLagGrowing", "ConsumerStalled", "DeadLetterRateHigh", "EndToEndLatencyHigh",
          "ErrorRatioHigh", "CircuitBreakerOpen", "StageSaturated", "CommitStalled"}


def promtool(*args: str, cwd=PROMETHEUS_DIR) -> subprocess.CompletedProcess:
    result = subprocess.run([tool("promtool"), *args], cwd=cwd, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, f"promtool {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}"
    return result


def test_promtool_check_config_with_the_local_targets():
    promtool("check", "config", "prometheus.yml")


def test_promtool_check_config_with_the_compose_targets(tmp_path):
    """The layout docker compose mounts: prometheus.yml, alerts.yml and targets-compose/ as targets/."""
    for name in ("prometheus.yml", "alerts.yml"):
        shutil.copy(PROMETHEUS_DIR / name, tmp_path / name)
    shutil.copytree(PROMETHEUS_DIR / "targets-compose", tmp_path / "targets")
    promtool("check", "config", "prometheus.yml", cwd=tmp_path)


def test_promtool_check_rules():
    out = promtool("check", "rules", "alerts.yml").stdout
    assert f"{len(ALERTS)} rules found" in out


def test_promtool_test_rules():
    promtool("test", "rules", "alerts.test.yml")


def test_promtool_test_rules_catches_a_wrong_expectation(tmp_path):
    """The unit tests have teeth: one changed expectation makes promtool fail."""
    shutil.copy(PROMETHEUS_DIR / "alerts.yml", tmp_path / "alerts.yml")
    text = (PROMETHEUS_DIR / "alerts.test.yml").read_text()
    assert "lag 450 and growing" in text
    (tmp_path / "alerts.test.yml").write_text(text.replace("lag 450 and growing", "lag 451 and growing"))
    result = subprocess.run([tool("promtool"), "test", "rules", "alerts.test.yml"], cwd=tmp_path,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode != 0 and "ConsumerLagGrowing" in result.stdout + result.stderr


def test_one_scrape_job_per_service_with_local_and_compose_targets():
    """Each job: its fixed target (targets/ here, targets-compose/ in compose) and every process announced in
    the services' default targets folder (StageSettings.targets_dir), the announced files' stage and pid
    labels dropped (so a process named by both is one target, and the metrics keep their own stage label)."""
    config = yaml.safe_load((PROMETHEUS_DIR / "prometheus.yml").read_text())
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    assert list(jobs) == list(STAGES)
    announced_dir = StageSettings.model_fields["targets_dir"].default
    for stage, job in jobs.items():
        (sd,) = job["file_sd_configs"]
        fixed, announced = sd["files"]
        assert fixed == f"targets/{stage}.yml"
        assert announced == f"../../.data/targets/{stage}-*.json"
        assert (PROMETHEUS_DIR / announced).parent.resolve() == announced_dir.resolve()
        assert job["relabel_configs"] == [{"action": "labeldrop", "regex": "stage|pid"}]
        local = yaml.safe_load((PROMETHEUS_DIR / "targets" / f"{stage}.yml").read_text())
        compose = yaml.safe_load((PROMETHEUS_DIR / "targets-compose" / f"{stage}.yml").read_text())
        assert local == [{"targets": [f"127.0.0.1:{METRICS_PORTS[stage]}"]}]
        assert compose == [{"targets": [f"{stage}:{METRICS_PORTS[stage]}"]}]
    assert config["rule_files"] == ["alerts.yml"]


def test_every_alert_is_there_with_a_severity_summary_and_unit_tests():
    rules = {rule["alert"]: rule for rule in alert_rules()}
    assert set(rules) == ALERTS
    tests = yaml.safe_load((PROMETHEUS_DIR / "alerts.test.yml").read_text())["tests"]
    tested = {case["alertname"] for group in tests for case in group["alert_rule_test"]}
    fired = {case["alertname"] for group in tests for case in group["alert_rule_test"] if case["exp_alerts"]}
    assert tested == fired == ALERTS
    for rule in rules.values():
        assert rule["labels"]["severity"] in ("warning", "critical")
        assert rule["annotations"]["summary"] and rule["annotations"]["description"]
        assert "for" in rule


def test_alerts_use_only_metrics_that_metrics_py_exports():
    exported = exported_names()
    for rule in alert_rules():
        assert metric_names(rule["expr"]) <= exported, rule["alert"]


@pytest.mark.parametrize(
    ("expr", "operands"),
    [
        ('up{job=~"a|b"} == 0', ['up{job=~"a|b"}']),
        ("sum by (stage) (lag) > 100 and deriv(sum by (stage) (lag)[10m:30s]) > 0",
         ["sum by (stage) (lag)", "deriv(sum by (stage) (lag)[10m:30s])"]),
        ("a / b > 0.05 and c >= 5", ["a / b", "c"]),
        ("x > 0 unless sum(rate(y{l=\"and or\"}[5m])) > 0", ["x", 'sum(rate(y{l="and or"}[5m]))']),
        ("histogram_quantile(0.99, sum by (le) (rate(h_bucket[5m]))) > 30",
         ["histogram_quantile(0.99, sum by (le) (rate(h_bucket[5m])))"]),
        ("min_over_time(a[5m]) > 0 and on (job, instance) a >= max_over_time(a[5m]) unless on(job) b == 1",
         ["min_over_time(a[5m])", "a >= max_over_time(a[5m])", "b"]),
    ],
)
def test_condition_operands(expr, operands):
    assert [strip_comparison(p) for p in split_top_level(expr)] == operands == condition_operands(expr)
