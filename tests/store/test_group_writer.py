"""The poller's group writer on both engines: small writes share a transaction yet
fail alone; a failed commit stores none of the group; big writes stay separate."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from app.polling.writer import GroupWriter
from app.store.db import Database
from app.store.feeds import FeedStore
from app.store.tables import Feed

NOW = datetime(2026, 11, 1, tzinfo=UTC)


def add(url: str):  # type: ignore[no-untyped-def]
    def job(session: Session) -> int:
        return FeedStore(session).add(url, now=NOW).id

    return job


def broken(session: Session) -> int:
    FeedStore(session).add("https://broken.example/feed", now=NOW)
    session.flush()
    raise ValueError("this entry is poison")


def urls(db: Database) -> list[str]:
    with db.read() as session:
        return sorted(session.scalars(select(Feed.url)))


async def run_all(writer: GroupWriter, jobs: list, *, small: bool = True) -> list:  # type: ignore[type-arg]
    return await asyncio.gather(
        *(writer.run(job, small=small) for job in jobs), return_exceptions=True
    )


def test_small_writes_share_one_commit_and_each_gets_its_own_result(db: Database) -> None:
    writer = GroupWriter(db)
    results = asyncio.run(run_all(writer, [add(f"https://n{i}.example/feed") for i in range(20)]))
    assert all(isinstance(r, int) for r in results) and len(set(results)) == 20
    assert writer.groups == 1  # twenty writes, one transaction
    assert len(urls(db)) == 20


def test_a_failing_small_write_is_rolled_back_alone(db: Database) -> None:
    writer = GroupWriter(db)
    jobs = [add("https://a.example/feed"), broken, add("https://b.example/feed")]
    first, failure, last = asyncio.run(run_all(writer, jobs))
    assert isinstance(failure, ValueError) and "poison" in str(failure)
    assert isinstance(first, int) and isinstance(last, int)
    assert urls(db) == ["https://a.example/feed", "https://b.example/feed"]


def test_a_busy_write_fails_alone_and_its_caller_can_retry(db: Database) -> None:
    def busy(session: Session) -> int:
        raise OperationalError("INSERT", {}, Exception("database is locked"))

    writer = GroupWriter(db)
    jobs = [add("https://a.example/feed"), busy, add("https://b.example/feed")]
    first, failure, last = asyncio.run(run_all(writer, jobs))
    assert isinstance(failure, Exception) and "busy" in str(failure)
    assert isinstance(first, int) and isinstance(last, int)
    assert writer.groups == 0  # the shared transaction was rolled back, then each ran alone
    assert urls(db) == ["https://a.example/feed", "https://b.example/feed"]


def test_preload_sees_every_key_of_the_group(db: Database) -> None:
    seen: list[list[int]] = []
    writer = GroupWriter(db, preload=lambda session, keys: seen.append(sorted(keys)))
    jobs = [add(f"https://n{i}.example/feed") for i in range(3)]

    async def run() -> None:
        await asyncio.gather(*(writer.run(job, small=True, key=i) for i, job in enumerate(jobs)))

    asyncio.run(run())
    assert seen == [[0, 1, 2]]
    assert len(urls(db)) == 3


def test_big_writes_keep_a_transaction_each(db: Database) -> None:
    writer = GroupWriter(db)
    jobs = [add("https://a.example/feed"), broken, add("https://b.example/feed")]
    results = asyncio.run(run_all(writer, jobs, small=False))
    assert isinstance(results[1], ValueError)
    assert writer.groups == 0
    assert urls(db) == ["https://a.example/feed", "https://b.example/feed"]


@pytest.mark.parametrize("count", [1, 200])
def test_every_caller_is_answered_whatever_the_queue_length(db: Database, count: int) -> None:
    writer = GroupWriter(db, max_group=16)
    results = asyncio.run(run_all(writer, [add(f"https://n{i}.example/f") for i in range(count)]))
    assert len(results) == count and all(isinstance(r, int) for r in results)
    with db.read() as session:
        assert session.scalar(select(func.count()).select_from(Feed)) == count
