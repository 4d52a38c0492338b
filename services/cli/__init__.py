"""The ``newsflow`` command: push, tail, search, clean, extract, dlq, topics, status."""
