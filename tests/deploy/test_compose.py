"""docker-compose.yml, Dockerfile and .dockerignore, checked statically (no Docker engine needed): the
Compose specification's JSON Schema, commands that exist, ports and job names that match
deploy/prometheus, pinned images, mounted files that exist."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest
import yaml

from deploy_helpers import COMPOSE_FILE, METRICS_PORTS, PROMETHEUS_DIR, ROOT, STAGES

PIPELINE_IMAGE = "newsflow:local"


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load(COMPOSE_FILE.read_text())


def validate(path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "check_jsonschema", "--builtin-schema", "vendor.compose-spec", str(path)],
        capture_output=True, text=True, timeout=120,
    )


def test_compose_file_matches_the_compose_specification():
    result = validate(COMPOSE_FILE)
    assert result.returncode == 0, result.stdout + result.stderr


def test_schema_validation_rejects_a_broken_file(tmp_path):
    broken = tmp_path / "docker-compose.yml"
    broken.write_text(COMPOSE_FILE.read_text().replace("    healthcheck:\n", "    healthchek:\n", 1))
    assert validate(broken).returncode != 0


def test_services(compose):
    assert set(compose["services"]) == {"kafka", "topics", *STAGES, "prometheus", "grafana"}
    assert set(compose["volumes"]) == {"kafka-data", "indexer-data", "prometheus-data", "grafana-data"}


def test_images_are_pinned(compose):
    for name, service in compose["services"].items():
        image = service["image"]
        repository, _, tag = image.rpartition(":")
        assert repository and tag and tag != "latest" and "/" not in tag, f"{name}: unpinned image {image}"
        assert image == PIPELINE_IMAGE or "build" not in service
    assert compose["services"]["kafka"]["image"] == "apache/kafka:4.1.1"
    assert re.fullmatch(r"prom/prometheus:v3\.\d+\.\d+", compose["services"]["prometheus"]["image"])
    assert re.fullmatch(r"grafana/grafana:12\.\d+\.\d+", compose["services"]["grafana"]["image"])


def test_every_command_runs_a_module_of_the_project(compose):
    for name, service in compose["services"].items():
        if service.get("image") != PIPELINE_IMAGE:
            continue
        assert service["build"] == "."
        command = service["command"]
        assert command[:2] == ["python", "-m"], name
        module = ROOT.joinpath(*command[2].split("."))
        assert (module / "__main__.py").is_file(), f"{name}: no {command[2]}/__main__.py"
    assert compose["services"]["topics"]["command"] == ["python", "-m", "services.cli", "topics", "create"]
    for stage in STAGES:
        assert compose["services"][stage]["command"] == ["python", "-m", f"services.{stage}"]


def test_start_order_kafka_healthy_then_topics_then_services(compose):
    services = compose["services"]
    health = services["kafka"]["healthcheck"]["test"]
    assert "kafka-broker-api-versions.sh" in " ".join(health)
    assert services["topics"]["depends_on"] == {"kafka": {"condition": "service_healthy"}}
    assert services["topics"]["restart"] == "no"
    for stage in STAGES:
        depends = services[stage]["depends_on"]
        assert depends["topics"] == {"condition": "service_completed_successfully"}
        assert depends["kafka"] == {"condition": "service_healthy"}


def test_kafka_listeners(compose):
    env = compose["services"]["kafka"]["environment"]
    assert env["KAFKA_PROCESS_ROLES"] == "broker,controller"
    assert "INTERNAL://kafka:29092" in env["KAFKA_ADVERTISED_LISTENERS"]
    for name in ("topics", *STAGES):
        assert compose["services"][name]["environment"]["NEWSFLOW_KAFKA_BOOTSTRAP_SERVERS"] == "kafka:29092"


def test_metrics_ports_match_the_prometheus_jobs_and_targets(compose):
    config = yaml.safe_load((PROMETHEUS_DIR / "prometheus.yml").read_text())
    jobs = [job["job_name"] for job in config["scrape_configs"]]
    assert jobs == list(STAGES)
    for job in jobs:
        (group,) = yaml.safe_load((PROMETHEUS_DIR / "targets-compose" / f"{job}.yml").read_text())
        (target,) = group["targets"]
        host, port = target.split(":")
        service = compose["services"][host]  # the job's target is the compose service of the same name
        assert host == job and int(port) == METRICS_PORTS[job]
        env = service["environment"]
        assert env[f"NEWSFLOW_{job.upper()}_METRICS_PORT"] == port
        assert env[f"NEWSFLOW_{job.upper()}_METRICS_HOST"] == "0.0.0.0"
        assert port in service["expose"]
        assert f"127.0.0.1:{port}:{port}" in service["ports"]
        assert f"'http://127.0.0.1:{port}/metrics'" in " ".join(service["healthcheck"]["test"])


def test_prometheus_and_grafana_mount_files_that_exist(compose):
    services = compose["services"]
    for name in ("prometheus", "grafana"):
        for volume in services[name]["volumes"]:
            source = volume.split(":")[0]
            if source.startswith("./"):
                assert (ROOT / source).exists(), f"{name}: {source} does not exist"
    mounts = {v.split(":")[1]: v.split(":")[0] for v in services["prometheus"]["volumes"]}
    assert mounts["/etc/prometheus/targets"] == "./deploy/prometheus/targets-compose"
    assert mounts["/etc/prometheus/prometheus.yml"] == "./deploy/prometheus/prometheus.yml"
    env = services["grafana"]["environment"]
    assert env["GF_AUTH_ANONYMOUS_ENABLED"] == "true" and env["GF_AUTH_ANONYMOUS_ORG_ROLE"] == "Viewer"
    assert env["NEWSFLOW_PROMETHEUS_URL"] == "http://prometheus:9090"
    grafana_mounts = {v.split(":")[1]: v.split(":")[0] for v in services["grafana"]["volumes"]}
    assert grafana_mounts[env["NEWSFLOW_GRAFANA_DASHBOARDS"]] == "./deploy/grafana/dashboards"
    assert grafana_mounts["/etc/grafana/provisioning"] == "./deploy/grafana/provisioning"


def test_dockerfile_builds_the_project_on_a_pinned_python():
    text = (ROOT / "Dockerfile").read_text()
    (base,) = re.findall(r"^FROM\s+(\S+)", text, re.M)
    assert re.fullmatch(r"python:3\.11[.\w-]*-slim[\w-]*", base), base
    assert "pip install ." in text
    assert "-r requirements-model.txt" in text and (ROOT / "requirements-model.txt").is_file()
    assert re.search(r"^USER\s+\w+", text, re.M), "run as a non-root user"
    assert (ROOT / "pyproject.toml").is_file()
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert {".git", ".venv", ".data", ".cache", ".env"} <= set(ignored)
