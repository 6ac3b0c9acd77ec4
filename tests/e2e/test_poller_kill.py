"""A poller killed with SIGKILL mid-batch (RELIABILITY.md §2.6).

A real ``newsmon poll --once`` process ingests one large feed; the test watches the
database until the feed's write transaction is open (SQLite: the write lock is held;
PostgreSQL: the poller's backend has a transaction id), then kills the process
group. Nothing of the batch may be visible, the claim lease keeps other pollers
off the feed until it expires, and the next run ingests the batch exactly once.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import subprocess
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import create_engine, func, select, text

from app.store.db import Database
from app.store.feeds import FeedStore
from app.store.tables import Article, ArticleSource, Feed, FetchLog
from tests.e2e.test_poller_concurrency import NEWSMON, cli_env, subprocess_url
from tests.support.db import DbTarget
from tests.support.feedsrv import FeedServer
from tests.support.rss import BASE, Item, rss

ENTRIES = 1000  # the parser keeps at most this many newest entries per poll
LEASE_SECONDS = 120


def big_feed() -> bytes:
    return rss(
        [
            Item(
                f"Item {n}: a company reports its results",
                f"https://big.example/item/{n}",
                f"<p>Paragraph {n} about results, costs and customers in region {n % 31}.</p>",
                published=BASE - timedelta(minutes=n),
            )
            for n in range(ENTRIES)
        ],
        title="Big outlet",
    )


def count(db: Database, table: type) -> int:
    with db.read() as session:
        return session.scalar(select(func.count()).select_from(table)) or 0


class WriteProbe:
    """Tells whether the poller process is inside a write transaction right now."""

    def __init__(self, target: DbTarget, app_name: str) -> None:
        self.target, self.app_name = target, app_name
        if target.kind == "sqlite":
            path = target.url.removeprefix("sqlite:///")
            self.conn = sqlite3.connect(path, timeout=0, isolation_level=None)
        else:
            self.engine = create_engine(target.url)

    def writing(self) -> bool:
        if self.target.kind == "sqlite":
            try:
                self.conn.execute("BEGIN IMMEDIATE")
            except sqlite3.OperationalError as exc:
                return "locked" in str(exc)
            self.conn.execute("ROLLBACK")
            return False
        with self.engine.connect() as conn:
            found = conn.execute(
                text(
                    "SELECT count(*) FROM pg_stat_activity "
                    "WHERE application_name = :name AND backend_xid IS NOT NULL"
                ),
                {"name": self.app_name},
            ).scalar()
        return bool(found)

    def close(self) -> None:
        if self.target.kind == "sqlite":
            self.conn.close()
        else:
            self.engine.dispose()


def start_poller(target: DbTarget, tmp_path: Path, app_name: str) -> subprocess.Popen[bytes]:
    url = subprocess_url(target)
    if target.kind == "postgres":
        url += f"&application_name={app_name}"
    env = cli_env(url, tmp_path, NEWSMON_POLL_LEASE_SECONDS=str(LEASE_SECONDS))
    return subprocess.Popen(
        [NEWSMON, "poll", "--once"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # its own group: the parse worker dies with it
    )


def kill_mid_batch(proc: subprocess.Popen[bytes], probe: WriteProbe, fetched: object) -> None:
    deadline = time.monotonic() + 60  # a bound, not a timing assertion
    while time.monotonic() < deadline:
        assert proc.poll() is None, "the poller finished before the test could kill it"
        if fetched() and probe.writing():  # type: ignore[operator]
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)
            return
        time.sleep(0.005)
    os.killpg(proc.pid, signal.SIGKILL)
    pytest.fail("the poller never opened its write transaction")


def test_a_poller_killed_mid_batch_leaves_nothing_and_the_next_run_completes_it(
    db: Database,
    db_target: DbTarget,
    feed_server: FeedServer,
    make_test_poller: object,
    tmp_path: Path,
) -> None:
    feed_server.add_file("/big.xml", big_feed())
    with db.write() as session:
        feed_id = FeedStore(session).add(feed_server.url("/big.xml"), now=datetime.now(UTC)).id
    app_name = f"newsmon-kill-{uuid.uuid4().hex[:8]}"
    probe = WriteProbe(db_target, app_name)
    try:
        proc = start_poller(db_target, tmp_path, app_name)
        kill_mid_batch(proc, probe, lambda: feed_server.hits("/big.xml") >= 1)
    finally:
        probe.close()

    # No partial batch: the open transaction died with the process.
    assert proc.returncode == -signal.SIGKILL
    assert count(db, Article) == 0
    assert count(db, ArticleSource) == 0
    assert count(db, FetchLog) == 0
    with db.read() as session:
        feed = session.get(Feed, feed_id)
        assert feed is not None and feed.lease_until is not None and feed.last_polled_at is None
        lease_until = feed.lease_until

    # While the lease holds, no other poller touches the feed.
    blocked = asyncio.run(make_test_poller().poll_due())  # type: ignore[operator]
    assert blocked.feeds == 0

    # Once it has expired, the next run completes the batch, exactly once.
    after_lease = lease_until.replace(tzinfo=UTC) + timedelta(seconds=1)
    poller = make_test_poller(clock=lambda: after_lease)  # type: ignore[operator]
    summary = asyncio.run(poller.poll_due())
    assert summary.feeds == 1 and summary.errors == 0 and summary.new == ENTRIES
    assert count(db, Article) == ENTRIES
    assert count(db, ArticleSource) == ENTRIES
    with db.read() as session:
        log = [row.outcome for row in reversed(FeedStore(session).fetch_log(feed_id))]
    assert log == ["interrupted", "ok"]
