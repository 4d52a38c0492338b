"""The load benchmark of issue 9: how fast, how late, how concurrent and how big the pipeline runs, on a real
broker with the services as real processes.

One command, bounded in time, stops by itself (every broker, service and HTTP server it started is stopped at
the end, also on failure, Ctrl-C or SIGTERM):

    .venv/bin/python bench/load.py             # every phase, default sizes: ~20-35 min on 2 cores (make bench-load)
    .venv/bin/python bench/load.py --quick     # the same phases with small sizes: a ~5 min smoke run
    .venv/bin/python bench/load.py --phases bound,saturation --saturation-n 500

Phases, in this order (``--phases`` picks some; latency needs saturation's rate, or ``--rate``):

    bound       each stage's CPU seconds per article, measured standalone in one process over the corpus (the
                stage's pure step plus the JSON decode of its input and encode of its output, as the runner does);
                bound = cores / the sum over the four stages, the articles/s the machine could do if nothing but
                the steps cost CPU
    saturation  N inline-HTML articles (corpus pages cycled, unique ids) pushed at once to the running pipeline:
                articles/s from the first push to the last enriched event, the steady rate (middle 80 % of the
                events), and its ratio to the bound
    latency     open-loop Poisson arrivals at 50 % and 80 % of the saturation rate, D seconds each: p50/p95/p99
                from ingested_at (the scheduled arrival, set at push) to the enriched event's arrival at a consumer
    io          URLs on 20 loopback hosts (127.0.0.2-21, a ThreadingHTTPServer each, every answer delayed 200-800
                ms) through one fetcher process (the other stages are not started): fetched articles/s and the
                most fetches in flight; then the same URLs with a trickling host's mixed in (127.0.0.22, each page
                dribbled over ~10 s): does it delay any other host's article?
    scale_out   the extractor alone, one process then two (fresh topics each), each draining the same burst of
                cleaned articles (the cleaner's output on the corpus) produced once the group has settled

and all along, every 2 s: each service process's RSS (/proc/<pid>/status) and its metrics (lag, counters, in
flight). Nothing is ever sent anywhere but 127.0.0.0/8.

Writes bench/results/load-<UTC time>.json and PNGs beside it (-throughput, -latency-cdf, -lag, -rss, -io) and
prints a table with the goals of issue 9. The corpus is Zyte's article-extraction benchmark (181 pages) in
../shared/data (override: NEWSFLOW_BENCH_DATA=<dir holding article-extraction-benchmark/>).
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import http.server
import json
import math
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from kafka import KafkaConsumer, TopicPartition  # noqa: E402

from bench.runs import result_path, run_stamp  # noqa: E402
from schemas.messages import CleanedArticle, DeadLetter, EnrichedEvent, IngestRequest  # noqa: E402
from schemas.topics import TOPICS, Topic  # noqa: E402
from services.runtime.clients import schema_headers  # noqa: E402
from tests.harness import PYTHON, STAGES, Broker, Pipeline, Service, metric, wait_until  # noqa: E402

PHASES = ("bound", "saturation", "latency", "io", "scale_out")
MB = 1024 * 1024

# Sizes: (default run, --quick). The default fits ~35 min on 2 shared cores once the services keep many messages
# in flight; with one message at a time the io phase is cut by its timeout (and says so).
SIZES = {
    "pages": (0, 60),  # corpus pages used (0: all 181)
    "saturation_n": (2000, 120),
    "latency_seconds": (150.0, 25.0),
    "io_urls": (1000, 60),
    "io_trickle_urls": (4, 2),
    "scale_out_n": (800, 60),
}

# The goals of issue 9.
GOAL_SATURATION_RATIO = 0.8
GOAL_P99 = {0.5: 1.0, 0.8: 3.0}
GOAL_FETCH_RATE = 50.0
GOAL_SCALE_OUT = 1.7
GOAL_RSS_MB = 400.0
# "A trickling host delays no other host's article", two ways it could (run B = run A's fast URLs plus a few on
# the trickling host): a fast URL's article held back until a trickled page completed (answered more than
# HELD_SECONDS before that completion, produced within HELD_WINDOW after it: in-order release, a window waiting
# for its slowest member); fast URLs not even requested meanwhile (B's fast URLs/s below TRICKLE_RATE_SHARE of A's).
HELD_SECONDS, HELD_WINDOW = 1.0, 0.5
TRICKLE_RATE_SHARE = 0.8
# RSS "flat": growth over the steady phases (the latency phases) within max(this many MB, this share of the max).
RSS_FLAT = (25.0, 0.05)


def now_utc() -> datetime:
    return datetime.now(timezone.utc)


def percentile(values: list[float], q: float) -> float | None:
    """The q-quantile by the nearest-rank method (None for no values)."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


def r3(x: float | None) -> float | None:
    return None if x is None else round(x, 3)


# --- the corpus ------------------------------------------------------------------------------------------------
def data_dir() -> Path:
    return Path(os.environ.get("NEWSFLOW_BENCH_DATA", ROOT.parent / "shared" / "data")) / "article-extraction-benchmark"


def corpus(pages: int = 0) -> list[tuple[str, str]]:
    """(page id, HTML) of the benchmark's pages, sorted by id; the first ``pages`` of them (0: all)."""
    root = data_dir()
    ids = sorted(json.loads((root / "ground-truth.json").read_text(encoding="utf-8")))
    ids = ids[:pages] if pages else ids
    return [(pid, gzip.decompress((root / "html" / f"{pid}.html.gz").read_bytes()).decode("utf-8", "replace"))
            for pid in ids]


# --- the bound: each stage's CPU per article, standalone (run in a subprocess: --bound-worker) ----------------
def bound_worker(pages: int, batch_size: int, out: Path, cleaned_out: Path) -> None:
    """Every stage's step over the corpus in this one process, stage after stage, timed with process_time.

    Per stage, what the runner does for a message apart from Kafka I/O: decode the input bytes into its model,
    the step (the stage's batch function over windows of ``batch_size`` when it has one, else one article at a
    time), add the stage timing, encode the output. ``step_cpu`` is the step alone. Models are loaded first
    (each service's warm_up), so loading is not counted. Writes the figures to ``out`` and the cleaner's outputs
    (CleanedArticle JSON, one a line) to ``cleaned_out`` for the scale-out phase.
    """
    import tempfile as tempfile_

    from schemas.messages import (ExtractedArticle, FetchedArticle, StageName, StageTiming)
    from services.cleaner import logic as cleaner_logic
    from services.cleaner.service import warm_up as cleaner_warm_up
    from services.extractor import logic as extractor_logic
    from services.extractor.service import warm_up as extractor_warm_up
    from services.fetcher.logic import passthrough
    from services.indexer.logic import enrich
    from services.indexer.store import SqliteIndex

    loaded = time.process_time()
    cleaner_warm_up()
    extractor_warm_up()
    warm_up_cpu = time.process_time() - loaded
    index_dir = Path(tempfile_.mkdtemp(prefix="newsflow-bound-"))
    index = SqliteIndex(index_dir / "index.db")

    def per_article(fn):
        def run(items):
            results = []
            for item in items:
                try:
                    results.append(fn(item))
                except Exception as exc:  # noqa: BLE001 - a failing article is counted, as the runner would
                    results.append(exc)
            return results
        return run

    def step_of(module, batch_name: str, single) -> tuple:
        batch = getattr(module, batch_name, None)
        if batch is not None:
            return batch, f"{module.__name__}.{batch_name} (windows of {batch_size})"
        return per_article(single), f"{module.__name__}.{single.__name__} (one article at a time)"

    clean_step, clean_how = step_of(cleaner_logic, "clean_batch", cleaner_logic.clean)
    extract_step, extract_how = step_of(extractor_logic, "extract_batch", extractor_logic.extract)
    stages = [
        (StageName.fetcher, TOPICS.ingest.model, per_article(passthrough), "services.fetcher.logic.passthrough"),
        (StageName.cleaner, FetchedArticle, clean_step, clean_how),
        (StageName.extractor, CleanedArticle, extract_step, extract_how),
        (StageName.indexer, ExtractedArticle, per_article(lambda a: index.upsert(enrich(a, now_utc()))),
         "services.indexer.logic.enrich + SqliteIndex.upsert (temporary SQLite)"),
    ]
    started = now_utc()
    payloads = [IngestRequest(article_id=f"bound-{i:04d}", ingested_at=started, html=html).to_bytes()
                for i, (_pid, html) in enumerate(corpus(pages))]
    figures: dict = {"pages": len(payloads), "batch_size": batch_size, "warm_up_cpu_seconds": round(warm_up_cpu, 2),
                     "stages": {}}
    for name, model, step, how in stages:
        cpu0, wall0, step_cpu, failed, outputs = time.process_time(), time.perf_counter(), 0.0, 0, []
        for start in range(0, len(payloads), batch_size):
            inputs = [model.model_validate_json(raw) for raw in payloads[start:start + batch_size]]
            s0 = time.process_time()
            results = step(inputs)
            step_cpu += time.process_time() - s0
            for result in results:
                if isinstance(result, BaseException):
                    failed += 1
                    continue
                timing = StageTiming(stage=name, seconds=0.001, finished_at=now_utc())
                outputs.append(result.with_timing(timing).to_bytes())
        cpu = time.process_time() - cpu0
        figures["stages"][name.value] = {
            "how": how, "articles": len(payloads), "failed": failed,
            "cpu_seconds_per_article": cpu / len(payloads), "step_cpu_seconds_per_article": step_cpu / len(payloads),
            "wall_seconds": round(time.perf_counter() - wall0, 2),
        }
        if name is StageName.cleaner:
            cleaned_out.write_bytes(b"\n".join(outputs) + b"\n")
        payloads = outputs
    index.close()
    shutil.rmtree(index_dir, ignore_errors=True)
    out.write_text(json.dumps(figures, indent=1))


