"""newsflow's four services (fetcher, cleaner, extractor, indexer), their shared runtime and the CLI."""
