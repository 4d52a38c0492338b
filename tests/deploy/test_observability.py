"""End to end, observed: a REAL Prometheus (the project's deploy/prometheus config and alert rules) scrapes the
four services of the ``pipeline`` fixture while articles go through; then every dashboard panel's query and
every alert rule is evaluated through Prometheus's HTTP API.

Targets, as deploy/prometheus/prometheus.yml finds them: each job's fixed target file (here: the test's port
of that service) and the processes announced in the pipeline's targets folder (``<stage>-<pid>.json``,
services/runtime/discovery.py). The test announces every service process there (as each does itself once it
serves its metrics; an existing file is left alone), so each is named twice and must still be scraped once.
It also announces a second fetcher "process": a metrics endpoint in this test process with the fetcher's
registry (services/runtime/metrics.py), two hosts with fetches in flight and a max_in_flight of 128. So the
``fetcher`` job must have two targets (two processes of one stage, both scraped), and the fetches-in-flight
panels (whose series exist only while a fetch is in flight, never for long with the test's inline articles)
have series to show. And it announces a halted cleaner "process" (the cleaner's registry, halted by its circuit
breaker at articles.fetched[3]@41 on processing_error, as StageRunner.halted exports it), so the halt panels
have a series and the CircuitBreakerOpen alert must fire, for it alone.

How queries are checked:
- Dashboard panels: Grafana's variables are substituted ($job, $instance -> ``.*``; $__rate_interval -> 1m;
  $__range -> 5m). Panels of the repeated "Stage: $job" row are evaluated once per stage ($job -> that
  stage), as Grafana draws them. Every query must succeed and return at least one series.
- Alert rules: a healthy pipeline makes every condition return nothing, so each rule's *operands* are
  evaluated instead (deploy_helpers.condition_operands: split at and/or/unless, threshold comparisons
  removed), e.g. ConsumerStalled gives ``sum by (stage) (newsflow_consumer_lag)`` and
  ``sum by (stage) (increase(newsflow_messages_consumed_total[5m]))``. Each must return a series. A
  subquery's resolution is lowered to 1s (``[10m:30s]`` -> ``[10m:1s]``) because this Prometheus is
  seconds old. Prometheus itself must also report every rule as evaluated without error (/api/v1/rules).
- One malformed message and one URL answering 500 (retried, then dead-lettered http_unavailable) are pushed
  with the articles, so the dead-letter, retry and failure counters move.

Prometheus: the Debian package's binary (deploy/prometheus/install.sh), on a free port of 127.0.0.1, its TSDB
in a temp folder, scrape and rule evaluation every 1s; the fixture stops it at the end.
"""

from __future__ import annotations

import math
import re
import shutil
import subprocess
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import yaml

from prometheus_client import start_http_server

from deploy_helpers import (
    PROMETHEUS_DIR,
    STAGES,
    alert_rules,
    condition_operands,
    dashboard,
    queries,
    repeated_panels,
    substitute,
    tool,
)

from services.runtime import discovery
from services.runtime.metrics import stage_metrics
from tests.harness import free_port, request, wait_until

SCRAPE_INTERVAL = "1s"
TIMEOUT = httpx.Timeout(10.0)
ARTICLES = [
    "Port strike halts container traffic in Rotterdam\n\n"
    "Dockworkers at the Port of Rotterdam walked out on Tuesday, the FNV union said, halting container "
    "traffic at Europe's largest port. Maersk and Hapag-Lloyd diverted ships to Antwerp and Hamburg.\n\n"
    "Subscribe to our newsletter for the latest shipping news.\n\nShare on Facebook",
    "US, Russia set schedule for Ukraine talks in January\n\n"
    "Deputy Russian Foreign Minister Sergei Ryabkov said he expects talks in Geneva to focus on security "
    "proposals, the TASS news agency reported on Monday.\n\nsubscribe to mint newspaper",
    "Storm hits coast of Brittany\n\n"
    "A storm with winds of 120 km/h hit the coast of Brittany on Monday, the French weather service "
    "Meteo-France said, cutting power to 40,000 homes. Rescue teams were deployed in Brest and Quimper.\n\n"
    "Copyright 2026 Example News. All rights reserved.",
]


