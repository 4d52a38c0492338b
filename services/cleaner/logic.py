"""The cleaner's step: a FetchedArticle in, a CleanedArticle out (pure; the runner adds timings and produces)."""

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
