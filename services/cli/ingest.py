"""``newsflow push``: files, folders, URLs, or JSONL on standard input, to articles.ingest."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterator

from pydantic import ValidationError

from schemas.messages import IngestRequest, make_article_id
from schemas.topics import TOPICS
from services.runtime.clients import producer, schema_headers
from services.runtime.settings import KafkaSettings

HTML_SUFFIXES = {".html", ".htm", ".xhtml"}
TEXT_SUFFIXES = {".txt", ".text"}
FOLDER_SUFFIXES = HTML_SUFFIXES | TEXT_SUFFIXES | {".jsonl"}  # what a folder contributes (not its README)


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "push",
        help="push articles: files, folders, URLs, or JSONL on stdin",
        description="Each argument is a URL (http/https), a file (.html/.htm as HTML, .jsonl as one request per "
        "line, anything else as text) or a folder (its .txt, .html and .jsonl files, recursively). With no argument or '-', JSONL is read "
        "from stdin: one object per line with url, html or text, and optionally article_id, title, source, "
        "metadata. Prints '<article id>\\t<source>' per article pushed.",
    )
    p.add_argument("inputs", nargs="*", help="URLs, files or folders; '-' or nothing for JSONL on stdin")
    p.add_argument("--source", help="publisher/feed name to attach to every article")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def requests_from(inputs: list[str], source: str | None, now: datetime) -> Iterator[tuple[str, IngestRequest]]:
    """(where it came from, request) for every article named by the inputs. Raises ValueError on bad input."""
    if not inputs or inputs == ["-"]:
        yield from _jsonl(sys.stdin, "<stdin>", source, now)
        return
    for item in inputs:
        if item.startswith(("http://", "https://")):
            yield item, IngestRequest(article_id=make_article_id(url=item), ingested_at=now, url=item, source=source)
            continue
        path = Path(item)
        if path.is_dir():
            files = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in FOLDER_SUFFIXES)
        elif path.is_file():
            files = [path]
        else:
            raise ValueError(f"{item}: no such file, folder or URL")
        for file in files:
            yield from _file(file, source, now)


def _file(path: Path, source: str | None, now: datetime) -> Iterator[tuple[str, IngestRequest]]:
    suffix = path.suffix.lower()
    if suffix == ".jsonl":
        with path.open(encoding="utf-8") as lines:
            yield from _jsonl(lines, str(path), source, now)
        return
    content = path.read_text(encoding="utf-8", errors="replace")
    kind = "html" if suffix in HTML_SUFFIXES else "text"
    yield str(path), IngestRequest(
        article_id=make_article_id(content=content), ingested_at=now, source=source, **{kind: content}
    )


def _jsonl(lines, origin: str, source: str | None, now: datetime) -> Iterator[tuple[str, IngestRequest]]:
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        where = f"{origin}:{number}"
        try:
            data = json.loads(line)
            if not isinstance(data, dict):
                raise ValueError("not a JSON object")
            data.setdefault("ingested_at", now.isoformat())
            if source and not data.get("source"):
                data["source"] = source
            if not data.get("article_id"):
                data["article_id"] = make_article_id(
                    url=data.get("url"), content=None if data.get("url") else (data.get("html") or data.get("text") or "")
                )
            yield where, IngestRequest.model_validate(data)
        except (ValueError, ValidationError) as exc:
            raise ValueError(f"{where}: {exc}") from None


def run(args: argparse.Namespace) -> int:
    kafka = KafkaSettings()
    now = datetime.now(timezone.utc)
    try:
        items = list(requests_from(args.inputs, args.source, now))
    except ValueError as exc:
        print(f"newsflow push: {exc}", file=sys.stderr)
        return 2
    if not items:
        print("newsflow push: nothing to push", file=sys.stderr)
        return 2
    topic = kafka.topic(TOPICS.ingest.name)
    bar = None
    if len(items) >= 20 and not args.quiet and sys.stderr.isatty():
        from tqdm import tqdm

        bar = tqdm(total=len(items), unit="article", file=sys.stderr)
    p = producer(kafka)
    futures = []
    try:
        for where, request in items:
            future = p.send(topic, key=request.article_id.encode(), value=request.to_bytes(),
                            headers=schema_headers(TOPICS.ingest))
            futures.append((where, request.article_id, future))
        failed = 0
        for where, article_id, future in futures:
            try:
                future.get(timeout=30)
                print(f"{article_id}\t{where}", flush=True)
            except Exception as exc:  # noqa: BLE001 - report every failed send, keep going
                failed += 1
                print(f"newsflow push: {where}: not pushed: {exc}", file=sys.stderr)
            if bar:
                bar.update()
    finally:
        p.close(timeout=30)
        if bar:
            bar.close()
    return 1 if failed else 0
