"""Batch extraction over JSONL: ``python -m services.extractor.batch < in.jsonl > out.jsonl``.

Input, one JSON object a line: ``{"id": ..., "text": ..., "published_at": "2021-12-28", "reference":
"2026-01-05T09:30:00Z", "title": ...}``; all but ``text`` are optional. Dates in the text resolve against
``published_at`` (ISO 8601: a date, or a date and time with or without its UTC offset, the publisher's own
calendar day counting) when given, else against ``reference`` (the ingest time; ISO 8601, naive means UTC);
without either, against one "now" taken when the run starts, so a run is consistent with itself. Each date's
``anchor`` says which ("published_at" or "ingested_at"); a ``published_at`` after ``reference`` (or now) plus a
day, or before 1900, is not believed (see ``dates.Anchor``). Blank lines are skipped.

Output, one line per input line, in order: ``{"id": ..., **Extraction}`` (entities as
``[{"text", "label", "start", "end"}, ...]`` in text order), or ``{"id": ..., "error": "..."}`` for a line that
is not a JSON object with a string "text" (``id`` is null when it cannot be read). Texts go through spaCy in
batches (``nlp.pipe``).
"""

from __future__ import annotations

import datetime as dt
import json
import sys
from collections.abc import Iterable, Iterator
from typing import Any, TextIO

from schemas.messages import PageDate
from services.extractor.dates import Anchor
from services.extractor.nlp import BATCH_SIZE, analyse_many


class _BadLine(ValueError):
    def __init__(self, detail: str, line_id: Any = None):
        super().__init__(detail)
        self.line_id = line_id


def extract_jsonl(lines: Iterable[str], out: TextIO, now: dt.datetime | None = None) -> int:
    """Write one result line per input line to ``out``; return the number of lines written."""
    now = now or dt.datetime.now(dt.timezone.utc)
    written = 0
    for chunk in _chunks((line for line in lines if line.strip()), BATCH_SIZE):
        parsed: list[tuple[Any, str, Anchor, str | None] | _BadLine] = []
        for line in chunk:
            try:
                parsed.append(_parse(line, now))
            except _BadLine as bad:
                parsed.append(bad)
        good = [p for p in parsed if not isinstance(p, _BadLine)]
        results = iter(analyse_many([(text, reference, title) for _id, text, reference, title in good]))
        for item in parsed:
            if isinstance(item, _BadLine):
                record = {"id": item.line_id, "error": str(item)}
            else:
                record = {"id": item[0], **next(results).model_dump(mode="json")}
            out.write(json.dumps(record, ensure_ascii=False) + "\n")
            written += 1
    out.flush()
    return written


def _parse(line: str, now: dt.datetime) -> tuple[Any, str, Anchor, str | None]:
    try:
        record = json.loads(line)
    except ValueError as exc:
        raise _BadLine(f"not JSON: {exc}") from None
    if not isinstance(record, dict):
        raise _BadLine("not a JSON object")
    line_id = record.get("id")
    text = record.get("text")
    if not isinstance(text, str):
        raise _BadLine('"text" must be a string', line_id)
    title = record.get("title")
    if title is not None and not isinstance(title, str):
        raise _BadLine('"title" must be a string', line_id)
    reference = now
    if record.get("reference") is not None:
        try:
            reference = dt.datetime.fromisoformat(str(record["reference"]).replace("Z", "+00:00"))
        except ValueError:
            raise _BadLine(f'"reference" is not an ISO 8601 datetime: {record["reference"]!r}', line_id) from None
        if reference.tzinfo is None:
            reference = reference.replace(tzinfo=dt.timezone.utc)
    return line_id, text, Anchor.of(_published_at(record.get("published_at"), line_id), reference), title


def _published_at(value: Any, line_id: Any) -> PageDate | None:
    """``published_at`` as the PageDate the pipeline would carry (an ISO 8601 date or datetime), or None."""
    if value is None:
        return None
    try:
        text = str(value).strip().replace("Z", "+00:00")
        moment: dt.date = dt.date.fromisoformat(text) if len(text) == 10 else dt.datetime.fromisoformat(text)
        return PageDate(value=moment.isoformat(), provenance="input:published_at")
    except ValueError:
        raise _BadLine(f'"published_at" is not an ISO 8601 date or datetime: {value!r}', line_id) from None


def _chunks(items: Iterable[str], size: int) -> Iterator[list[str]]:
    chunk: list[str] = []
    for item in items:
        chunk.append(item)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


if __name__ == "__main__":
    extract_jsonl(sys.stdin, sys.stdout)
