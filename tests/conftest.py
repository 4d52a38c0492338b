"""Fixtures shared by every tier.

- ``broker``: a real Apache Kafka broker (deploy/kafka/kafka.sh, on free ports, data in a temp folder) for
  the whole session; set NEWSFLOW_TEST_BOOTSTRAP to run against an existing cluster instead.
- ``pipeline``: the four services as real processes against that broker, under a topic prefix of their own.
- ``web``: a local HTTP server on 127.0.0.1 serving article pages and misbehaving answers for the fetcher.
"""

from __future__ import annotations

import http.server
import threading
from pathlib import Path

import pytest

from tests.harness import Broker, Pipeline

ROOT = Path(__file__).resolve().parents[1]
SEEDS = ROOT / "seeds"
SEED_ARTICLE = SEEDS / "000_81597562a20f18e4.txt"


@pytest.fixture(scope="session")
def broker():
    b = Broker.start()
    yield b
    b.stop()


@pytest.fixture(scope="session")
def pipeline(broker):
    p = Pipeline.start(broker)
    yield p
    p.stop()


@pytest.fixture
def show_logs_on_failure(request, pipeline):
    yield
    if getattr(request.node, "rep_call", None) and request.node.rep_call.failed:
        print(pipeline.logs())


@pytest.hookimpl(tryfirst=True, hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    setattr(item, f"rep_{rep.when}", rep)


class Web(str):
    """The local server's base URL; ``fixed`` holds the names under /later/ that answer 200 (else 404)."""

    fixed: set[str]


class Routes(http.server.BaseHTTPRequestHandler):
    """Pages for the fetcher tests. Paths: /seed/<file>, /status/<code>, /loop, /redirect-to-seed, /big,
    /pdf, /binary, /later/<name> (404 until <name> is in ``Web.fixed``, then the first seed HTML page)."""

    fixed: set[str] = set()

    def do_GET(self):  # noqa: N802
        path = self.path
        if path.startswith("/later/"):
            if path.removeprefix("/later/") in self.fixed:
                path = "/seed/001_port_strike_rotterdam.html"
            else:
                return self._send(404, b"not yet", "text/plain")
        if path.startswith("/seed/"):
            file = SEEDS / path.removeprefix("/seed/")
            kind = "text/html; charset=utf-8" if file.suffix == ".html" else "text/plain; charset=utf-8"
            return self._send(200, file.read_bytes(), kind)
        if path.startswith("/status/"):
            return self._send(int(path.rsplit("/", 1)[1]), b"<html><body>nope</body></html>", "text/html")
        if path == "/loop":
            return self._redirect("/loop2")
        if path == "/loop2":
            return self._redirect("/loop")
        if path == "/redirect-to-seed":
            return self._redirect("/seed/001_port_strike_rotterdam.html")
        if path == "/big":
            return self._send(200, b"<html><body>" + b"<p>word word word</p>" * 400_000 + b"</body></html>", "text/html")
        if path == "/pdf":
            return self._send(200, b"%PDF-1.7\n%binary", "text/html")
        if path == "/binary":
            return self._send(200, b"\x00\x01\x02", "application/octet-stream")
        return self._send(404, b"not found", "text/plain")

    def _send(self, code: int, body: bytes, content_type: str) -> None:
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _redirect(self, location: str) -> None:
        self.send_response(302)
        self.send_header("Location", location)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):  # keep test output quiet
        pass


@pytest.fixture(scope="session")
def web():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Routes)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    web = Web(f"http://127.0.0.1:{server.server_address[1]}")
    web.fixed = Routes.fixed
    yield web
    server.shutdown()
