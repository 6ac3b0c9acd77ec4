"""``newsmon poll``: poll the due feeds once (``--once``) or keep polling."""

from __future__ import annotations

import argparse
import asyncio
import contextlib

from app.cli.common import Subparsers, open_db
from app.config import Settings
from app.store.db import Database


def register(sub: Subparsers) -> None:
    poll = sub.add_parser("poll", help="poll due feeds")
    poll.add_argument("--once", action="store_true", help="poll what is due now, then exit")
    poll.add_argument("--all", action="store_true", help="treat every feed as due")
    poll.set_defaults(handler=cmd_poll)


def cmd_poll(args: argparse.Namespace, settings: Settings) -> int:
    from app.cli.progress import poll_with_progress
    from app.polling import make_poller, run_forever
    from app.services.setup import prepare_database
    from app.store.lock import poller_lock

    db = open_db(settings)
    prepare_database(settings, db)
    if args.all:
        _make_all_due(db)
    with poller_lock(settings.database_url):
        poller = make_poller(settings, db)
        if args.once:
            summary = asyncio.run(poll_with_progress(poller))
            print(summary.line())
            return 0
        stop = asyncio.Event()
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(run_forever(poller, settings.poll_interval_seconds, stop))
    return 0


def _make_all_due(db: Database) -> None:
    from datetime import UTC, datetime

    from sqlalchemy import update

    from app.store.tables import Feed

    with db.write() as session:
        session.execute(update(Feed).values(next_poll_at=datetime.now(UTC)))
