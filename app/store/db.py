"""Engines and sessions for SQLite and PostgreSQL.

SQLite: WAL, foreign keys and a busy timeout on every connection; write
transactions begin IMMEDIATE (a deferred transaction that reads and then writes
fails at once with "database is locked" when another writer committed in
between, whatever the busy timeout). Read sessions use a plain BEGIN so they
never wait for the writer.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from app.core.errors import StorageBusy, StorageUnavailable

BUSY_TIMEOUT_MS = 10_000
_READ = "newsmon_read"


def make_engine(url: str, **kwargs: Any) -> Engine:
    """An engine for ``url``; SQLite files get their directory created and pragmas set."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": BUSY_TIMEOUT_MS / 1000}, **kwargs)
        _configure_sqlite(engine)
        return engine
    kwargs.setdefault("pool_pre_ping", True)
    return create_engine(url, **kwargs)


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: sqlite3.Connection, _record: object) -> None:
        # Take transaction control away from the driver so "begin" below decides.
        dbapi_conn.isolation_level = None
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        read_only = conn.get_execution_options().get(_READ, False)
        conn.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")


class Database:
    """One engine plus session factories for writing and for reading."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._writer = sessionmaker(engine, expire_on_commit=False)
        self._reader = sessionmaker(
            engine.execution_options(**{_READ: True}), expire_on_commit=False
        )

    @classmethod
    def from_url(cls, url: str, **kwargs: Any) -> Database:
        return cls(make_engine(url, **kwargs))

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @contextmanager
    def write(self) -> Iterator[Session]:
        """A session in one write transaction, committed on success, rolled back on error."""
        with translate_busy(), self._writer() as session, session.begin():
            yield session

    @contextmanager
    def read(self) -> Iterator[Session]:
        with translate_busy(), self._reader() as session, session.begin():
            yield session

    def dispose(self) -> None:
        self.engine.dispose()


@contextmanager
def translate_busy() -> Iterator[None]:
    """Storage failures a caller can wait out, as domain errors (a 503 on the web, a retry
    in the poller): "database is locked" becomes ``StorageBusy``; a PostgreSQL server that
    cannot be reached (refused, reset, restarting) ``StorageUnavailable``. The pool's
    pre-ping replaces dead connections, so the next request after recovery succeeds."""
    try:
        yield
    except (OperationalError, InterfaceError) as exc:
        if unreachable(exc):
            raise StorageUnavailable("the database is unavailable; try again shortly") from exc
        if "locked" in str(exc.orig) or "busy" in str(exc.orig):
            raise StorageBusy("the database is busy; try again shortly") from exc
        raise


def unreachable(exc: DBAPIError) -> bool:
    """A lost or refused server connection, as opposed to an error in the statement."""
    if exc.connection_invalidated or isinstance(exc, InterfaceError):
        return True
    module = type(exc.orig).__module__ if exc.orig is not None else ""
    if module.startswith("psycopg"):
        # psycopg raises OperationalError (not a subclass of it) for connection
        # failures; statement errors carry an SQLSTATE, connection failures none
        # or class 08 (connection exception) / 57P (operator intervention).
        state = getattr(exc.orig, "sqlstate", None) or ""
        return not state or state.startswith(("08", "57P"))
    return False