def measure_bound(args, workdir: Path) -> tuple[dict, list[bytes]]:
    out, cleaned = workdir / "bound.json", workdir / "cleaned.jsonl"
    command = [PYTHON, str(Path(__file__).resolve()), "--bound-worker", str(out), "--cleaned-out", str(cleaned),
               "--pages", str(args.pages), "--batch-size", str(args.batch_size)]
    started = time.monotonic()
    subprocess.run(command, cwd=ROOT, check=True, timeout=1800)
    figures = json.loads(out.read_text())
    stages = figures["stages"]
    cores = os.cpu_count() or 1
    total = sum(s["cpu_seconds_per_article"] for s in stages.values())
    steps = sum(s["step_cpu_seconds_per_article"] for s in stages.values())
    figures.update({
        "cores": cores,
        "cpu_seconds_per_article": total,
        "bound_articles_per_second": cores / total,
        "bound_steps_only_articles_per_second": cores / steps,
        "seconds": round(time.monotonic() - started, 1),
        "counts": "decode of the input + step + stage timing + encode of the output; step_cpu is the step alone",
    })
    return figures, [line for line in cleaned.read_bytes().splitlines() if line]


# --- the loopback web hosts ------------------------------------------------------------------------------------
@dataclass
class Hit:
    """One request a loopback host answered."""

    host: str
    path: str
    article_id: str
    started: float  # time.time() when the request arrived
    finished: float  # when the last byte was written


class _PageHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as real sites

    def log_message(self, *args):  # noqa: D102 - quiet
        pass

    def do_GET(self):  # noqa: N802
        hosts: LoopbackHosts = self.server.hosts  # type: ignore[attr-defined]
        started = time.time()
        if self.path == "/robots.txt":
            return self._answer(b"User-agent: *\nAllow: /\n", "text/plain", 0.0)
        parts = urlsplit(self.path)
        try:
            n = int(parts.path.rsplit("/", 1)[1])
        except (ValueError, IndexError):
            return self._answer(b"not found", "text/plain", 0.0, status=404)
        body = hosts.pages[n % len(hosts.pages)].encode()
        trickle = self.server.server_address[0] == hosts.trickle_host  # type: ignore[attr-defined]
        try:
            if trickle:
                self._trickle(body, hosts.trickle_seconds)
            else:
                self._answer(body, "text/html; charset=utf-8", hosts.delay(n))
        except OSError:  # the client went away
            return None
        hosts.hits.append(Hit(self.server.server_address[0], parts.path,  # type: ignore[attr-defined]
                              parse_qs(parts.query).get("id", [""])[0], started, time.time()))

    def _answer(self, body: bytes, content_type: str, delay: float, status: int = 200) -> None:
        time.sleep(delay)
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _trickle(self, body: bytes, seconds: float, chunks: int = 20) -> None:
        """Headers at once, then the body in ``chunks`` pieces spread over ``seconds`` (complete in the end)."""
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        size = math.ceil(len(body) / chunks)
        for k in range(chunks):
            time.sleep(seconds / chunks)
            self.wfile.write(body[k * size:(k + 1) * size])
            self.wfile.flush()


class LoopbackHosts:
    """``fast`` web hosts on 127.0.0.2, 127.0.0.3, ... and one trickling host after them, each a
    ThreadingHTTPServer (a thread per connection, so a delayed answer holds only its own thread).

    ``/article/<n>?id=<article id>`` answers corpus page n (mod the corpus), after a delay drawn uniformly from
    ``delay_range`` and fixed by n (so two runs over the same URLs see the same delays); on the trickling host
    the page is dribbled over ``trickle_seconds`` instead. ``/robots.txt`` allows everything, at once.
    Every answered article is logged in ``hits``.
    """

    def __init__(self, pages: list[str], fast: int = 20, delay_range=(0.2, 0.8), trickle_seconds: float = 10.0):
        self.pages, self.delay_range, self.trickle_seconds = pages, delay_range, trickle_seconds
        self.fast_hosts = [f"127.0.0.{2 + k}" for k in range(fast)]
        self.trickle_host = f"127.0.0.{2 + fast}"
        self.hits: list[Hit] = []
        self.servers: dict[str, http.server.ThreadingHTTPServer] = {}
        for host in (*self.fast_hosts, self.trickle_host):
            server = http.server.ThreadingHTTPServer((host, 0), _PageHandler)
            server.daemon_threads = True
            server.request_queue_size = 128
            server.hosts = self  # type: ignore[attr-defined]
            threading.Thread(target=server.serve_forever, daemon=True, name=f"web-{host}").start()
            self.servers[host] = server

    def delay(self, n: int) -> float:
        return random.Random(n).uniform(*self.delay_range)

    def url(self, host: str, n: int, article_id: str) -> str:
        return f"http://{host}:{self.servers[host].server_address[1]}/article/{n}?id={article_id}"

    def stop(self) -> None:
        for server in self.servers.values():
            server.shutdown()
            server.server_close()


def most_overlapping(intervals: list[tuple[float, float]]) -> int:
    """The most intervals open at one time."""
    events = sorted([(a, 1) for a, _ in intervals] + [(b, -1) for _, b in intervals])
    most = current = 0
    for _, step in events:
        current += step
        most = max(most, current)
    return most


# --- watching the pipeline -------------------------------------------------------------------------------------
@dataclass
class Arrival:
    topic: str
    arrived: float  # time.time() when this process read it
    produced: float  # the record's Kafka timestamp (set by the producing service), seconds
    ingested: float | None = None  # enriched events: their ingested_at (Unix time)
    e2e: float | None = None  # enriched events: their end_to_end_seconds (the indexer's view)
    reason: str | None = None  # dead letters: why


class Outputs(threading.Thread):
    """Reads ``topics`` of a pipeline from their beginning and keeps, per key (article id), its first
    message's arrival: when it was read here and its Kafka timestamp."""

    def __init__(self, pipeline: Pipeline, topics: tuple[Topic, ...]):
        super().__init__(daemon=True, name="outputs")
        self.pipeline, self.topics = pipeline, topics
        self.seen: dict[str, Arrival] = {}
        self.errors: list[str] = []
        self.stop_flag = threading.Event()
        self.ready = threading.Event()

    def run(self) -> None:
        kafka = self.pipeline.kafka
        by_name = {kafka.topic(t.name): t for t in self.topics}
        # check_crcs off: kafka-python checks them in pure Python, which would make this reader the bottleneck
        consumer = KafkaConsumer(**kafka.kafka_python_config(), enable_auto_commit=False, check_crcs=False,
                                 fetch_max_wait_ms=100, max_partition_fetch_bytes=10 * MB, fetch_max_bytes=64 * MB)
        try:
            tps = [TopicPartition(n, p) for n in by_name for p in sorted(consumer.partitions_for_topic(n) or ())]
            consumer.assign(tps)
            consumer.seek_to_beginning(*tps)
            self.ready.set()
            while not self.stop_flag.is_set():
                try:
                    batches = consumer.poll(timeout_ms=200)
                except Exception as exc:  # noqa: BLE001 - keep reading; reported in the figures
                    self.errors.append(f"{type(exc).__name__}: {exc}"[:200])
                    time.sleep(0.5)
                    continue
                arrived = time.time()
                for tp, records in batches.items():
                    topic = by_name[tp.topic]
                    for r in records:
                        key = (r.key or b"").decode("utf-8", "replace")
                        if key in self.seen:
                            continue
                        a = Arrival(topic.name, arrived, r.timestamp / 1000)
                        if topic is TOPICS.enriched:
                            event = EnrichedEvent.model_validate_json(r.value)
                            a.ingested, a.e2e = event.ingested_at.timestamp(), event.end_to_end_seconds
                        elif topic is TOPICS.dlq:
                            a.reason = f"{(d := DeadLetter.model_validate_json(r.value)).stage.value}:{d.reason}"
                        self.seen[key] = a
        finally:
            self.ready.set()
            consumer.close()

    def done(self, ids: list[str] | set[str]) -> int:
        seen = self.seen
        return sum(1 for i in ids if i in seen)

    def wait(self, ids: list[str], timeout: float, what: str) -> bool:
        """Wait until every id has an output (or a dead letter); False (and a line) at the timeout."""
        try:
            wait_until(lambda: self.done(ids) >= len(ids), timeout, 0.5, what)
            return True
        except TimeoutError as exc:
            print(f"  ! {exc}: {self.done(ids)} of {len(ids)}", flush=True)
            return False

    def stop(self) -> None:
        self.stop_flag.set()
        self.join(10)


