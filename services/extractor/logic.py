"""The extractor's step: a CleanedArticle in, the same article with its Extraction out (pure, given the model)."""

from __future__ import annotations

from schemas.messages import CleanedArticle, ExtractedArticle
from services.extractor.nlp import analyse


def extract(article: CleanedArticle) -> ExtractedArticle:
    """Carry every field forward and add ``analyse(text, ingested_at, title)``; dates resolve against ingested_at."""
    return ExtractedArticle(
        article_id=article.article_id,
        ingested_at=article.ingested_at,
        url=article.url,
        source=article.source,
        metadata=article.metadata,
        timings=article.timings,
        title=article.title,
        text=article.text,
        removed=article.removed,
        extraction=analyse(article.text, article.ingested_at, article.title),
    )
