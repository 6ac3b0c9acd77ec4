"""Four pollers at once on the same feeds (RELIABILITY.md §2.6: two pollers ingest the
same article at once; PostgreSQL scale-out claims; SQLite readers and writers during
polling).

PostgreSQL: four real ``newsmon poll --once`` processes share the work through SKIP
LOCKED claims: the same rows as one poller, no errors, every feed fetched exactly
once. SQLite: one poller per database; a second one exits with a clear message, and
web-style writes during a poll do not fail.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote

import pytest
from sqlalchemy import delete, func, select, update

from app.polling.poller import Poller
from app.store.db import Database
from app.store.feeds import FeedStore
from app.store.lock import poller_lock
from app.store.tables import Article, ArticleSource, ArticleTheme, Feed, FetchLog, Flag
from tests.support.db import DbTarget
from tests.support.feedsrv import FeedRequest, FeedServer
from tests.support.rss import BASE, Item, rss

NEWSMON = str(Path(sys.executable).with_name("newsmon"))
FEEDS = 20
ENTRIES = 30
POOL = 300  # distinct articles; neighbouring feeds share half their entries
HOLD = 0.15  # seconds each feed response is held, so the pollers overlap
# Each window starts eight processes (pollers and their parse workers) on a small
# machine; set NEWSMON_TEST_RACE_WINDOWS=20 to repeat the race as the catalogue asks.
WINDOWS = int(os.environ.get("NEWSMON_TEST_RACE_WINDOWS", "1"))


def article(n: int) -> Item:
    return Item(
        f"Story {n}: retailers and the shopping app report results",
        f"https://news.example/story/{n}?utm_source=feed{n % 3}",
        f"<p>Report number {n} on quarterly results, logistics and shoppers. "
        f"Detail {n * 7919 % 1000} and region {n % 17}.</p>",
        published=BASE.replace(hour=n % 24, minute=n % 60),
    )


def feed_items(feed: int) -> list[Item]:
    return [article((feed * ENTRIES // 2 + i) % POOL) for i in range(ENTRIES)]


def expected_articles() -> int:
    return len({(f * ENTRIES // 2 + i) % POOL for f in range(FEEDS) for i in range(ENTRIES)})


@pytest.fixture
def feeds(db: Database, feed_server: FeedServer) -> list[str]:
    """Twenty feeds of thirty entries, each response held briefly."""
    paths = []
    for f in range(FEEDS):
        body = rss(feed_items(f), title=f"Outlet {f}")

        def serve(request: FeedRequest, body: bytes = body) -> None:
            request.feed_server.stop.wait(HOLD)
            request.reply(200, body)

        path = f"/feed/{f}.xml"
        feed_server.add_route(path, serve)
        paths.append(path)
    now = datetime.now(UTC)
    with db.write() as session:
        store = FeedStore(session)
        for path in paths:
            store.add(feed_server.url(path), now=now)
    return paths


def counts(db: Database) -> dict[str, int]:
    with db.read() as session:
        return {
            table.__tablename__: session.scalar(select(func.count()).select_from(table)) or 0
            for table in (Article, ArticleSource, ArticleTheme, FetchLog)
        }


def reset(db: Database) -> None:
    """Forget every article and poll: the next window starts from scratch."""
    with db.write() as session:
        session.execute(delete(Article))
        session.execute(delete(FetchLog))
        session.execute(
            update(Feed).values(
                next_poll_at=datetime.now(UTC),
                etag=None,
                last_modified=None,
                body_hash=None,
                lease_until=None,
                lease_owner=None,
            )
        )


def hits_by_feed(server: FeedServer, paths: list[str]) -> dict[str, int]:
    return {p: server.hits(p) for p in paths}


def cli_env(url: str, tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSMON_")}
    env.update(
        NEWSMON_DATABASE_URL=url,
        NEWSMON_DATA_DIR=str(tmp_path / "data"),
        NEWSMON_DEFAULT_FEEDS="false",
        NEWSMON_ALLOW_PRIVATE_NETWORKS="true",
        NEWSMON_PARSE_WORKERS="1",
        NEWSMON_POLL_BATCH_SIZE="3",
        NEWSMON_LOG_LEVEL="WARNING",
        **extra,
    )
    return env


def subprocess_url(target: DbTarget) -> str:
    """The test's database as one URL: the PostgreSQL schema rides in ``options``."""
    if target.schema is None:
        return target.url
    sep = "&" if "?" in target.url else "?"
    return f"{target.url}{sep}options={quote(f'-csearch_path={target.schema}')}"


