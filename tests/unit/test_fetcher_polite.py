"""Politeness of the fetcher's HTTP edge: concurrency caps, start spacing, robots.txt.

httpx.MockTransport and a stub resolver, nothing leaves the process; but for one real-socket test between two
HTTP servers on loopback addresses (127.0.0.2 trickles, 127.0.0.3 answers at once). Every test is bounded in
time (``run``) and asserts on counts and on the order of events, never on absolute speed.

    per_host, fetch_concurrency                 never more requests at once than either cap allows
    host_delay_seconds                          starts to one host spaced, other hosts not delayed
    a URL queued behind its busy host           holds no global slot: other hosts go on
    robots.txt disallows the URL (or a hop's)   dead letter: robots_disallowed, the URL never requested
    robots.txt 4xx                              everything allowed, kept for robots_ttl_seconds
    robots.txt 5xx, 429, timeout, network       everything allowed, logged, asked again within a minute
    robots_enabled off                          robots.txt never requested
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import os
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest
from pydantic import ValidationError

from services.fetcher import polite
from services.fetcher.http import FetchLimits, GuardedFetcher
from services.fetcher.settings import FetcherSettings
from services.runtime.errors import PermanentError

PUBLIC = "93.184.216.34"


async def resolve(host: str, port: int) -> list[str]:
    """Every *.example name is one public address (never contacted: MockTransport answers)."""
    if host == "internal.example":
        return ["169.254.169.254"]
    if host.endswith(".example"):
        return [PUBLIC]
    raise OSError(f"unknown host {host}")


def html(body: str = "<p>story</p>", status: int = 200, **headers) -> httpx.Response:
    headers = {"content-type": "text/html; charset=utf-8", **headers}
    return httpx.Response(status, headers=headers, content=body.encode())


def robots(text: str) -> httpx.Response:
    return httpx.Response(200, headers={"content-type": "text/plain"}, content=text.encode())


class Web:
    """A mocked web: pages and robots.txt from handlers (sync or async), every request logged as
    "host/path", and the requests in flight counted per host and in all while a page is held."""

    def __init__(self, page=lambda request: html(), robots_txt=lambda host: httpx.Response(404), hold: float = 0.0):
        self.page = page
        self.robots_txt = robots_txt
        self.hold = hold
        self.log: list[str] = []
        self.starts: dict[str, list[float]] = {}
        self.active: Counter[str] = Counter()
        self.peak: Counter[str] = Counter()
        self.peak_total = 0

    async def handle(self, request: httpx.Request) -> httpx.Response:
        host = request.headers["host"]
        self.log.append(f"{host}{request.url.path}")
        answer = self.robots_txt(host) if request.url.path == "/robots.txt" else None
        if answer is not None:
            return await answer if inspect.isawaitable(answer) else answer
        self.starts.setdefault(host, []).append(time.monotonic())
        self.active[host] += 1
        self.peak[host] = max(self.peak[host], self.active[host])
        self.peak_total = max(self.peak_total, sum(self.active.values()))
        try:
            await asyncio.sleep(self.hold)
            return self.page(request)
        finally:
            self.active[host] -= 1

    def fetcher(self, **limits) -> GuardedFetcher:
        return GuardedFetcher(FetchLimits(**limits), resolver=resolve, transport=httpx.MockTransport(self.handle))

    def robots_requests(self) -> Counter[str]:
        return Counter(entry.split("/")[0] for entry in self.log if entry.endswith("/robots.txt"))


def run(coroutine, timeout: float = 10.0):
    return asyncio.run(asyncio.wait_for(coroutine, timeout))


async def fetch_all(f: GuardedFetcher, urls: list[str]) -> list:
    return await asyncio.gather(*(f(url) for url in urls), return_exceptions=True)


def dead_letter(f: GuardedFetcher, url: str) -> PermanentError:
    with pytest.raises(PermanentError) as err:
        run(f(url))
    return err.value


# --- concurrency and spacing -------------------------------------------------------------------------------


def test_no_more_than_per_host_requests_at_once_to_one_host():
    web = Web(hold=0.05)
    f = web.fetcher(per_host=2, host_delay_seconds=0, robots_enabled=False)
    pages = run(fetch_all(f, [f"http://a.example/{i}" for i in range(10)]))
    assert all(page.status == 200 for page in pages)
    assert web.peak["a.example"] == 2


def test_no_more_than_fetch_concurrency_requests_at_once_in_all():
    web = Web(hold=0.05)
    f = web.fetcher(fetch_concurrency=5, per_host=2, host_delay_seconds=0, robots_enabled=False)
    pages = run(fetch_all(f, [f"http://h{h}.example/{i}" for h in range(8) for i in range(3)]))
    assert all(page.status == 200 for page in pages)
    assert web.peak_total == 5 and max(web.peak.values()) <= 2


def test_starts_to_one_host_are_spaced_by_the_host_delay_and_other_hosts_are_not_delayed():
    web = Web()
    f = web.fetcher(per_host=5, host_delay_seconds=0.05, robots_enabled=False)
    run(fetch_all(f, [f"http://a.example/{i}" for i in range(5)] + [f"http://h{h}.example/" for h in range(5)]))
    starts = web.starts["a.example"]
    assert len(starts) == 5 and all(b - a >= 0.045 for a, b in zip(starts, starts[1:]))
    others = [web.starts[f"h{h}.example"][0] for h in range(5)]
    assert max(others) - min(others) < 0.045  # one start each: nothing to space


def test_urls_queued_behind_their_busy_host_hold_no_global_slot():
    release = asyncio.Event()

    async def page(request):
        if request.headers["host"] == "slow.example":
            await release.wait()
        return html()

    f = GuardedFetcher(FetchLimits(fetch_concurrency=2, per_host=1, host_delay_seconds=0.01, robots_enabled=False),
                       resolver=resolve, transport=httpx.MockTransport(page))

    async def scenario():
        slow = [asyncio.create_task(f(f"http://slow.example/{i}")) for i in range(3)]
        await asyncio.sleep(0.1)
        assert f.in_flight() == 1 and f.in_flight_by_host() == {"slow.example": 1}  # 2 more waiting, holding nothing
        # with the global slot taken first, the two waiting slow URLs would hold both slots and this would hang
        fast = await asyncio.wait_for(f("http://fast.example/"), 2)
        assert fast.status == 200 and not any(task.done() for task in slow)
        assert f.in_flight_by_host() == {"slow.example": 1}
        release.set()
        assert all(page.status == 200 for page in await asyncio.gather(*slow))
        assert f.in_flight() == 0 and f.in_flight_by_host() == {}

    run(scenario())


def test_idle_hosts_are_forgotten():
    web = Web()
    f = web.fetcher(host_delay_seconds=0.02, robots_enabled=False)

    async def scenario():
        await fetch_all(f, [f"http://h{h}.example/" for h in range(100)])
        assert f.in_flight_by_host() == {}
        await asyncio.sleep(0.1)  # past every host's delay
        return len(f.gate._hosts)

    assert run(scenario()) == 0


def test_a_redirect_hop_waits_for_the_slot_of_its_own_host():
    def page(request):
        if request.headers["host"] != "hub.example":
            return httpx.Response(302, headers={"location": f"http://hub.example{request.url.path}"})
        return html()

    web = Web(page=page, hold=0.05)
    f = web.fetcher(per_host=1, host_delay_seconds=0, robots_enabled=False)
    pages = run(fetch_all(f, [f"http://h{h}.example/{h}" for h in range(4)]))
    assert [page.final_url for page in pages] == [f"http://hub.example/{h}" for h in range(4)]
    assert web.peak["hub.example"] == 1


# --- robots.txt --------------------------------------------------------------------------------------------


def test_a_url_that_robots_txt_disallows_is_dead_lettered_without_being_requested():
    web = Web(robots_txt=lambda host: robots("User-agent: *\nDisallow: /private\n"))
    f = web.fetcher()
    err = dead_letter(f, "http://a.example/private/1")
    assert err.reason.value == "robots_disallowed" and "a.example" in err.detail
    assert run(f("http://a.example/news/1")).status == 200
    assert web.log == ["a.example/robots.txt", "a.example/news/1"]


def test_the_rules_for_the_newsflow_fetcher_token_win_over_the_wildcard():
    text = "User-agent: *\nDisallow: /\n\nUser-agent: newsflow-fetcher\nDisallow: /drafts/\n"
    f = Web(robots_txt=lambda host: robots(text)).fetcher()
    assert run(f("http://a.example/news/1")).status == 200
    assert dead_letter(f, "http://a.example/drafts/1").reason.value == "robots_disallowed"


def test_a_byte_order_mark_does_not_hide_the_first_rule():
    f = Web(robots_txt=lambda host: robots("\ufeffUser-agent: *\nDisallow: /private\n")).fetcher()
    assert dead_letter(f, "http://a.example/private/1").reason.value == "robots_disallowed"


def test_robots_txt_is_downloaded_once_per_origin_under_concurrency_then_kept():
    async def slow_robots(host):
        await asyncio.sleep(0.05)
        return robots("User-agent: *\nDisallow: /private\n")

    web = Web(robots_txt=slow_robots)
    f = web.fetcher(host_delay_seconds=0)

    async def scenario():
        urls = [f"http://{h}.example/{i}" for h in ("a", "b") for i in range(20)]
        first = await fetch_all(f, urls + ["http://a.example/private"])
        second = await fetch_all(f, urls + ["http://a.example:8080/x"])  # another port: another origin
        return first + second

    outcomes = run(scenario())
    assert sum(isinstance(o, PermanentError) and o.reason.value == "robots_disallowed" for o in outcomes) == 1
    assert web.robots_requests() == {"a.example": 1, "b.example": 1, "a.example:8080": 1}


def test_robots_txt_is_asked_again_after_its_ttl():
    web = Web(robots_txt=lambda host: robots("User-agent: *\nAllow: /\n"))
    f = web.fetcher(robots_ttl_seconds=0.2, host_delay_seconds=0)

    async def scenario():
        await f("http://a.example/1")
        await f("http://a.example/2")
        await asyncio.sleep(0.3)
        await f("http://a.example/3")

    run(scenario())
    assert web.robots_requests() == {"a.example": 2}


async def _never(host):
    await asyncio.sleep(30)


def _refused(host):
    raise httpx.ConnectError("connection refused")


@pytest.mark.parametrize(
    "answer",
    [lambda h: httpx.Response(404), lambda h: httpx.Response(410), lambda h: httpx.Response(403),
     lambda h: httpx.Response(401), lambda h: httpx.Response(500), lambda h: httpx.Response(503),
     lambda h: httpx.Response(429), _never, _refused],
    ids=["404", "410", "403", "401", "500", "503", "429", "timeout", "refused"],
)
def test_without_a_readable_robots_txt_everything_is_allowed(answer):
    web = Web(robots_txt=answer)
    f = web.fetcher(robots_timeout_seconds=0.2)
    assert run(f("http://a.example/news/1"), timeout=5).status == 200
    assert web.log == ["a.example/robots.txt", "a.example/news/1"]


def test_an_unreachable_robots_txt_is_logged_and_asked_again_soon_a_missing_one_is_kept(monkeypatch, caplog):
    monkeypatch.setattr(polite, "UNREACHABLE_TTL", 0.05)
    web = Web(robots_txt=lambda host: httpx.Response(503 if host == "down.example" else 404))
    f = web.fetcher()

    async def scenario():
        await fetch_all(f, ["http://down.example/1", "http://gone.example/1"])
        await asyncio.sleep(0.1)
        await fetch_all(f, ["http://down.example/2", "http://gone.example/2"])

    with caplog.at_level(logging.WARNING, logger="newsflow.fetcher"):
        run(scenario())
    assert web.robots_requests() == {"down.example": 2, "gone.example": 1}
    assert "http://down.example/robots.txt unreachable (HTTP 503)" in caplog.text and "gone.example" not in caplog.text


def test_robots_off_means_robots_txt_is_never_requested():
    web = Web(robots_txt=lambda host: robots("User-agent: *\nDisallow: /\n"))
    f = web.fetcher(robots_enabled=False)
    assert run(f("http://a.example/news/1")).status == 200
    assert web.log == ["a.example/news/1"]


def test_each_redirect_hop_is_checked_against_its_own_hosts_robots_txt():
    def page(request):
        return httpx.Response(302, headers={"location": "http://b.example/private/1"})

    web = Web(page=page, robots_txt=lambda host: robots("User-agent: *\nDisallow: /private\n") if host == "b.example"
              else httpx.Response(404))
    err = dead_letter(web.fetcher(), "http://a.example/story")
    assert err.reason.value == "robots_disallowed" and "b.example/private/1" in err.detail
    assert web.log == ["a.example/robots.txt", "a.example/story", "b.example/robots.txt"]


def test_robots_txt_redirects_are_followed_through_the_address_guard():
    def robots_txt(host):
        if host == "a.example":  # its rules live on another host: they apply to a.example (RFC 9309 2.3.1.2)
            return httpx.Response(301, headers={"location": "http://rules.example/robots.txt"})
        if host == "rules.example":
            return robots("User-agent: *\nDisallow: /private\n")
        return httpx.Response(302, headers={"location": "http://internal.example/robots.txt"})

    web = Web(robots_txt=robots_txt)
    f = web.fetcher()
    assert dead_letter(f, "http://a.example/private/1").reason.value == "robots_disallowed"
    assert run(f("http://b.example/private/1")).status == 200  # its robots.txt points at a blocked address
    assert not any(entry.startswith("internal.example") for entry in web.log)


def test_a_huge_robots_txt_is_read_up_to_500_kib():
    filler = "# " + "x" * 1000 + "\n"
    head = robots("User-agent: *\nDisallow: /early\n" + filler * 600)
    tail = robots("User-agent: *\n" + filler * 600 + "Disallow: /late\n")
    web = Web(robots_txt=lambda host: head if host == "head.example" else tail)
    f = web.fetcher()
    assert dead_letter(f, "http://head.example/early").reason.value == "robots_disallowed"
    assert run(f("http://tail.example/late")).status == 200  # past the first 500 KiB: not read


# --- settings ----------------------------------------------------------------------------------------------


def test_every_fetch_limit_is_a_fetcher_setting_with_the_same_default(monkeypatch):
    for name in list(os.environ):
        if name.startswith("NEWSFLOW_FETCHER_"):
            monkeypatch.delenv(name)
    assert set(FetchLimits.model_fields) <= set(FetcherSettings.model_fields)
    assert FetcherSettings(_env_file=None).limits() == FetchLimits()
    monkeypatch.setenv("NEWSFLOW_FETCHER_PER_HOST", "5")
    monkeypatch.setenv("NEWSFLOW_FETCHER_ROBOTS_ENABLED", "false")
    monkeypatch.setenv("NEWSFLOW_FETCHER_ALLOWED_NETWORKS", "127.0.0.1/32, 10.0.0.0/8")
    limits = FetcherSettings(_env_file=None).limits()
    assert limits.per_host == 5 and limits.robots_enabled is False
    assert limits.allowed_networks == ("127.0.0.1/32", "10.0.0.0/8")
    monkeypatch.setenv("NEWSFLOW_FETCHER_PER_HOST", "0")  # FetchLimits' bound, enforced on the setting
    with pytest.raises(ValidationError):
        FetcherSettings(_env_file=None)


# --- real sockets, loopback only ---------------------------------------------------------------------------


TRICKLE_BYTES, TRICKLE_EVERY = 15, 0.2  # one fetch of the trickler takes ~3 s


def serve(address: str, trickle: bool):
    """A ThreadingHTTPServer on ``address`` (loopback), on a free port, in a thread. Its handler counts the
    page requests it serves at once (``peak``)."""
    stats = {"active": 0, "peak": 0}
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_GET(self):
            if self.path == "/robots.txt":
                body = b"User-agent: *\nAllow: /\n"
                self.send_response(200 if trickle else 404)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
                return
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(TRICKLE_BYTES if trickle else 2))
            self.end_headers()
            if not trickle:
                self.wfile.write(b"ok")
                return
            with lock:
                stats["active"] += 1
                stats["peak"] = max(stats["peak"], stats["active"])
            try:
                for _ in range(TRICKLE_BYTES - 1):
                    time.sleep(TRICKLE_EVERY)
                    self.wfile.write(b".")
                time.sleep(TRICKLE_EVERY)
            except OSError:  # the test is over and the client gone
                return
            finally:
                with lock:  # before the last byte: the client cannot start its next request before this
                    stats["active"] -= 1
            self.wfile.write(b".")

    server = ThreadingHTTPServer((address, 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    return server, stats


@pytest.fixture
def two_servers():
    servers = [serve("127.0.0.2", trickle=True), serve("127.0.0.3", trickle=False)]
    yield servers
    for server, _ in servers:
        server.shutdown()
        server.server_close()


def test_a_trickling_host_delays_only_its_own_urls(two_servers):
    """6 URLs of a host trickling its answers (~3 s each) and 20 of a fast one, at once through one fetcher:
    3 at a time per host, 5 in all. The 3 trickle URLs queued behind their host hold no global slot, so the
    fast host keeps 2 and all its URLs are done before the first trickled answer is (they would wait for it
    if the queued trickle URLs held global slots). The queued trickle URLs are then cancelled."""
    (trickler, trickle_stats), (fast, _) = two_servers
    addresses = {"trickle.test": ["127.0.0.2"], "fast.test": ["127.0.0.3"]}

    async def loopback(host: str, port: int) -> list[str]:
        return addresses[host]

    f = GuardedFetcher(FetchLimits(fetch_concurrency=5, per_host=3, host_delay_seconds=0.01,
                                   allowed_networks=("127.0.0.0/8",)), resolver=loopback)

    async def timed(url: str, started: float) -> float:
        page = await f(url)
        assert page.status == 200
        return time.monotonic() - started

    async def scenario():
        started = time.monotonic()
        trickling = [asyncio.create_task(timed(f"http://trickle.test:{trickler.server_port}/{i}", started))
                     for i in range(6)]
        try:
            fast_done = await asyncio.gather(*(timed(f"http://fast.test:{fast.server_port}/{i}", started)
                                               for i in range(20)))
            watched = f.in_flight(), f.in_flight_by_host()
            first, _ = await asyncio.wait(trickling, return_when=asyncio.FIRST_COMPLETED)
            return fast_done, min(task.result() for task in first), watched
        finally:
            for task in trickling:
                task.cancel()
            await asyncio.gather(*trickling, return_exceptions=True)
            await f.aclose()

    fast_done, first_trickled, watched = run(scenario(), timeout=30)
    assert max(fast_done) < first_trickled, (sorted(fast_done), first_trickled)
    assert first_trickled > TRICKLE_BYTES * TRICKLE_EVERY * 0.9  # the trickler did trickle
    assert watched == (3, {"trickle.test": 3})  # 3 more trickle URLs waiting, holding no slot
    assert trickle_stats["peak"] == 3
