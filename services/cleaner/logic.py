"""The cleaner's step: a FetchedArticle in, a CleanedArticle out (pure; the runner adds timings and produces).

``clean`` is the step for one message; ``clean_batch`` the same over a window of messages, as the runner calls
it in one worker thread: one result per input, in order, a failed item's exception in its slot.
"""

from __future__ import annotations

from schemas.messages import CleanedArticle, FetchedArticle, carried
from services.cleaner.extract import clean_html, clean_text
from services.runtime.errors import PermanentError, Reason


def clean(article: FetchedArticle) -> CleanedArticle:
    cleaned = clean_html(article.body) if article.kind == "html" else clean_text(article.body)
    if not cleaned.text.strip():
        raise PermanentError("no article text found", Reason.empty_content)
    return CleanedArticle(
        **carried(article),
        title=cleaned.title or article.title,
        text=cleaned.text,
        removed=cleaned.removed,
    )


def clean_batch(articles: list[FetchedArticle]) -> list[CleanedArticle | Exception]:
    """``clean`` of every article, in order; an article that fails gives its exception (e.g. the
    ``PermanentError(empty_content)`` of a page without text) in its slot instead of failing the batch."""
    out: list[CleanedArticle | Exception] = []
    for article in articles:
        try:
            out.append(clean(article))
        except Exception as exc:  # noqa: BLE001 - handed back in the item's slot; the runner routes it
            out.append(exc)
    return out
