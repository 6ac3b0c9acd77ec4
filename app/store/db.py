"""Engines and sessions for SQLite and PostgreSQL.

SQLite: WAL, foreign keys and a busy timeout on every connection; write
transactions begin IMMEDIATE (a deferred transaction that reads and then writes
fails at once with "database is locked" when another writer committed in
between, whatever the busy timeout). Read sessions use a plain BEGIN so they
never wait for the writer.

SQLite has one writer at a time, and its busy handler is not a queue: a waiting
writer sleeps and retries (1, 2, 5 … 100 ms), so a poller that commits one feed's
batch and begins the next at once can hold the lock nearly all the time while an
editor's flag waits seconds. A *turnstile* (``WriteTurnstile``, a lock file beside
the database) gives interactive writers the right of way across processes: they hold
it exclusively for their whole write; a background writer (the poller) passes it,
shared and at once released, before each transaction it begins, so it waits while an
interactive write is queued or running and the interactive one waits at most for the
background transaction already under way. ``flock`` locks belong to an open file, so
each thread has its own, and they go with the process that dies holding them.

A bulk writer's SQLite engine (``make_engine(bulk=True)``: the poller's, re-tagging's)
also keeps statement journals in memory and a longer WAL between checkpoints
(``BULK_PRAGMAS``), and every SQLite pool hands out its most recently used connection
first, whose page cache is still warm.
"""

from __future__ import annotations

import fcntl
import os
import sqlite3
import threading
import time
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from app.core.errors import StorageBusy, StorageUnavailable
from app.store.sqlite_file import BUSY_TIMEOUT_MS, apply_pragmas

_READ = "newsmon_read"
_TURNSTILE = "newsmon_turnstile"
_BACKGROUND = "newsmon_background"
_TURN = "newsmon_turn"


# A bulk writer's SQLite connections (the poller stores ~50 articles per feed in one
# transaction, each row touching a dozen indexes and the search index). Measured on the
# peer corpus's cold poll (200 feeds x 50 entries, docs/benchmarks.md "Stop 24"):
# - statement journals (a multi-row INSERT inside a savepoint needs one) in memory, not
#   in a temporary file written and dropped every statement (~140,000 writes a poll);
# - a checkpoint every ~16 MB of WAL instead of ~4 MB: a page written by many feeds'
#   transactions is copied into the database file once, not once per checkpoint.
# Together ~10 % of the poll process's CPU. A 4 MiB page cache (SQLite's is 2 MiB) saved
# ~3 % more but cost every connection of the poll process up to 4 MiB (+14 MiB for the
# process with the page pass's connections), past the 300 MB memory target: not used.
BULK_PRAGMAS = ("temp_store=MEMORY", "wal_autocheckpoint=4000")


def make_engine(url: str, *, bulk: bool = False, **kwargs: Any) -> Engine:
    """An engine for ``url``; SQLite files get their directory created and pragmas set.
    ``bulk``: the engine of a bulk writer (``BULK_PRAGMAS`` on SQLite)."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        # The most recently returned connection first: its page cache holds what the
        # last transaction touched (a FIFO pool rotated the poller's work across idle
        # connections whose caches another connection's commit had made stale). Only a
        # file's queue pool has the option (in-memory databases get a per-thread pool).
        in_memory = parsed.database in (None, "", ":memory:") or (
            parsed.query.get("mode") == "memory"
        )
        if not in_memory and "poolclass" not in kwargs:
            kwargs.setdefault("pool_use_lifo", True)
        engine = create_engine(url, connect_args={"timeout": BUSY_TIMEOUT_MS / 1000}, **kwargs)
        _configure_sqlite(engine, BULK_PRAGMAS if bulk else ())
        return engine
    kwargs.setdefault("pool_pre_ping", True)
    engine = create_engine(url, **kwargs)
    event.listen(engine, "connect", _session_settings)
    return engine


def _session_settings(dbapi_conn: Any, connection_record: Any) -> None:
    """PostgreSQL plans every statement with the values it runs with, and compiles none.

    - psycopg prepares a statement on the server once a connection has run it 5 times,
      and PostgreSQL then switches to a generic plan, made without the values, once 5
      more runs suggest it costs no more. For the timeline's statements the values are
      everything: a generic plan of the volume chart of a search (LIKE patterns as
      parameters) took 50 s instead of 35 ms at 100k articles, from the 11th search on a
      pooled connection.
    - JIT compilation pays for itself on long analytic scans; every statement here is a
      page's or a poll's, and the planner's cost estimates for the charts' nested index
      ranges crossed its thresholds at 1M articles: compiling took 256 ms of a searched
      chart's 794 ms, 14 ms of a year's share of voice, ~8 ms of the timeline's JSON.

    Set on each new connection and committed, so a rollback keeps them.
    """
    cursor = dbapi_conn.cursor()
    try:
        cursor.execute("SET plan_cache_mode = force_custom_plan")
        cursor.execute("SET jit = off")
    finally:
        cursor.close()
    dbapi_conn.commit()


def insert_for(dialect: str) -> Any:
    """The dialect's ``insert`` (both have ``on_conflict_do_*``): PostgreSQL's or SQLite's.
    Imported here: SQLAlchemy's PostgreSQL dialect costs a SQLite process ~35 ms to load."""
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    return sqlite_insert


