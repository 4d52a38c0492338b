"""``newsflow push``: files, folders, URLs, or JSONL on standard input, to articles.ingest.

An article whose message would exceed articles.ingest's ``max.message.bytes`` (from the topic registry) is refused
before anything is sent, with one line on stderr naming it and the limit; the others are pushed, and the exit
status is 1. Exit status: 0 all pushed, 1 some refused or not acknowledged (each said on stderr), 2 bad input
(nothing pushed).

It produces to articles.ingest only (kafka-python, keyed by article id); it reads no topic and must not import
the services' faust wiring."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterator

from kafka.errors import KafkaError
from kafka.record.default_records import DefaultRecordBatchBuilder
from pydantic import ValidationError

from schemas.messages import IngestRequest, make_article_id
from schemas.topics import TOPICS
from services.runtime.clients import producer, schema_headers
from services.runtime.settings import KafkaSettings

HTML_SUFFIXES = {".html", ".htm", ".xhtml"}
TEXT_SUFFIXES = {".txt", ".text"}
JSONL_SUFFIXES = {".jsonl"}
FOLDER_SUFFIXES = HTML_SUFFIXES | TEXT_SUFFIXES | JSONL_SUFFIXES  # what a folder contributes (not its README)


def _listed(suffixes: set[str]) -> str:
    return "/".join(sorted(suffixes))


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "push",
        help="push articles: files, folders, URLs, or JSONL on stdin",
        description=f"Each argument is a URL (http/https), a file ({_listed(HTML_SUFFIXES)} as HTML, "
        f"{_listed(JSONL_SUFFIXES)} as one request per line, any other file as text) or a folder (its "
        f"{_listed(HTML_SUFFIXES)}, {_listed(TEXT_SUFFIXES)} and {_listed(JSONL_SUFFIXES)} files, recursively; "
        "its other files are skipped, and listed on stderr). With no argument or '-', JSONL is read from stdin: one "
        "object per line with url, html or text, and optionally article_id, title, source, metadata. Prints "
        "'<article id>\\t<source>' per article pushed. An article whose message exceeds the topic's "
        f"max.message.bytes ({message_limit():,} bytes) is refused with one line on stderr; the others are "
        "pushed. Exit status: 0 all pushed, 1 some refused or not acknowledged, 2 bad input (nothing pushed).",
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
            every = sorted(p for p in path.rglob("*") if p.is_file())
            files = [p for p in every if p.suffix.lower() in FOLDER_SUFFIXES]
            if skipped := [str(p.relative_to(path)) for p in every if p not in files]:
                print(f"newsflow push: {item}: skipped {len(skipped)} file(s) that are not "
                      f"{_listed(FOLDER_SUFFIXES)}: {', '.join(skipped[:5])}{' ...' if len(skipped) > 5 else ''}",
                      file=sys.stderr)
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
                content = None if data.get("url") else (data.get("html") or data.get("text") or "")
                data["article_id"] = make_article_id(url=data.get("url"), content=content)
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
    limit = message_limit()
    headers = schema_headers(TOPICS.ingest)
    p = producer(kafka)
    futures = []
    failed = 0
    try:
        for where, request in items:
            key, value = request.article_id.encode(), request.to_bytes()
            if (size := message_size(key, value, headers)) > limit:
                failed += 1
                print(f"newsflow push: {where}: not pushed: {size:,} bytes as a message, over the {limit:,}-byte "
                      f"limit of {TOPICS.ingest.name} (max.message.bytes)", file=sys.stderr)
                if bar:
                    bar.update()
                continue
            try:
                futures.append((where, request.article_id, p.send(topic, key=key, value=value, headers=headers)))
            except KafkaError as exc:  # refused by the client before sending (e.g. its own size limit)
                failed += 1
                print(f"newsflow push: {where}: not pushed: {exc}", file=sys.stderr)
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


def message_limit() -> int:
    """The largest message articles.ingest takes: its max.message.bytes, as declared in the topic registry."""
    return int(TOPICS.ingest.config["max.message.bytes"])


def message_size(key: bytes, value: bytes, headers: list[tuple[str, bytes]]) -> int:
    """Bytes of the record batch that carries this one message (what the broker holds against max.message.bytes),
    as the Kafka client computes it."""
    return DefaultRecordBatchBuilder.estimate_size_in_bytes(key, value, headers)
