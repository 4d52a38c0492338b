"""Politeness of the fetcher: how many requests run at once, to whom, how often, and what robots.txt allows.

:class:`HostGate` bounds requests in flight: at most ``per_host`` at once to one host, starts to one host at
least ``delay`` seconds apart, at most ``total`` at once in the process. A request takes its host's slot
first and only then a global one, so URLs queued behind a slow or trickling host hold no global slot and
delay nobody else. A host's entry is dropped as soon as it is idle (once its delay has run out).

:class:`RobotsCache` answers "may the fetcher GET this URL?" from each origin's robots.txt (scheme, host and
port), downloaded by an injected coroutine (the guarded HTTP edge, so through the same address guard and
the same gate), parsed by protego, kept ``ttl`` seconds, at most ``size`` origins (least recently used
dropped). Concurrent first questions about one origin wait on one download. What a download gives:

    2xx                                  its rules, matched with the fetcher's User-Agent token
    4xx (404, 410, 403, 401...)          no robots.txt: everything allowed (RFC 9309, 2.3.1.3)
    429, 5xx, timeout, network error,    unreachable: everything allowed, logged, asked again after
    blocked address, too many redirects  at most UNREACHABLE_TTL seconds

RFC 9309 asks a crawler to assume "disallow all" when robots.txt is unreachable (5xx). newsflow fetches
articles one by one as users push them, it does not crawl: refusing every article of a site whose robots.txt
is failing would dead-letter them all, so it allows them, logs it and asks again soon.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import AsyncIterator, Awaitable, Callable
from urllib.parse import urlsplit, urlunsplit

from protego import Protego

from services.runtime.errors import StageError

log = logging.getLogger("newsflow.fetcher")

UNREACHABLE_TTL = 60.0  # seconds an unreachable robots.txt counts as "allow everything" before it is asked again
DEFAULT_PORTS = {"http": 80, "https": 443}

# robots.txt URL -> (final HTTP status, body); raises StageError when there is no answer
DownloadRobots = Callable[[str], Awaitable[tuple[int, bytes]]]


@dataclass
class _Host:
    slots: asyncio.Semaphore
    start: asyncio.Lock = field(default_factory=asyncio.Lock)  # one start at a time, spaced by the delay
    next_start: float = 0.0  # time.monotonic() before which no request to this host may start
    users: int = 0  # requests in flight or waiting
    active: int = 0  # requests in flight


class HostGate:
    """Admission for HTTP requests: at most ``total`` in flight, ``per_host`` per host, and starts to one host
    spaced by ``delay``. It only waits and counts; it never opens a connection or decides whether a URL may be
    fetched (that is the address guard and robots.txt)."""

    def __init__(self, total: int, per_host: int, delay: float):
        self.per_host = per_host
        self.delay = delay
        self._global = asyncio.Semaphore(total)
        self._hosts: dict[str, _Host] = {}
        self._active = 0

    @asynccontextmanager
    async def slot(self, host: str) -> AsyncIterator[None]:
        """Hold one request slot for ``host`` (its own first, then a global one) while the body runs."""
        state = self._hosts.get(host)
        if state is None:
            state = self._hosts[host] = _Host(asyncio.Semaphore(self.per_host))
        state.users += 1
        try:
            async with state.slots:
                async with state.start:
                    wait = state.next_start - time.monotonic()
                    if wait > 0:
                        await asyncio.sleep(wait)
                    await self._global.acquire()
                    state.next_start = time.monotonic() + self.delay
                state.active += 1
                self._active += 1
                try:
                    yield
                finally:
                    state.active -= 1
                    self._active -= 1
                    self._global.release()
        finally:
            state.users -= 1
            if state.users == 0:
                self._forget(host, state)

    def _forget(self, host: str, state: _Host) -> None:
        """Drop an idle host's entry, once its next start is no longer in the future."""
        if state.users or self._hosts.get(host) is not state:
            return
        wait = state.next_start - time.monotonic()
        if wait > 0:
            asyncio.get_running_loop().call_later(wait, self._forget, host, state)
        else:
            del self._hosts[host]

    def in_flight(self) -> int:
        return self._active

    def in_flight_by_host(self) -> dict[str, int]:
        """Requests in flight for every host with at least one request in flight or waiting."""
        return {host: state.active for host, state in self._hosts.items() if state.users}


@dataclass(frozen=True)
class Rules:
    """One origin's parsed robots.txt and when it expires; ``robots`` None allows everything."""

    robots: Protego | None  # None: everything allowed
    expires: float  # time.monotonic()


def robots_url(url: str) -> str:
    """The robots.txt URL of the URL's origin (scheme, host, port); also the cache key."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    netloc = f"[{host}]" if ":" in host else host
    if parts.port and parts.port != DEFAULT_PORTS.get(parts.scheme):
        netloc += f":{parts.port}"
    return urlunsplit((parts.scheme, netloc, "/robots.txt", "", ""))


class RobotsCache:
    """robots.txt per origin, downloaded once by the given function (one download at a time per origin), kept
    ``ttl`` seconds, at most ``size`` origins. It answers whether our agent may fetch a URL; it never fetches
    the URL itself. A missing robots.txt (4xx) or an unreachable one allows everything (see the module's table)."""

    def __init__(self, download: DownloadRobots, agent: str, ttl: float, size: int):
        self.download = download
        self.agent = agent
        self.ttl = ttl
        self.size = size
        self._loads: OrderedDict[str, asyncio.Task[Rules]] = OrderedDict()

    async def allowed(self, url: str) -> bool:
        rules = await self.rules(robots_url(url))
        return rules.robots is None or rules.robots.can_fetch(url, self.agent)

    async def rules(self, robots: str) -> Rules:
        load = self._loads.get(robots)
        if load is None or _stale(load):
            load = asyncio.get_running_loop().create_task(self._load(robots))
            self._loads[robots] = load
            while len(self._loads) > self.size:
                self._loads.popitem(last=False)
        else:
            self._loads.move_to_end(robots)
        # shielded: a caller that gives up (cancelled) does not cancel the download the others wait on
        return load.result() if load.done() else await asyncio.shield(load)

    async def _load(self, robots: str) -> Rules:
        try:
            status, body = await self.download(robots)
        except StageError as exc:
            return self._unreachable(robots, exc.detail)
        if 200 <= status < 300:
            return Rules(Protego.parse(body.decode("utf-8-sig", "replace")), time.monotonic() + self.ttl)
        if 400 <= status < 500 and status != 429:
            return Rules(None, time.monotonic() + self.ttl)
        return self._unreachable(robots, f"HTTP {status}")

    def _unreachable(self, robots: str, detail: str) -> Rules:
        ttl = min(self.ttl, UNREACHABLE_TTL)
        log.warning("%s unreachable (%s): everything allowed for %g s", robots, detail, ttl)
        return Rules(None, time.monotonic() + ttl)


def _stale(load: asyncio.Task[Rules]) -> bool:
    if not load.done():
        return False
    if load.cancelled() or load.exception() is not None:
        return True
    return load.result().expires <= time.monotonic()
