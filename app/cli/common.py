"""What every command module shares: the sub-parser type and the database opener.

Only ``newsmon serve`` and ``newsmon db upgrade`` create a missing database; every
other command refuses (exit code 2) and names the path it resolved, so running
``newsmon`` from another folder never silently starts an empty database there.
``NEWSMON_CREATE_DATABASE=true`` lets any command create it.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, TypeAlias

from app.config import Settings
from app.core.errors import NewsmonError

if TYPE_CHECKING:
    from app.store.db import Database

# SQLAlchemy is imported inside the functions that need it: ``newsmon db upgrade`` of a
# SQLite file and ``--help`` run without it (~0.2 s each).

Subparsers: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"


class NoDatabase(NewsmonError):
    """The configured database does not exist and this command may not create it."""


def sqlite_path(settings: Settings) -> Path | None:
    """The absolute path of the SQLite file (relative URLs resolve against the current
    folder), or None for PostgreSQL and in-memory databases."""
    from sqlalchemy.engine import make_url

    url = make_url(settings.database_url)
    if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
        return None
    return Path(url.database).resolve()


def database_location(settings: Settings) -> str:
    """Where the database is, for people: the SQLite file's absolute path, or the URL
    with any password hidden."""
    path = sqlite_path(settings)
    return str(path) if path is not None else safe_url(settings)


def open_db(settings: Settings, *, create: bool = False, background: bool = False) -> Database:
    """The configured database. Unless ``create`` (or ``NEWSMON_CREATE_DATABASE``),
    a database that does not exist yet, or holds no newsmon schema, is refused.
    ``background``: a bulk writer (poller, re-tagging) whose SQLite writes give way to
    the web's (``app.store.db.WriteTurnstile``)."""
    may_create = create or settings.create_database
    path = sqlite_path(settings)
    if path is not None and not path.exists():
        if not may_create:
            raise NoDatabase(_missing(settings, path))
        print(f"newsmon: creating a new database at {path}", file=sys.stderr)
    from app.store.db import Database

    db = Database.from_url(settings.database_url, background=background)
    if not _has_schema(db):
        if not may_create:
            db.dispose()
            raise NoDatabase(_missing(settings, path))
        from app.store import migrate

        migrate.upgrade(db.engine)  # a new database has the schema before any command uses it
    return db


def _has_schema(db: Database) -> bool:
    from sqlalchemy import inspect
    from sqlalchemy.exc import SQLAlchemyError

    try:
        return inspect(db.engine).has_table("alembic_version")
    except SQLAlchemyError:
        return True  # unreachable: the command's own query reports it as before


def _missing(settings: Settings, path: Path | None) -> str:
    from sqlalchemy.engine import make_url

    if path is not None:
        where = f"no newsmon database at {path}"
        url = settings.database_url
        if not Path(make_url(url).database or "").is_absolute():
            where += f" ({url} is relative to the current folder {os.getcwd()})"
    else:
        where = f"no newsmon database in {safe_url(settings)} (no tables yet)"
    return (
        f"{where}; run newsmon where its database is, set NEWSMON_DATABASE_URL, "
        "or create one with `newsmon db upgrade` (or NEWSMON_CREATE_DATABASE=true)"
    )


def safe_url(settings: Settings) -> str:
    """The database URL with any password hidden, for messages."""
    from sqlalchemy.engine import make_url

    return make_url(settings.database_url).render_as_string(hide_password=True)
