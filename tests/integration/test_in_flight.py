"""Many messages in flight on a real broker (the fast versions of bench/load.py's I/O check):

- a trickling host delays only its own URLs: the fetcher produces every URL of a fast host while the trickling
  host's answers are still coming;
- in-order commit under out-of-order completion: while a slow message is in flight, later messages of its
  partition are produced but the group's committed offset stays at the slow one; a kill -9 then loses nothing.

The pages are served on loopback addresses of their own (127.0.0.2, 127.0.0.3), the only hosts contacted.
"""

from __future__ import annotations

import http.server
import threading
import time

import pytest
from kafka import KafkaAdminClient, TopicPartition

from schemas.topics import TOPICS
from services.runtime.clients import schema_headers
from tests.harness import Pipeline, request, wait_until

PAGE = (b"<html><head><title>Port strike</title></head><body><article><p>Dock workers in Rotterdam stopped work on "
        b"Tuesday over pay, the union said, and ships queued outside the harbour for a second day.</p></article>"
        b"</body></html>")
TRICKLE_SECONDS = 8.0


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"
    trickle = False

    def do_GET(self):  # noqa: N802
        if self.path == "/robots.txt":
            self.send_response(404)
            self.end_headers()
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(PAGE)))
        self.end_headers()
        if not self.trickle:
            self.wfile.write(PAGE)
            return
        step = TRICKLE_SECONDS / 16  # the page in 16 pieces: no read timeout, a slow answer
        for i in range(16):
            self.wfile.write(PAGE[i * len(PAGE) // 16:(i + 1) * len(PAGE) // 16])
            self.wfile.flush()
            time.sleep(step)

    def log_message(self, *args):
        pass


def _serve(address: str, trickle: bool) -> tuple[http.server.ThreadingHTTPServer, str]:
    handler = type("Handler", (_Handler,), {"trickle": trickle})
    server = http.server.ThreadingHTTPServer((address, 0), handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://{address}:{server.server_address[1]}"


@pytest.fixture
def hosts():
    slow, slow_url = _serve("127.0.0.2", trickle=True)
    fast, fast_url = _serve("127.0.0.3", trickle=False)
    yield slow_url, fast_url
    for server in (slow, fast):
        server.shutdown()
        server.server_close()


@pytest.fixture
def fetcher(broker):
    p = Pipeline.start(broker, stages=["fetcher"], extra_env={"NEWSFLOW_FETCHER_ALLOWED_NETWORKS": "127.0.0.0/8"})
    yield p
    p.stop()


def test_a_trickling_host_delays_only_its_own_urls(fetcher, hosts):
    slow_url, fast_url = hosts
    slow = [request(url=f"{slow_url}/story/{i}") for i in range(4)]
    fast = [request(url=f"{fast_url}/story/{i}") for i in range(20)]
    started = time.monotonic()
    fetcher.push(slow + fast)  # the slow host's URLs first: under one-at-a-time they would block the rest
    fast_ids, slow_ids = {r.article_id for r in fast}, {r.article_id for r in slow}
    out = fetcher.read(TOPICS.fetched, lambda got: fast_ids <= {a.article_id for a in got}, 60)
    all_fast_after = time.monotonic() - started
    done_slow = slow_ids & {a.article_id for a in out}
    # Every fast URL is out while the trickling host is still answering (each of its pages takes 8 s; with two
    # at a time per host the four need >= 16 s); a generous margin for a loaded machine.
    assert not done_slow, f"slow pages done before the fast ones ({all_fast_after:.1f} s): {done_slow}"
    assert all_fast_after < 2 * TRICKLE_SECONDS, all_fast_after
    out = fetcher.read(TOPICS.fetched, lambda got: slow_ids <= {a.article_id for a in got}, 90)
    assert {a.article_id for a in out} >= fast_ids | slow_ids


def test_a_slow_message_holds_its_partitions_commit_and_a_kill_loses_nothing(fetcher, hosts):
    slow_url, _ = hosts
    p = fetcher
    topic = p.kafka.topic(TOPICS.ingest.name)
    slow = request(url=f"{slow_url}/held/0")
    quick = [request(text=f"A short article number {i} that passes straight through.") for i in range(10)]
    producer = p.producer()
    for r in [slow, *quick]:  # all on partition 0, the slow one first
        producer.send(topic, key=r.article_id.encode(), value=r.to_bytes(), partition=0,
                      headers=schema_headers(TOPICS.ingest)).get(30)
    producer.close()
    slow_offset = 0  # a fresh topic: the slow one has offset 0 of partition 0

    quick_ids = {r.article_id for r in quick}
    p.read(TOPICS.fetched, lambda got: quick_ids <= {a.article_id for a in got}, 60)
    admin = KafkaAdminClient(**p.kafka.kafka_python_config())
    try:
        group = f"{p.prefix}newsflow-fetcher"
        time.sleep(2.5)  # > the commit interval (1 s): a commit past the slow message would show by now
        committed = _committed(admin, group, topic)
        assert committed is None or committed.offset <= slow_offset, committed
        assert p.services["fetcher"].alive()
        p.kill_service("fetcher")  # kill -9 while the slow page is still trickling
        p.start_service("fetcher")
        p.wait_ready("fetcher")
        out = p.read(TOPICS.fetched, lambda got: slow.article_id in {a.article_id for a in got}, 120)
        assert quick_ids | {slow.article_id} <= {a.article_id for a in out}  # nothing lost
        wait_until(lambda: (c := _committed(admin, group, topic)) and c.offset == len(quick) + 1, 60, what="the commit to pass every message once all finished")
    finally:
        admin.close()


def _committed(admin: KafkaAdminClient, group: str, topic: str):
    """The group's committed offset on partition 0 of ``topic`` (None before any commit)."""
    offsets = admin.list_group_offsets({group: None}).get(group, {})
    committed = offsets.get(TopicPartition(topic, 0))
    return committed if committed is not None and committed.offset >= 0 else None