SECOND_FETCHER_HOSTS = {"news.example": 2, "wire.example": 1}  # the second fetcher's fetches in flight
# Where and why the halted cleaner "process" halted (the labels and value of its newsflow_halted_offset).
HALT = {"stage": "cleaner", "cause": "breaker_in_a_row", "reason": "processing_error", "topic": "articles.fetched",
        "partition": "3"}
HALT_OFFSET = 41


def processes(pipeline) -> list[tuple[str, object]]:
    """(stage, service) of every running service process of the pipeline."""
    return [(getattr(s, "stage", name), s) for name, s in pipeline.services.items() if s.alive()]


def metrics_ports(pipeline) -> dict[str, int]:
    """stage -> metrics port of the pipeline's (first) process of that stage."""
    ports: dict[str, int] = {}
    for stage, service in processes(pipeline):
        ports.setdefault(stage, service.metrics_port)
    return ports


@dataclass
class Prometheus:
    url: str
    process: subprocess.Popen
    log: Path
    client: httpx.Client

    def api(self, path: str, **params) -> dict:
        response = self.client.get(f"{self.url}/api/v1/{path}", params=params)
        body = response.json()
        if response.status_code != 200 or body.get("status") != "success":
            raise AssertionError(f"{path} {params}: HTTP {response.status_code}: {body.get('error', body)}")
        return body["data"]

    def query(self, expr: str) -> list[dict]:
        return self.api("query", query=expr)["result"]

    def logs(self) -> str:
        return self.log.read_text(errors="replace")[-4000:] if self.log.exists() else ""


def write_config(workdir: Path, ports: dict[str, int], announced: Path) -> Path:
    """The project's prometheus.yml and alerts.yml, with the test's fixed targets (``ports``), the processes
    announced in ``announced`` (instead of the checkout's .data/targets) and a 1s scrape interval."""
    config = yaml.safe_load((PROMETHEUS_DIR / "prometheus.yml").read_text())
    config["global"].update(scrape_interval=SCRAPE_INTERVAL, scrape_timeout=SCRAPE_INTERVAL,
                            evaluation_interval=SCRAPE_INTERVAL)
    (workdir / "targets").mkdir()
    for job in config["scrape_configs"]:
        name = job["job_name"]
        (sd,) = job["file_sd_configs"]
        target_file, announced_files = sd["files"]
        (workdir / target_file).write_text(yaml.safe_dump([{"targets": [f"127.0.0.1:{ports[name]}"]}]))
        sd["files"] = [target_file, str(announced / Path(announced_files).name)]
        sd["refresh_interval"] = SCRAPE_INTERVAL
    shutil.copy(PROMETHEUS_DIR / "alerts.yml", workdir / "alerts.yml")
    path = workdir / "prometheus.yml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


@pytest.fixture(scope="module")
def second_fetcher():
    """A second fetcher "process": the fetcher's metrics registry served from this test process, with fetches in
    flight to two hosts. Yields its address; the caller announces it."""
    metrics = stage_metrics("fetcher")
    metrics.max_in_flight.labels("fetcher").set(128)
    metrics.in_flight.labels("fetcher").set(len(SECOND_FETCHER_HOSTS))
    metrics.watch_fetches(lambda: dict(SECOND_FETCHER_HOSTS))
    yield from _serve(metrics)


def _serve(metrics):
    server, thread = start_http_server(0, addr="127.0.0.1", registry=metrics.registry)
    try:
        yield f"127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)


@pytest.fixture(scope="module")
def halted_cleaner():
    """A halted cleaner "process": the cleaner's metrics registry, halted by its circuit breaker (HALT), served
    from this test process. Yields its address; the caller announces it."""
    metrics = stage_metrics("cleaner")
    metrics.halted(HALT["cause"], HALT["reason"], HALT["topic"], int(HALT["partition"]), HALT_OFFSET)
    yield from _serve(metrics)


def announce(pipeline, second_fetcher: str, halted_cleaner: str) -> list[Path]:
    """Announce every service process in the pipeline's targets folder as it does itself (unless it already
    did), and the second fetcher and the halted cleaner under this test's pid. Returns the files of these two."""
    folder = pipeline.targets_dir
    for stage, service in processes(pipeline):
        if not (folder / f"{stage}-{service.process.pid}.json").exists():
            discovery.announce(folder, stage, "127.0.0.1", service.metrics_port, pid=service.process.pid)
    ours = []
    for stage, address in (("fetcher", second_fetcher), ("cleaner", halted_cleaner)):
        host, port = address.rsplit(":", 1)
        ours.append(discovery.announce(folder, stage, host, int(port)))
    return ours


