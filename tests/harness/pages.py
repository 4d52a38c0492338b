"""The local web the fetcher tests and the fault campaign download from: the seed pages, misbehaving answers
(status codes, redirect loops, oversized and binary bodies) and the hostile pages.

:class:`Routes` is a ``http.server`` handler; tests/conftest.py serves it as the ``web`` fixture and
bench/faults.py extends it. Loopback only; it must not import pytest nor anything under bench/.
"""

from __future__ import annotations

import gzip
import http.server
import time

from tests.harness.seeds import SEEDS


class Web(str):
    """The local server's base URL; ``fixed`` holds the names under /later/ that answer 200 (else 404)."""

    fixed: set[str]


HOSTILE_STORY = (
    "<p>The council in Lyon voted on Tuesday to extend the tram network by twelve kilometres, the mayor, Claire "
    "Dubois, told reporters. Work is due to start in March and should be finished within three years.</p>"
    "<p>Opponents said the cost, put at 240 million euros, would fall on residents of the outer districts, and "
    "asked the regional court in Lyon to review the decision before any contract is signed.</p>"
    "<p>Transport unions welcomed the plan. \"This is the investment we asked for,\" said Tomasz Wrona, who "
    "represents drivers at the city operator.</p>"
)
ACCENTED = "<p>Café owners in Zürich and São Paulo praised the naïve façade of the new hall on Friday.</p>"
_hostile_cache: dict[str, bytes] = {}


def hostile_page(kind: str) -> bytes:
    """The bodies of the /hostile/ pages (built once: the gzip bomb takes a second to compress)."""
    if kind not in _hostile_cache:
        page = lambda inner: f"<html><head><title>Trams for Lyon</title></head><body>{inner}</body></html>"  # noqa: E731
        if kind == "story":
            body = page(HOSTILE_STORY).encode()
        elif kind == "huge":
            filler = b"<p>word word word word word word word word word word word word word word word.</p>"
            body = page(HOSTILE_STORY).encode().replace(b"</body>", filler * (5 * 1024 * 1024 // len(filler) + 1)
                                                        + b"</body>")
        elif kind == "nested":
            depth = 20_000
            body = page("<div>" * depth + HOSTILE_STORY + "</div>" * depth).encode()
        elif kind == "latin1":
            body = page(ACCENTED + HOSTILE_STORY).encode("latin-1")
        elif kind == "utf8":
            body = page(ACCENTED + HOSTILE_STORY).encode("utf-8")
        elif kind == "gzip-bomb":
            body = gzip.compress(b"<html><body><p>" + b"a" * (100 * 1024 * 1024) + b"</p></body></html>", 9)
        else:
            raise KeyError(kind)
        _hostile_cache[kind] = body
    return _hostile_cache[kind]


class Routes(http.server.BaseHTTPRequestHandler):
    """Pages for the fetcher tests. Paths: /seed/<file>, /status/<code>, /loop, /redirect-to-seed, /big,
    /pdf, /binary, /later/<name> (404 until <name> is in ``Web.fixed``, then the first seed HTML page).

    Hostile pages (tests/integration/test_hostile.py, bench/faults.py): /hostile/huge (5 MiB with its
    Content-Length), /hostile/huge-unsized (5 MiB, no Content-Length), /hostile/nested (a story inside 20,000
    nested divs), /hostile/empty (200, empty body), /hostile/latin1-as-utf8 and /hostile/utf8-as-latin1 (a wrong
    charset), /hostile/gzip-bomb (~100 KB of gzip expanding to 100 MiB), /hostile/trickle (1 byte a second, for
    at most 120 s)."""

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
        if path.startswith("/hostile/"):
            return self._hostile(path.removeprefix("/hostile/"))
        return self._send(404, b"not found", "text/plain")

    def _hostile(self, name: str) -> None:
        if name == "huge":  # the fetcher refuses it at the Content-Length header and hangs up
            try:
                return self._send(200, hostile_page("huge"), "text/html; charset=utf-8")
            except OSError:
                return None
        if name == "huge-unsized":  # HTTP/1.0-style: the body ends when the connection closes
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Connection", "close")
            self.end_headers()
            self.close_connection = True
            try:
                self.wfile.write(hostile_page("huge"))
            except OSError:  # the fetcher hung up at its limit
                pass
            return None
        if name == "nested":
            return self._send(200, hostile_page("nested"), "text/html; charset=utf-8")
        if name == "empty":
            return self._send(200, b"", "text/html; charset=utf-8")
        if name == "latin1-as-utf8":
            return self._send(200, hostile_page("latin1"), "text/html; charset=utf-8")
        if name == "utf8-as-latin1":
            return self._send(200, hostile_page("utf8"), "text/html; charset=iso-8859-1")
        if name == "gzip-bomb":
            body = hostile_page("gzip-bomb")
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Encoding", "gzip")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            try:
                self.wfile.write(body)
            except OSError:
                pass
            return None
        if name == "trickle":
            body = hostile_page("story")
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            try:
                for i in range(min(len(body), 120)):  # 1 byte a second, never more than 120 s
                    self.wfile.write(body[i:i + 1])
                    self.wfile.flush()
                    time.sleep(1)
            except OSError:  # the fetcher gave up and closed the connection
                pass
            self.close_connection = True
            return None
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