def rss_mb(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


class Sampler(threading.Thread):
    """Every ``interval`` s, for every live service of the pipelines being watched: its RSS and, from its
    /metrics, its lag, counters and in-flight gauges. Rows go to ``samples`` (with the current phase)."""

    def __init__(self, interval: float = 2.0):
        super().__init__(daemon=True, name="sampler")
        self.interval = interval
        self.samples: list[dict] = []
        self.pipelines: list[Pipeline] = []
        self.phase = "start"
        self.stop_flag = threading.Event()

    def run(self) -> None:
        while not self.stop_flag.wait(self.interval):
            for pipeline in list(self.pipelines):
                for name, service in list(pipeline.services.items()):
                    if service.alive():
                        self.samples.append(sample(service, self.phase))

    def stop(self) -> None:
        self.stop_flag.set()
        self.join(10)


def sample(service: Service, phase: str) -> dict:
    row = {"t": time.time(), "phase": phase, "service": service.name, "stage": service.stage,
           "pid": service.process.pid, "rss_mb": rss_mb(service.process.pid)}
    try:
        s = service.metrics()
    except OSError:
        return row
    stage = service.stage
    row.update({
        "lag": metric(s, "newsflow_consumer_lag", stage=stage),
        "consumed": metric(s, "newsflow_messages_consumed_total", stage=stage),
        "produced": metric(s, "newsflow_messages_produced_total", stage=stage),
        "dead_lettered": metric(s, "newsflow_messages_dead_lettered_total", stage=stage),
        "in_flight": metric(s, "newsflow_messages_in_flight", stage=stage),
        "in_progress": metric(s, "newsflow_messages_in_progress", stage=stage),
        "fetches_in_flight": metric(s, "newsflow_fetches_in_flight"),
    })
    return row


def holds_twice(condition, timeout: float, what: str) -> bool:
    """Poll ``condition`` every second until it holds twice in a row; False (and a line saying so) on timeout."""
    calm = [0]

    def steady():
        calm[0] = calm[0] + 1 if condition() else 0
        return calm[0] >= 2

    try:
        wait_until(steady, timeout, 1.0, what)
        return True
    except TimeoutError as exc:
        print(f"  ! {exc}", flush=True)
        return False


def settle(pipeline: Pipeline, timeout: float = 120) -> bool:
    """Wait until every service of ``pipeline`` has no lag and nothing in flight, twice in a row."""

    def quiet():
        try:
            rows = [sample(s, "") for s in pipeline.services.values() if s.alive()]
        except OSError:
            return False
        return all(r.get("lag") == 0 and not r.get("in_flight") and not r.get("in_progress") for r in rows)

    return holds_twice(quiet, timeout, "the pipeline to be at rest")


class Pusher:
    """Produces without waiting for each acknowledgement (acks=all, batched), from any thread; failures are
    counted. An aiokafka producer on a loop of its own: kafka-python computes record CRCs in pure Python
    (~3 MB/s), which would make pushing a few hundred MB of HTML slower than the pipeline it feeds."""

    def __init__(self, pipeline: Pipeline, topic: Topic):
        from aiokafka import AIOKafkaProducer

        self.name, self.failures = pipeline.kafka.topic(topic.name), []
        self.headers = [(k, v) for k, v in schema_headers(topic)]
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True, name="pusher")
        self.thread.start()
        self.pending: list = []

        async def start():
            producer = AIOKafkaProducer(bootstrap_servers=pipeline.broker.bootstrap, acks="all", linger_ms=5,
                                        max_batch_size=1 * MB, max_request_size=10 * MB)
            await producer.start()
            return producer

        self.producer = asyncio.run_coroutine_threadsafe(start(), self.loop).result(60)

    def send(self, key: str, value: bytes) -> None:
        async def send():
            try:
                return await self.producer.send(self.name, value=value, key=key.encode(), headers=self.headers)
            except Exception as exc:  # noqa: BLE001 - counted, reported
                self.failures.append(f"{type(exc).__name__}: {exc}"[:200])

        self.pending.append(asyncio.run_coroutine_threadsafe(send(), self.loop))

    def close(self) -> None:
        """Wait until every message is acknowledged (or failed), then stop."""
        async def finish():
            for delivery in [f.result() for f in self.pending]:
                if delivery is not None:
                    try:
                        await delivery
                    except Exception as exc:  # noqa: BLE001
                        self.failures.append(f"{type(exc).__name__}: {exc}"[:200])
            await self.producer.stop()

        for f in self.pending:  # every send has reached the producer's buffer
            f.result(300)
        asyncio.run_coroutine_threadsafe(finish(), self.loop).result(300)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


def inline_request(article_id: str, html: str, at: datetime | None = None) -> IngestRequest:
    return IngestRequest(article_id=article_id, ingested_at=at or now_utc(), html=html)


