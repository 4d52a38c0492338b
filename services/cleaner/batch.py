"""The batch interface behind ``newsflow clean``: JSONL in, JSONL out, one line per input line.

In:  ``{"id": ..., "html": ...}`` or ``{"id": ..., "text": ...}``
Out: ``{"id": ..., "text": ..., "title": ..., "removed": {category: count}}``, or ``{"id": ..., "error": ...}``
for a line that cannot be read (the batch goes on).

    python -m services.cleaner.batch < pages.jsonl > clean.jsonl
"""

from __future__ import annotations

import gc
import json
import sys
from typing import Iterable, TextIO

from services.cleaner import html as _html_mode  # noqa: F401  (imports trafilatura once, at start-up)
from services.cleaner import lines as _lines
from services.cleaner.extract import clean_html, clean_text

_lines.load_model()  # read both models at start-up, not on the first record
_lines.load_model(str(_lines.HTML_MODEL_PATH))
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
    if isinstance(html, str):
        cleaned = clean_html(html)
    elif isinstance(text, str):
        cleaned = clean_text(text)
    else:
        return {"id": rid, "error": 'expected a string "html" or "text" field'}
    out = {"id": rid, "text": cleaned.text, "title": cleaned.title,
           "removed": {cat.value: n for cat, n in sorted(cleaned.removed.items(), key=lambda kv: kv[0].value)}}
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
