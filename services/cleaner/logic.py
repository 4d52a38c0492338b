"""The cleaner's step: a FetchedArticle in, a CleanedArticle out (pure; the runner adds timings and produces).

``clean`` is the step for one message; ``clean_batch`` the same over a window of messages, as the runner calls
it in one worker thread: one result per input, in order, a failed item's exception in its slot.

Besides the body, the step fills the article's metadata (ArticleMeta: published_at, authors, canonical_url...)
from what the page or text says (``meta.py``, ``textmeta.py``); values in the ingest request's ``metadata``
under the keys of ``INGEST_KEYS`` win over those, with provenance ``ingest:metadata``.

No Kafka, no I/O. Only "no text left" is bad input (``PermanentError(empty_content)``); any other exception
out of the modes is a bug and leaves ``clean`` as it is, for the runner to dead-letter as ``processing_error``.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from schemas.messages import CleanedArticle, FetchedArticle, PageDate, carried
from services.cleaner import textmeta
from services.cleaner.html import clean_html
from services.cleaner.text import clean_text
from services.cleaner.meta import PageMeta
from services.runtime.errors import PermanentError, Reason

INGEST_PROVENANCE = "ingest:metadata"
# The ingest request's metadata keys the cleaner reads (all optional; other keys are carried untouched):
#   published_at, modified_at   ISO 8601 (2021-12-28, 2021-12-28T09:30:00+01:00) or a written date
#   authors                     names separated by "," or ";"      agency        e.g. Reuters
#   canonical_url, image        http(s) URLs                       site_name, description, section, language
#   tags                        separated by ","
INGEST_KEYS = ("published_at", "modified_at", "authors", "agency", "canonical_url", "site_name", "description",
               "image", "language", "section", "tags")


def clean(article: FetchedArticle) -> CleanedArticle:
    url = article.final_url or article.url
    if article.kind == "html":
        cleaned = clean_html(article.body, url, now=article.ingested_at)
    else:
        cleaned = clean_text(article.body, now=article.ingested_at)
    if not cleaned.text.strip():
        raise PermanentError("no article text found", Reason.empty_content)
    page = with_ingest_metadata(cleaned.meta, article.metadata, article.ingested_at)
    fields = page.article_fields()
    if article.kind == "text" and fields["canonical_url"] is None and article.url:
        fields["canonical_url"] = textmeta.clean_url(article.url, None)
    return CleanedArticle(
        **{**carried(article), **fields},
        title=cleaned.title or article.title,
        text=cleaned.text,
        removed=cleaned.removed,
    )


def with_ingest_metadata(page: PageMeta, metadata: dict[str, str], now: datetime | None) -> PageMeta:
    """``page`` with the values the user pushed in the ingest request's ``metadata`` (INGEST_KEYS) in place of
    what the page said; a value that is not valid (a date that is not one, a URL that is not http) is ignored."""
    if not metadata:
        return page
    limits = textmeta.date_limits(now)
    out: dict = {}
    for key in ("published_at", "modified_at"):
        value = textmeta.parse_date(metadata.get(key), limits)
        if value:
            out[key] = PageDate(value=value, provenance=INGEST_PROVENANCE)
    if isinstance(metadata.get("authors"), str):  # the user's names as given (no role or agency cleaning)
        given = metadata["authors"][:5000].replace(";", ",").split(",")
        names = [" ".join(n.split())[: textmeta.MAX_AUTHOR_CHARS] for n in given]
        authors = tuple(dict.fromkeys(n for n in names if n))[: textmeta.MAX_AUTHORS]
        if authors:
            out["authors"] = authors
    for key in ("canonical_url", "image"):
        value = textmeta.clean_url(metadata.get(key), None)
        if value:
            out[key] = value
    for key in ("agency", "site_name", "description", "section"):
        value = metadata.get(key)
        if isinstance(value, str) and value.strip():
            out[key] = " ".join(value.split())[:1000]
    if metadata.get("language"):
        out["language"] = textmeta.check_language(metadata["language"], "") or page.language
    if metadata.get("tags"):
        out["tags"] = textmeta.split_tags(metadata["tags"])
    return replace(page, **out)


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
