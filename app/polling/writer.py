"""The poller's single writer: one thread hop per group of writes, small ones committed together.

Every poll ends in a write (the feed's health, its fetch-log row, maybe articles).
Run one by one, each write pays a thread hop, a session and a commit, and under a
warm poll (hundreds of 304s a second) that queue, not the network, sets the pace.
Here writes queue up while one group runs; the next group takes them all:

* small writes (no articles: 304s, errors) share one transaction with no flush
  between them, so the ORM sends their updates and fetch-log rows as a few
  batched statements instead of five round trips each (most of a PostgreSQL
  warm poll). If anything in the group fails, the group is rolled back and each
  write runs again in a transaction of its own, so one failing write fails alone;
* writes with articles keep a transaction each, so a feed's batch is atomic and
  two pollers on PostgreSQL never hold each other's article rows in one
  transaction (no cross-feed lock order to deadlock on).

A process killed mid-group loses the whole group, never part of a feed's write: the
claimed feeds' leases expire and the next run polls them again.

**Held transactions** (``hold``: the poller on SQLite). Every commit writes each page the
transaction changed to the write-ahead log, and a feed's ~50 new articles land on a
different leaf of each of the article table's dozen indexes (story keys, hashes, times of
publication spread over days): one transaction per feed wrote ~380 pages to the log for
~45 articles, 8 times the database's final size over a cold poll of the peer corpus
(330 MB of log for a 55 MB file), and the writer's thread spent a third of its time in
the kernel copying them. Held, a transaction stays open while writes keep coming, and commits
once it is ``hold`` seconds old, once ``hold_weight`` articles wait in it, once no write
has come for ``idle`` seconds, or at once when an interactive writer (an editor) is
waiting for the database (``yield_to``). A page changed by several feeds goes to the log
once per commit. Callers still return only after their write is committed; ``written``
(given to ``run``) is called as soon as the write is in the transaction, so the poller
can let the next parsed feed in meanwhile. A write that fails, or a commit that fails,
rolls the transaction back and every write in it runs again in a transaction of its own,
as without holding, so a bad write fails alone and the others are stored. No write opens
a savepoint in a held transaction (``db.begin_held`` marks its session; ``upsert_batch``
reads the mark): SQLite copies every page first changed under a savepoint into its
statement journal, which cost ~15 % of the writer's CPU, and a failure, rare, costs a
re-run instead. The first commit is never held (the first feed is visible at once). A
killed process loses the open transaction, as it loses a group: its feeds' claims expire
and they are polled again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from sqlalchemy.orm import Session

from app.store.db import Database, begin_held

_T = TypeVar("_T")
log = logging.getLogger("newsmon.writer")
MAX_GROUP = 64
HOLD_IDLE = 0.03  # seconds a held transaction waits for the next write before it commits
HOLD_WEIGHT = 1000  # articles a held transaction takes before it commits
YIELD_CHECK = 0.01  # seconds between looks for a waiting interactive writer while idle


@dataclass(slots=True)
class _Job(Generic[_T]):
    fn: Callable[[Session], _T]
    small: bool
    key: Any
    future: asyncio.Future[_T]
    weight: int = 0
    written: Callable[[], None] | None = None
    urgent: bool = False  # commit as soon as it is in (nothing else is coming)
    held: bool = False  # in the held transaction, answered at its commit
    value: Any = None
    error: BaseException | None = field(default=None)

    def notify_written(self) -> None:
        """Tell the caller its write is in the transaction (once; its own errors kept)."""
        written, self.written = self.written, None
        if written is not None:
            try:
                written()
            except Exception:
                log.exception("a write's 'written' callback failed")

    def settle(self) -> None:
        if self.future.done():  # the caller was cancelled (shutdown)
            return
        if self.error is not None:
            self.future.set_exception(self.error)
        else:
            self.future.set_result(self.value)


class GroupWriter:
    """Serialise writes onto one worker thread; see the module docstring."""

    def __init__(
        self,
        db: Database,
        *,
        max_group: int = MAX_GROUP,
        preload: Callable[[Session, list[Any]], object] | None = None,
        linger: float = 0.0,
        hold: float = 0.0,
        idle: float = HOLD_IDLE,
        hold_weight: int = HOLD_WEIGHT,
        yield_to: Callable[[], bool] | None = None,
    ) -> None:
        """``preload(session, keys)`` may load what a group's small writes will touch
        in one query (the result is kept referenced while the group runs). ``linger``:
        seconds a group of only small writes waits for more to join it before it runs
        (fewer transactions while results trickle in; a write with articles never waits).
        ``hold``: hold transactions open up to this many seconds (see the module
        docstring), committing after ``idle`` seconds without a write, at ``hold_weight``
        articles, or when ``yield_to()`` says an interactive writer waits."""
        self.db = db
        self.max_group = max_group
        self.preload = preload
        self.linger = linger
        self.hold = hold
        self.idle = idle
        self.hold_weight = hold_weight
        self.yield_to = yield_to
        self._pending: list[_Job[Any]] = []
        self._drainer: asyncio.Task[None] | None = None
        self._arrived: asyncio.Event | None = None
        self._held: _Held | None = None
        self._thread: ThreadPoolExecutor | None = None  # held mode: one thread owns the session
        self._decided: list[_Job[Any]] = []  # held writes a commit or rollback decided
        self.groups = 0  # transactions of small writes committed (for tests and metrics)
        self.commits = 0  # held transactions committed (for tests and metrics)
        self.committed_weight = 0  # articles in them

    async def run(
        self,
        fn: Callable[[Session], _T],
        *,
        small: bool = False,
        key: Any = None,
        weight: int = 0,
        written: Callable[[], None] | None = None,
        urgent: bool = False,
    ) -> _T:
        """Run ``fn(session)`` in a write transaction (shared if ``small``); its result,
        once committed. ``weight``: the articles it writes (a held transaction's size);
        ``written()``: called once the write is in the transaction (held mode), or with
        the result; ``urgent``: commit the held transaction as soon as this is in it."""
        future: asyncio.Future[_T] = asyncio.get_running_loop().create_future()
        job = _Job(fn, small, key, future, weight, written, urgent)
        self._pending.append(job)
        if self._arrived is not None:
            self._arrived.set()
        if self._drainer is None or self._drainer.done():
            self._drainer = asyncio.create_task(self._drain_held() if self.hold else self._drain())
        try:
            return await future
        finally:
            job.notify_written()

    def _lingers(self) -> bool:
        """Whether the queue is a few small writes only, worth a moment for more."""
        return bool(
            self.linger
            and len(self._pending) < self.max_group
            and all(job.small for job in self._pending)
        )

    async def _drain(self) -> None:
        while self._pending:
            if self._lingers():
                await asyncio.sleep(self.linger)
            group = self._pending[: self.max_group]
            del self._pending[: self.max_group]
            try:
                await asyncio.to_thread(self._execute, group)
            except BaseException as exc:  # cancelled mid-hop: callers must not hang
                for job in group:
                    job.error = job.error or exc
                raise
            finally:
                for job in group:
                    job.settle()

    # -- held transactions (see the module docstring) ---------------------------------

    async def _drain_held(self) -> None:
        loop = asyncio.get_running_loop()
        if self._thread is None:
            self._thread = ThreadPoolExecutor(1, thread_name_prefix="newsmon-writer")
        self._arrived = asyncio.Event()
        taken: list[_Job[Any]] = []  # writes taken from the queue, maybe not yet answered
        try:
            while self._pending or self._held is not None:
                if self._pending:
                    if self._held is None and self._lingers():
                        await asyncio.sleep(self.linger)
                    group = self._pending[: self.max_group]
                    del self._pending[: self.max_group]
                    taken = [job for job in taken if not job.future.done()] + group
                    await loop.run_in_executor(self._thread, self._execute_held, group)
                    urgent = False
                    for job in group:
                        job.notify_written()
                        urgent = urgent or job.urgent
                        if not job.held:  # failed alone, or already run alone
                            job.settle()
                    self._settle_decided()
                    if self._held is not None and (urgent or not self._keep_holding()):
                        await loop.run_in_executor(self._thread, self._commit_held)
                        self._settle_decided()
                    continue
                # A held transaction and nothing to add yet: a moment for the next write
                # (an interactive writer waiting cuts it short).
                held = self._held
                assert held is not None
                until = min(time.monotonic() + self.idle, held.opened + self.hold)
                self._arrived.clear()
                while not self._pending and not self._yield() and time.monotonic() < until:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(
                            self._arrived.wait(), min(YIELD_CHECK, until - time.monotonic())
                        )
                if not self._pending:
                    await loop.run_in_executor(self._thread, self._commit_held)
                    self._settle_decided()
        except BaseException as exc:  # cancelled (shutdown): the held transaction is undone
            waiting = [*taken, *self._pending]  # (a commit under way may still land)
            self._pending.clear()
            if self._thread is not None:
                self._thread.submit(self._rollback_held, exc)  # after the write under way
            for job in waiting:
                job.error = job.error or exc
                job.settle()
            raise
        finally:
            self._arrived = None

    def _keep_holding(self) -> bool:
        held = self._held
        return (
            held is not None
            and self.committed_weight > 0  # until articles are stored once, commit at once
            and held.weight < self.hold_weight
            and time.monotonic() - held.opened < self.hold
            and not self._yield()
        )

    def _yield(self) -> bool:
        return self.yield_to is not None and self.yield_to()

    def _settle_decided(self) -> None:
        """Answer the callers whose writes a commit (or a rollback) has decided."""
        decided, self._decided = self._decided, []
        for job in decided:
            job.settle()

    def _execute_held(self, group: list[_Job[Any]]) -> None:
        """In the writer's thread: each write of ``group`` in the held transaction (opened
        if need be), none in a savepoint: a failure has them all run again alone. An
        interactive writer waiting gets the database between two writes: what is in is
        committed, and the next transaction begins after it (``WriteTurnstile.give_way``)."""
        mine = {id(job) for job in group}
        loaded = None
        for at, job in enumerate(group):
            if self._held is not None and self._held.jobs and self._yield():
                self._commit_held()
            if self._held is None:
                context = self.db.write()
                self._held = _Held(context, context.__enter__(), time.monotonic())
                try:
                    begin_held(self._held.session)  # no savepoints; held pages in memory
                except Exception as exc:  # (it begins the transaction: a busy database)
                    self._undo_held(exc, group[at:], mine)
                    return
                keys = [j.key for j in group[at:] if j.small and j.key is not None]
                loaded = self.preload(self._held.session, keys) if self.preload and keys else None
            held = self._held
            job.value, job.error = None, None
            try:
                job.value = job.fn(held.session)  # (no savepoint: begin_held)
            except Exception as exc:  # the transaction is in doubt: its writes run alone
                self._undo_held(exc, group[at:], mine)
                return
            job.held = True
            held.jobs.append(job)
            held.weight += job.weight
        del loaded

    def _commit_held(self) -> None:
        held, self._held = self._held, None
        if held is None:
            return
        try:
            held.context.__exit__(None, None, None)
        except Exception as exc:
            log.info(
                "a held transaction of %d writes failed to commit (%s); writing them alone",
                len(held.jobs),
                exc,
            )
            self._execute_alone(held.jobs)
        else:
            self.commits += 1
            self.committed_weight += held.weight
        self._decided += held.jobs

    def _undo_held(self, exc: BaseException, rest: list[_Job[Any]], drained: set[int]) -> None:
        """Roll the held transaction back; run its writes, and ``rest`` (the writes of the
        group under way not yet run), alone. ``drained``: the ids of that group's writes,
        which the drainer answers; the held transaction's others are answered here."""
        held, self._held = self._held, None
        undone: list[_Job[Any]] = []
        if held is not None:
            held.roll_back(exc)
            undone = held.jobs
        log.info("a held transaction was rolled back (%s); writing its writes alone", exc)
        again = [*undone, *rest]
        for job in again:
            job.held = False
        self._execute_alone(again)
        self._decided += [job for job in undone if id(job) not in drained]

    def _rollback_held(self, exc: BaseException) -> None:
        held, self._held = self._held, None
        if held is not None:
            held.roll_back(exc)

    def _execute(self, group: list[_Job[Any]]) -> None:
        small = [job for job in group if job.small]
        if len(small) > 1:  # a lone small write needs no group
            self._execute_small(small)
            self._execute_alone([job for job in group if not job.small])
        else:
            self._execute_alone(group)

    def _execute_small(self, jobs: list[_Job[Any]]) -> None:
        try:
            with self.db.write() as session:
                keys = [job.key for job in jobs if job.key is not None]
                loaded = self.preload(session, keys) if self.preload and keys else None
                for job in jobs:
                    job.value = job.fn(session)
                del loaded
            self.groups += 1
        except Exception as exc:  # rolled back: run each write alone, so only a bad one fails
            log.info("a group of %d writes failed (%s); writing them one by one", len(jobs), exc)
            self._execute_alone(jobs)

    def _execute_alone(self, jobs: list[_Job[Any]]) -> None:
        """Each job in a transaction of its own."""
        for job in jobs:
            job.value = None
            try:
                with self.db.write() as session:
                    job.value = job.fn(session)
            except Exception as exc:
                job.error = exc


@dataclass(slots=True)
class _Held:
    """The held transaction: its ``db.write()`` context, session, and the writes in it."""

    context: Any
    session: Session
    opened: float
    weight: int = 0
    jobs: list[_Job[Any]] = field(default_factory=list)

    def roll_back(self, exc: BaseException) -> None:
        """End the transaction, undone, for ``exc`` (an error ending it is moot now)."""
        with contextlib.suppress(Exception):
            self.context.__exit__(type(exc), exc, exc.__traceback__)
