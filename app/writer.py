"""The poller's single writer: one thread hop per group of writes, small ones committed together.

Every poll ends in a write (the feed's health, its fetch-log row, maybe articles).
Run one by one, each write pays a thread hop, a session and a commit, and under a
warm poll (hundreds of 304s a second) that queue, not the network, sets the pace.
Here writes queue up while one group runs; the next group takes them all:

* small writes (no articles: 304s, errors) share one transaction, each inside a
  savepoint, so one failing write is rolled back alone; if the commit itself fails
  every write of the group gets the error (none of it is stored) and the caller's
  retry decides;
* writes with articles keep a transaction each, so a feed's batch is atomic and
  two pollers on PostgreSQL never hold each other's article rows in one
  transaction (no cross-feed lock order to deadlock on).

A process killed mid-group loses the whole group, never part of a feed's write: the
claimed feeds' leases expire and the next run polls them again.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from sqlalchemy.orm import Session

from app.store.articles import transient_error
from app.store.db import Database

_T = TypeVar("_T")
MAX_GROUP = 64


@dataclass(slots=True)
class _Job(Generic[_T]):
    fn: Callable[[Session], _T]
    small: bool
    future: asyncio.Future[_T]
    value: Any = None
    error: BaseException | None = field(default=None)

    def settle(self) -> None:
        if self.future.done():  # the caller was cancelled (shutdown)
            return
        if self.error is not None:
            self.future.set_exception(self.error)
        else:
            self.future.set_result(self.value)


class GroupWriter:
    """Serialise writes onto one worker thread; see the module docstring."""

    def __init__(self, db: Database, *, max_group: int = MAX_GROUP) -> None:
        self.db = db
        self.max_group = max_group
        self._pending: list[_Job[Any]] = []
        self._drainer: asyncio.Task[None] | None = None
        self.groups = 0  # transactions of small writes committed (for tests and metrics)

    async def run(self, fn: Callable[[Session], _T], *, small: bool = False) -> _T:
        """Run ``fn(session)`` in a write transaction (shared if ``small``); its result."""
        future: asyncio.Future[_T] = asyncio.get_running_loop().create_future()
        self._pending.append(_Job(fn, small, future))
        if self._drainer is None or self._drainer.done():
            self._drainer = asyncio.create_task(self._drain())
        return await future

    async def _drain(self) -> None:
        while self._pending:
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

    def _execute(self, group: list[_Job[Any]]) -> None:
        small = [job for job in group if job.small]
        if len(small) == 1:
            small[0].small = False  # alone: no savepoint needed
            small = []
        if small:
            self._execute_small(small)
        for job in group:
            if not job.small:
                try:
                    with self.db.write() as session:
                        job.value = job.fn(session)
                except Exception as exc:
                    job.error = exc

    def _execute_small(self, jobs: list[_Job[Any]]) -> None:
        try:
            with self.db.write() as session:
                for job in jobs:
                    try:
                        with session.begin_nested():
                            job.value = job.fn(session)
                    except Exception as exc:
                        if transient_error(exc):
                            raise  # the transaction is doomed: fail the whole group
                        job.error = exc
            self.groups += 1
        except Exception as exc:
            for job in jobs:  # nothing of the group was committed
                job.value, job.error = None, job.error or exc
