"""fetcher: articles.ingest -> articles.fetched. Downloads URLs (guarded); passes inline HTML/text through."""
