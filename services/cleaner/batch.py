"""The batch interface behind ``newsflow clean``: JSONL in, JSONL out, one line per input line.

In:  ``{"id": ..., "html": ..., "url": ...}`` or ``{"id": ..., "text": ...}`` (``url``: optional, the page's
     final URL: relative links and URL dates are read against it; ``metadata``: optional, as the ingest
     request's, its values win)
Out: ``{"id", "text", "title", "removed": {category: count}}`` and the article's metadata as the cleaned
     message carries it (``published_at``/``modified_at``: ``{"value", "provenance"}`` or null, ``authors``,
     ``agency``, ``canonical_url``, ``site_name``, ``description``, ``image``, ``language``, ``section``,
     ``tags``), plus ``published``: the publication date's value alone (what scorers read); or
     ``{"id": ..., "error": ...}`` for a line that cannot be read (the batch goes on).

    python -m services.cleaner.batch < pages.jsonl > clean.jsonl

An adapter over the two modes (no Kafka): it reads stdin and writes stdout only when run as a program; a line it
cannot read gives an error record, but a bug in the cleaner stops it.
"""

from __future__ import annotations

import gc
import json
import sys
from typing import Iterable, TextIO

from services.cleaner.html import clean_html
from services.cleaner.logic import with_ingest_metadata
from services.cleaner.model import HTML_MODEL_PATH, load_model
from services.cleaner.text import clean_text

load_model()  # read both models at start-up, not on the first record
load_model(str(HTML_MODEL_PATH))
gc.freeze()  # start-up's objects out of the collector's full passes, as the service's warm_up does


def clean_record(line: str) -> dict:
    try:
        rec = json.loads(line)
    except ValueError as exc:
        return {"id": None, "error": f"invalid JSON: {exc}"}
    if not isinstance(rec, dict):
        return {"id": None, "error": "a line must be a JSON object"}
    rid = rec.get("id")
    html, text = rec.get("html"), rec.get("text")
    url = rec.get("url") if isinstance(rec.get("url"), str) else None
    if isinstance(html, str):
        cleaned = clean_html(html, url)
    elif isinstance(text, str):
        cleaned = clean_text(text)
    else:
        return {"id": rid, "error": 'expected a string "html" or "text" field'}
    metadata = rec.get("metadata")
    if isinstance(metadata, dict):
        page = with_ingest_metadata(cleaned.meta, {k: v for k, v in metadata.items() if isinstance(v, str)}, None)
    else:
        page = cleaned.meta
    fields = {k: (v.model_dump() if hasattr(v, "model_dump") else list(v) if isinstance(v, tuple) else v)
              for k, v in page.article_fields().items()}
    out = {"id": rid, "text": cleaned.text, "title": cleaned.title,
           "removed": {cat.value: n for cat, n in sorted(cleaned.removed.items(), key=lambda kv: kv[0].value)},
           "published": page.published_at.value if page.published_at else None, **fields}
    if not cleaned.text:
        out["error"] = "no article text found"
    return out


def clean_jsonl(lines: Iterable[str], out: TextIO) -> int:
    """Clean every non-blank JSONL line of ``lines`` into ``out``; returns the number of lines written."""
    count = 0
    for line in lines:
        if not line.strip():
            continue
        out.write(json.dumps(clean_record(line), ensure_ascii=False) + "\n")
        count += 1
    return count


if __name__ == "__main__":
    clean_jsonl(sys.stdin, sys.stdout)
