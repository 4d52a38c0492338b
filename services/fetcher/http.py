"""The fetcher's HTTP edge: httpx with explicit limits, an address guard, politeness and robots.txt.

Failure mapping (services.runtime.errors):
    unsupported scheme, no host, bad port, host does not resolve  PermanentError(invalid_url)
    host resolves to loopback/private/link-local/reserved   PermanentError(blocked_address), nothing requested
    the host's robots.txt disallows the URL (or a redirect  PermanentError(robots_disallowed), URL not requested
      hop's URL) for the newsflow-fetcher User-Agent token
    4xx except 408/429                                      PermanentError(http_status)
    408, 429, 5xx, connect/read timeouts, network errors,   TransientError(http_unavailable): retried by the runner
      no complete answer within total_timeout
    more than max_redirects hops, or a redirect loop        PermanentError(too_many_redirects)
    body (decoded) over max_bytes                           PermanentError(too_large)
    content type neither HTML nor text                      PermanentError(unsupported_content)

The guard resolves the host itself (through an injectable resolver), checks every address, then connects to
that checked address (Host header and TLS SNI keep the original name), so DNS cannot hand httpx another
address between the check and the connection. Redirects are followed by hand, each hop guarded again, checked
against its own host's robots.txt and sent through its own host's slot.

Politeness (services.fetcher.polite): every request, robots.txt included, holds a slot of the
:class:`~services.fetcher.polite.HostGate` (per-host cap and start spacing, then the global cap). The
``total_timeout`` deadline counts time spent resolving and in flight, not time queued for a slot: a URL
waiting behind its busy host is not the host's failure. A robots.txt download has its own deadline,
``robots_timeout_seconds``, and its outcome rules are in :mod:`services.fetcher.polite`.
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
import socket
import time
from dataclasses import dataclass, field
from typing import Annotated, Awaitable, Callable, NamedTuple, TypeVar
from urllib.parse import urljoin, urlsplit, urlunsplit

import httpx
from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic_settings import NoDecode

from services.fetcher.logic import Page
from services.fetcher.polite import HostGate, RobotsCache
from services.runtime.errors import PermanentError, Reason, TransientError

Resolver = Callable[[str, int], Awaitable[list[str]]]
T = TypeVar("T")

HTML_TYPES = ("text/html", "application/xhtml+xml")
TEXT_TYPES = ("text/plain",)
ROBOTS_MAX_BYTES = 500 * 1024  # a longer robots.txt is cut there (RFC 9309 2.5: parse at least 500 KiB)
_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9._:-]+)""", re.I)


async def system_resolver(host: str, port: int) -> list[str]:
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return sorted({info[4][0] for info in infos})


USER_AGENT = "newsflow-fetcher/0.1 (+https://github.com/newsflow)"  # its first word is the robots.txt token


class FetchLimits(BaseModel):
    """Every limit of the HTTP edge, each declared once, with its default, bounds and description.
    FetcherSettings (services/fetcher/settings.py) inherits these fields, so each limit is also the setting
    ``NEWSFLOW_FETCHER_<FIELD>``; tests build one directly (``FetchLimits(per_host=1)``). Values only: it opens
    no connection and reads no environment."""

    model_config = ConfigDict(frozen=True)

    connect_timeout: float = Field(5.0, gt=0)
    read_timeout: float = Field(15.0, gt=0)
    total_timeout: float = Field(30.0, gt=0, description="Deadline for a whole fetch, redirects included, "
                                 "queueing excluded")
    max_bytes: int = Field(5_000_000, gt=0, description="Largest body accepted, after content decoding")
    max_redirects: int = Field(5, ge=0)
    allow_private: bool = Field(False, description="Allow loopback/private/link-local targets (never in production)")
    allowed_networks: Annotated[tuple[str, ...], NoDecode] = Field(
        (), description="Comma-separated CIDRs allowed despite the guard, e.g. 127.0.0.1/32")
    fetch_concurrency: int = Field(64, ge=1, description="Requests in flight per process")
    per_host: int = Field(2, ge=1, description="Requests in flight at once to one host")
    host_delay_seconds: float = Field(0.1, ge=0, description="Least time between the starts of two requests to "
                                      "one host")
    robots_enabled: bool = Field(True, description="Honour robots.txt")
    robots_timeout_seconds: float = Field(5.0, gt=0, description="Deadline for one robots.txt download, "
                                          "redirects included")
    robots_ttl_seconds: float = Field(3600.0, gt=0, description="How long a robots.txt is kept")
    robots_cache_size: int = Field(10_000, ge=1, description="Origins whose robots.txt is kept")

    @field_validator("allowed_networks", mode="before")
    @classmethod
    def _networks(cls, value):
        """``10.0.0.0/8, 127.0.0.1/32`` (the environment's form) -> a tuple of CIDRs."""
        if isinstance(value, str):
            return tuple(n.strip() for n in value.split(",") if n.strip())
        return value