def expected_targets(pipeline, second_fetcher: str, halted_cleaner: str) -> list[tuple[str, str]]:
    """(job, instance) of every process Prometheus must scrape, each once."""
    return sorted([(stage, f"127.0.0.1:{s.metrics_port}") for stage, s in processes(pipeline)]
                  + [("fetcher", second_fetcher), ("cleaner", halted_cleaner)])


@pytest.fixture(scope="module")
def prometheus(pipeline, second_fetcher, halted_cleaner, tmp_path_factory):
    binary = tool("prometheus")
    workdir = tmp_path_factory.mktemp("prometheus")
    announced = announce(pipeline, second_fetcher, halted_cleaner)
    config = write_config(workdir, metrics_ports(pipeline), pipeline.targets_dir)
    port = free_port()
    log = workdir / "prometheus.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [binary, f"--config.file={config}", f"--storage.tsdb.path={workdir / 'data'}",
             f"--web.listen-address=127.0.0.1:{port}", "--storage.tsdb.retention.time=1h"],
            stdout=out, stderr=subprocess.STDOUT, cwd=workdir, start_new_session=True,
        )
    client = httpx.Client(timeout=TIMEOUT)
    prom = Prometheus(f"http://127.0.0.1:{port}", process, log, client)

    def ready():
        if process.poll() is not None:
            raise AssertionError(f"prometheus exited with {process.returncode}:\n{prom.logs()}")
        try:
            return client.get(f"{prom.url}/-/ready").status_code == 200
        except httpx.TransportError:
            return False

    try:
        wait_until(ready, 60, what="prometheus to be ready")
        yield prom
    finally:
        for file in announced:  # the session's pipeline outlives this module: leave no fake process announced
            file.unlink(missing_ok=True)
        client.close()
        process.terminate()
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)


def _values(result: list[dict], label: str) -> dict[str, float]:
    return {r["metric"].get(label, ""): float(r["value"][1]) for r in result}


def _produced(port: int) -> float:
    text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=TIMEOUT).text
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
               if line.startswith("newsflow_messages_produced_total{"))


def _catch_up(pipeline, prometheus: Prometheus) -> None:
    """Wait until Prometheus has scraped at least what every stage's endpoint says now (counters only
    grow), the lag gauge of every stage, and a dead letter."""
    ports = metrics_ports(pipeline)
    now = {stage: _produced(ports[stage]) for stage in STAGES}

    def caught_up():
        seen = _values(prometheus.query("sum by (stage) (newsflow_messages_produced_total)"), "stage")
        lag = _values(prometheus.query("sum by (stage) (newsflow_consumer_lag)"), "stage")
        dead = prometheus.query("newsflow_messages_dead_lettered_total")
        return all(seen.get(s, -1) >= now[s] for s in STAGES) and set(STAGES) <= set(lag) and dead

    wait_until(caught_up, 60, what="prometheus to scrape the processed articles, the lag gauges and a dead letter")


@pytest.fixture(scope="module")
def observed(pipeline, prometheus, second_fetcher, halted_cleaner, web):
    """Articles pushed through the pipeline in two rounds, Prometheus caught up after each.

    Round 1 (one article, one malformed message and one URL answering 500, both dead-lettered by the fetcher,
    the URL after its retries) makes every lazily created series exist (a counter child appears at its first
    increment, so Prometheus never sees that increment); round 2 then moves counters that Prometheus already
    knows, so rates are above zero."""
    expected = expected_targets(pipeline, second_fetcher, halted_cleaner)

    def all_up():
        up = prometheus.query("up")
        return sorted((r["metric"]["job"], r["metric"]["instance"]) for r in up) == expected and all(
            r["value"][1] == "1" for r in up)

    wait_until(all_up, 60, what=f"every process to be up in prometheus: {expected}")
    ids = pipeline.push_texts(ARTICLES[:1])
    pipeline.push_raw([b"{not json: observability test"], key=f"observability-{uuid.uuid4().hex[:8]}".encode())
    (unavailable,) = pipeline.push([request(url=f"{web}/status/500")])
    pipeline.wait_enriched(ids, timeout=240)
    pipeline.dead_letters(1, timeout=120, where=lambda d: d.key == unavailable.encode())
    _catch_up(pipeline, prometheus)
    more = pipeline.push_texts(ARTICLES[1:])
    pipeline.wait_enriched(more, timeout=240)
    _catch_up(pipeline, prometheus)
    return ids + more