# --- the run ---------------------------------------------------------------------------------------------------
@dataclass
class Run:
    args: argparse.Namespace
    workdir: Path
    sampler: Sampler
    pages: list[tuple[str, str]] = field(default_factory=list)
    broker: Broker | None = None
    pipelines: list[Pipeline] = field(default_factory=list)
    hosts: LoopbackHosts | None = None
    phases: list[dict] = field(default_factory=list)  # {name, start, end}
    figures: dict = field(default_factory=dict)
    cleaned: list[bytes] = field(default_factory=list)
    enriched_arrivals: dict[str, Arrival] = field(default_factory=dict)
    full: tuple[Pipeline, Outputs] | None = None  # the four services and their outputs, while needed

    # resources ---------------------------------------------------------------------------------------------
    def shared_broker(self) -> Broker:
        if self.broker is None:
            print("  starting the broker", flush=True)
            self.broker = Broker.start()
        return self.broker

    def env(self, **more: str) -> dict[str, str]:
        env = {f"NEWSFLOW_{s.upper()}_TARGETS_DIR": str(self.workdir / "targets") for s in STAGES}
        env.update(self.args.service_env)
        env.update(more)
        return env

    def pipeline(self, stages=STAGES, **env: str) -> Pipeline:
        p = Pipeline.start(self.shared_broker(), stages=stages, extra_env=self.env(**env), timeout=240)
        self.pipelines.append(p)
        self.sampler.pipelines.append(p)
        return p

    def retire(self, pipeline: Pipeline) -> None:
        """Stop a pipeline's services (its last samples are taken first)."""
        for service in pipeline.services.values():
            if service.alive():
                self.sampler.samples.append(sample(service, self.sampler.phase))
        if pipeline in self.sampler.pipelines:
            self.sampler.pipelines.remove(pipeline)
        pipeline.stop()

    def close(self) -> None:
        for p in self.pipelines:
            for name in list(p.services):
                try:
                    p.stop_service(name, timeout=20)
                except Exception as exc:  # noqa: BLE001 - clean up the rest
                    print(f"  cleanup: {name}: {exc}", file=sys.stderr)
            shutil.rmtree(p.workdir, ignore_errors=True)
        if self.broker is not None:
            try:
                self.broker.stop()
            except Exception as exc:  # noqa: BLE001
                print(f"  cleanup: broker: {exc}", file=sys.stderr)
        if self.hosts is not None:
            self.hosts.stop()

    def phase(self, name: str) -> None:
        self.sampler.phase = name
        now = time.time()
        if self.phases and "end" not in self.phases[-1]:
            self.phases[-1]["end"] = now
        if name:
            self.phases.append({"name": name, "start": now})
            print(f"\n--- {name} (load average {' '.join(f'{x:.2f}' for x in os.getloadavg())})", flush=True)

    # 1. the bound --------------------------------------------------------------------------------------------
    def bound(self) -> dict:
        figures, self.cleaned = measure_bound(self.args, self.workdir)
        for stage, s in figures["stages"].items():
            print(f"  {stage:<10} {1000 * s['cpu_seconds_per_article']:8.2f} ms CPU/article "
                  f"(step {1000 * s['step_cpu_seconds_per_article']:.2f} ms; {s['how']})", flush=True)
        print(f"  bound = {figures['cores']} cores / {1000 * figures['cpu_seconds_per_article']:.1f} ms = "
              f"{figures['bound_articles_per_second']:.2f} articles/s", flush=True)
        return figures

    # 2. saturation -------------------------------------------------------------------------------------------
    def full_pipeline(self) -> tuple[Pipeline, Outputs]:
        """The four services (started at the first call, kept for saturation and latency) and their outputs."""
        if self.full is None:
            extra = [f"extractor-{i}" for i in range(2, self.args.extractors + 1)]
            print(f"  starting the four services ({1 + len(extra)} extractor processes, as make run)", flush=True)
            p = self.pipeline()
            for name in extra:
                p.start_service("extractor", name)
                p.wait_ready(name, 240)
            outputs = Outputs(p, (TOPICS.enriched, TOPICS.dlq))
            outputs.start()
            outputs.ready.wait(60)
            self.full = (p, outputs)
        return self.full

    def retire_full_pipeline(self) -> None:
        """Stop the four services once no phase needs them (the next phases want the machine to themselves)."""
        if self.full is not None:
            self.full[1].stop()
            self.retire(self.full[0])
            self.full = None

    def saturation(self) -> dict:
        n = self.args.saturation_n
        pipeline, outputs = self.full_pipeline()
        pusher = Pusher(pipeline, TOPICS.ingest)
        ids = [f"sat-{i:06d}" for i in range(n)]
        first = time.time()
        for i, article_id in enumerate(ids):
            pusher.send(article_id, inline_request(article_id, self.pages[i % len(self.pages)][1]).to_bytes())
        pusher.close()
        pushed = time.time()
        print(f"  pushed {n} in {pushed - first:.1f} s; waiting for their enriched events", flush=True)
        complete = outputs.wait(ids, self.args.saturation_timeout, f"{n} enriched events")
        got = [outputs.seen[i] for i in ids if i in outputs.seen]
        enriched = sorted(a.arrived for a in got if a.topic == TOPICS.enriched.name)
        figures: dict = {"n": n, "complete": complete, "push_seconds": round(pushed - first, 2),
                         "enriched": len(enriched), "dead_letters": count_reasons(got),
                         "push_failures": len(pusher.failures)}
        if enriched:
            last = enriched[-1]
            lo, hi = int(0.1 * len(enriched)), max(int(0.9 * len(enriched)) - 1, 0)
            steady = (hi - lo) / (enriched[hi] - enriched[lo]) if hi > lo and enriched[hi] > enriched[lo] else None
            rate = len(enriched) / (last - first)
            figures.update({
                "seconds": round(last - first, 1),
                "articles_per_second": rate,
                "steady_articles_per_second": steady,
                "latency_under_saturation": latency_figures(outputs, ids),
            })
            bound = self.figures.get("bound", {}).get("bound_articles_per_second")
            if bound:
                figures["ratio_to_bound"] = rate / bound
                figures["steady_ratio_to_bound"] = steady / bound if steady else None
            print(f"  {len(enriched)} enriched in {last - first:.1f} s: {rate:.2f} articles/s end to end, "
                  f"{steady or 0:.2f}/s steady (middle 80 %)", flush=True)
        self.enriched_arrivals.update({i: outputs.seen[i] for i in ids if i in outputs.seen})
        settle(pipeline)
        return figures

    # 3. latency ----------------------------------------------------------------------------------------------
    def latency(self) -> dict:
        base = self.args.rate or self.figures.get("saturation", {}).get("articles_per_second")
        if not base:
            raise RuntimeError("latency needs the saturation rate: run the saturation phase or give --rate")
        pipeline, outputs = self.full_pipeline()
        figures: dict = {"saturation_rate": base, "seconds_each": self.args.latency_seconds}
        for share in (0.5, 0.8):
            self.phase(f"latency {share:.0%}")
            figures[f"{share:.0%}"] = self.open_loop(pipeline, outputs, share, base * share)
        return figures

    def open_loop(self, pipeline: Pipeline, outputs: Outputs, share: float, rate: float) -> dict:
        """Poisson arrivals at ``rate``/s for latency_seconds, each stamped with its scheduled time (so a late
        push counts against the pipeline, not hidden by it), then wait for every outcome."""
        duration = self.args.latency_seconds
        rng = random.Random(int(share * 1000))
        pusher = Pusher(pipeline, TOPICS.ingest)
        ids: list[str] = []
        start = time.time() + 0.5
        at, worst_lag = start, 0.0
        while True:
            at += rng.expovariate(rate)
            if at > start + duration:
                break
            pause = at - time.time()
            if pause > 0:
                time.sleep(pause)
            worst_lag = max(worst_lag, time.time() - at)
            article_id = f"lat{int(share * 100)}-{len(ids):06d}"
            scheduled = datetime.fromtimestamp(at, timezone.utc)
            pusher.send(article_id, inline_request(article_id, rng.choice(self.pages)[1], scheduled).to_bytes())
            ids.append(article_id)
        pusher.close()
        print(f"  {len(ids)} pushed over {duration:.0f} s ({len(ids) / duration:.2f}/s, target {rate:.2f}/s); "
              f"pusher at most {worst_lag * 1000:.0f} ms late", flush=True)
        complete = outputs.wait(ids, self.args.drain_timeout, f"the {share:.0%} run's enriched events")
        figures = {"target_rate": rate, "pushed": len(ids), "offered_rate": len(ids) / duration,
                   "pusher_max_lateness_seconds": r3(worst_lag), "complete": complete,
                   "push_failures": len(pusher.failures), "dead_letters": count_reasons(
                       [outputs.seen[i] for i in ids if i in outputs.seen]),
                   **latency_figures(outputs, ids)}
        self.enriched_arrivals.update({i: outputs.seen[i] for i in ids if i in outputs.seen})
        print(f"  ingest -> enriched: p50 {figures['p50']} s, p95 {figures['p95']} s, p99 {figures['p99']} s "
              f"(goal p99 <= {GOAL_P99[share]:g} s)", flush=True)
        settle(pipeline)
        return figures

    # 4. I/O --------------------------------------------------------------------------------------------------
    def io(self) -> dict:
        if self.hosts is None:
            self.hosts = LoopbackHosts([html for _, html in self.pages], fast=self.args.io_hosts,
                                       trickle_seconds=self.args.trickle_seconds)
        self.retire_full_pipeline()
        hosts = self.hosts
        total, trickle_n = self.args.io_urls, self.args.io_trickle_urls
        fast = [(n, hosts.fast_hosts[n % len(hosts.fast_hosts)]) for n in range(total - trickle_n)]
        # The same fast URLs, then with the trickling host's spread evenly among them.
        mixed: list[tuple[int, str]] = list(fast)
        for k in range(trickle_n):
            mixed.insert(int((k + 0.5) * len(mixed) / trickle_n), (total + k, hosts.trickle_host))
        figures: dict = {"hosts": len(hosts.fast_hosts), "delay_seconds": list(hosts.delay_range),
                         "trickle_host": hosts.trickle_host, "trickle_seconds": hosts.trickle_seconds}
        for label, urls in (("fast_only", fast), ("with_trickle", mixed)):
            self.phase(f"io {label}")
            figures[label] = self.io_run(label, urls)
        a, b = figures["fast_only"], figures["with_trickle"]
        if a.get("fast_urls_per_second") and b.get("fast_urls_per_second"):
            figures["rate_share_with_trickle"] = b["fast_urls_per_second"] / a["fast_urls_per_second"]
            figures["trickle_delays_others"] = (b["held_by_trickle"] > 0 or b["fast_done"] < len(fast)
                                                or figures["rate_share_with_trickle"] < TRICKLE_RATE_SHARE)
        return figures

    def io_run(self, label: str, urls: list[tuple[int, str]]) -> dict:
        """Push every URL at once to a fresh fetcher-only pipeline and wait for each one's fetched article."""
        hosts = self.hosts
        pipeline = self.pipeline(stages=("fetcher",), NEWSFLOW_FETCHER_ALLOWED_NETWORKS="127.0.0.0/8")
        outputs = Outputs(pipeline, (TOPICS.fetched, TOPICS.dlq))
        outputs.start()
        outputs.ready.wait(60)
        fetcher = pipeline.services["fetcher"]
        ids = {n: f"io-{label.replace('_', '-')}-{n:05d}" for n, _ in urls}
        kinds = {ids[n]: ("trickle" if host == hosts.trickle_host else "fast") for n, host in urls}
        hits_before = len(hosts.hits)
        pusher = Pusher(pipeline, TOPICS.ingest)
        pushed_at: dict[str, float] = {}
        for n, host in urls:
            article_id = ids[n]
            pushed_at[article_id] = time.time()
            request = IngestRequest(article_id=article_id, ingested_at=now_utc(), url=hosts.url(host, n, article_id))
            pusher.send(article_id, request.to_bytes())
        pusher.close()
        first = min(pushed_at.values())
        # Watch the fetcher's gauges closely (the sampler's 2 s is too coarse for "the most in flight").
        most_fetches = most_messages = 0.0
        every = list(ids.values())
        deadline = time.monotonic() + self.args.io_timeout
        while outputs.done(every) < len(every) and time.monotonic() < deadline:
            try:
                s = fetcher.metrics()
                most_fetches = max(most_fetches, metric(s, "newsflow_fetches_in_flight"))
                most_messages = max(most_messages, metric(s, "newsflow_messages_in_flight", stage="fetcher"))
            except OSError:
                pass
            time.sleep(0.25)
        complete = outputs.done(every) == len(every)
        if not complete:
            print(f"  ! io {label}: {outputs.done(every)} of {len(every)} within {self.args.io_timeout:g} s "
                  "(--io-timeout)", flush=True)
        answered = {h.article_id: h for h in hosts.hits[hits_before:]}
        rows = []
        for article_id, kind in kinds.items():
            a, h = outputs.seen.get(article_id), answered.get(article_id)
            rows.append({"id": article_id, "kind": kind, "pushed": pushed_at[article_id],
                         "request": h.started if h else None, "answered": h.finished if h else None,
                         "output": a.produced if a else None, "topic": a.topic if a else None,
                         "reason": a.reason if a else None})
        fast_rows = [r for r in rows if r["kind"] == "fast" and r["topic"] == TOPICS.fetched.name]
        trickle_rows = [r for r in rows if r["kind"] == "trickle" and r["topic"] == TOPICS.fetched.name]
        latencies = [r["output"] - r["pushed"] for r in fast_rows]
        slack = [r["output"] - r["answered"] for r in fast_rows if r["answered"]]
        last_fast = max((r["output"] for r in fast_rows), default=None)
        trickled = [answered[r["id"]].finished for r in rows if r["kind"] == "trickle" and r["id"] in answered]
        held = [r["id"] for r in fast_rows if r["answered"] and any(
            r["answered"] < t - HELD_SECONDS and t <= r["output"] <= t + HELD_WINDOW for t in trickled)]
        figures = {
            "urls": len(urls), "fast_urls": sum(1 for k in kinds.values() if k == "fast"),
            "trickle_urls": sum(1 for k in kinds.values() if k == "trickle"), "complete": complete,
            "fast_done": len(fast_rows), "trickle_done": len(trickle_rows),
            "dead_letters": count_reasons([a for i in every if (a := outputs.seen.get(i))]),
            "fast_seconds": r3(last_fast - first) if last_fast else None,
            "fast_urls_per_second": len(fast_rows) / (last_fast - first) if last_fast else None,
            "fast_p50": r3(percentile(latencies, 0.5)), "fast_p95": r3(percentile(latencies, 0.95)),
            "fast_max": r3(max(latencies, default=None) if latencies else None),
            # after its own answer was complete, how long until its article was produced: head-of-line blocking
            "fast_slack_p50": r3(percentile(slack, 0.5)), "fast_slack_p99": r3(percentile(slack, 0.99)),
            "fast_slack_max": r3(max(slack) if slack else None),
            "fast_slack_over_1s": sum(1 for s in slack if s > 1.0),
            "held_by_trickle": len(held), "held_ids": held[:20],
            "trickle_latencies": [r3(r["output"] - r["pushed"]) for r in trickle_rows],
            "most_fetches_in_flight": most_fetches, "most_messages_in_flight": most_messages,
            "most_requests_at_hosts": most_overlapping([(h.started, h.finished) for h in answered.values()]),
            "rows": rows,
        }
        print(f"  {label}: {figures['fast_done']}/{figures['fast_urls']} fast URLs in {figures['fast_seconds']} s = "
              f"{figures['fast_urls_per_second'] or 0:.1f}/s; p50/p95 {figures['fast_p50']}/{figures['fast_p95']} s; "
              f"slack after answer max {figures['fast_slack_max']} s; most fetches in flight {most_fetches:g} "
              f"(at the hosts {figures['most_requests_at_hosts']})", flush=True)
        outputs.stop()
        self.retire(pipeline)
        return figures

    # 5. scale-out --------------------------------------------------------------------------------------------
    def scale_out(self) -> dict:
        if not self.cleaned:  # the bound phase did not run: clean the corpus here
            _, self.cleaned = measure_bound(self.args, self.workdir)
        self.retire_full_pipeline()
        n = self.args.scale_out_n
        figures: dict = {"n": n}
        for processes in (1, 2):
            self.phase(f"scale_out {processes}")
            figures[str(processes)] = self.drain(n, processes)
        one, two = figures["1"].get("articles_per_second"), figures["2"].get("articles_per_second")
        figures["ratio"] = two / one if one and two else None
        return figures

    def drain(self, n: int, processes: int) -> dict:
        """``processes`` extractors on fresh topics; once the group has settled (every partition owned by
        exactly one of them), a burst of n cleaned articles; the time from its first produce to the last
        extracted article."""
        pipeline = self.pipeline(stages=())
        names = ["extractor"] + [f"extractor-{k}" for k in range(2, processes + 1)]
        for name in names:
            pipeline.start_service("extractor", name)
        for name in names:
            pipeline.wait_ready(name, 240)
        settled = self.wait_settled_group(pipeline, names)
        outputs = Outputs(pipeline, (TOPICS.extracted, TOPICS.dlq))
        outputs.start()
        outputs.ready.wait(60)
        templates = [CleanedArticle.model_validate_json(raw) for raw in self.cleaned]
        ids = [f"so{processes}-{i:06d}" for i in range(n)]
        stamp = now_utc()
        payloads = [templates[i % len(templates)].model_copy(update={"article_id": a, "ingested_at": stamp}).to_bytes()
                    for i, a in enumerate(ids)]
        pusher = Pusher(pipeline, TOPICS.cleaned)
        first = time.time()
        for article_id, value in zip(ids, payloads):
            pusher.send(article_id, value)
        pusher.close()
        filled = time.time()
        complete = outputs.wait(ids, self.args.scale_out_timeout, f"{n} extracted articles")
        done = [outputs.seen[i] for i in ids if i in outputs.seen and outputs.seen[i].topic == TOPICS.extracted.name]
        last = max((a.produced for a in done), default=None)
        per_process = {}
        for name in names:
            try:
                per_process[name] = metric(pipeline.services[name].metrics(), "newsflow_messages_consumed_total",
                                           stage="extractor")
            except OSError:
                per_process[name] = None
        figures = {
            "processes": processes, "group_settled": settled, "complete": complete, "extracted": len(done),
            "fill_seconds": round(filled - first, 2), "seconds": r3(last - first) if last else None,
            "articles_per_second": len(done) / (last - first) if last else None,
            "consumed_per_process": per_process,
            "dead_letters": count_reasons([a for i in ids if (a := outputs.seen.get(i))]),
        }
        print(f"  {processes} process(es): {len(done)} extracted in {figures['seconds']} s = "
              f"{figures['articles_per_second'] or 0:.2f}/s (fill {figures['fill_seconds']} s; "
              f"consumed {per_process})", flush=True)
        outputs.stop()
        self.retire(pipeline)
        return figures

    @staticmethod
    def wait_settled_group(pipeline: Pipeline, names: list[str], timeout: float = 120) -> bool:
        """The extractors' consumer group Stable, with one member per process, each owning some partitions of
        the input topic and all of them owned (as the broker's group coordinator says), twice in a row."""
        from kafka import KafkaAdminClient

        group = f"{pipeline.prefix}newsflow-extractor"
        topic = pipeline.kafka.topic(TOPICS.cleaned.name)
        expected = pipeline.kafka.partitions_of(TOPICS.cleaned)
        admin = KafkaAdminClient(**pipeline.kafka.kafka_python_config())

        def settled():
            info = admin.describe_groups([group]).get(group, {})
            owned = [sorted(p for a in m["member_assignment"]["assigned_partitions"] if a["topic"] == topic
                            for p in a["partitions"]) for m in info.get("members", [])]
            return (info.get("group_state") == "Stable" and len(owned) == len(names) and all(owned)
                    and sorted(p for ps in owned for p in ps) == list(range(expected)))

        try:
            return holds_twice(settled, timeout, "the extractor group to settle")
        finally:
            admin.close()


