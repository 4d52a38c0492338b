"""The test harness: a real Kafka broker, the four services as real processes, and helpers to push and to
wait for what comes out. Used by tests/conftest.py fixtures (and by bench/ and the fault campaign).

Nothing here sleeps for a fixed time: every wait polls a condition until a deadline.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Iterable

from kafka import KafkaProducer

from schemas.messages import DeadLetter, EnrichedEvent, IngestRequest, make_article_id
from schemas.topics import TOPICS, Topic
from services.runtime.clients import consumer, create_topics, schema_headers, wait_for_broker
from services.runtime.settings import KafkaSettings

ROOT = Path(__file__).resolve().parents[1]
PYTHON = sys.executable
STAGES = ("fetcher", "cleaner", "extractor", "indexer")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(condition: Callable[[], object], timeout: float, interval: float = 0.2, what: str = "condition"):
    """Poll ``condition`` until it returns something truthy; return that, or raise TimeoutError."""
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(interval)


@dataclass
class Broker:
    """A local single-node Kafka broker started by deploy/kafka/kafka.sh (or an existing cluster)."""

    bootstrap: str
    port: int | None = None
    data: Path | None = None

    @classmethod
    def start(cls) -> Broker:
        existing = os.environ.get("NEWSFLOW_TEST_BOOTSTRAP")
        if existing:
            return cls(bootstrap=existing)
        port = free_port()
        cport = free_port()
        data = Path(tempfile.mkdtemp(prefix="newsflow-kafka-"))
        env = {**os.environ, "KAFKA_PORT": str(port), "KAFKA_CONTROLLER_PORT": str(cport), "KAFKA_DATA": str(data)}
        subprocess.run([str(ROOT / "deploy/kafka/kafka.sh"), "start"], check=True, env=env, timeout=600)
        broker = cls(bootstrap=f"127.0.0.1:{port}", port=port, data=data)
        wait_for_broker(broker.kafka(), 60)
        return broker

    def env(self) -> dict[str, str]:
        return {"KAFKA_PORT": str(self.port), "KAFKA_DATA": str(self.data)}

    def kafka(self, prefix: str = "") -> KafkaSettings:
        return KafkaSettings(bootstrap_servers=self.bootstrap, topic_prefix=prefix)

    def stop(self) -> None:
        if self.port is None:
            return
        subprocess.run([str(ROOT / "deploy/kafka/kafka.sh"), "stop"], env={**os.environ, **self.env()}, timeout=120)
        shutil.rmtree(self.data, ignore_errors=True)


@dataclass
class Service:
    name: str
    process: subprocess.Popen
    metrics_port: int
    log_path: Path

    def metrics(self) -> dict[tuple[str, tuple], float]:
        return scrape(self.metrics_port)

    def alive(self) -> bool:
        return self.process.poll() is None

    def log(self, lines: int = 60) -> str:
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        return "\n".join(text.splitlines()[-lines:])


def scrape(port: int) -> dict[tuple[str, tuple], float]:
    """{(sample name, sorted label items): value} from a /metrics endpoint."""
    from prometheus_client.parser import text_string_to_metric_families

    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        text = response.read().decode()
    samples = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            samples[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return samples


def metric(samples: dict, name: str, **labels: str) -> float:
    """Sum of the samples called ``name`` whose labels include ``labels``."""
    return sum(v for (n, ls), v in samples.items() if n == name and all((k, v2) in ls for k, v2 in labels.items()))


@dataclass
class Pipeline:
    """The four services running against ``broker`` under a topic prefix of their own."""

    broker: Broker
    prefix: str
    workdir: Path
    services: dict[str, Service] = field(default_factory=dict)
    env: dict[str, str] = field(default_factory=dict)

    @classmethod
    def start(cls, broker: Broker, stages: Iterable[str] = STAGES, extra_env: dict[str, str] | None = None,
              timeout: float = 120) -> Pipeline:
        prefix = f"t{uuid.uuid4().hex[:8]}."
        workdir = Path(tempfile.mkdtemp(prefix="newsflow-pipeline-"))
        pipeline = cls(broker=broker, prefix=prefix, workdir=workdir)
        create_topics(pipeline.kafka)
        pipeline.env = {
            **os.environ,
            "PYTHONUNBUFFERED": "1",
            "NEWSFLOW_KAFKA_BOOTSTRAP_SERVERS": broker.bootstrap,
            "NEWSFLOW_KAFKA_TOPIC_PREFIX": prefix,
            "NEWSFLOW_FETCHER_ALLOWED_NETWORKS": "127.0.0.1/32",  # the tests' local HTTP server only
            "NEWSFLOW_FETCHER_RETRY_BACKOFF_SECONDS": "0.2",
            "NEWSFLOW_INDEXER_DB_PATH": str(workdir / "index.db"),
            **(extra_env or {}),
        }
        for stage in stages:
            pipeline.start_service(stage)
        try:
            for stage in stages:
                pipeline.wait_ready(stage, timeout)
        except BaseException:
            pipeline.stop()
            raise
        return pipeline

    @property
    def kafka(self) -> KafkaSettings:
        return self.broker.kafka(self.prefix)

    @property
    def db_path(self) -> Path:
        return self.workdir / "index.db"

    def start_service(self, stage: str) -> Service:
        upper = stage.upper()
        port = free_port()
        env = {
            **self.env,
            f"NEWSFLOW_{upper}_METRICS_PORT": str(port),
            f"NEWSFLOW_{upper}_DATA_DIR": str(self.workdir / "faust"),
            f"NEWSFLOW_{upper}_LAG_INTERVAL_SECONDS": "1",
        }
        log_path = self.workdir / f"{stage}.log"
        process = subprocess.Popen(
            [PYTHON, "-m", f"services.{stage}"], cwd=ROOT, env=env,
            stdout=log_path.open("ab"), stderr=subprocess.STDOUT, start_new_session=True,
        )
        self.services[stage] = Service(stage, process, port, log_path)
        return self.services[stage]

    def wait_ready(self, stage: str, timeout: float = 120) -> None:
        """Ready = metrics served and partitions assigned (the lag gauge has a series)."""
        service = self.services[stage]

        def ready():
            if not service.alive():
                raise RuntimeError(f"{stage} exited with {service.process.returncode}:\n{service.log()}")
            try:
                return any(name == "newsflow_consumer_lag" for name, _ in service.metrics())
            except OSError:
                return False

        wait_until(ready, timeout, 0.3, f"{stage} to be ready")

    def stop_service(self, stage: str, sig: int = signal.SIGTERM, timeout: float = 60) -> int | None:
        service = self.services[stage]
        if service.alive():
            os.killpg(service.process.pid, sig)
            try:
                service.process.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(service.process.pid, signal.SIGKILL)
                service.process.wait(10)
        return service.process.returncode

    def stop(self) -> None:
        for stage in list(self.services):
            self.stop_service(stage)

    # --- pushing -------------------------------------------------------------------------------------------
    def producer(self) -> KafkaProducer:
        return KafkaProducer(bootstrap_servers=self.broker.bootstrap, acks="all", max_request_size=10 * 1024 * 1024)

    def push(self, requests: Iterable[IngestRequest]) -> list[str]:
        p = self.producer()
        ids = []
        for r in requests:
            p.send(self.kafka.topic(TOPICS.ingest.name), key=r.article_id.encode(), value=r.to_bytes(),
                   headers=schema_headers(TOPICS.ingest)).get(30)
            ids.append(r.article_id)
        p.close()
        return ids

    def push_raw(self, values: Iterable[bytes], key: bytes | None = b"raw") -> None:
        p = self.producer()
        for value in values:
            p.send(self.kafka.topic(TOPICS.ingest.name), key=key, value=value).get(30)
        p.close()

    def push_texts(self, texts: list[str]) -> list[str]:
        return self.push(request(text=t) for t in texts)

    # --- reading -------------------------------------------------------------------------------------------
    def read(self, topic: Topic, until: Callable[[list], bool], timeout: float) -> list:
        """Messages of ``topic`` (as models) from the beginning, until ``until(messages)`` or timeout."""
        c = consumer(self.kafka, topic, from_beginning=True, timeout_ms=500)
        got: list = []
        deadline = time.monotonic() + timeout
        try:
            while time.monotonic() < deadline:
                for records in c.poll(timeout_ms=500).values():
                    got.extend(topic.model.model_validate_json(r.value) for r in records)
                if until(got):
                    return got
        finally:
            c.close()
        raise TimeoutError(f"{topic.name}: condition not met within {timeout:g} s; got {len(got)} messages")

    def wait_enriched(self, ids: Iterable[str], timeout: float = 120) -> dict[str, EnrichedEvent]:
        wanted = set(ids)
        events = self.read(TOPICS.enriched, lambda got: wanted <= {e.article_id for e in got}, timeout)
        return {e.article_id: e for e in events if e.article_id in wanted}

    def dead_letters(self, count: int, timeout: float = 60,
                     where: Callable[[DeadLetter], bool] = lambda d: True) -> list[DeadLetter]:
        letters = self.read(TOPICS.dlq, lambda got: sum(map(where, got)) >= count, timeout)
        return [d for d in letters if where(d)]

    def cli(self, *args: str, input: str | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
        return subprocess.run([PYTHON, "-m", "services.cli", *args], cwd=ROOT, env=self.env, input=input,
                              capture_output=True, text=True, timeout=timeout)

    def logs(self) -> str:
        return "\n\n".join(f"===== {name} =====\n{s.log(200)}" for name, s in self.services.items())


def request(**body: str) -> IngestRequest:
    """An IngestRequest with a fresh, unique id (so tests sharing a pipeline never collide)."""
    return IngestRequest(article_id=f"test-{uuid.uuid4().hex[:12]}", ingested_at=datetime.now(timezone.utc), **body)


def seed_request(text: str) -> IngestRequest:
    return IngestRequest(article_id=make_article_id(content=text), ingested_at=datetime.now(timezone.utc), text=text)


def dump(obj) -> str:
    return json.dumps(obj, indent=1, default=str)