def _poll_all(prometheus: Prometheus, checks: list[tuple[str, str]], timeout: float = 30) -> list[str]:
    """Evaluate (name, expr) pairs until each returns a series or the deadline passes (a rate needs two
    scrapes in its window); return the failures: errors at once, empty results at the deadline."""
    pending, failures = list(checks), []
    deadline = time.monotonic() + timeout
    while pending:
        still = []
        for name, expr in pending:
            try:
                if not prometheus.query(expr):
                    still.append((name, expr))
            except AssertionError as exc:
                failures.append(f"{name}: error {exc}")
        pending = still
        if pending and time.monotonic() > deadline:
            failures.extend(f"{name}: no series for {expr}" for name, expr in pending)
            break
        if pending:
            time.sleep(1)
    return failures


def test_targets_are_every_process_once_and_healthy(pipeline, prometheus, observed, second_fetcher, halted_cleaner):
    """Each service process is named by its job's fixed target file and by its announced file: one target.
    The announced files' stage and pid labels are dropped (the target is job and instance)."""
    targets = prometheus.api("targets", state="active")["activeTargets"]
    assert sorted((t["labels"]["job"], t["labels"]["instance"]) for t in targets) == expected_targets(
        pipeline, second_fetcher, halted_cleaner)
    assert {t["labels"]["job"] for t in targets} == set(STAGES)
    assert all(set(t["labels"]) == {"job", "instance"} for t in targets), [t["labels"] for t in targets]
    assert all(t["health"] == "up" for t in targets), [(t["labels"], t["lastError"]) for t in targets]


def test_two_processes_of_one_stage_are_both_scraped(prometheus, observed, second_fetcher):
    """The second fetcher, found only through its announced file, is scraped beside the first: `up` has two
    series for the fetcher job, and its samples keep their own stage label (no exported_stage)."""
    up = _values(prometheus.query('count by (job) (up == 1)'), "job")
    assert up["fetcher"] == 2, up
    hosts = prometheus.query(f'newsflow_fetches_in_flight{{instance="{second_fetcher}"}}')
    assert {r["metric"]["host"]: float(r["value"][1]) for r in hosts} == SECOND_FETCHER_HOSTS
    assert {r["metric"]["job"] for r in hosts} == {"fetcher"}
    bounds = _values(prometheus.query('newsflow_max_in_flight{job="fetcher"}'), "instance")
    assert bounds.get(second_fetcher) == 128, bounds
    assert not prometheus.query('{exported_stage!=""}')


def test_template_variables_find_jobs_and_instances(prometheus, observed):
    """Grafana's label_values(up, job) and label_values(up{job=~"$job"}, instance)."""
    jobs = prometheus.api("label/job/values", **{"match[]": "up"})
    assert set(STAGES) <= set(jobs)
    instances = prometheus.api("label/instance/values", **{"match[]": 'up{job=~".*"}'})
    assert len(instances) >= len(STAGES)


def test_every_dashboard_query_returns_series(prometheus, observed):
    board = dashboard()
    repeated = repeated_panels(board)
    checks = [
        (f"{panel['title']} [{target['refId']}] job={job}", substitute(target["expr"], {"$job": job}))
        for panel, target in queries(board)
        for job in (STAGES if panel["id"] in repeated else (".*",))
    ]
    failures = _poll_all(prometheus, checks)
    assert not failures, "\n".join(failures)