def run_on_driver(session: Session, sql: str, params: Any = (), *, many: bool = False) -> list[Any]:
    """Run ``sql`` on the session's own sqlite3 connection, in its transaction; the rows.

    For the ingest's per-feed statements on SQLite, where SQLAlchemy's statement, bind and
    result handling cost more than SQLite's work. Pending ORM changes are flushed first,
    as the session's own ``execute`` would, and a driver error is raised as SQLAlchemy
    raises it (``DBAPIError``), so callers' handlers (busy retries, a poison entry skipped
    alone) see no difference."""
    if session.autoflush:
        session.flush()
    cursor = session.connection().connection.driver_connection.cursor()  # type: ignore[union-attr]
    try:
        if many:
            cursor.executemany(sql, params)
            return []
        cursor.execute(sql, params)
        rows: list[Any] = cursor.fetchall()
        return rows
    except sqlite3.Error as exc:
        raise DBAPIError.instance(sql, None, exc, sqlite3.Error) from exc
    finally:
        cursor.close()


# The page cache of a held write transaction's connection (app.polling.writer, "Held
# transactions": the poller on SQLite keeps ~400 articles' changes in one transaction).
# Its changed pages stay in the cache until the commit, and past the cache's size SQLite
# spills them to the log early; SQLite's default 2 MiB spilled, and the writer re-read a
# page from the file ~18 times per article stored. With 8 MiB the writer's replay of the
# peer corpus took 13-14 % less CPU (docs/benchmarks.md, "Stop 33"). Only that connection
# gets it (the pool hands the writer the connection returned last): the other connections
# of the poll process, and the web's, keep SQLite's default (the memory targets).
HELD_CACHE_KIB = 8192


# ``Session.info`` key: every write in this session's transaction is run again, each in a
# transaction of its own, if any of them fails (the poller's held transactions on SQLite,
# app.polling.writer). A failure may then abandon the whole transaction, so a write needs
# no savepoint to be undone alone: with a savepoint open, SQLite copies every page a write
# first changes into its statement journal, and the savepoints of a held transaction (one
# per feed, one per batch of articles) cost ~15 % of the writer's CPU (docs/decisions.md,
# "Ingest, stop 42"). ``ArticleWrites.upsert_batch`` reads it.
RUN_AGAIN_ALONE = "newsmon.run_again_alone"


def widen_cache(session: Session) -> None:
    """Give the session's connection the held transaction's page cache (SQLite only)."""
    if session.get_bind().dialect.name == "sqlite":
        run_on_driver(session, f"PRAGMA cache_size = -{HELD_CACHE_KIB}")


def begin_held(session: Session) -> None:
    """Make ``session`` a held transaction's (the poller's writer, ``bench writer``'s
    replay): its writes open no savepoints (``RUN_AGAIN_ALONE``) and its connection gets
    the wider page cache (which begins the transaction: a busy database raises here)."""
    session.info[RUN_AGAIN_ALONE] = True
    widen_cache(session)


