"""Every default port is written once, in services/runtime/settings.py STAGE_DEFAULTS; this test pins every
other place that names one to it.

- Python reads the table: each service's settings class (services/<name>/settings.py) and ``newsflow status``.
- The files a program reads keep literal ports (Prometheus, docker compose, Docker, bash cannot import Python),
  each checked exactly here: the Prometheus target files, the compose services, the Dockerfile's EXPOSE and
  deploy/local/stack.sh's table.
- No Python code writes a default port (a number or a string outside docstrings), but the table itself.
- Every file that mentions a port (those, the alert tests, the READMEs, the docstrings) is scanned line by
  line: a number that looks like a newsflow port (91xx, 61xx) must be a stage's default, and on a line that
  names stages, a default of one of them (``fetcher:9101`` passes, ``cleaner:9101`` fails)."""

from __future__ import annotations

import ast
import importlib
import re
from pathlib import Path

import pytest
import yaml

from deploy_helpers import COMPOSE_FILE, METRICS_PORTS, PROMETHEUS_DIR, ROOT, STAGES
from services.cli.status import DEFAULT_ENDPOINTS
from services.runtime.settings import STAGE_DEFAULTS, StageSettings

PORT = re.compile(r"(?<![\d.])(?:91|61)\d\d(?!\d)")
STAGE_NAME = re.compile(r"(?<![a-z])(" + "|".join(STAGES) + r")(?![a-z])", re.I)
PORTS_OF = {stage: {defaults.metrics_port, defaults.web_port} for stage, defaults in STAGE_DEFAULTS.items()}

SCANNED = [
    *sorted((PROMETHEUS_DIR / "targets").glob("*.yml")),
    *sorted((PROMETHEUS_DIR / "targets-compose").glob("*.yml")),
    PROMETHEUS_DIR / "prometheus.yml",
    PROMETHEUS_DIR / "alerts.yml",
    PROMETHEUS_DIR / "alerts.test.yml",
    ROOT / "deploy" / "local" / "stack.sh",
    ROOT / "deploy" / "README.md",
    COMPOSE_FILE,
    ROOT / "Dockerfile",
    ROOT / "Makefile",
    ROOT / "README.md",
    ROOT / "services" / "cli" / "status.py",
    ROOT / "services" / "runtime" / "discovery.py",
]


def misplaced_ports(name: str, text: str) -> list[str]:
    """``name:line: why`` for every port literal of ``text`` that is no default of the stages its line names
    (of any stage, on a line naming none; of its own stage, in a file named after a stage)."""
    stem = Path(name).stem
    wrong = []
    for number, line in enumerate(text.splitlines(), 1):
        named = {m.lower() for m in STAGE_NAME.findall(line)} or ({stem} if stem in STAGES else set(STAGES))
        allowed = set().union(*(PORTS_OF[stage] for stage in named))
        wrong += [f"{name}:{number}: {port} is no default port of {'/'.join(sorted(named))}"
                  for port in map(int, PORT.findall(line)) if port not in allowed]
    return wrong


