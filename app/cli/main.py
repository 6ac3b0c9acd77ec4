"""The ``newsmon`` command: parses the command line and runs one command module's handler.

Each noun has its module (``serve``, ``poll``, ``feeds``, ``db``, ``users``, ``tokens``,
``tagger``; ``alerts`` for views and alerts), which registers its sub-commands and wires
settings, database and services for them. This module only builds the parser and maps
domain errors to exit codes.

A command line naming a command imports only that command's module (``newsmon poll``
never imports the alert rules' or the web's command code); anything else (``--help``,
no command, a misspelt one) builds the full parser.
"""

from __future__ import annotations

import argparse
import gc
import importlib
import logging
import os
import sqlite3
import sys
from collections.abc import Sequence
from types import ModuleType

from app.cli.common import NoDatabase, database_location
from app.config import SettingsError, load_settings
from app.core.errors import NewsmonError
from app.polling import GC_THRESHOLDS

# The command modules, in the order ``--help`` lists them, with the commands each registers.
COMMANDS: dict[str, tuple[str, ...]] = {
    "serve": ("serve",),
    "poll": ("poll",),
    "feeds": ("feeds",),
    "db": ("db",),
    "users": ("users",),
    "tokens": ("tokens",),
    "tagger": ("eval", "train", "retag"),
    "alerts": ("views", "alerts"),
}
_MODULE_OF = {command: module for module, names in COMMANDS.items() for command in names}

# A command's start-up is mostly imports (SQLAlchemy, the ORM tables, httpx: ~0.3 s of a
# poll's CPU). With CPython's default thresholds (700, 10, 10) the cyclic collector ran
# every 700 new containers among them, and its older generations' passes walked the
# growing heap of modules, classes and functions, all of which live as long as the
# process: ~17 ms of CPU per command (docs/decisions.md, "Ingest, stop 41"). A command run
# as a process of its own collects at the poller's thresholds instead (``GC_THRESHOLDS``);
# ``serve`` goes back to ``DEFAULT_GC`` before it serves.
DEFAULT_GC = gc.get_threshold()


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command in ``argv`` (default ``sys.argv[1:]``); its exit code.

    Called without ``argv`` (the console script, ``python -m app.cli``), a command that
    asks for it (``poll``) ends the process as soon as its output is flushed."""
    if argv is None:  # a process of its own (the console script, ``python -m app.cli``)
        gc.set_threshold(*GC_THRESHOLDS)
    words = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser(words)
    args = parser.parse_args(words)
    if not getattr(args, "handler", None):
        parser.print_help()
        return 2
    try:
        settings = load_settings(secret=False)  # only `serve` reads or makes the secret key
    except SettingsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    logging.basicConfig(
        level=getattr(logging, settings.log_level.upper(), logging.INFO),
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
        stream=sys.stderr,
    )
    for noisy in ("alembic", "httpx", "httpcore"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    try:
        code: int = args.handler(args, settings)
    except NoDatabase as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except NewsmonError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except Exception as exc:
        reason = unusable_database(exc)
        if reason is None:
            raise  # a bug: its traceback
        print(
            f"error: cannot use the database at {database_location(settings)}: {reason}",
            file=sys.stderr,
        )
        return 1
    if argv is None and getattr(args, "exit_at_once", False):
        exit_now(code)
    return code


def unusable_database(exc: BaseException) -> BaseException | None:
    """The driver's error when ``exc`` says the database cannot be used at all: a file
    that is not a database, unreadable, full, locked past the busy timeout, a server
    that does not answer. None for anything else: a constraint broken by a bug keeps its
    traceback."""
    if "sqlalchemy" in sys.modules:
        from sqlalchemy.exc import DBAPIError, OperationalError

        if isinstance(exc, OperationalError):
            return exc.orig
        if isinstance(exc, DBAPIError) and exc.orig is not None:
            exc = exc.orig
    if isinstance(exc, sqlite3.OperationalError) or type(exc) is sqlite3.DatabaseError:
        return exc
    return None


def exit_now(code: int) -> None:
    """End the process without the interpreter's finalisation.

    Tearing down the modules of a finished ``poll`` (SQLAlchemy's mappers and caches,
    httpx, the tagger's tables) cost ~0.1 s of CPU and up to 0.3 s of wall time, a
    tenth of a warm poll (~0.08 s of a ``feeds import``, which a cold start runs too);
    nothing in it is needed once the command's transactions are committed and its
    database connections closed. Output and logs are flushed first;
    worker processes notice the closed pipes and exit on their own."""
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            code = code or 1  # as the interpreter does when a flush at exit fails
    os._exit(code)


def build_parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """The parser; for a command line naming a command (``argv``), that command's only."""
    parser = argparse.ArgumentParser(
        prog="newsmon", description="newsmon: news monitoring for the Amazon-TikTok story."
    )
    sub = parser.add_subparsers(metavar="COMMAND")
    for module in _modules_for(argv):
        module.register(sub)
    return parser


def _modules_for(argv: Sequence[str] | None) -> list[ModuleType]:
    named = _MODULE_OF.get(argv[0]) if argv else None
    wanted = [named] if named is not None else list(COMMANDS)
    return [importlib.import_module(f"app.cli.{name}") for name in wanted]


if __name__ == "__main__":
    raise SystemExit(main())
