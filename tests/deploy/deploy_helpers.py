"""Helpers of the deploy tests: where things are, promtool, the dashboard's queries and the alert rules."""

from __future__ import annotations

import importlib.util
import json
import re
import shutil
from pathlib import Path

import pytest
import yaml

from services.runtime.settings import STAGE_DEFAULTS, STAGES

ROOT = Path(__file__).resolve().parents[2]
PROMETHEUS_DIR = ROOT / "deploy" / "prometheus"
GRAFANA_DIR = ROOT / "deploy" / "grafana"
DASHBOARD_JSON = GRAFANA_DIR / "dashboards" / "newsflow-pipeline.json"
COMPOSE_FILE = ROOT / "docker-compose.yml"

# The metrics ports every service listens on by default (NEWSFLOW_<SERVICE>_METRICS_PORT), from the settings.
METRICS_PORTS = {stage: defaults.metrics_port for stage, defaults in STAGE_DEFAULTS.items()}

# Grafana's variables, as the live test substitutes them: every job and instance, a 1m rate window
# (>= 4 scrapes at the test's 1s scrape interval), and a 5m dashboard range.
GRAFANA_SUBSTITUTIONS = {
    "$__rate_interval": "1m",
    "$__interval": "5s",
    "$__range": "5m",
    "$job": ".*",
    "$instance": ".*",
}


def tool(name: str) -> str:
    """Path of a Prometheus binary; fail (never skip) when missing: CI installs it."""
    path = shutil.which(name)
    if not path:
        pytest.fail(f"{name} is not installed: run deploy/prometheus/install.sh (Debian package prometheus)")
    return path


def load_dashboard_module():
    spec = importlib.util.spec_from_file_location("newsflow_dashboard", GRAFANA_DIR / "dashboard.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def dashboard() -> dict:
    return json.loads(DASHBOARD_JSON.read_text())


def panels(board: dict) -> list[dict]:
    """Every panel, rows' children included, rows themselves excluded."""
    found = []
    for panel in board["panels"]:
        if panel["type"] == "row":
            found.extend(panel.get("panels", []))
        else:
            found.append(panel)
    return found


def repeated_panels(board: dict) -> set[int]:
    """Ids of panels that sit under a repeated row (Grafana draws them once per value of its variable)."""
    ids, repeating = set(), False
    for panel in board["panels"]:
        if panel["type"] == "row":
            repeating = bool(panel.get("repeat"))
            ids.update(p["id"] for p in panel.get("panels", []) if repeating)
        elif repeating:
            ids.add(panel["id"])
    return ids


def queries(board: dict) -> list[tuple[dict, dict]]:
    """(panel, target) for every query of every panel."""
    return [(panel, target) for panel in panels(board) for target in panel.get("targets", [])]


def substitute(expr: str, variables: dict[str, str] | None = None) -> str:
    values = {**GRAFANA_SUBSTITUTIONS, **(variables or {})}
    for name in sorted(values, key=len, reverse=True):  # $__rate_interval before $__range, $instance ...
        expr = expr.replace(name, values[name])
    assert "$" not in expr, f"unsubstituted Grafana variable in {expr}"
    return expr


def alert_rules() -> list[dict]:
    groups = yaml.safe_load((PROMETHEUS_DIR / "alerts.yml").read_text())["groups"]
    return [rule for group in groups for rule in group["rules"] if "alert" in rule]


# --- an alert's underlying series ---------------------------------------------------------------------------
# An alert expression is a condition: healthy, it returns nothing, so evaluating it proves little. Instead
# the live test evaluates its *operands*: the expression is split at its top-level set operators (and, or,
# unless) and every threshold comparison against a number is removed from each part, e.g.
#     sum by (stage) (lag) > 0 unless sum by (stage) (increase(consumed[5m])) > 0
# gives `sum by (stage) (lag)` and `sum by (stage) (increase(consumed[5m]))`. Each operand must return at
# least one series: every metric, label and aggregation the rule relies on exists in the running pipeline.

_SET_OPERATOR = re.compile(r"\s(and|or|unless)\s")
# A set operator's matching modifier, e.g. `and on (job, instance)`: it belongs to the operator, not the operand.
_MATCHING = re.compile(r"^(on|ignoring)\s*\([^)]*\)\s*")
_COMPARISON = re.compile(r"\s*(==|!=|>=|<=|>|<)\s*(bool\s+)?[-+]?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?\s*$")


def split_top_level(expr: str) -> list[str]:
    """Split at set operators outside parentheses, brackets, braces and quotes."""
    parts, depth, quote, start, i = [], 0, None, 0, 0
    while i < len(expr):
        c = expr[i]
        if quote:
            if c == "\\":
                i += 1
            elif c == quote:
                quote = None
        elif c in "\"'`":
            quote = c
        elif c in "([{":
            depth += 1
        elif c in ")]}":
            depth -= 1
        elif depth == 0:
            m = _SET_OPERATOR.match(expr, i)
            if m:
                parts.append(expr[start:i])
                i = start = m.end()
                continue
        i += 1
    parts.append(expr[start:])
    return [_MATCHING.sub("", p.strip()) for p in parts if p.strip()]


def strip_comparison(expr: str) -> str:
    """`<expr> > 0.05` -> `<expr>` (only a trailing comparison against a number literal)."""
    return _COMPARISON.sub("", " ".join(expr.split()))


def condition_operands(expr: str) -> list[str]:
    return [strip_comparison(part) for part in split_top_level(" ".join(expr.split()))]


def metric_names(expr: str) -> set[str]:
    return set(re.findall(r"\bnewsflow_[a-z_]+", expr))


def exported_names() -> set[str]:
    """Every name a query may use: each metric of services/runtime/metrics.py, and a histogram's series."""
    from services.runtime.metrics import DOCS

    return set(DOCS) | {f"{name}_{suffix}" for name in DOCS for suffix in ("bucket", "sum", "count")}