def test_pipeline_panels_show_the_articles(prometheus, observed):
    """Beyond "has a series": the whole-pipeline panels show what just went through."""
    enriched = prometheus.query('sum(rate(newsflow_messages_produced_total{stage="indexer"}[5m])) * 60')
    assert float(enriched[0]["value"][1]) > 0
    (p99,) = prometheus.query(
        "histogram_quantile(0.99, sum by (le) (rate(newsflow_end_to_end_latency_seconds_bucket[5m])))"
    )
    assert math.isfinite(float(p99["value"][1])) and float(p99["value"][1]) > 0
    entities = _values(prometheus.query("sum by (label) (newsflow_entities_extracted_total)"), "label")
    assert sum(entities.values()) > 0, entities
    stories = _values(prometheus.query("sum by (outcome) (newsflow_documents_indexed_total)"), "outcome")
    assert stories["new_story"] > 0 and stories["copy"] >= 0, stories  # the copies panel's numerator/denominator


def _live(expr: str) -> str:
    """A subquery at 1s resolution: this Prometheus holds seconds of data, not 30s steps of it."""
    return re.sub(r"\[(\d+[smhd]):\d+[smhd]?\]", r"[\1:1s]", expr)


def test_every_alert_rule_evaluates_on_existing_series(prometheus, observed):
    checks = [(rule["alert"], _live(operand)) for rule in alert_rules() for operand in condition_operands(rule["expr"])]
    failures = _poll_all(prometheus, checks)
    assert not failures, "\n".join(failures)


def _panel_query(title: str, ref: str = "A") -> str:
    (target,) = [t for p, t in queries(dashboard()) if p["title"] == title and t["refId"] == ref]
    return substitute(target["expr"])


def test_failure_and_health_panels_show_what_failed_and_what_halted(pipeline, prometheus, observed, second_fetcher,
                                                                     halted_cleaner):
    """Issue 10.7, beyond "has a series": the new panels show this pipeline's failures and the halted cleaner."""
    expected = len(expected_targets(pipeline, second_fetcher, halted_cleaner))
    targets = [float(prometheus.query(_panel_query("Targets up", ref))[0]["value"][1]) for ref in "ABC"]
    assert targets == [expected, expected, 0]  # up, expected, down

    (halted,) = prometheus.query(_panel_query("Halted processes"))
    assert float(halted["value"][1]) == 1
    (row,) = prometheus.query(_panel_query("Halted at"))
    assert row["metric"] == {**HALT, "instance": halted_cleaner} and float(row["value"][1]) == HALT_OFFSET

    def by_stage_reason(title: str) -> dict[tuple[str, str], float]:
        return {(r["metric"]["stage"], r["metric"]["reason"]): float(r["value"][1])
                for r in prometheus.query(_panel_query(title))}

    dead = wait_until(lambda: (d := by_stage_reason("Dead letters by reason")).get(("fetcher", "http_unavailable"))
                      and d, 30, what="the http_unavailable dead letter on the panel")
    assert dead.get(("fetcher", "malformed_json"), 0) >= 1
    assert all(v > 0 for v in dead.values())  # only reasons that happened
    retries = by_stage_reason("Retries by reason")
    assert retries.get(("fetcher", "http_unavailable"), 0) >= 1 and all(v > 0 for v in retries.values())
    failures = {(r["metric"]["stage"], r["metric"]["reason"], r["metric"]["kind"])
                for r in prometheus.query(_panel_query("Failures per second, by reason"))}
    assert {("fetcher", "malformed_json", "permanent"), ("fetcher", "http_unavailable", "transient")} <= failures


def test_prometheus_evaluates_every_alert_rule_without_error(prometheus, observed):
    names = {rule["alert"] for rule in alert_rules()}

    def evaluated():
        groups = prometheus.api("rules", type="alert")["groups"]
        rules = {r["name"]: r for g in groups for r in g["rules"]}
        done = set(rules) == names and all(not r["lastEvaluation"].startswith("0001") for r in rules.values())
        return rules if done else None

    rules = wait_until(evaluated, 30, what="every alert rule to be evaluated")
    assert all(r["health"] == "ok" for r in rules.values()), {n: r.get("lastError") for n, r in rules.items()}
    firing = [a["labels"] for r in rules.values() for a in r.get("alerts", []) if a["state"] == "firing"]
    # the halted cleaner "process", alone: a stage halted is an alert at once
    assert firing == [{"alertname": "CircuitBreakerOpen", "severity": "critical", "stage": "cleaner"}], firing
