"""The fetcher's step and HTTP edge, with httpx.MockTransport and a stub resolver: nothing leaves the process.

What each kind of URL gets:
    200 text/html, text/plain                 processed (kind html / text), charset honoured
    404, 410, 403                             dead letter: http_status
    500, 503, 429, 408, timeouts              transient (retried by the runner, then http_unavailable)
    host -> loopback/private/link-local       dead letter: blocked_address, and no request is made
    redirect loop / too many redirects        dead letter: too_many_redirects
    body over max_bytes (also after gunzip)   dead letter: too_large
    application/pdf, a PDF as text/html       dead letter: unsupported_content
    robots.txt disallows the URL              dead letter: robots_disallowed (test_fetcher_polite.py)
"""

from __future__ import annotations

import asyncio
import gzip
from datetime import datetime, timezone

import httpx
import pytest

from schemas.messages import IngestRequest
from services.fetcher.http import FetchLimits, GuardedFetcher
from services.fetcher.logic import fetch_article
from services.runtime.errors import PermanentError, TransientError

NOW = datetime(2026, 1, 5, 9, 30, tzinfo=timezone.utc)
PUBLIC = "93.184.216.34"


def stub_resolver(table: dict[str, list[str]]):
    async def resolve(host: str, port: int) -> list[str]:
        if host not in table:
            raise OSError(f"unknown host {host}")
        return table[host]

    return resolve


