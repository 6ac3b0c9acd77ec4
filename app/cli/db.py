"""``newsmon db``: upgrade the schema, back up a live SQLite database."""

from __future__ import annotations

import argparse
import sqlite3
import sys
from pathlib import Path

from app.cli.common import Subparsers, database_location, open_db
from app.config import Settings
from app.core.errors import NewsmonError
from app.store.sqlite_file import plain_sqlite_path


def register(sub: Subparsers) -> None:
    db = sub.add_parser("db", help="database maintenance").add_subparsers(metavar="ACTION")
    up = db.add_parser("upgrade", help="apply migrations up to head")
    up.set_defaults(handler=cmd_db_upgrade)
    backup = db.add_parser("backup", help="consistent copy of a live SQLite database")
    backup.add_argument("path", type=Path)
    backup.set_defaults(handler=cmd_db_backup)


def cmd_db_upgrade(args: argparse.Namespace, settings: Settings) -> int:
    from app.store import migrate

    path = plain_sqlite_path(settings.database_url)
    if path is not None and not path.exists():
        print(f"newsmon: creating a new database at {path}", file=sys.stderr)
    # A plain SQLite file at the latest revision, or new: checked (or created) through
    # the driver, without loading SQLAlchemy; anything else through the engine.
    try:
        done = path is not None and migrate.upgrade_sqlite_file(path)
    except sqlite3.Error as exc:  # not a database, unreadable, locked past the timeout
        raise NewsmonError(f"cannot upgrade the database at {path}: {exc}") from exc
    if not done:
        db = open_db(settings, create=True)
        try:
            migrate.upgrade(db.engine)
        finally:
            db.dispose()
    where = path if path is not None else database_location(settings)
    print(f"database {where} is at the latest revision")
    return 0


def cmd_db_backup(args: argparse.Namespace, settings: Settings) -> int:
    from sqlalchemy.engine import make_url

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
