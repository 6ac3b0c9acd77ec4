"""The ``newsmon`` command: the only place that wires settings, database and parts."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import sqlite3
import sys
from collections.abc import Sequence
from pathlib import Path

from sqlalchemy.engine import make_url

from app.config import Settings, load_settings
from app.core.errors import NewsmonError
from app.store.db import Database


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "handler", None):
        parser.print_help()
        return 2
    settings = load_settings()
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
    except NewsmonError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="newsmon", description=__doc__)
    sub = parser.add_subparsers(metavar="COMMAND")

    serve = sub.add_parser("serve", help="upgrade the database and serve the dashboard")
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)
    serve.set_defaults(handler=cmd_serve)

    poll = sub.add_parser("poll", help="poll due feeds")
    poll.add_argument("--once", action="store_true", help="poll what is due now, then exit")
    poll.add_argument("--all", action="store_true", help="treat every feed as due")
    poll.set_defaults(handler=cmd_poll)

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
    imp = feeds.add_parser("import", help="subscribe to every feed of an OPML file")
    imp.add_argument("file", type=Path)
    imp.set_defaults(handler=cmd_feeds_import)
    exp = feeds.add_parser("export", help="print the subscriptions as OPML")
    exp.set_defaults(handler=cmd_feeds_export)

    db = sub.add_parser("db", help="database maintenance").add_subparsers(metavar="ACTION")
    up = db.add_parser("upgrade", help="apply migrations up to head")
    up.set_defaults(handler=cmd_db_upgrade)
    backup = db.add_parser("backup", help="consistent copy of a live SQLite database")
    backup.add_argument("path", type=Path)
    backup.set_defaults(handler=cmd_db_backup)

    ev = sub.add_parser("eval", help="score the tagger on a labelled JSONL file")
    ev.add_argument("file", type=Path)
    ev.add_argument("--json", action="store_true", help="print one JSON object")
    ev.set_defaults(handler=cmd_eval)

    retag = sub.add_parser("retag", help="re-apply the topic and taxonomy to stored articles")
    retag.add_argument("--batch", type=int, default=1000)
    retag.set_defaults(handler=cmd_retag)
    add_account_commands(sub)
    return parser


def open_db(settings: Settings) -> Database:
    return Database.from_url(settings.database_url)


def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    import uvicorn

    from app.web.app import create_app
    from app.wiring import prepare_database

    db = open_db(settings)
    prepare_database(settings, db)
    db.dispose()
    host, port = args.host or settings.host, args.port or settings.port
    print(f"newsmon: serving http://{host}:{port}/ (database {_safe_url(settings)})")
    uvicorn.run(
        lambda: create_app(settings),
        factory=True,
        host=host,
        port=port,
        log_level=settings.log_level.lower(),
    )
    return 0


def cmd_poll(args: argparse.Namespace, settings: Settings) -> int:
    from app.cli_progress import poll_with_progress
    from app.store.lock import poller_lock
    from app.wiring import make_poller, prepare_database

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
        from app.poller import run_forever

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


def cmd_feeds_add(args: argparse.Namespace, settings: Settings) -> int:
    from app.wiring import prepare_database, subscribe

    db = open_db(settings)
    prepare_database(settings, db)
    feed = subscribe(settings, db, args.url, args.title)
    print(f"added feed {feed.id}: {feed.url}")
    return 0


def cmd_feeds_list(args: argparse.Namespace, settings: Settings) -> int:
    from app.store.feeds import FeedStore
    from app.wiring import prepare_database

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
    from app.subscriptions import enable_feed

    feed = enable_feed(open_db(settings), args.feed)
    print(f"enabled feed {feed.id}: {feed.name}; it is polled next")
    return 0


def cmd_feeds_import(args: argparse.Namespace, settings: Settings) -> int:
    from app.subscriptions import import_subscriptions
    from app.wiring import prepare_database

    db = open_db(settings)
    prepare_database(settings, db)
    report = import_subscriptions(settings, db, args.file.read_bytes())
    for url in report.skipped:
        print(f"already subscribed: {url}", file=sys.stderr)
    for refusal in report.rejected:
        print(f"skipped {refusal.url}: {refusal.reason}", file=sys.stderr)
    print(
        f"imported {len(report.added)} feeds; {len(report.skipped)} already subscribed, "
        f"{len(report.rejected)} rejected"
    )
    return 0


def cmd_feeds_export(args: argparse.Namespace, settings: Settings) -> int:
    from app.subscriptions import export_subscriptions

    sys.stdout.buffer.write(export_subscriptions(open_db(settings)))
    return 0


def cmd_db_upgrade(args: argparse.Namespace, settings: Settings) -> int:
    from app.store import migrate

    db = open_db(settings)
    migrate.upgrade(db.engine)
    print("database is at the latest revision")
    return 0


def cmd_db_backup(args: argparse.Namespace, settings: Settings) -> int:
    url = make_url(settings.database_url)
    if url.get_backend_name() != "sqlite" or not url.database:
        print(
            "error: `db backup` copies SQLite databases; for PostgreSQL use pg_dump "
            "(see the README)",
            file=sys.stderr,
        )
        return 1
    backup_sqlite(Path(url.database), args.path)
    print(f"backed up {url.database} to {args.path}")
    return 0


def backup_sqlite(source: Path, target: Path) -> None:
    """Online backup API: a consistent copy even while a poller writes (WAL included)."""
    if not source.exists():
        raise NewsmonError(f"no database at {source}")
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(target.name + ".partial")
    src = sqlite3.connect(source)
    dst = sqlite3.connect(tmp)
    try:
        src.execute("PRAGMA busy_timeout=10000")
        src.backup(dst, pages=1024)
        dst.execute("PRAGMA journal_mode=DELETE")
    finally:
        dst.close()
        src.close()
    tmp.replace(target)


def cmd_eval(args: argparse.Namespace, settings: Settings) -> int:
    from app.tagging.evaluate import run_eval

    return run_eval(args.file, as_json=args.json)


def cmd_retag(args: argparse.Namespace, settings: Settings) -> int:
    from app.retag import retag_all

    db = open_db(settings)
    count = retag_all(db, batch=args.batch, progress=sys.stderr.isatty())
    print(f"retagged {count} articles")
    return 0


def _safe_url(settings: Settings) -> str:
    return make_url(settings.database_url).render_as_string(hide_password=True)


# -- users and API tokens -----------------------------------------------------


def add_account_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    users = sub.add_parser("users", help="manage accounts").add_subparsers(metavar="ACTION")
    add = users.add_parser("add", help="create an account (password from a prompt or stdin)")
    add.add_argument("name")
    add.add_argument("--role", choices=("viewer", "editor", "admin"), default="viewer")
    add.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    add.set_defaults(handler=cmd_users_add)
    users.add_parser("list", help="accounts and roles").set_defaults(handler=cmd_users_list)

    tokens = sub.add_parser("tokens", help="manage API tokens").add_subparsers(metavar="ACTION")
    create = tokens.add_parser("create", help="create a token; prints it alone on the last line")
    create.add_argument("--user", required=True)
    create.add_argument("--scope", choices=("read", "write"), default="read")
    create.add_argument("--name", default="")
    create.set_defaults(handler=cmd_tokens_create)
    tokens.add_parser("list", help="tokens (never their values)").set_defaults(
        handler=cmd_tokens_list
    )
    revoke = tokens.add_parser("revoke", help="revoke a token by id")
    revoke.add_argument("id", type=int)
    revoke.set_defaults(handler=cmd_tokens_revoke)


def _read_password(args: argparse.Namespace) -> str:
    if args.password_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    import getpass

    first = getpass.getpass("Password: ")
    if getpass.getpass("Repeat: ") != first:
        from app.core.errors import InvalidInput

        raise InvalidInput("the passwords differ")
    return first


def cmd_users_add(args: argparse.Namespace, settings: Settings) -> int:
    from datetime import UTC, datetime

    from app.store.audit import AuditStore
    from app.store.users import UserStore
    from app.wiring import prepare_database

    password = _read_password(args)
    db = open_db(settings)
    prepare_database(settings, db)
    with db.write() as session:
        user = UserStore(session).create(args.name, password, args.role, now=datetime.now(UTC))
        AuditStore(session).record(
            "user.add",
            now=datetime.now(UTC),
            target_type="user",
            target_id=user.id,
            detail={"name": user.name, "role": user.role, "via": "cli"},
        )
    print(f"added user {user.id}: {user.name} ({user.role})")
    return 0


def cmd_users_list(args: argparse.Namespace, settings: Settings) -> int:
    from app.store.users import UserStore

    with open_db(settings).read() as session:
        users = UserStore(session).all()
    for u in users:
        print(f"{u.id:>4}  {u.role:<7} {'disabled' if u.disabled else 'active':<9} {u.name}")
    return 0


def cmd_tokens_create(args: argparse.Namespace, settings: Settings) -> int:
    from datetime import UTC, datetime

    from app.store.audit import AuditStore
    from app.store.users import UserStore

    now = datetime.now(UTC)
    with open_db(settings).write() as session:
        store = UserStore(session)
        user = store.find(args.user)
        token, raw = store.create_token(user.id, args.scope, name=args.name, now=now)
        AuditStore(session).record(
            "token.create", now=now, target_type="token", target_id=token.id, detail={"via": "cli"}
        )
    print(f"token {token.id} for {user.name}, scope {token.scope}; shown only now:")
    print(raw)
    return 0


def cmd_tokens_list(args: argparse.Namespace, settings: Settings) -> int:
    from app.store.users import UserStore

    with open_db(settings).read() as session:
        tokens = UserStore(session).tokens()
    for t in tokens:
        used = t.last_used_at.strftime("%Y-%m-%d %H:%M") if t.last_used_at else "never"
        state = "revoked" if t.revoked_at else "active"
        print(f"{t.id:>4}  {t.user_name:<16} {t.scope:<5} {state:<7} used {used:<16} {t.name}")
    return 0


def cmd_tokens_revoke(args: argparse.Namespace, settings: Settings) -> int:
    from datetime import UTC, datetime

    from app.store.audit import AuditStore
    from app.store.users import UserStore

    now = datetime.now(UTC)
    with open_db(settings).write() as session:
        UserStore(session).revoke_token(args.id, now=now)
        AuditStore(session).record(
            "token.revoke", now=now, target_type="token", target_id=args.id, detail={"via": "cli"}
        )
    print(f"revoked token {args.id}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
