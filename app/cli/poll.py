"""``newsmon poll``: poll the due feeds once (``--once``) or keep polling."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sqlite3
import sys
from typing import TYPE_CHECKING

from app.cli.common import Subparsers, open_db
from app.config import Settings, with_secret
from app.store.sqlite_file import plain_sqlite_path

if TYPE_CHECKING:
    from app.polling.extraction import ExtractionRunner, ExtractionSummary
    from app.store.db import Database

EXTRACTION_INTERVAL = 5.0


def register(sub: Subparsers) -> None:
    poll = sub.add_parser("poll", help="poll due feeds")
    poll.add_argument("--once", action="store_true", help="poll what is due now, then exit")
    poll.add_argument("--all", action="store_true", help="treat every feed as due")
    poll.add_argument(
        "--no-fulltext", action="store_true", help="do not fetch article pages (full text)"
    )
    # (the console script ends the process once the poll's output is flushed: main.exit_now)
    poll.set_defaults(handler=cmd_poll, exit_at_once=True)


def cmd_poll(args: argparse.Namespace, settings: Settings) -> int:
    # A SQLite file is asked through the driver before anything heavy is imported: the
    # fork server's start-up (the tagger) then overlaps this process's (SQLAlchemy, the
    # store, the poller) on two cores, ~0.4 s of CPU each, instead of following it.
    new_feeds = _boot_parse_workers_early(settings)
    db = open_db(settings, background=True)
    try:
        _poll(args, settings, db, new_feeds=new_feeds)
    finally:
        db.dispose()  # SQLite checkpoints and removes its WAL as the last connection closes
    return 0


def _poll(
    args: argparse.Namespace, settings: Settings, db: Database, *, new_feeds: bool | None
) -> None:
    if new_feeds is None and _never_polled(db):
        # Bodies to parse are coming: the fork server boots (imports the tagger) while
        # this process imports the poller and fetches, not after the first fetch.
        _start_fork_server()
    from app.services.setup import prepare_database
    from app.store.lock import poller_lock

    with_secret(settings)  # the alert runner unseals webhook secrets and signs links
    prepare_database(settings, db)
    if args.all:
        _make_all_due(db)
    from app.cli.progress import poll_with_progress
    from app.polling import (
        batch_gc,
        make_alert_runner,
        make_extraction_runner,
        make_poller,
        run_forever,
    )

    with poller_lock(settings.database_url):
        batch_gc()  # everything this process needs is imported by now
        alerts = make_alert_runner(settings, db)
        poller = make_poller(settings, db, alert_wake=alerts.wake)
        pages = (
            None
            if args.no_fulltext
            else make_extraction_runner(settings, db, alert_wake=alerts.wake)
        )

        async def run() -> None:
            # SIGTERM and Ctrl-C stop claiming at once; feeds in flight get a short grace,
            # the rest of the claims are given back for the next poller.
            stop = asyncio.Event()
            loop = asyncio.get_running_loop()
            for signum in (signal.SIGTERM, signal.SIGINT):
                loop.add_signal_handler(signum, stop.set)
            if args.once:
                # The pages of what is new are fetched while later feeds are still being
                # polled (network waits beside parsing), then drained after the last feed.
                feeding = asyncio.Event()
                paging = (
                    None
                    if pages is None
                    else asyncio.create_task(_pages_until_stopped(pages, feeding, stop))
                )
                try:
                    print((await poll_with_progress(poller, stop=stop)).line())
                finally:
                    feeding.set()
                if paging is not None:
                    done = await paging
                    if done is not None:  # on stderr: the poll's summary stays stdout's last
                        print(f"full text: {done.line()}", file=sys.stderr)
                if not stop.is_set():
                    try:
                        print((await alerts.run_once()).line(), file=sys.stderr)
                    finally:
                        await alerts.aclose()
                return
            async with asyncio.TaskGroup() as group:
                group.create_task(run_forever(poller, settings.poll_interval_seconds, stop))
                if pages is not None:
                    group.create_task(pages.run_forever(EXTRACTION_INTERVAL, stop))
                # alert and digest deliveries (app.alerts), every few seconds
                group.create_task(alerts.run_forever(stop))

        asyncio.run(run())


async def _pages_until_stopped(
    pages: ExtractionRunner, feeding: asyncio.Event, stop: asyncio.Event
) -> ExtractionSummary | None:
    """The full-text pass beside the feeds' poll; a stop (SIGTERM, Ctrl-C) cancels it at
    once: claimed pages keep their lease and the next run takes them."""
    run = asyncio.create_task(pages.run_once(feeding=feeding))
    stopped = asyncio.create_task(stop.wait())
    await asyncio.wait({run, stopped}, return_when=asyncio.FIRST_COMPLETED)
    stopped.cancel()
    if not run.done():
        run.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await run
        return None
    return run.result()


def _start_fork_server() -> None:
    from app.feeds.forkserver import start_fork_server
    from app.polling import PARSE_PRELOAD

    start_fork_server(PARSE_PRELOAD)


def _boot_parse_workers_early(settings: Settings) -> bool | None:
    """On an existing SQLite file where a feed was never polled, boot the parse workers'
    fork server now. Whether a feed was never polled; None where this could not look
    (PostgreSQL, no file yet, no such table, a locked or foreign file): ``_poll`` then
    asks through the engine once the schema is checked. Read-only through the driver: the
    file is neither created nor changed."""
    path = plain_sqlite_path(settings.database_url)
    if path is None or not path.is_file():
        return None
    try:
        connection = sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True, timeout=0.5)
    except sqlite3.Error:
        return None
    try:
        found = connection.execute(_NEVER_POLLED).fetchone() is not None
    except sqlite3.Error:
        return None
    finally:
        connection.close()
    if found:
        _start_fork_server()
    return found


_NEVER_POLLED = (
    "SELECT 1 FROM feed WHERE last_polled_at IS NULL AND disabled_reason IS NULL LIMIT 1"
)


def _never_polled(db: Database) -> bool:
    """Whether an enabled feed was never polled (a new subscription: its first poll
    brings a body to parse). Plain SQL, asked before the schema's check and the ORM's
    import, so the answer comes as early as it can; a schema without the table or
    column (older than the code) answers no."""
    from sqlalchemy import text
    from sqlalchemy.exc import DBAPIError

    from app.store.db import reading

    query = text(_NEVER_POLLED)
    try:
        with reading(db.engine).connect() as connection:
            return connection.execute(query).first() is not None
    except DBAPIError:
        return False


def _make_all_due(db: Database) -> None:
    from datetime import UTC, datetime

    from sqlalchemy import update

    from app.store.tables import Feed

    with db.write() as session:
        session.execute(update(Feed).values(next_poll_at=datetime.now(UTC)))
