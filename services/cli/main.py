"""``newsflow``: one command for users and operators. Each subcommand lives in the module named after it and
adds itself with ``add_parser(subparsers)``; its handler takes the parsed args and returns an exit code.

Commands: push (push.py), tail (tail.py), dlq list|replay (dlq.py), search (search.py), story (story.py),
clean and extract (batch.py), topics create|list (topics.py), status (status.py). Importing this module must
stay light: no faust, no service wiring (tests/unit/test_cli_imports.py)."""

from __future__ import annotations

import argparse
import logging
import sys

from services.cli import batch, dlq, push, search, status, story, tail, topics


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="newsflow",
        description="Push news articles into the newsflow pipeline and read what comes out. "
        "Kafka: NEWSFLOW_KAFKA_BOOTSTRAP_SERVERS (default 127.0.0.1:9092).",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log Kafka client activity")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in (push, tail, dlq, search, story, batch, topics, status):
        module.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        return args.func(args)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    sys.exit(main())
