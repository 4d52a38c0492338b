"""The extractor's step: a CleanedArticle in, the same article with its Extraction out (pure, given the model).

``extract`` takes one article; ``extract_batch`` takes a window of them (spaCy batched over the window, see
``nlp.analyse_window``) and gives one result per article, in order: the ExtractedArticle, or the exception that
article raised (the runner dead-letters that one message; the others go on). ``extract(a)`` equals
``extract_batch([a])[0]`` (or raises it).
"""

from __future__ import annotations

from schemas.messages import CleanedArticle, ExtractedArticle, Extraction, carried
from services.extractor.dates import Anchor
from services.extractor.language import checked as checked_language
from services.extractor.nlp import analyse_window


def extract(article: CleanedArticle) -> ExtractedArticle:
    """Carry every field forward and add ``analyse(text, anchor, title)``; dates resolve against published_at when
    the article has one, else ingested_at (``dates.Anchor``); ``language`` is the declared tag checked against the
    text (``language.checked``)."""
    result = extract_batch([article])[0]
    if isinstance(result, Exception):
        raise result
    return result


def extract_batch(articles: list[CleanedArticle]) -> list[ExtractedArticle | Exception]:
    """``extract`` for a window of articles, one result per article in order; a failing article gives its
    exception in its slot instead of failing the window."""
    analysed = analyse_window([(a.text, Anchor.of(a.published_at, a.ingested_at), a.title) for a in articles])
    return [_extracted(article, extraction) for article, extraction in zip(articles, analysed, strict=True)]


def _extracted(article: CleanedArticle, extraction: Extraction | Exception) -> ExtractedArticle | Exception:
    if isinstance(extraction, Exception):
        return extraction
    try:
        language = checked_language(article.language, extraction.language)  # declared tag checked (language.py)
        return ExtractedArticle(**{**carried(article, "title", "text", "removed"), "language": language},
                                extraction=extraction)
    except Exception as exc:  # noqa: BLE001 - one bad article must not fail the window (see module doc)
        return exc
