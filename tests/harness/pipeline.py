"""A real Kafka broker, the four services as real processes, and helpers to push and to wait for what comes
out. Used by tests/conftest.py's fixtures, the integration and end-to-end tests, bench/load.py and bench/faults.py.

Nothing here sleeps for a fixed time: every wait polls a condition until a deadline. It must not import pytest
(the benchmarks run without it) nor anything under bench/.
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

ROOT = Path(__file__).resolve().parents[2]
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
    controller_port: int | None = None

    @classmethod
    def start(cls) -> Broker:
        existing = os.environ.get("NEWSFLOW_TEST_BOOTSTRAP")
        if existing:
            return cls(bootstrap=existing)
        broker = cls.create()
        broker.restart()
        return broker

    @classmethod
    def create(cls) -> Broker:
        """A local broker with its ports and data folder chosen, not started yet (``restart()`` starts it)."""
        port = free_port()
        data = Path(tempfile.mkdtemp(prefix="newsflow-kafka-"))
        return cls(bootstrap=f"127.0.0.1:{port}", port=port, data=data, controller_port=free_port())

    def env(self) -> dict[str, str]:
        env = {"KAFKA_PORT": str(self.port), "KAFKA_DATA": str(self.data)}
        if self.controller_port is not None:
            env["KAFKA_CONTROLLER_PORT"] = str(self.controller_port)
        return env

    def pid(self) -> int | None:
        """The broker's process id, from kafka.sh's pidfile ($KAFKA_DATA/broker.pid)."""
        try:
            return int((self.data / "broker.pid").read_text().strip())
        except (OSError, ValueError, TypeError):
            return None

    def alive(self) -> bool:
        pid = self.pid()
        return pid is not None and _process_running(pid)

    def kill(self, timeout: float = 30) -> int:
        """kill -9 the local broker (no clean shutdown: no flush, no leaving the group coordinator); return its
        pid once it is gone. Its data folder and ports stay, for ``restart()``."""
        pid = self.pid()
        if self.port is None or pid is None:
            raise RuntimeError("not a local broker started by kafka.sh")
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        # A killed JVM's main thread can show as a zombie while its other threads (and sockets) still live:
        # gone means the port refuses too.
        wait_until(lambda: not _process_running(pid) and not _answers(self.port), timeout, 0.1,
                   f"broker pid {pid} to die")
        return pid

    def restart(self, timeout: float = 120) -> None:
        """Start the local broker (again) on the same ports and data, and wait until it answers."""
        if self.port is None:
            raise RuntimeError("not a local broker started by kafka.sh")
        env = {**os.environ, **self.env()}
        subprocess.run([str(ROOT / "deploy/kafka/kafka.sh"), "start"], check=True, env=env, timeout=600)
        wait_for_broker(self.kafka(), timeout)

    def kafka(self, prefix: str = "") -> KafkaSettings:
        return KafkaSettings(bootstrap_servers=self.bootstrap, topic_prefix=prefix)

    def stop(self) -> None:
        if self.port is None:
            return
        subprocess.run([str(ROOT / "deploy/kafka/kafka.sh"), "stop"], env={**os.environ, **self.env()}, timeout=120)
        shutil.rmtree(self.data, ignore_errors=True)


def _answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def _process_running(pid: int) -> bool:
    """True when ``pid`` exists and is not a zombie (a killed broker is reparented, so it may linger as one)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


