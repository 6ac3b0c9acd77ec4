"""The ``newsmon`` command: parses the command line and runs one command module's handler.

Each noun has its module (``serve``, ``poll``, ``feeds``, ``db``, ``users``, ``tokens``,
``tagger``; ``alerts`` for views and alerts), which registers its sub-commands and wires
settings, database and services for them. This module only builds the parser and maps
domain errors to exit codes.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from app.cli import alerts, db, feeds, poll, serve, tagger, tokens, users
from app.cli.common import NoDatabase
from app.config import load_settings
from app.core.errors import NewsmonError

COMMANDS = (serve, poll, feeds, db, users, tokens, tagger, alerts)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "handler", None):
        parser.print_help()
        return 2
    settings = load_settings(secret=False)  # only `serve` reads or makes the secret key
    logging.basicConfig(
        level=getattr(logging, settings.log_level.upper(), logging.INFO),
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
        stream=sys.stderr,
    )
    for noisy in ("alembic", "httpx", "httpcore"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    try:
        code: int = args.handler(args, settings)
        return code
    except NoDatabase as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except NewsmonError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="newsmon", description="newsmon: news monitoring for the Amazon-TikTok story."
    )
    sub = parser.add_subparsers(metavar="COMMAND")
    for command in COMMANDS:
        command.register(sub)
    return parser


if __name__ == "__main__":
    raise SystemExit(main())
