"""indexer: articles.extracted -> events.enriched. Stores each article in the search index (idempotent
upsert by article id, duplicate detection by content hash), then publishes the enriched event."""
