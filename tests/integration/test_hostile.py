"""Hostile pages through the real pipeline (the fast subset of scenario 6 of bench/faults.py): each gets a
terminal outcome, processed or dead-lettered with its reason, within the fetcher's limits, and every service
is still running afterwards.

    page (tests/conftest.py Routes)                       outcome
    5 MiB page, with or without Content-Length            fetcher: too_large (refused at the header / mid-body)
    gzip bomb (~100 KB expanding to 100 MiB)              fetcher: too_large (stops at 5 MB decoded)
    a story inside 20,000 nested divs                     cleaner: empty_content (lxml stops at depth 255)
    empty body                                            cleaner: empty_content
    a PDF served as text/html                             fetcher: unsupported_content
    latin-1 bytes declared UTF-8, and the reverse         processed (accents garbled: a guessed charset / mojibake)
    a redirect loop                                       fetcher: too_many_redirects
    429, 500                                              fetcher: http_unavailable after every attempt
    http://10.0.0.1/ (and a name resolving to 10.x)       fetcher: blocked_address, nothing connected
    1 byte a second                                       fetcher: http_unavailable (total timeout, every attempt)
"""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest

from schemas.messages import DeadLetter, EnrichedEvent
from services.fetcher.http import FetchLimits, GuardedFetcher
from services.runtime.errors import PermanentError, Reason
from tests.harness import STAGES, Pipeline, request

pytestmark = pytest.mark.usefixtures("show_logs_on_failure")

# path (on the `web` server, or an absolute URL) -> (stage, reason) of the dead letter, or None: processed
EXPECTED = {
    "/hostile/huge": ("fetcher", "too_large"),
    "/hostile/huge-unsized": ("fetcher", "too_large"),
    "/hostile/gzip-bomb": ("fetcher", "too_large"),
    "/hostile/nested": ("cleaner", "empty_content"),
    "/hostile/empty": ("cleaner", "empty_content"),
    "/pdf": ("fetcher", "unsupported_content"),
    "/hostile/latin1-as-utf8": None,
    "/hostile/utf8-as-latin1": None,
    "/loop": ("fetcher", "too_many_redirects"),
    "/status/429": ("fetcher", "http_unavailable"),
    "/status/500": ("fetcher", "http_unavailable"),
    "http://10.0.0.1/": ("fetcher", "blocked_address"),
}


def outcome(result: EnrichedEvent | DeadLetter) -> tuple[str, str] | None:
    return (result.stage.value, result.reason) if isinstance(result, DeadLetter) else None


def test_every_hostile_page_gets_its_terminal_outcome_and_every_service_survives(pipeline, web):
    requests = {path: request(url=path if path.startswith("http") else f"{web}{path}") for path in EXPECTED}
    started = time.monotonic()
    pipeline.push(requests.values())
    results = pipeline.outcomes([r.article_id for r in requests.values()], timeout=120)
    elapsed = time.monotonic() - started

    got = {path: outcome(results[r.article_id]) for path, r in requests.items()}
    assert got == EXPECTED, {p: results[r.article_id] for p, r in requests.items() if got[p] != EXPECTED[p]}
    for path in ("/status/429", "/status/500"):
        assert "after 4 attempts" in results[requests[path].article_id].detail
    assert results[requests["/hostile/huge"].article_id].detail.startswith("Content-Length")  # refused unread
    assert results[requests["/hostile/huge-unsized"].article_id].detail.startswith("body over")
    assert results[requests["/hostile/gzip-bomb"].article_id].detail.startswith("body over")
    latin1 = results[requests["/hostile/latin1-as-utf8"].article_id]
    assert "Claire Dubois" in latin1.text and "Lyon" in latin1.text  # the guessed charset garbles accents only
    reverse = results[requests["/hostile/utf8-as-latin1"].article_id]
    assert "Claire Dubois" in reverse.text  # declared latin-1 wins: any accent left is mojibake, but processed
    assert elapsed < 100
    assert all(pipeline.services[s].alive() for s in STAGES)


@pytest.fixture
def impatient_fetcher(broker):
    p = Pipeline.start(broker, stages=["fetcher"], extra_env={
        "NEWSFLOW_FETCHER_TOTAL_TIMEOUT": "2", "NEWSFLOW_FETCHER_READ_TIMEOUT": "1.5",
        "NEWSFLOW_FETCHER_MAX_ATTEMPTS": "2",
    })
    yield p
    p.stop()


def test_a_server_trickling_one_byte_a_second_is_cut_off_by_the_total_timeout(impatient_fetcher, web):
    p = impatient_fetcher
    req = request(url=f"{web}/hostile/trickle")
    started = time.monotonic()
    p.push([req])
    [letter] = p.dead_letters(1, timeout=60, where=lambda d: d.key == req.article_id.encode())
    elapsed = time.monotonic() - started
    assert letter.reason == "http_unavailable" and "within 2 s" in letter.detail and "after 2 attempts" in letter.detail
    assert elapsed < 30  # 2 attempts x 2 s + backoff, plus the pipeline's own latency
    assert p.services["fetcher"].alive()


def test_a_name_resolving_to_a_private_address_is_refused_before_any_connection():
    """The guard resolves first (here through a stub: no DNS, no packet) and refuses; the transport is never used."""
    requested: list = []

    def transport(req: httpx.Request) -> httpx.Response:
        requested.append(req)
        return httpx.Response(200, text="<p>should never be fetched</p>")

    async def stub_resolver(host: str, port: int) -> list[str]:
        return {"intranet.example": ["10.20.30.40"], "mixed.example": ["93.184.216.34", "10.0.0.7"]}.get(host, [host])

    fetcher = GuardedFetcher(FetchLimits(), resolver=stub_resolver, transport=httpx.MockTransport(transport))
    for url in ("http://intranet.example/admin", "https://mixed.example/", "http://10.0.0.1/"):
        with pytest.raises(PermanentError) as caught:
            asyncio.run(fetcher(url))
        assert caught.value.reason == Reason.blocked_address, url
    assert requested == []
