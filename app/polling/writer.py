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
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from sqlalchemy.orm import Session

from app.store.db import Database

_T = TypeVar("_T")
log = logging.getLogger("newsmon.writer")
MAX_GROUP = 64


@dataclass(slots=True)
class _Job(Generic[_T]):
    fn: Callable[[Session], _T]
    small: bool
    key: Any
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

    def __init__(
        self,
        db: Database,
        *,
        max_group: int = MAX_GROUP,
        preload: Callable[[Session, list[Any]], object] | None = None,
        linger: float = 0.0,
    ) -> None:
        """``preload(session, keys)`` may load what a group's small writes will touch
        in one query (the result is kept referenced while the group runs). ``linger``:
        seconds a group of only small writes waits for more to join it before it runs
        (fewer transactions while results trickle in; a write with articles never waits)."""
        self.db = db
        self.max_group = max_group
        self.preload = preload
        self.linger = linger
        self._pending: list[_Job[Any]] = []
        self._drainer: asyncio.Task[None] | None = None
        self.groups = 0  # transactions of small writes committed (for tests and metrics)

    async def run(self, fn: Callable[[Session], _T], *, small: bool = False, key: Any = None) -> _T:
        """Run ``fn(session)`` in a write transaction (shared if ``small``); its result."""
        future: asyncio.Future[_T] = asyncio.get_running_loop().create_future()
        self._pending.append(_Job(fn, small, key, future))
        if self._drainer is None or self._drainer.done():
            self._drainer = asyncio.create_task(self._drain())
        return await future

    async def _drain(self) -> None:
        while self._pending:
            if (
                self.linger
                and len(self._pending) < self.max_group
                and all(job.small for job in self._pending)
            ):
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