@dataclass
class Service:
    """One running service process of a :class:`Pipeline`: its process, metrics port and log file."""

    name: str
    process: subprocess.Popen
    metrics_port: int
    log_path: Path
    stage: str = ""  # the service it runs (``name`` unless it is a second process of one, e.g. "extractor-2")

    def __post_init__(self):
        self.stage = self.stage or self.name

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

    @property
    def targets_dir(self) -> Path:
        """Where this pipeline's service processes announce their metrics endpoints (not the checkout's own
        .data/targets, which `newsflow status` and a local Prometheus read)."""
        return self.workdir / "targets"

    def start_service(self, stage: str, name: str | None = None) -> Service:
        """Start a process of ``stage``, known as ``name`` (default: the stage). Another ``name`` starts one
        more process of the same service (same consumer group, its own port, data folder and log), e.g.
        ``start_service("extractor", "extractor-2")``; ``wait_ready(name)`` waits for it."""
        name = name or stage
        upper = stage.upper()
        port = free_port()
        env = {
            **self.env,
            f"NEWSFLOW_{upper}_METRICS_PORT": str(port),
            f"NEWSFLOW_{upper}_DATA_DIR": str(self.workdir / ("faust" if name == stage else f"faust-{name}")),
            f"NEWSFLOW_{upper}_LAG_INTERVAL_SECONDS": "1",
            f"NEWSFLOW_{upper}_TARGETS_DIR": str(self.targets_dir),
        }
        log_path = self.workdir / f"{name}.log"
        process = subprocess.Popen(
            [PYTHON, "-m", f"services.{stage}"], cwd=ROOT, env=env,
            stdout=log_path.open("ab"), stderr=subprocess.STDOUT, start_new_session=True,
        )
        self.services[name] = Service(name, process, port, log_path, stage=stage)
        return self.services[name]

    def wait_ready(self, stage: str, timeout: float = 120) -> None:
        """Ready = metrics served and partitions assigned (the lag gauge has a series). ``stage``: a service's
        name (its stage, or the name given to ``start_service``)."""
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

    def kill_service(self, stage: str, timeout: float = 30) -> int:
        """kill -9 a service (no commit, no leaving the group); return the dead process's pid.
        ``start_service(stage)`` starts a new one."""
        service = self.services[stage]
        if service.alive():
            os.killpg(service.process.pid, signal.SIGKILL)
            service.process.wait(timeout)
        return service.process.pid

    def pids(self) -> dict[str, int]:
        return {stage: s.process.pid for stage, s in self.services.items()}

    # --- the index -----------------------------------------------------------------------------------------
    def index_counts(self) -> dict[str, int]:
        """Rows of the index: ``documents`` (one per article id), ``distinct_ids``, ``fts_rows`` and
        ``fts_distinct`` (the full-text table, where a redelivery handled wrongly would add a second row)."""
        import sqlite3

        if not self.db_path.exists():
            return {"documents": 0, "distinct_ids": 0, "fts_rows": 0, "fts_distinct": 0}
        db = sqlite3.connect(f"file:{self.db_path}?mode=ro", uri=True)
        try:
            db.execute("PRAGMA busy_timeout=5000")
            one = lambda sql: db.execute(sql).fetchone()[0]  # noqa: E731
            return {
                "documents": one("SELECT count(*) FROM documents"),
                "distinct_ids": one("SELECT count(DISTINCT article_id) FROM documents"),
                "fts_rows": one("SELECT count(*) FROM documents_fts"),
                "fts_distinct": one("SELECT count(DISTINCT article_id) FROM documents_fts"),
            }
        finally:
            db.close()

    def document_ids(self) -> set[str]:
        import sqlite3

        if not self.db_path.exists():
            return set()
        db = sqlite3.connect(f"file:{self.db_path}?mode=ro", uri=True)
        try:
            db.execute("PRAGMA busy_timeout=5000")
            return {row[0] for row in db.execute("SELECT article_id FROM documents")}
        finally:
            db.close()

    def topic_counts(self) -> dict[str, int]:
        """Records in each of this pipeline's topics (end offset minus beginning offset, all partitions)."""
        from kafka import KafkaConsumer, TopicPartition

        c = KafkaConsumer(**self.kafka.kafka_python_config(), enable_auto_commit=False)
        try:
            counts = {}
            for t in TOPICS:
                name = self.kafka.topic(t.name)
                tps = [TopicPartition(name, p) for p in sorted(c.partitions_for_topic(name) or ())]
                ends, begins = c.end_offsets(tps), c.beginning_offsets(tps)
                counts[t.name] = sum(ends[tp] - begins[tp] for tp in tps)
            return counts
        finally:
            c.close()

    # --- pushing -------------------------------------------------------------------------------------------
    def producer(self) -> KafkaProducer:
        return KafkaProducer(bootstrap_servers=self.broker.bootstrap, acks="all", max_request_size=TOPICS.max_message_bytes)

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

    def outcomes(self, ids: Iterable[str], timeout: float = 120) -> dict[str, EnrichedEvent | DeadLetter]:
        """The terminal outcome of each article id: its enriched event, or its dead letter (keyed by the id),
        whichever comes first; raises TimeoutError naming the ids still without one."""
        wanted, got = set(ids), {}
        readers = [(t, consumer(self.kafka, t, from_beginning=True, timeout_ms=200)) for t in (TOPICS.enriched, TOPICS.dlq)]
        deadline = time.monotonic() + timeout
        try:
            while not wanted <= got.keys():
                if time.monotonic() > deadline:
                    raise TimeoutError(f"no outcome within {timeout:g} s for {sorted(wanted - got.keys())}")
                for topic, c in readers:
                    for records in c.poll(timeout_ms=200).values():
                        for r in records:
                            m = topic.model.model_validate_json(r.value)
                            key = m.article_id if topic is TOPICS.enriched else (m.key or b"").decode("utf-8", "replace")
                            if key in wanted:
                                got.setdefault(key, m)
        finally:
            for _, c in readers:
                c.close()
        return got

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


def print_logs_if_failed(node, pipeline: Pipeline) -> None:
    """After a test (pytest's ``request.node``): print the services' logs when its call failed."""
    report = getattr(node, "rep_call", None)
    if report is not None and report.failed:
        print(pipeline.logs())


def dump(obj) -> str:
    return json.dumps(obj, indent=1, default=str)
