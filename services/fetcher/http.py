"""The fetcher's HTTP edge: httpx with explicit limits and an address guard.

Failure mapping (services.runtime.errors):
    unsupported scheme, no host, host does not resolve      PermanentError(invalid_url)
    host resolves to loopback/private/link-local/reserved   PermanentError(blocked_address), nothing requested
    4xx except 408/429                                      PermanentError(http_status)
    408, 429, 5xx, connect/read timeouts, network errors    TransientError(http_unavailable): retried by the runner
    more than max_redirects hops, or a redirect loop        PermanentError(too_many_redirects)
    body (decoded) over max_bytes                           PermanentError(too_large)
    content type neither HTML nor text                      PermanentError(unsupported_content)

The guard resolves the host itself (through an injectable resolver), checks every address, then connects to
that checked address (Host header and TLS SNI keep the original name), so DNS cannot hand httpx another
address between the check and the connection. Redirects are followed by hand, each hop guarded again.
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
import socket
from dataclasses import dataclass, field
from typing import Awaitable, Callable
from urllib.parse import urljoin, urlsplit, urlunsplit

import httpx

from services.fetcher.logic import Page
from services.runtime.errors import PermanentError, Reason, TransientError

Resolver = Callable[[str, int], Awaitable[list[str]]]

HTML_TYPES = ("text/html", "application/xhtml+xml")
TEXT_TYPES = ("text/plain",)
_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9._:-]+)""", re.I)


async def system_resolver(host: str, port: int) -> list[str]:
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return sorted({info[4][0] for info in infos})


@dataclass(frozen=True)
class FetchLimits:
    connect_timeout: float = 5.0
    read_timeout: float = 15.0
    total_timeout: float = 30.0
    max_bytes: int = 5_000_000
    max_redirects: int = 5
    allow_private: bool = False
    allowed_networks: tuple[str, ...] = ()
    user_agent: str = "newsflow-fetcher/0.1 (+https://github.com/newsflow)"


@dataclass
class GuardedFetcher:
    limits: FetchLimits
    resolver: Resolver = system_resolver
    transport: httpx.AsyncBaseTransport | None = None
    _client: httpx.AsyncClient | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        self._allowed = [ipaddress.ip_network(n, strict=False) for n in self.limits.allowed_networks]

    @property
    def client(self) -> httpx.AsyncClient:
        if self._client is None:
            lim = self.limits
            self._client = httpx.AsyncClient(
                timeout=httpx.Timeout(lim.read_timeout, connect=lim.connect_timeout),
                limits=httpx.Limits(max_connections=20, max_keepalive_connections=10),
                follow_redirects=False,
                transport=self.transport,
                headers={"User-Agent": lim.user_agent, "Accept": "text/html,application/xhtml+xml,text/plain;q=0.9"},
                trust_env=False,
            )
        return self._client

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()

    async def __call__(self, url: str) -> Page:
        try:
            return await asyncio.wait_for(self._follow(url), self.limits.total_timeout)
        except asyncio.TimeoutError:
            raise TransientError(f"no complete answer within {self.limits.total_timeout:g} s") from None

    async def _follow(self, url: str) -> Page:
        seen: set[str] = set()
        for _hop in range(self.limits.max_redirects + 1):
            if url in seen:
                raise PermanentError(f"redirect loop at {url}", Reason.too_many_redirects)
            seen.add(url)
            status, headers, body, location = await self._request(url)
            if location is None:
                return self._page(url, status, headers, body)
            url = urljoin(url, location)
        raise PermanentError(f"more than {self.limits.max_redirects} redirects", Reason.too_many_redirects)

    async def check_address(self, url: str) -> tuple[str, str, int]:
        """Resolve the URL's host and refuse blocked addresses. Returns (host, address, port)."""
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise PermanentError(f"unsupported URL {url!r}", Reason.invalid_url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
        try:
            addresses = await self.resolver(parts.hostname, port)
        except (OSError, UnicodeError) as exc:
            raise PermanentError(f"cannot resolve {parts.hostname}: {exc}", Reason.invalid_url) from None
        if not addresses:
            raise PermanentError(f"{parts.hostname} resolves to no address", Reason.invalid_url)
        for address in addresses:
            if not self.allowed(address):
                raise PermanentError(f"{parts.hostname} resolves to non-public address {address}", Reason.blocked_address)
        return parts.hostname, addresses[0], port

    def allowed(self, address: str) -> bool:
        ip = ipaddress.ip_address(address.split("%")[0])
        if getattr(ip, "ipv4_mapped", None):
            ip = ip.ipv4_mapped
        if self.limits.allow_private or any(ip in net for net in self._allowed):
            return True
        return ip.is_global and not (ip.is_multicast or ip.is_reserved or ip.is_unspecified)

    async def _request(self, url: str) -> tuple[int, httpx.Headers, bytes, str | None]:
        host, address, port = await self.check_address(url)
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
                    return status, response.headers, b"", response.headers["location"]
                if status in (408, 429) or status >= 500:
                    raise TransientError(f"HTTP {status} from {host}", Reason.http_unavailable)
                if status >= 400:
                    raise PermanentError(f"HTTP {status} from {host}", Reason.http_status)
                declared = response.headers.get("content-length")
                if declared and declared.isdigit() and int(declared) > self.limits.max_bytes:
                    raise PermanentError(f"Content-Length {declared} over the {self.limits.max_bytes}-byte limit",
                                         Reason.too_large)
                chunks, size = [], 0
                async for chunk in response.aiter_bytes():
                    size += len(chunk)
                    if size > self.limits.max_bytes:
                        raise PermanentError(f"body over the {self.limits.max_bytes}-byte limit", Reason.too_large)
                    chunks.append(chunk)
                return status, response.headers, b"".join(chunks), None
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