class Target(NamedTuple):
    """Where a URL may be fetched from: its host name, the checked address, the port."""

    host: str
    address: str
    port: int


class Answer(NamedTuple):
    """One HTTP answer as the guard read it (one hop: a redirect is an Answer with its ``location``)."""

    status: int
    headers: httpx.Headers
    body: bytes  # empty for an error status or a redirect
    location: str | None  # where a redirect points


class Deadline:
    """Seconds left for one fetch, spent only while awaiting through :meth:`run` (never while queued)."""

    def __init__(self, seconds: float):
        self.seconds = self.left = seconds

    async def run(self, awaitable: Awaitable[T]) -> T:
        started = time.monotonic()
        try:
            return await asyncio.wait_for(awaitable, max(self.left, 0.0))
        except asyncio.TimeoutError:
            raise TransientError(f"no complete answer within {self.seconds:g} s", Reason.http_unavailable) from None
        finally:
            self.left -= time.monotonic() - started


@dataclass
class GuardedFetcher:
    """``await fetcher(url)``: one URL fetched within ``limits``, through the address guard, robots.txt and the
    host gate, as a Page or one of the errors of the table above. ``resolver`` and ``transport`` are injected
    (tests pass stubs and ``httpx.MockTransport``); it must not read settings or the environment itself."""

    limits: FetchLimits
    resolver: Resolver = system_resolver
    transport: httpx.AsyncBaseTransport | None = None
    user_agent: str = USER_AGENT
    _client: httpx.AsyncClient | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        lim = self.limits
        self._allowed = [ipaddress.ip_network(n, strict=False) for n in lim.allowed_networks]
        self.gate = HostGate(lim.fetch_concurrency, lim.per_host, lim.host_delay_seconds)
        self.robots = RobotsCache(self._robots_txt, self.user_agent.split("/")[0], lim.robots_ttl_seconds,
                                  lim.robots_cache_size)

    @property
    def client(self) -> httpx.AsyncClient:
        if self._client is None:
            lim = self.limits
            self._client = httpx.AsyncClient(
                timeout=httpx.Timeout(lim.read_timeout, connect=lim.connect_timeout),
                # the gate keeps at most fetch_concurrency requests in flight: the pool must never be the limit
                limits=httpx.Limits(max_connections=lim.fetch_concurrency,
                                    max_keepalive_connections=lim.fetch_concurrency),
                follow_redirects=False,
                transport=self.transport,
                headers={"User-Agent": self.user_agent,
                         "Accept": "text/html,application/xhtml+xml,text/plain;q=0.9"},
                trust_env=False,
            )
        return self._client

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()

    def in_flight(self) -> int:
        """Requests in flight in this process (robots.txt included)."""
        return self.gate.in_flight()

    def in_flight_by_host(self) -> dict[str, int]:
        """Requests in flight for every host with at least one request in flight or waiting for a slot."""
        return self.gate.in_flight_by_host()

    async def __call__(self, url: str) -> Page:
        final_url, answer = await self._get(url, Deadline(self.limits.total_timeout), self.limits.max_bytes)
        host = urlsplit(final_url).hostname
        if answer.status in (408, 429) or answer.status >= 500:
            raise TransientError(f"HTTP {answer.status} from {host}", Reason.http_unavailable)
        if answer.status >= 400:
            raise PermanentError(f"HTTP {answer.status} from {host}", Reason.http_status)
        return self._page(final_url, answer.status, answer.headers, answer.body)

    async def _robots_txt(self, url: str) -> tuple[int, bytes]:
        """The final status and body of a robots.txt URL, for the RobotsCache; StageError when none came."""
        deadline = Deadline(self.limits.robots_timeout_seconds)
        _, answer = await self._get(url, deadline, ROBOTS_MAX_BYTES, truncate=True, robots=False)
        return answer.status, answer.body

    async def _get(self, url: str, deadline: Deadline, max_bytes: int, truncate: bool = False,
                   robots: bool = True) -> tuple[str, Answer]:
        """GET with redirects followed by hand: each hop guarded, checked against robots.txt, in its host's slot."""
        seen: set[str] = set()
        for _hop in range(self.limits.max_redirects + 1):
            if url in seen:
                raise PermanentError(f"redirect loop at {url}", Reason.too_many_redirects)
            seen.add(url)
            target = await deadline.run(self.check_address(url))
            if robots and self.limits.robots_enabled and not await self.robots.allowed(url):
                raise PermanentError(f"robots.txt of {target.host} disallows {url}", Reason.robots_disallowed)
            async with self.gate.slot(target.host):
                answer = await deadline.run(self._request(url, target, max_bytes, truncate))
            if answer.location is None:
                return url, answer
            url = urljoin(url, answer.location)
        raise PermanentError(f"more than {self.limits.max_redirects} redirects", Reason.too_many_redirects)

    async def check_address(self, url: str) -> Target:
        """Resolve the URL's host and refuse blocked addresses."""
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise PermanentError(f"unsupported URL {url!r}", Reason.invalid_url)
        try:
            port = parts.port or (443 if parts.scheme == "https" else 80)
        except ValueError as exc:
            raise PermanentError(f"bad port in {url!r}: {exc}", Reason.invalid_url) from None
        try:
            addresses = await self.resolver(parts.hostname, port)
        except (OSError, UnicodeError) as exc:
            raise PermanentError(f"cannot resolve {parts.hostname}: {exc}", Reason.invalid_url) from None
        if not addresses:
            raise PermanentError(f"{parts.hostname} resolves to no address", Reason.invalid_url)
        for address in addresses:
            if not self.allowed(address):
                raise PermanentError(f"{parts.hostname} resolves to non-public address {address}", Reason.blocked_address)
        return Target(parts.hostname, addresses[0], port)

    def allowed(self, address: str) -> bool:
        ip = ipaddress.ip_address(address.split("%")[0])
        if getattr(ip, "ipv4_mapped", None):
            ip = ip.ipv4_mapped
        if self.limits.allow_private or any(ip in net for net in self._allowed):
            return True
        return ip.is_global and not (ip.is_multicast or ip.is_reserved or ip.is_unspecified)

    async def _request(self, url: str, target: Target, max_bytes: int, truncate: bool) -> Answer:
        """One GET to the checked address. The body is read only for a non-error, non-redirect answer, up to
        max_bytes: beyond it PermanentError(too_large), or, with ``truncate``, the first max_bytes."""
        host, address = target.host, target.address
        parts = urlsplit(url)
        netloc_ip = f"[{address}]" if ":" in address else address
        if parts.port:
            netloc_ip += f":{parts.port}"
        pinned = urlunsplit((parts.scheme, netloc_ip, parts.path or "/", parts.query, ""))
        host_header = host if not parts.port else f"{host}:{parts.port}"
        extensions = {"sni_hostname": host} if parts.scheme == "https" else {}
        try:
            request = self.client.build_request("GET", pinned, headers={"Host": host_header}, extensions=extensions)
            response = await self.client.send(request, stream=True)
            try:
                status = response.status_code
                if 300 <= status < 400 and response.headers.get("location"):
                    return Answer(status, response.headers, b"", response.headers["location"])
                if status >= 400:
                    return Answer(status, response.headers, b"", None)
                declared = response.headers.get("content-length")
                if not truncate and declared and declared.isdigit() and int(declared) > max_bytes:
                    raise PermanentError(f"Content-Length {declared} over the {max_bytes}-byte limit",
                                         Reason.too_large)
                chunks, size = [], 0
                async for chunk in response.aiter_bytes():
                    size += len(chunk)
                    if size > max_bytes:
                        if not truncate:
                            raise PermanentError(f"body over the {max_bytes}-byte limit", Reason.too_large)
                        chunks.append(chunk[: len(chunk) - (size - max_bytes)])
                        break
                    chunks.append(chunk)
                return Answer(status, response.headers, b"".join(chunks), None)
            finally:
                await response.aclose()
        except (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError) as exc:
            raise TransientError(f"{type(exc).__name__} fetching from {host}: {exc}", Reason.http_unavailable) from None
        except httpx.DecodingError as exc:
            raise PermanentError(f"cannot decode the body from {host}: {exc}", Reason.unsupported_content) from None

    def _page(self, url: str, status: int, headers: httpx.Headers, body: bytes) -> Page:
        content_type = headers.get("content-type", "")
        mime = content_type.split(";")[0].strip().lower()
        if not mime:
            mime = "text/html" if re.search(rb"<(html|body|p|div)\b", body[:4096], re.I) else "text/plain"
        if mime in HTML_TYPES:
            kind = "html"
        elif mime in TEXT_TYPES:
            kind = "text"
        else:
            raise PermanentError(f"content type {mime!r} is neither HTML nor text", Reason.unsupported_content)
        if body.startswith(b"%PDF-"):
            raise PermanentError(f"a PDF served as {mime}", Reason.unsupported_content)
        text = decode_body(body, content_type, kind)
        return Page(final_url=url, status=status, content_type=content_type, kind=kind, body=text, size=len(body))


def decode_body(body: bytes, content_type: str, kind: str) -> str:
    """Decode with the declared charset (header, then <meta>), else UTF-8, else a detected one."""
    candidates = []
    match = re.search(r"charset=([\w.:-]+)", content_type, re.I)
    if match:
        candidates.append(match.group(1))
    if kind == "html":
        meta = _META_CHARSET.search(body[:4096])
        if meta:
            candidates.append(meta.group(1).decode("ascii", "ignore"))
    candidates.append("utf-8")
    for encoding in candidates:
        try:
            return body.decode(encoding)
        except (LookupError, UnicodeDecodeError):
            continue
    from charset_normalizer import from_bytes

    best = from_bytes(body).best()
    return str(best) if best is not None else body.decode("utf-8", "replace")