class Recorder:
    """A mocked transport that answers from a handler and records every request it was asked to send, but
    robots.txt: that is answered 404 (no robots.txt, everything allowed) and not recorded.
    robots.txt itself is tested in test_fetcher_polite.py."""

    def __init__(self, handler):
        self.requests: list[httpx.Request] = []
        self.transport = httpx.MockTransport(self._handle)
        self.handler = handler

    def _handle(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/robots.txt":
            return httpx.Response(404)
        self.requests.append(request)
        return self.handler(request)


def fetcher(handler, hosts=None, **limits) -> tuple[GuardedFetcher, Recorder]:
    recorder = Recorder(handler)
    hosts = hosts or {"news.example": [PUBLIC]}
    return GuardedFetcher(FetchLimits(**limits), resolver=stub_resolver(hosts), transport=recorder.transport), recorder


def fetch(f: GuardedFetcher, url: str):
    return asyncio.run(f(url))


def html(body: str, status: int = 200, **headers) -> httpx.Response:
    return httpx.Response(status, headers={"content-type": "text/html; charset=utf-8", **headers}, content=body.encode())


def test_inline_text_and_html_pass_straight_through_without_any_request():
    f, rec = fetcher(lambda r: html("never"))
    for body in ({"text": "Plain text."}, {"html": "<p>Hi</p>"}):
        req = IngestRequest(article_id="a1", ingested_at=NOW, title="T", **body)
        out = asyncio.run(fetch_article(req, f))
        assert out.body == next(iter(body.values())) and out.kind == next(iter(body)) and out.title == "T"
    assert rec.requests == []


def test_a_page_is_fetched_from_the_checked_address_with_the_original_host_header():
    f, rec = fetcher(lambda r: html("<html><body><p>Story</p></body></html>"))
    req = IngestRequest(article_id="a1", ingested_at=NOW, url="https://news.example/story?id=3")
    out = asyncio.run(fetch_article(req, f))
    assert out.kind == "html" and "Story" in out.body and out.http_status == 200
    [sent] = rec.requests
    assert sent.url.host == PUBLIC and sent.headers["host"] == "news.example"
    assert sent.url.path == "/story" and sent.url.query == b"id=3"
    assert sent.extensions["sni_hostname"] == "news.example"


def test_plain_text_and_declared_charsets_are_decoded():
    body = "Café in Zürich".encode("latin-1")
    f, _ = fetcher(lambda r: httpx.Response(200, headers={"content-type": "text/plain; charset=iso-8859-1"}, content=body))
    page = fetch(f, "http://news.example/a")
    assert page.kind == "text" and page.body == "Café in Zürich"
    meta = b'<html><head><meta charset="windows-1252"></head><body>Caf\xe9</body></html>'
    f, _ = fetcher(lambda r: httpx.Response(200, headers={"content-type": "text/html"}, content=meta))
    assert "Café" in fetch(f, "http://news.example/a").body


@pytest.mark.parametrize("status", [404, 410, 403, 401])
def test_client_errors_are_permanent(status):
    f, _ = fetcher(lambda r: html("gone", status))
    with pytest.raises(PermanentError) as err:
        fetch(f, "http://news.example/a")
    assert err.value.reason.value == "http_status" and str(status) in err.value.detail


@pytest.mark.parametrize("status", [500, 502, 503, 429, 408])
def test_server_errors_and_throttling_are_transient(status):
    f, _ = fetcher(lambda r: html("busy", status))
    with pytest.raises(TransientError):
        fetch(f, "http://news.example/a")


def test_timeouts_and_connection_errors_are_transient():
    def boom(request):
        raise httpx.ConnectTimeout("timed out", request=request)

    f, _ = fetcher(boom)
    with pytest.raises(TransientError):
        fetch(f, "http://news.example/a")


@pytest.mark.parametrize(
    "address",
    ["127.0.0.1", "10.1.2.3", "172.16.0.5", "192.168.1.10", "169.254.169.254", "::1", "fd00::1", "0.0.0.0",
     "::ffff:127.0.0.1", "100.64.0.1"],
)
def test_private_loopback_and_link_local_addresses_are_blocked_without_a_request(address):
    f, rec = fetcher(lambda r: html("secret"), hosts={"internal.example": [address]})
    with pytest.raises(PermanentError) as err:
        fetch(f, "http://internal.example/admin")
    assert err.value.reason.value == "blocked_address"
    assert rec.requests == []


def test_a_host_with_one_private_address_among_public_ones_is_blocked():
    f, rec = fetcher(lambda r: html("x"), hosts={"mixed.example": [PUBLIC, "10.0.0.1"]})
    with pytest.raises(PermanentError):
        fetch(f, "http://mixed.example/")
    assert rec.requests == []


def test_a_redirect_to_a_private_address_is_blocked_before_it_is_followed():
    def handler(request):
        return httpx.Response(302, headers={"location": "http://internal.example/latest/meta-data"})

    f, rec = fetcher(handler, hosts={"news.example": [PUBLIC], "internal.example": ["169.254.169.254"]})
    with pytest.raises(PermanentError) as err:
        fetch(f, "http://news.example/a")
    assert err.value.reason.value == "blocked_address"
    assert [r.url.host for r in rec.requests] == [PUBLIC]


def test_configured_networks_are_allowed():
    f, rec = fetcher(lambda r: html("<p>local</p>"), hosts={"localhost": ["127.0.0.1"]}, allowed_networks=("127.0.0.1/32",))
    assert "local" in fetch(f, "http://localhost:8080/a").body
    assert rec.requests[0].url.port == 8080


def test_unresolvable_hosts_and_other_schemes_are_invalid_urls():
    f, rec = fetcher(lambda r: html("x"))
    for url in ("http://nowhere.example/", "ftp://news.example/file", "http:///nohost"):
        with pytest.raises(PermanentError) as err:
            fetch(f, url)
        assert err.value.reason.value == "invalid_url"
    assert rec.requests == []


def test_redirects_are_followed_up_to_the_limit_and_loops_are_caught():
    def handler(request):
        n = int(request.url.path.strip("/") or 0)
        return httpx.Response(301, headers={"location": f"/{n + 1}"}) if n < 3 else html("<p>end</p>")

    f, rec = fetcher(handler, max_redirects=3)
    page = fetch(f, "http://news.example/0")
    assert "end" in page.body and page.final_url == "http://news.example/3"
    f, _ = fetcher(handler, max_redirects=2)
    with pytest.raises(PermanentError) as err:
        fetch(f, "http://news.example/0")
    assert err.value.reason.value == "too_many_redirects"
    f, _ = fetcher(lambda r: httpx.Response(302, headers={"location": "/a" if r.url.path == "/b" else "/b"}))
    with pytest.raises(PermanentError) as err:
        fetch(f, "http://news.example/a")
    assert "loop" in err.value.detail


def test_bodies_over_the_limit_are_refused_even_when_compressed():
    f, _ = fetcher(lambda r: html("x" * 5000), max_bytes=1000)
    with pytest.raises(PermanentError) as err:
        fetch(f, "http://news.example/a")
    assert err.value.reason.value == "too_large"
    bomb = gzip.compress(b"<p>" + b"0" * 5_000_000)  # ~5 KB on the wire, 5 MB decoded
    f, _ = fetcher(lambda r: httpx.Response(200, headers={"content-type": "text/html", "content-encoding": "gzip"},
                                            content=bomb), max_bytes=100_000)
    with pytest.raises(PermanentError) as err:
        fetch(f, "http://news.example/a")
    assert err.value.reason.value == "too_large"


def test_non_text_content_is_unsupported():
    f, _ = fetcher(lambda r: httpx.Response(200, headers={"content-type": "application/pdf"}, content=b"%PDF-1.4"))
    with pytest.raises(PermanentError) as err:
        fetch(f, "http://news.example/a.pdf")
    assert err.value.reason.value == "unsupported_content"
    f, _ = fetcher(lambda r: httpx.Response(200, headers={"content-type": "text/html"}, content=b"%PDF-1.4 \x00\x01"))
    with pytest.raises(PermanentError):
        fetch(f, "http://news.example/a")


def test_a_slow_server_hits_the_total_deadline():
    async def slow(request):
        await asyncio.sleep(5)
        return html("late")

    f, _ = fetcher(slow, total_timeout=0.2)
    with pytest.raises(TransientError) as err:
        fetch(f, "http://news.example/a")
    assert "within 0.2 s" in err.value.detail
