"""A SQLite database file through the driver alone: its path in a database URL and the
pragmas every connection gets.

``app.store.db`` sets these pragmas on each connection of its engines; ``newsmon db
upgrade`` uses them directly when the schema needs no migration (``app.store.migrate``):
importing SQLAlchemy was ~0.2 s of that command's ~0.3 s, and every cold start runs it.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

BUSY_TIMEOUT_MS = 10_000
# Every connection: WAL (readers never wait for the writer), foreign keys, a busy timeout,
# and commits that wait for the disk only at checkpoints (safe in WAL mode).
CONNECTION_PRAGMAS = (
    "journal_mode=WAL",
    "foreign_keys=ON",
    f"busy_timeout={BUSY_TIMEOUT_MS}",
    "synchronous=NORMAL",
)

_SCHEMES = ("sqlite:///", "sqlite+pysqlite:///")


def plain_sqlite_path(url: str) -> Path | None:
    """The file of a plain SQLite URL (``sqlite:///relative.db``, ``sqlite:////abs.db``),
    relative paths resolved against the current folder; None for anything else: another
    engine, an in-memory database, a query string (``?mode=ro``, ``uri=true``), escapes
    (``%20``), which SQLAlchemy's own URL parser handles."""
    scheme = next((s for s in _SCHEMES if url.startswith(s)), None)
    if scheme is None:
        return None
    database = url[len(scheme) :]
    if not database or database == ":memory:" or any(c in database for c in "?%#"):
        return None
    return Path(database).resolve()


def connect(path: Path) -> sqlite3.Connection:
    """A connection to ``path`` (its folder created) with ``CONNECTION_PRAGMAS``, in
    autocommit mode: the caller's BEGIN decides."""
    path.parent.mkdir(parents=True, exist_ok=True)
    connection = sqlite3.connect(path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None)
    try:
        apply_pragmas(connection)
    except sqlite3.Error:
        connection.close()
        raise
    return connection


def apply_pragmas(connection: sqlite3.Connection, extra: tuple[str, ...] = ()) -> None:
    """``CONNECTION_PRAGMAS``, then ``extra``, on a connection outside any transaction.

    Switching a new file to WAL needs it to itself for a moment. While another process
    creates the schema there (still in the default rollback journal), SQLite answers
    "database is locked" at once instead of waiting, since its busy handler would wait
    on a lock the other side cannot release (seen with four processes starting on one
    new file, about one start in a hundred): the pragma is tried again until the busy
    timeout has passed."""
    deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
    for pragma in (*CONNECTION_PRAGMAS, *extra):
        while True:
            try:
                connection.execute(f"PRAGMA {pragma}")
                break
            except sqlite3.OperationalError as exc:
                busy = exc.sqlite_errorcode == sqlite3.SQLITE_BUSY  # "database is locked"
                if not busy or time.monotonic() > deadline:
                    raise
                time.sleep(0.005)


@contextmanager
def write_transaction(connection: sqlite3.Connection) -> Iterator[None]:
    """``BEGIN IMMEDIATE`` (the write lock now, waiting up to the busy timeout), committed
    when the block ends, rolled back if it raises: for the driver's own writers."""
    connection.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        if connection.in_transaction:
            connection.execute("ROLLBACK")
        raise
    connection.execute("COMMIT")


def marks(n: int) -> str:
    """``n`` positional placeholders for a driver statement: "?, ?, ?"."""
    return ", ".join("?" * n)


def sqlite_stamp(value: datetime) -> str:
    """What ``UTCDateTime`` binds on SQLite, without SQLAlchemy's machinery: naive UTC
    in SQLAlchemy's storage format ("2026-12-02 10:00:00.000000"). For hot raw inserts;
    ``tests/store/test_raw_insert.py`` holds it equal to the bound value."""
    return naive_stamp(naive_utc(value))


def naive_utc(value: datetime) -> datetime:
    """``value`` in UTC without its zone, as ``sqlite_stamp`` writes it."""
    if value.tzinfo is None:
        raise ValueError("naive datetime given to a UTC column")
    return value.astimezone(UTC).replace(tzinfo=None)


def naive_stamp(naive: datetime) -> str:
    """``sqlite_stamp`` of a time already converted by ``naive_utc``."""
    return naive.isoformat(" ", "microseconds")