def reading(engine: Engine) -> Engine:
    """``engine`` for reads only: on SQLite a plain BEGIN (no write lock, no turnstile)."""
    return engine.execution_options(**{_READ: True})


def _configure_sqlite(engine: Engine, extra: tuple[str, ...] = ()) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: sqlite3.Connection, _record: object) -> None:
        # Take transaction control away from the driver so "begin" below decides.
        dbapi_conn.isolation_level = None
        apply_pragmas(dbapi_conn, extra)

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        options = conn.get_execution_options()
        if options.get(_READ, False):
            conn.exec_driver_sql("BEGIN")
            return
        # The turnstile is taken at the transaction's first statement, not when the
        # session is opened: a web write session opens in one thread-pool hop and is
        # first used in the next, and no hop should fall inside the writers' queue.
        turnstile: WriteTurnstile | None = options.get(_TURNSTILE)
        if turnstile is not None and options.get(_BACKGROUND, False):
            turnstile.give_way()
        elif turnstile is not None:
            turn = turnstile.interactive()
            turn.__enter__()
            conn.info[_TURN] = turn
        try:
            if _TURN in conn.info:
                _begin_promptly(conn)
            else:
                conn.exec_driver_sql("BEGIN IMMEDIATE")
        except BaseException:
            _end_turn(conn)
            raise

    @event.listens_for(engine, "commit")
    def _on_commit(conn: Any) -> None:
        _end_turn(conn)  # just before COMMIT: the next editor's BEGIN waits a moment only

    @event.listens_for(engine, "rollback")
    def _on_rollback(conn: Any) -> None:
        _end_turn(conn)


PROMPT_RETRY_S = 0.001


def _begin_promptly(conn: Any) -> None:
    """BEGIN IMMEDIATE for a writer holding the turnstile, tried again every millisecond
    until the busy timeout. SQLite's own busy handler sleeps in growing steps (1, 2, 5 …
    25, 50, 100 ms), so an editor whose turn came while the poller was committing slept
    on for up to 100 ms after the lock was free; every editor queued behind waited that
    too. With the turnstile held, the wait is one background transaction at most, so
    asking every millisecond costs little."""
    raw = conn.connection.dbapi_connection
    deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
    raw.execute("PRAGMA busy_timeout=0")
    try:
        while time.monotonic() < deadline:
            try:
                raw.execute("BEGIN IMMEDIATE")
                return
            except sqlite3.OperationalError as exc:
                if not _busy(exc):
                    break  # not a wait: the statement below raises it as SQLAlchemy's
            time.sleep(PROMPT_RETRY_S)
        conn.exec_driver_sql("BEGIN IMMEDIATE")  # once more: success, or the error as before
    finally:
        raw.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")


def _end_turn(conn: Any) -> None:
    turn = conn.info.pop(_TURN, None)
    if turn is not None:
        turn.__exit__(None, None, None)


class FifoLock:
    """A lock handed to its waiters in arrival order, with a bounded wait.

    ``threading.Lock`` is not fair: with eight editors queued, a release may go to the
    newest waiter again and again while the oldest times out, which is what a p95 sees.
    Here the releaser hands the lock straight to the oldest waiter; it may be released
    by another thread than the one that took it (a write may end in another thread)."""

    def __init__(self) -> None:
        self._mutex = threading.Lock()
        self._waiters: deque[threading.Event] = deque()
        self._held = False

    def acquire(self, timeout: float) -> bool:
        with self._mutex:
            if not self._held and not self._waiters:
                self._held = True
                return True
            turn = threading.Event()
            self._waiters.append(turn)
        if turn.wait(timeout):
            return True
        with self._mutex:
            if turn.is_set():  # handed over as the wait ran out: it is ours
                return True
            self._waiters.remove(turn)
            return False

    def release(self) -> None:
        with self._mutex:
            if not self._held:
                raise RuntimeError("release of an unheld FifoLock")
            if self._waiters:
                self._waiters.popleft().set()  # still held: now the oldest waiter's
            else:
                self._held = False