@pytest.mark.parametrize("path", SCANNED, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_port_written_in_a_file_is_its_stage_s_default(path):
    assert misplaced_ports(str(path.relative_to(ROOT)), path.read_text()) == []


def test_the_scan_catches_a_port_given_to_the_wrong_stage():
    fetcher, cleaner = METRICS_PORTS["fetcher"], METRICS_PORTS["cleaner"]
    text = (f'- targets: ["cleaner:{fetcher}"]\n'  # another stage's port
            f'- targets: ["127.0.0.1:9199"]\n'  # no stage's port
            f'fetcher and cleaner: {fetcher}, {cleaner}\n'  # right
            f'- targets: ["127.0.0.1:{fetcher}"]\n')  # right in fetcher.yml, wrong in cleaner.yml
    assert [why.split(":")[1] for why in misplaced_ports("fetcher.yml", text)] == ["1", "2"]
    assert [why.split(":")[1] for why in misplaced_ports("deploy/cleaner.yml", text)] == ["1", "2", "4"]


def test_each_settings_class_takes_its_stage_s_row(monkeypatch):
    for stage, defaults in STAGE_DEFAULTS.items():
        module = importlib.import_module(f"services.{stage}.settings")
        settings = getattr(module, f"{stage.title()}Settings")
        assert settings.model_config["env_prefix"] == f"NEWSFLOW_{stage.upper()}_"
        monkeypatch.setenv(f"NEWSFLOW_{stage.upper()}_WINDOW_SIZE", "3")
        assert settings(_env_file=None).window_size == 3
        for name, value in defaults._asdict().items():
            assert settings.model_fields[name].default == value, (stage, name)
            # the bounds and description of StageSettings' field are kept
            assert settings.model_fields[name].metadata == StageSettings.model_fields[name].metadata, (stage, name)


def test_newsflow_status_defaults_to_the_settings_endpoints():
    host = StageSettings.model_fields["metrics_host"].default
    assert DEFAULT_ENDPOINTS == {stage: f"http://{host}:{port}/metrics" for stage, port in METRICS_PORTS.items()}


def test_prometheus_target_files_name_the_default_ports():
    host = StageSettings.model_fields["metrics_host"].default
    for stage, port in METRICS_PORTS.items():
        local = yaml.safe_load((PROMETHEUS_DIR / "targets" / f"{stage}.yml").read_text())
        compose = yaml.safe_load((PROMETHEUS_DIR / "targets-compose" / f"{stage}.yml").read_text())
        assert local == [{"targets": [f"{host}:{port}"]}]
        assert compose == [{"targets": [f"{stage}:{port}"]}]


def test_the_dockerfile_exposes_every_metrics_port():
    (line,) = [line for line in (ROOT / "Dockerfile").read_text().splitlines() if line.startswith("EXPOSE ")]
    assert line.split()[1:] == [str(port) for port in METRICS_PORTS.values()]


def test_stack_sh_knows_every_default_port():
    """stack.sh's fallback when a process has not announced its port yet (``ports[<service>]``)."""
    script = (ROOT / "deploy" / "local" / "stack.sh").read_text()
    (table,) = re.findall(r"^declare -A ports=\((.*)\)$", script, re.M)
    assert dict(re.findall(r"\[(\w+)\]=(\d+)", table)) == {stage: str(port) for stage, port in METRICS_PORTS.items()}


def _docstrings(tree: ast.AST) -> set[int]:
    """ids of the docstring constants of a module's, class's or function's body."""
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                found.add(id(first.value))
    return found


def test_python_code_reads_the_default_ports_from_the_settings():
    table = ROOT / "services" / "runtime" / "settings.py"
    defaults = set().union(*PORTS_OF.values())
    written = []
    for folder in ("services", "schemas", "tests", "bench", "deploy"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            if path == table:
                continue
            tree = ast.parse(path.read_text())
            docs = _docstrings(tree)
            for node in ast.walk(tree):
                if not isinstance(node, ast.Constant) or id(node) in docs:
                    continue
                value = node.value
                if (type(value) is int and value in defaults) or (
                        isinstance(value, str) and any(int(port) in defaults for port in PORT.findall(value))):
                    written.append(f"{path.relative_to(ROOT)}:{node.lineno}: {value!r}")
    assert written == []


def test_the_readme_s_per_stage_table_shows_the_defaults():
    """README's table of the settings that differ by stage (``| `WINDOW_SIZE` | 64 | 16 | ...``): one column a
    stage, in pipeline order, each the stage's default."""
    rows = {m[1].lower(): m[2].split("|")[:len(STAGES)]
            for m in re.finditer(r"^\| `(\w+)` \|(.*)$", (ROOT / "README.md").read_text(), re.M)}
    for name in ("window_size", "max_in_flight"):
        assert [int(cell) for cell in rows[name]] == [getattr(STAGE_DEFAULTS[s], name) for s in STAGES], name
