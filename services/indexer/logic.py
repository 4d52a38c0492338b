"""The indexer's step: an ExtractedArticle becomes the EnrichedEvent subscribers receive (pure; the clock
is an argument). Storage happens at the edge (:mod:`services.indexer.store`)."""

from __future__ import annotations

import hashlib
import re
from datetime import datetime

from schemas.messages import ArticleMessage, EnrichedEvent, ExtractedArticle, carried

_SPACE = re.compile(r"\s+")


def content_hash(text: str) -> str:
    """sha256 of the text with case and whitespace normalised: equal for the same article re-fetched."""
    return hashlib.sha256(_SPACE.sub(" ", text).strip().casefold().encode()).hexdigest()


def enrich(article: ExtractedArticle, indexed_at: datetime) -> EnrichedEvent:
    return EnrichedEvent(
        **carried(article, "title", "text", "removed", "extraction"),
        content_hash=content_hash(article.text),
        indexed_at=indexed_at,
        stage_seconds={t.stage: t.seconds for t in article.timings},
        end_to_end_seconds=end_to_end_seconds(article, indexed_at),
    )


def end_to_end_seconds(article: ArticleMessage, at: datetime) -> float:
    """Seconds from the article's last send (``replayed_at`` when ``newsflow dlq replay`` sent it again, else
    ``ingested_at``) to ``at``: a replay's latency is the pipeline's, not the time its dead letter waited."""
    return max((at - (article.replayed_at or article.ingested_at)).total_seconds(), 0.0)
