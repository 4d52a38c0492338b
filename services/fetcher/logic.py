"""The fetcher's step: an IngestRequest becomes a FetchedArticle.

Inline HTML or text passes straight through; a URL is downloaded by the injected ``fetch`` coroutine (the
HTTP edge, :mod:`services.fetcher.http`), which raises PermanentError/TransientError on failure.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Awaitable, Callable

from schemas.messages import FetchedArticle, IngestRequest, carried


@dataclass(frozen=True)
class Page:
    """What the HTTP edge returns for a URL."""

    final_url: str
    status: int
    content_type: str
    kind: str  # "html" | "text"
    body: str
    size: int


Fetch = Callable[[str], Awaitable[Page]]


def passthrough(request: IngestRequest) -> FetchedArticle | None:
    """The FetchedArticle for inline content, or None when the request is a URL to download."""
    if request.html is not None:
        return FetchedArticle(**carried(request), kind="html", body=request.html, title=request.title,
                              fetched_bytes=0)
    if request.text is not None:
        return FetchedArticle(**carried(request), kind="text", body=request.text, title=request.title,
                              fetched_bytes=0)
    return None


async def fetch_article(request: IngestRequest, fetch: Fetch) -> FetchedArticle:
    inline = passthrough(request)
    if inline is not None:
        return inline
    page = await fetch(request.url)
    return FetchedArticle(
        **carried(request),
        kind=page.kind,
        body=page.body,
        title=request.title,
        final_url=page.final_url,
        http_status=page.status,
        content_type=page.content_type,
        fetched_bytes=page.size,
    )