class WriteTurnstile:
    """Right of way for interactive writers over background ones on one SQLite file
    (see the module docstring).

    Interactive writes of one process queue on a first-come, first-served lock
    (``FifoLock``; a write may begin in one thread and end in another), and the
    holder also holds an exclusive ``flock`` on the lock file for other processes to see.
    Waits are bounded: an interactive writer gives up after the busy timeout (a 503, as
    for a busy database), a background writer goes ahead after ``BACKGROUND_YIELD_S``."""

    POLL_S = 0.001
    BACKGROUND_YIELD_S = 2.0

    def __init__(self, path: Path) -> None:
        self.path = path
        self._queue = FifoLock()
        self._fd: int | None = None
        self._pid = 0
        self._open_lock = threading.Lock()

    @classmethod
    def for_engine(cls, engine: Engine) -> WriteTurnstile | None:
        if engine.dialect.name != "sqlite":
            return None  # PostgreSQL locks rows, and its lock queue is fair
        database = engine.url.database
        if not database or database == ":memory:" or database.startswith("file:"):
            return None
        return cls(Path(os.path.realpath(database) + "-writers"))

    def _file(self) -> int:
        with self._open_lock:
            if self._fd is None or self._pid != os.getpid():  # a forked child opens its own
                self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
                self._pid = os.getpid()
            return self._fd

    def _flock(self, fd: int, mode: int, deadline: float) -> bool:
        while True:
            try:
                fcntl.flock(fd, mode | fcntl.LOCK_NB)
                return True
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    return False
                time.sleep(self.POLL_S)

    @contextmanager
    def interactive(self) -> Iterator[None]:
        """Hold the turnstile for a whole write."""
        deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
        if not self._queue.acquire(BUSY_TIMEOUT_MS / 1000):
            raise StorageBusy("the database is busy; try again shortly")
        try:
            fd = self._file()
            if not self._flock(fd, fcntl.LOCK_EX, deadline):
                raise StorageBusy("the database is busy; try again shortly")
            try:
                yield
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            self._queue.release()

    def give_way(self) -> None:
        """Wait (a while at most) until no interactive write is queued or running."""
        fd = self._file()
        if self._flock(fd, fcntl.LOCK_SH, time.monotonic() + self.BACKGROUND_YIELD_S):
            fcntl.flock(fd, fcntl.LOCK_UN)

    def interactive_waiting(self) -> bool:
        """Whether an interactive write (of another ``Database``, any process) is queued
        or running now: a background writer holding a transaction open commits it."""
        fd = self._file()
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(fd, fcntl.LOCK_UN)
        return False

    def close(self) -> None:
        with self._open_lock:
            if self._fd is not None and self._pid == os.getpid():
                os.close(self._fd)
            self._fd = None


class Database:
    """One engine plus session factories for writing and for reading.

    ``background=True`` (the poller) makes its SQLite writes give way to the
    interactive writers of other processes and threads (``WriteTurnstile``)."""

    def __init__(self, engine: Engine, *, background: bool = False, turnstile: bool = True) -> None:
        """``turnstile=False``: SQLite's own busy handler alone (tests' control case)."""
        self.engine = engine
        self.background = background
        self.turnstile = WriteTurnstile.for_engine(engine) if turnstile else None
        writes = engine
        if self.turnstile is not None:
            writes = engine.execution_options(
                **{_TURNSTILE: self.turnstile, _BACKGROUND: background}
            )
        self._writer = sessionmaker(writes, expire_on_commit=False)
        self._reader = sessionmaker(
            engine.execution_options(**{_READ: True}), expire_on_commit=False
        )

    @classmethod
    def from_url(cls, url: str, *, background: bool = False, **kwargs: Any) -> Database:
        return cls(make_engine(url, bulk=background, **kwargs), background=background)

    def as_background(self) -> Database:
        """The same engine, its writes giving way to interactive ones (the in-process
        poller beside the web's own writes)."""
        return Database(self.engine, background=True)

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
        if self.turnstile is not None:
            self.turnstile.close()


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
        if _busy(exc.orig):
            raise StorageBusy("the database is busy; try again shortly") from exc
        raise


def _busy(error: BaseException | None) -> bool:
    """SQLite's "database is locked" / "busy": another writer holds the lock."""
    return "locked" in str(error) or "busy" in str(error)


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