def run_pollers(n: int, env: dict[str, str]) -> list[subprocess.CompletedProcess[str]]:
    procs = [
        subprocess.Popen(
            [NEWSMON, "poll", "--once"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(n)
    ]
    done = []
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        done.append(subprocess.CompletedProcess(proc.args, proc.returncode, out, err))
    return done


def polled(proc: subprocess.CompletedProcess[str]) -> int:
    line = proc.stdout.strip().splitlines()[-1]
    return int(line.split(" feeds polled")[0])


@pytest.mark.postgres
@pytest.mark.parametrize("db_target", ["postgres"], indirect=True)
def test_four_poller_processes_share_the_work_on_postgresql(
    db: Database,
    db_target: DbTarget,
    feed_server: FeedServer,
    feeds: list[str],
    make_test_poller: object,
    tmp_path: Path,
) -> None:
    # One poller alone: the reference counts.
    asyncio.run(make_test_poller().poll_due())  # type: ignore[operator]
    single = counts(db)
    assert single["article"] == expected_articles()
    assert single["article_source"] == FEEDS * ENTRIES
    assert single["fetch_log"] == FEEDS
    env = cli_env(subprocess_url(db_target), tmp_path)

    for window in range(WINDOWS):
        reset(db)
        before = hits_by_feed(feed_server, feeds)
        procs = run_pollers(4, env)

        for proc in procs:
            assert proc.returncode == 0, proc.stderr
            assert "Traceback" not in proc.stderr and "ERROR" not in proc.stderr, proc.stderr
            assert "0 errors" in proc.stdout
        assert sum(polled(p) for p in procs) == FEEDS, [p.stdout for p in procs]
        assert counts(db) == single, f"window {window}"
        after = hits_by_feed(feed_server, feeds)
        assert all(after[p] - before[p] == 1 for p in feeds), (before, after)


@pytest.mark.parametrize("db_target", ["sqlite"], indirect=True)
def test_a_second_sqlite_poller_exits_with_a_clear_message(
    db: Database, db_target: DbTarget, feeds: list[str], tmp_path: Path
) -> None:
    env = cli_env(db_target.url, tmp_path)
    with poller_lock(db_target.url):
        blocked = subprocess.run(
            [NEWSMON, "poll", "--once"], env=env, capture_output=True, text=True, timeout=60
        )
    assert blocked.returncode == 1
    assert "another poller" in blocked.stderr and "is running" in blocked.stderr
    assert "Traceback" not in blocked.stderr
    assert counts(db)["article"] == 0


@pytest.mark.parametrize("db_target", ["sqlite"], indirect=True)
def test_four_sqlite_pollers_at_once_poll_each_feed_once(
    db: Database, db_target: DbTarget, feed_server: FeedServer, feeds: list[str], tmp_path: Path
) -> None:
    env = cli_env(db_target.url, tmp_path)
    for _ in range(WINDOWS):
        reset(db)
        before = hits_by_feed(feed_server, feeds)
        procs = run_pollers(4, env)

        for proc in procs:
            assert "Traceback" not in proc.stderr, proc.stderr
            if proc.returncode:  # lost the lock: says so and leaves
                assert proc.returncode == 1 and "another poller" in proc.stderr
            else:
                assert "0 errors" in proc.stdout
        assert sum(polled(p) for p in procs if p.returncode == 0) == FEEDS
        assert counts(db)["article"] == expected_articles()
        assert counts(db)["article_source"] == FEEDS * ENTRIES
        after = hits_by_feed(feed_server, feeds)
        assert all(after[p] - before[p] == 1 for p in feeds)


@pytest.fixture
def flag_writer(db: Database) -> Iterator[list[BaseException]]:
    """Writes flags on stored articles in a loop, like editors on the web, until stopped."""
    stop = threading.Event()
    errors: list[BaseException] = []
    writes = [0]

    def run() -> None:
        while not stop.is_set():
            try:
                with db.write() as session:
                    ids = session.scalars(select(Article.id).limit(5)).all()
                    for article_id in ids:
                        session.add(
                            Flag(
                                article_id=article_id,
                                kind="important",
                                created_at=datetime.now(UTC),
                            )
                        )
                writes[0] += 1
            except BaseException as exc:  # collected: the test asserts there are none
                errors.append(exc)
            stop.wait(0.005)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    yield errors
    stop.set()
    thread.join(timeout=30)
    assert writes[0] > 0


def test_web_writes_while_polling_do_not_fail(
    db: Database,
    feeds: list[str],
    make_test_poller: object,
    flag_writer: list[BaseException],
) -> None:
    poller: Poller = make_test_poller()  # type: ignore[operator]
    summary = asyncio.run(poller.poll_due())

    assert summary.errors == 0 and summary.feeds == FEEDS
    assert flag_writer == []
    assert counts(db)["article"] == expected_articles()


@pytest.mark.parametrize("db_target", ["sqlite"], indirect=True)
def test_a_poller_through_a_symlink_to_the_same_database_is_refused(
    db: Database, db_target: DbTarget, feeds: list[str], tmp_path: Path
) -> None:
    real = Path(db_target.url.removeprefix("sqlite:///"))
    link_dir = tmp_path / "elsewhere"
    link_dir.mkdir()
    (link_dir / "alias.db").symlink_to(real)
    env = cli_env(f"sqlite:///{link_dir / 'alias.db'}", tmp_path)
    with poller_lock(db_target.url):
        blocked = subprocess.run(
            [NEWSMON, "poll", "--once"], env=env, capture_output=True, text=True, timeout=60
        )
    assert blocked.returncode == 1, blocked.stdout
    assert "another poller" in blocked.stderr
    assert counts(db)["article"] == 0