def count_reasons(arrivals: list[Arrival]) -> dict[str, int]:
    counts: dict[str, int] = defaultdict(int)
    for a in arrivals:
        if a.reason:
            counts[a.reason] += 1
    return dict(counts)


def latency_figures(outputs: Outputs, ids: list[str]) -> dict:
    """Ingest -> enriched for the ids that have an enriched event: until it arrived at this process's consumer
    (p50/p95/p99, the figures the goals use), until its Kafka timestamp (``produced_``: the indexer's producer
    sent it) and its own end_to_end_seconds field (``field_``: ingested_at to indexed_at, before the store)."""
    arrived, produced, field_ = [], [], []
    for i in ids:
        a = outputs.seen.get(i)
        if a is None or a.topic != TOPICS.enriched.name or a.ingested is None:
            continue
        arrived.append(a.arrived - a.ingested)
        produced.append(a.produced - a.ingested)
        field_.append(a.e2e)
    return {"count": len(arrived),
            "p50": r3(percentile(arrived, 0.5)), "p95": r3(percentile(arrived, 0.95)),
            "p99": r3(percentile(arrived, 0.99)), "max": r3(max(arrived) if arrived else None),
            "produced_p50": r3(percentile(produced, 0.5)), "produced_p99": r3(percentile(produced, 0.99)),
            "field_p50": r3(percentile(field_, 0.5)), "field_p99": r3(percentile(field_, 0.99)),
            "latencies": [round(x, 4) for x in arrived]}


