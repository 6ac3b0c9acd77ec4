"""``newsmon feeds``: subscribe, list, remove, enable, import and export feeds."""

from __future__ import annotations

import argparse
import sqlite3
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from app.cli.common import Subparsers, open_db
from app.config import Settings
from app.core.errors import NewsmonError
from app.store.sqlite_file import plain_sqlite_path

if TYPE_CHECKING:
    from app.services.subscriptions import ImportReport


def register(sub: Subparsers) -> None:
    feeds = sub.add_parser("feeds", help="manage feeds").add_subparsers(metavar="ACTION")
    add = feeds.add_parser("add", help="subscribe to a feed URL")
    add.add_argument("url")
    add.add_argument("--title")
    add.set_defaults(handler=cmd_feeds_add)
    lst = feeds.add_parser("list", help="feeds and their health")
    lst.set_defaults(handler=cmd_feeds_list)
    rm = feeds.add_parser("remove", help="unsubscribe (by id or URL) and drop its articles")
    rm.add_argument("feed")
    rm.set_defaults(handler=cmd_feeds_remove)
    enable = feeds.add_parser("enable", help="poll a disabled feed (by id or URL) again now")
    enable.add_argument("feed")
    enable.set_defaults(handler=cmd_feeds_enable)
    fulltext = feeds.add_parser(
        "fulltext", help="fetch article pages of a feed (by id or URL): auto, always, never"
    )
    fulltext.add_argument("feed")
    fulltext.add_argument("policy", choices=("auto", "always", "never", "default"))
    fulltext.set_defaults(handler=cmd_feeds_fulltext)
    imp = feeds.add_parser("import", help="subscribe to every feed of an OPML file")
    imp.add_argument("file", type=Path)
    # (``exit_at_once``: a cold start runs it before the first poll; see ``exit_now``)
    imp.set_defaults(handler=cmd_feeds_import, exit_at_once=True)
    exp = feeds.add_parser("export", help="print the subscriptions as OPML")
    exp.set_defaults(handler=cmd_feeds_export)


def cmd_feeds_add(args: argparse.Namespace, settings: Settings) -> int:
    from app.services.setup import prepare_database
    from app.services.subscriptions import subscribe_checked

    db = open_db(settings)
    prepare_database(settings, db)
    feed, warning = subscribe_checked(settings, db, args.url, args.title)
    print(f"added feed {feed.id}: {feed.url}")
    if warning:
        print(f"warning: {warning}", file=sys.stderr)
    return 0


def cmd_feeds_fulltext(args: argparse.Namespace, settings: Settings) -> int:
    from app.services.fulltext import set_feed_policy
    from app.services.setup import prepare_database

    db = open_db(settings)
    prepare_database(settings, db)
    policy = None if args.policy == "default" else args.policy
    feed = set_feed_policy(db, args.feed, policy)
    shown = feed.fulltext_policy or f"default ({settings.fulltext_policy})"
    print(f"feed {feed.id}: full text {shown}")
    return 0


def cmd_feeds_list(args: argparse.Namespace, settings: Settings) -> int:
    from app.services.setup import prepare_database
    from app.store.feeds import FeedStore

    db = open_db(settings)
    prepare_database(settings, db)
    with db.read() as session:
        feeds = FeedStore(session).all()
    if not feeds:
        print("no feeds; add one with `newsmon feeds add URL`")
        return 0
    print(f"{'ID':>4}  {'STATUS':<13} {'FAIL':>4} {'ARTICLES':>8}  {'NEXT POLL (UTC)':<16}  FEED")
    for f in feeds:
        status = "disabled" if f.disabled_reason else (f.last_status or "new")
        nxt = f.next_poll_at.strftime("%Y-%m-%d %H:%M")
        print(
            f"{f.id:>4}  {status:<13} {f.consecutive_failures:>4} {f.article_count:>8}  "
            f"{nxt:<16}  {f.name} <{f.url}>"
        )
        problem = f.disabled_reason or f.last_error
        if problem:
            print(f"{'':>6}└ {problem}")
        if f.parse_warning:
            print(f"{'':>6}└ parser warning: {f.parse_warning}")
    return 0


def cmd_feeds_remove(args: argparse.Namespace, settings: Settings) -> int:
    from app.store.feeds import FeedStore

    db = open_db(settings)
    with db.write() as session:
        store = FeedStore(session)
        feed = store.find(args.feed)
        store.remove(feed.id)
    print(f"removed feed {feed.id}: {feed.name}")
    return 0


def cmd_feeds_enable(args: argparse.Namespace, settings: Settings) -> int:
    from app.services.subscriptions import enable_feed

    feed = enable_feed(open_db(settings), args.feed)
    print(f"enabled feed {feed.id}: {feed.name}; it is polled next")
    return 0


def cmd_feeds_import(args: argparse.Namespace, settings: Settings) -> int:
    data = args.file.read_bytes()
    report = _import_through_driver(settings, data)
    if report is None:
        from app.services.setup import prepare_database
        from app.services.subscriptions import import_subscriptions

        db = open_db(settings)
        try:
            prepare_database(settings, db)
            report = import_subscriptions(settings, db, data)
        finally:
            db.dispose()  # SQLite checkpoints and removes its WAL as the last connection closes
    for url in report.skipped:
        print(f"already subscribed: {url}", file=sys.stderr)
    for refusal in report.rejected:
        print(f"skipped {refusal.url}: {refusal.reason}", file=sys.stderr)
    print(
        f"imported {len(report.added)} feeds; {len(report.skipped)} already subscribed, "
        f"{len(report.rejected)} rejected"
    )
    return 0


def _import_through_driver(settings: Settings, data: bytes) -> ImportReport | None:
    """The import into a plain SQLite file at the latest revision, through the driver
    alone (``app.store.feeds_sqlite``: no SQLAlchemy, ~0.45 s less of every cold start);
    None for anything else, which goes through the engine (it creates, migrates or
    refuses the database as every command does)."""
    from app.services.setup import first_feeds
    from app.services.subscriptions import import_into
    from app.store.feeds_sqlite import SqliteSubscriptions

    path = plain_sqlite_path(settings.database_url)
    store = None if path is None else SqliteSubscriptions.open_current(path)
    if store is None:
        return None
    try:
        if settings.default_feeds:
            store.fill_if_empty(first_feeds, now=datetime.now(UTC))
        return import_into(settings, store, data)
    except sqlite3.Error as exc:  # locked past the busy timeout, disk full, …
        raise NewsmonError(f"cannot import into the database at {path}: {exc}") from exc
    finally:
        store.close()  # the last connection: SQLite checkpoints and removes its WAL


def cmd_feeds_export(args: argparse.Namespace, settings: Settings) -> int:
    from app.services.subscriptions import export_subscriptions

    sys.stdout.buffer.write(export_subscriptions(open_db(settings)))
    return 0
