"""The extractor's step: a CleanedArticle in, the same article with its Extraction out (pure, given the model)."""

from __future__ import annotations

from schemas.messages import CleanedArticle, ExtractedArticle, carried
from services.extractor.nlp import analyse


def extract(article: CleanedArticle) -> ExtractedArticle:
    """Carry every field forward and add ``analyse(text, ingested_at, title)``; dates resolve against ingested_at."""
    return ExtractedArticle(
        **carried(article, "title", "text", "removed"),
        extraction=analyse(article.text, article.ingested_at, article.title),
    )
