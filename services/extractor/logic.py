"""The extractor's step: a CleanedArticle in, the same article with its Extraction out (pure, given the model).

``extract`` takes one article; ``extract_batch`` takes a window of them (spaCy batched over the window, see
``nlp.analyse_window``) and gives one result per article, in order: the ExtractedArticle, or the exception that
article raised (the runner dead-letters that one message; the others go on). ``extract(a)`` equals
``extract_batch([a])[0]`` (or raises it).
"""

from __future__ import annotations

from schemas.messages import CleanedArticle, ExtractedArticle, Extraction, carried
from services.extractor.nlp import analyse_window


def extract(article: CleanedArticle) -> ExtractedArticle:
    """Carry every field forward and add ``analyse(text, ingested_at, title)``; dates resolve against ingested_at."""
    result = extract_batch([article])[0]
    if isinstance(result, Exception):
        raise result
    return result


def extract_batch(articles: list[CleanedArticle]) -> list[ExtractedArticle | Exception]:
    """``extract`` for a window of articles, one result per article in order; a failing article gives its
    exception in its slot instead of failing the window."""
    analysed = analyse_window([(a.text, a.ingested_at, a.title) for a in articles])
    return [_extracted(article, extraction) for article, extraction in zip(articles, analysed, strict=True)]


def _extracted(article: CleanedArticle, extraction: Extraction | Exception) -> ExtractedArticle | Exception:
    if isinstance(extraction, Exception):
        return extraction
    try:
        return ExtractedArticle(**carried(article, "title", "text", "removed"), extraction=extraction)
    except Exception as exc:  # noqa: BLE001 - one bad article must not fail the window (see module doc)
        return exc