# --- figures: memory, goals, table -----------------------------------------------------------------------------
def rss_figures(samples: list[dict], phases: list[dict]) -> dict:
    """Per service (all its processes over the run): the most RSS; and for the four services of the full
    pipeline, the growth over the steady phases (the latency runs; else the second half of saturation)."""
    by_service: dict[str, list[dict]] = defaultdict(list)
    for row in samples:
        if row.get("rss_mb") is not None:
            by_service[row["service"]].append(row)
    steady_spans = [(p["start"], p.get("end", math.inf)) for p in phases if p["name"].startswith("latency ")]
    if not steady_spans:
        steady_spans = [((p["start"] + p["end"]) / 2, p["end"]) for p in phases
                        if p["name"] == "saturation" and "end" in p]
    figures = {}
    for name, rows in sorted(by_service.items()):
        most = max(r["rss_mb"] for r in rows)
        entry: dict = {"max_mb": round(most, 1), "processes": len({r["pid"] for r in rows})}
        steady = [r for r in rows if any(a <= r["t"] <= b for a, b in steady_spans)]
        if len(steady) >= 4:
            ts, ms = [r["t"] for r in steady], [r["rss_mb"] for r in steady]
            fifth = max(1, len(steady) // 5)
            growth = sum(ms[-fifth:]) / fifth - sum(ms[:fifth]) / fifth
            mean_t, mean_m = sum(ts) / len(ts), sum(ms) / len(ms)
            var = sum((t - mean_t) ** 2 for t in ts)
            slope = sum((t - mean_t) * (m - mean_m) for t, m in zip(ts, ms)) / var if var else 0.0
            entry.update({"steady_start_mb": round(ms[0], 1), "steady_end_mb": round(ms[-1], 1),
                          "steady_growth_mb": round(growth, 1), "steady_slope_mb_per_min": round(slope * 60, 2),
                          "steady_minutes": round((ts[-1] - ts[0]) / 60, 1),
                          "flat": growth <= max(RSS_FLAT[0], RSS_FLAT[1] * most)})
        figures[name] = entry
    return figures


def goals(f: dict) -> list[dict]:
    """Issue 9's goals against this run's figures: {goal, measured, target, ok} (ok None: not measured)."""
    rows: list[dict] = []

    def add(goal: str, measured: str, target: str, ok: bool | None) -> None:
        rows.append({"goal": goal, "measured": measured, "target": target, "ok": ok})

    bound, sat = f.get("bound", {}), f.get("saturation", {})
    if sat.get("ratio_to_bound") is not None:
        add("saturation throughput / bound",
            f"{sat['articles_per_second']:.2f} / {bound['bound_articles_per_second']:.2f} = "
            f"{sat['ratio_to_bound']:.2f}",
            f">= {GOAL_SATURATION_RATIO}", sat["ratio_to_bound"] >= GOAL_SATURATION_RATIO and sat.get("complete"))
    for share, limit in GOAL_P99.items():
        run = f.get("latency", {}).get(f"{share:.0%}")
        if run:
            ok = run["p99"] is not None and run["p99"] <= limit and run["complete"]
            add(f"p99 ingest->enriched at {share:.0%} of saturation", f"{run['p99']} s ({run['pushed']} articles)",
                f"<= {limit:g} s", ok)
    io = f.get("io", {})
    if io.get("fast_only"):
        a = io["fast_only"]
        rate = a.get("fast_urls_per_second")
        add("one fetcher, URLs/s (200-800 ms answers)",
            f"{rate or 0:.1f}/s ({a['fast_done']}/{a['fast_urls']} URLs, {a['most_fetches_in_flight']:g} in flight)",
            f">= {GOAL_FETCH_RATE:g}/s", bool(rate and rate >= GOAL_FETCH_RATE and a["complete"]))
    if "trickle_delays_others" in io:
        a, b = io["fast_only"], io["with_trickle"]
        add("a trickling host delays no other host's article",
            f"{b['held_by_trickle']} held for a trickled page; fast URLs/s {b['fast_urls_per_second']:.1f} vs "
            f"{a['fast_urls_per_second']:.1f} without",
            f"0 held; >= {TRICKLE_RATE_SHARE:g}x the rate", not io["trickle_delays_others"])
    so = f.get("scale_out", {})
    if so.get("ratio") is not None:
        add("two extractors drain / one", f"{so['2']['articles_per_second']:.2f} / {so['1']['articles_per_second']:.2f}"
            f" = {so['ratio']:.2f}", f">= {GOAL_SCALE_OUT}", so["ratio"] >= GOAL_SCALE_OUT)
    for name, r in f.get("rss", {}).items():
        flat = r.get("flat")
        measured = f"max {r['max_mb']:.0f} MB" + (f", steady growth {r['steady_growth_mb']:+.0f} MB over "
                                                  f"{r['steady_minutes']} min" if "flat" in r else "")
        add(f"RSS {name}", measured, f"<= {GOAL_RSS_MB:g} MB" + (", flat" if "flat" in r else ""),
            r["max_mb"] <= GOAL_RSS_MB and flat is not False)
    return rows


def print_table(results: dict) -> None:
    f, run = results, results["run"]
    print("\n" + "=" * 110)
    print(f"newsflow load benchmark {run['started']}: {run['cpus']} cores, load average "
          f"{' '.join(f'{x:.2f}' for x in run['load_average_at_start'])} at start, "
          f"{' '.join(f'{x:.2f}' for x in run.get('load_average_at_end', ()))} at end; {run.get('total_seconds')} s")
    if "stages" in f.get("bound", {}):
        b = f["bound"]
        print(f"\nbound ({b['pages']} pages, one process): CPU ms per article, decode + step + encode (step alone)")
        for stage, s in b["stages"].items():
            print(f"  {stage:<10} {1000 * s['cpu_seconds_per_article']:8.2f}  "
                  f"({1000 * s['step_cpu_seconds_per_article']:.2f})"
                  f"  {s['how']}" + (f"  [{s['failed']} failed]" if s["failed"] else ""))
        print(f"  {'sum':<10} {1000 * b['cpu_seconds_per_article']:8.2f}  -> bound {b['bound_articles_per_second']:.2f}"
              f" articles/s ({b['bound_steps_only_articles_per_second']:.2f} counting the steps alone)")
    s = f.get("saturation", {})
    if "articles_per_second" in s:
        print(f"\nsaturation: {s['enriched']}/{s['n']} enriched in {s['seconds']} s (pushed in {s['push_seconds']} s):"
              f" {s['articles_per_second']:.2f}/s end to end, {s['steady_articles_per_second'] or 0:.2f}/s steady"
              + (f"; dead letters {s['dead_letters']}" if s["dead_letters"] else ""))
    lat = f.get("latency", {})
    for key in ("50%", "80%"):
        r = lat.get(key)
        if r:
            print(f"latency at {key} ({r['offered_rate']:.2f}/s offered, {r['pushed']} articles): p50 {r['p50']} s, "
                  f"p95 {r['p95']} s, p99 {r['p99']} s, max {r['max']} s (Kafka timestamp p99 {r['produced_p99']} s)")
    io = f.get("io", {})
    for key in ("fast_only", "with_trickle"):
        r = io.get(key)
        if r:
            print(f"io {key:<12}: {r['fast_done']}/{r['fast_urls']} fast URLs at "
                  f"{r['fast_urls_per_second'] or 0:.1f}/s, latency p50 {r['fast_p50']} s p95 {r['fast_p95']} s, "
                  f"slack after answer max {r['fast_slack_max']} s,"
                  f" most in flight {r['most_fetches_in_flight']:g} (hosts saw {r['most_requests_at_hosts']})"
                  + (f"; trickle {r['trickle_done']}/{r['trickle_urls']}: {r['trickle_latencies']} s"
                     if r["trickle_urls"] else ""))
    so = f.get("scale_out", {})
    for key in ("1", "2"):
        r = so.get(key)
        if r:
            print(f"scale-out {key} extractor(s): {r['extracted']}/{so['n']} in {r['seconds']} s = "
                  f"{r['articles_per_second'] or 0:.2f}/s, consumed per process {r['consumed_per_process']}")
    print(f"\n{'goal':<48} {'measured':<64} {'target':<26} ok")
    for g in f.get("goals", []):
        verdict = {True: "PASS", False: "FAIL", None: "-"}[g["ok"] if g["ok"] is None else bool(g["ok"])]
        print(f"{g['goal']:<48} {g['measured']:<64} {g['target']:<26} {verdict}")
    for phase, v in f.items():
        if isinstance(v, dict) and "error" in v:
            print(f"[{phase}] ERROR: {v['error'][:300]}")
    print(f"\nresults: {run.get('results')}\nplots:   {', '.join(run.get('plots', []))}")


# --- plots -----------------------------------------------------------------------------------------------------
def plots(results: dict, samples: list[dict], phases: list[dict], arrivals: dict[str, Arrival], t0: float,
          prefix: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    written: list[Path] = []
    full_phases = [p for p in phases if p["name"] == "saturation" or p["name"].startswith("latency ")]

    def shade(ax, which, left=None):
        """Phases as shaded spans with their names (call after plotting; ``left``: where the x axis starts)."""
        if left is not None:
            ax.set_xlim(left=left)
        for k, p in enumerate(which):
            a, b = p["start"] - t0, p.get("end", time.time()) - t0
            if b - a < 1:
                continue
            ax.axvspan(a, b, color=("#f2f2f2", "#e6eef7")[k % 2], zorder=0)
            ax.text(max(a, ax.get_xlim()[0]) + 0.5, 0.98, p["name"], transform=ax.get_xaxis_transform(), va="top", ha="left", fontsize=7,
                    color="#555", rotation=90)

    def save(fig, name):
        path = prefix.with_name(f"{prefix.name}-{name}.png")
        fig.tight_layout()
        fig.savefig(path, dpi=110)
        plt.close(fig)
        written.append(path)

    def rates(rows, key, window=10.0):
        """Per-second rate of counter ``key`` of one process, over the last ``window`` seconds at each sample."""
        rows = [r for r in rows if key in r]
        xs, ys, j = [], [], 0
        for cur in rows:
            while cur["t"] - rows[j]["t"] > window:
                j += 1
            prev = rows[j]
            if cur["t"] - prev["t"] >= window / 2:
                xs.append(cur["t"] - t0)
                ys.append(max(cur[key] - prev[key], 0) / (cur["t"] - prev["t"]))
        return xs, ys

    full_pids = {r["pid"] for r in samples if any(p["start"] <= r["t"] <= p.get("end", math.inf) for p in full_phases)
                 and r["stage"] == r["service"]}
    per_process: dict[tuple[str, int], list[dict]] = defaultdict(list)
    for r in samples:
        per_process[(r["service"], r["pid"])].append(r)

    # throughput over time
    if full_phases:
        fig, ax = plt.subplots(figsize=(11, 4.5))
        times = sorted(a.arrived - t0 for a in arrivals.values() if a.topic == TOPICS.enriched.name)
        if times:
            width = 5.0
            edges = [times[0] + k * width for k in range(int((times[-1] - times[0]) / width) + 2)]
            counts = [0] * len(edges)
            for t in times:
                counts[int((t - times[0]) / width)] += 1
            ax.step(edges, [c / width for c in counts], where="post", color="black", lw=1.6,
                    label="enriched events/s (5 s bins)")
        for (name, pid), rows in sorted(per_process.items()):
            if pid in full_pids:
                xs, ys = rates(rows, "produced")
                ax.plot(xs, ys, lw=0.9, alpha=0.8, label=f"{name} produced/s (10 s)")
        bound = results.get("bound", {}).get("bound_articles_per_second")
        if bound:
            ax.axhline(bound, ls="--", color="red", lw=1, label=f"bound {bound:.1f}/s")
            ax.axhline(GOAL_SATURATION_RATIO * bound, ls=":", color="red", lw=1,
                       label=f"{GOAL_SATURATION_RATIO:g} x bound")
        ax.set_xlabel("seconds since the start of the run")
        ax.set_ylabel("articles/s")
        shade(ax, full_phases, left=min((r["t"] - t0 for r in samples if r["pid"] in full_pids), default=5) - 5)
        ax.set_title("Throughput over time (saturation, then Poisson arrivals at 50 % and 80 %)")
        ax.legend(fontsize=8, loc="upper right")
        save(fig, "throughput")

    # latency CDF
    lat = results.get("latency", {})
    series = [(k, lat[k]["latencies"]) for k in ("50%", "80%") if lat.get(k, {}).get("latencies")]
    if results.get("saturation", {}).get("latency_under_saturation", {}).get("latencies"):
        series.append(("saturation (all pushed at once)",
                       results["saturation"]["latency_under_saturation"]["latencies"]))
    if series:
        fig, ax = plt.subplots(figsize=(8, 4.5))
        for label, values in series:
            xs = sorted(values)
            ax.plot(xs, [(k + 1) / len(xs) for k in range(len(xs))], lw=1.5,
                    ls="--" if label.startswith("saturation") else "-",
                    label=f"{label} (n={len(xs)}, p99 {percentile(xs, 0.99):.2f} s)")
        for share, limit in GOAL_P99.items():
            ax.axvline(limit, color="grey", ls=":", lw=1)
            ax.text(limit, 0.02, f" p99 goal at {share:.0%}", fontsize=8, color="grey", rotation=90, va="bottom")
        ax.axhline(0.99, color="grey", lw=0.6)
        ax.set_xscale("log")
        ax.set_xlabel("ingest -> enriched event at a consumer, seconds (log)")
        ax.set_ylabel("share of articles")
        ax.set_title("Latency CDF")
        ax.legend(fontsize=8, loc="lower right")
        save(fig, "latency-cdf")

    # lag per stage
    if full_phases:
        fig, ax = plt.subplots(figsize=(11, 4.5))
        order = {(name, pid): STAGES.index(name) if name in STAGES else 9 for name, pid in per_process}
        for (name, pid), rows in sorted(per_process.items(), key=lambda kv: order[kv[0]]):
            if pid in full_pids:
                pts = [(r["t"] - t0, r["lag"]) for r in rows if "lag" in r]
                ax.plot([p[0] for p in pts], [p[1] for p in pts], lw=1.2, label=name)
        ax.set_xlabel("seconds since the start of the run")
        ax.set_ylabel("consumer lag (messages)")
        ax.set_title("Lag per stage (input topic, all partitions)")
        shade(ax, full_phases, left=min((r["t"] - t0 for r in samples if r["pid"] in full_pids), default=5) - 5)
        ax.legend(fontsize=8)
        save(fig, "lag")

    # RSS of every service process
    if samples:
        fig, ax = plt.subplots(figsize=(11, 4.5))
        for (name, pid), rows in sorted(per_process.items()):
            pts = [(r["t"] - t0, r["rss_mb"]) for r in rows if r.get("rss_mb") is not None]
            ax.plot([p[0] for p in pts], [p[1] for p in pts], lw=1.2, label=f"{name} ({pid})")
        shade(ax, phases)
        ax.axhline(GOAL_RSS_MB, ls="--", color="red", lw=1, label=f"{GOAL_RSS_MB:g} MB goal")
        ax.set_xlabel("seconds since the start of the run")
        ax.set_ylabel("RSS, MB")
        ax.set_title("Resident memory of each service process")
        ax.legend(fontsize=7, ncol=3, loc="lower center")
        save(fig, "rss")

    # I/O: fetched articles over time, both runs
    io = results.get("io", {})
    if io.get("fast_only"):
        fig, ax = plt.subplots(figsize=(9, 4.5))
        for key, color in (("fast_only", "tab:blue"), ("with_trickle", "tab:orange")):
            rows = io.get(key, {}).get("rows", [])
            if not rows:
                continue
            first = min(r["pushed"] for r in rows)
            fast = sorted(r["output"] - first for r in rows if r["kind"] == "fast" and r["output"])
            ax.plot(fast, range(1, len(fast) + 1), color=color, lw=1.5, label=f"{key}: fast hosts' articles")
            trickle = sorted(r["output"] - first for r in rows if r["kind"] == "trickle" and r["output"])
            if trickle:
                ax.plot(trickle, [len(fast) * 0.5] * len(trickle), "x", color=color, ms=9, mew=2,
                        label=f"{key}: a trickling host's article fetched")
        ax.set_xlabel("seconds since the first push")
        ax.set_ylabel("articles fetched")
        ax.set_title(f"One fetcher, URLs on {io['hosts']} loopback hosts ({io['delay_seconds'][0]:g}-"
                     f"{io['delay_seconds'][1]:g} s answers), with and without a trickling host")
        ax.legend(fontsize=8, loc="upper left")
        save(fig, "io")
    return written


# --- main ------------------------------------------------------------------------------------------------------
def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small sizes: a ~5 min smoke run")
    parser.add_argument("--phases", default=",".join(PHASES), help=f"comma-separated, of {', '.join(PHASES)}")
    parser.add_argument("--pages", type=int, help="corpus pages used everywhere (0: all 181; quick: 60)")
    parser.add_argument("--batch-size", type=int, default=32, help="bound: window of the batch functions (32)")
    parser.add_argument("--saturation-n", type=int, help="articles pushed at once (2000; quick: 120)")
    parser.add_argument("--saturation-timeout", type=float, default=900, help="bound on waiting for them (s)")
    parser.add_argument("--latency-seconds", type=float, help="duration of each Poisson run (150; quick: 25)")
    parser.add_argument("--rate", type=float, default=0, help="latency: the saturation rate to take 50/80 %% of "
                        "(default: the one measured)")
    parser.add_argument("--drain-timeout", type=float, default=300,
                        help="latency: bound on waiting for the last events (s)")
    parser.add_argument("--io-urls", type=int, help="URLs of the io phase (1000; quick: 60)")
    parser.add_argument("--io-trickle-urls", type=int, help="of which on the trickling host, second run (4; quick: 2)")
    parser.add_argument("--io-hosts", type=int, default=20, help="fast loopback hosts (127.0.0.2 ...; 20)")
    parser.add_argument("--trickle-seconds", type=float, default=10.0, help="how long a trickled page takes (10)")
    parser.add_argument("--io-timeout", type=float, default=240, help="bound on each io run (s)")
    parser.add_argument("--scale-out-n", type=int, help="cleaned articles each extractor run drains (800; quick: 60)")
    parser.add_argument("--scale-out-timeout", type=float, default=600, help="bound on each drain (s)")
    parser.add_argument("--extractors", type=int, default=2 if (os.cpu_count() or 1) >= 2 else 1,
                        help="extractor processes of the saturation/latency pipeline (as make run: 2 on >= 2 cores)")
    parser.add_argument("--sample-seconds", type=float, default=2.0, help="RSS and metrics sampling interval")
    parser.add_argument("--service-env", action="append", default=[], metavar="KEY=VALUE",
                        help="an environment variable for every service process (repeatable), e.g. "
                             "NEWSFLOW_EXTRACTOR_WINDOW_SIZE=16")
    parser.add_argument("--bound-worker", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--cleaned-out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    for name, (default, quick) in SIZES.items():
        if getattr(args, name) is None:
            setattr(args, name, quick if args.quick else default)
    if args.quick:
        args.saturation_timeout = min(args.saturation_timeout, 300)
        args.drain_timeout = min(args.drain_timeout, 120)
        args.io_timeout = min(args.io_timeout, 120)
        args.scale_out_timeout = min(args.scale_out_timeout, 180)
    try:
        args.service_env = dict(kv.split("=", 1) for kv in args.service_env)
    except ValueError:
        parser.error("--service-env takes KEY=VALUE")
    args.chosen = [p.strip() for p in args.phases.split(",") if p.strip()]
    unknown = set(args.chosen) - set(PHASES)
    if unknown:
        parser.error(f"unknown phases: {', '.join(sorted(unknown))}")
    if args.io_trickle_urls >= args.io_urls:
        parser.error("--io-trickle-urls must be fewer than --io-urls")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.bound_worker:
        bound_worker(args.pages, args.batch_size, args.bound_worker, args.cleaned_out)
        return 0

    def terminate(signum, frame):  # SIGTERM: clean up like Ctrl-C
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, terminate)
    stamp = run_stamp()
    t0 = time.time()
    workdir = Path(tempfile.mkdtemp(prefix="newsflow-load-"))
    sampler = Sampler(args.sample_seconds)
    sampler.start()
    run = Run(args, workdir, sampler)
    run.pages = corpus(args.pages)
    settings = {k: v for k, v in vars(args).items() if k not in ("bound_worker", "cleaned_out", "chosen")}
    results: dict = {"run": {"started": stamp, "cpus": os.cpu_count(), "load_average_at_start": os.getloadavg(),
                             "phases": args.chosen, "settings": settings, "corpus_pages": len(run.pages),
                             "git": git_head()}}
    print(f"newsflow load benchmark: phases {', '.join(args.chosen)}; corpus {len(run.pages)} pages; "
          f"{'quick' if args.quick else 'full'} sizes", flush=True)
    try:
        for name in args.chosen:
            run.phase(name)
            started = time.monotonic()
            try:
                run.figures[name] = getattr(run, name)()
            except KeyboardInterrupt:
                raise
            except Exception as exc:  # noqa: BLE001 - report it, go on with the next phase
                traceback.print_exc()
                run.figures[name] = {"error": f"{type(exc).__name__}: {exc}"[:2000]}
            run.figures[name]["phase_seconds"] = round(time.monotonic() - started, 1)
    except KeyboardInterrupt:
        print("\ninterrupted: stopping everything", file=sys.stderr)
        results["run"]["interrupted"] = True
    finally:
        run.phase("")
        sampler.stop()
        run.close()
        shutil.rmtree(workdir, ignore_errors=True)
    results.update(run.figures)
    results["rss"] = rss_figures(sampler.samples, run.phases)
    results["goals"] = goals(results)
    results["run"].update({"total_seconds": round(time.time() - t0, 1), "load_average_at_end": os.getloadavg()})
    prefix = result_path("load", stamp, suffix="")
    try:
        written = plots(results, sampler.samples, run.phases, run.enriched_arrivals, t0, prefix)
    except Exception:  # noqa: BLE001 - the figures matter more than the pictures
        traceback.print_exc()
        written = []
    results["run"]["plots"] = [str(p.relative_to(ROOT)) for p in written]
    results["run"]["results"] = str(prefix.with_suffix(".json").relative_to(ROOT))
    results["timeseries"] = {"t0": t0, "phases": run.phases, "samples": sampler.samples}
    prefix.with_suffix(".json").write_text(json.dumps(results, indent=1, default=str))
    print_table(results)
    if results["run"].get("interrupted"):
        return 130
    errors = [name for name in args.chosen if "error" in results.get(name, {})]
    return 0 if all(g["ok"] for g in results["goals"]) and not errors else 1


def git_head() -> str | None:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                              timeout=10).stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None


if __name__ == "__main__":
    sys.exit(main())
