"""The indexer's step: an ExtractedArticle becomes the EnrichedEvent subscribers receive (pure; the clock
is an argument). Storage happens at the edge (:mod:`services.indexer.store`)."""

from __future__ import annotations

import hashlib
import re
from datetime import datetime

from schemas.messages import EnrichedEvent, ExtractedArticle, carried

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
        end_to_end_seconds=max((indexed_at - article.ingested_at).total_seconds(), 0.0),
    )
