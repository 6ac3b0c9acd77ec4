"""The group writer's held transactions (the poller on SQLite, app.polling.writer): writes
that keep coming share one commit, without savepoints; a caller returns only
once its write is committed, and hears "written" before that; one bad write (or one bad
entry of a feed's articles) fails alone and the other writes are stored;
a busy database or a failed commit has every write run again alone; an editor waiting
for the database ends the hold; a writer stopped mid-hold leaves nothing half-written
and the database free."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import event, func, select, text
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session

from app.core.decide import ArticleDraft
from app.core.errors import StorageBusy
from app.polling.writer import GroupWriter
from app.store import migrate
from app.store.article_writes import ArticleWrites
from app.store.db import HELD_CACHE_KIB, Database, reading
from app.store.feeds import FeedStore
from app.store.tables import Article, ArticleSource, Feed
from tests.store.test_group_writer import NOW, add, broken, urls
from tests.store.test_raw_insert import _draft

LONG = 30.0  # a hold no test waits out: if a hold is not ended early, the test times out


@pytest.fixture
def url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'held.db'}"


@pytest.fixture
def poller_db(url: str) -> Iterator[Database]:
    """A migrated SQLite file on the poller's (background, bulk) engine."""
    database = Database.from_url(url, background=True)
    migrate.upgrade(database.engine)
    yield database
    database.dispose()


@pytest.fixture
def editor_db(poller_db: Database, url: str) -> Iterator[Database]:
    """The web's (interactive) engine on the same file."""
    database = Database.from_url(url)
    yield database
    database.dispose()


def held(db: Database, **options: float) -> GroupWriter:
    settings = {"hold": LONG, "idle": LONG, **options}
    turnstile = db.turnstile
    return GroupWriter(
        db,
        hold=settings["hold"],
        idle=settings["idle"],
        yield_to=turnstile.interactive_waiting if turnstile is not None else None,
    )


async def first_commit(writer: GroupWriter) -> None:
    """Until articles have been committed once, nothing is held: the first write with
    articles (weight) commits at once."""
    await writer.run(add("https://first.example/feed"), weight=10)
    assert writer.commits == 1


@pytest.mark.anyio
async def test_writes_that_keep_coming_share_one_commit(db: Database) -> None:
    writer = held(db, idle=0.2)
    await first_commit(writer)
    results = await asyncio.gather(
        *(writer.run(add(f"https://n{i}.example/feed"), weight=50) for i in range(12))
    )
    assert len(set(results)) == 12
    assert writer.commits == 2  # twelve feeds' writes, one more commit
    assert len(urls(db)) == 13


@pytest.mark.anyio
async def test_a_caller_returns_once_committed_and_hears_written_before(db: Database) -> None:
    writer = held(db, idle=0.3)
    await first_commit(writer)
    seen_when_written: list[list[str]] = []

    def written() -> None:  # another connection: sees only what is committed
        seen_when_written.append(urls(db))

    new_id = await writer.run(add("https://late.example/feed"), weight=20, written=written)
    assert seen_when_written == [["https://first.example/feed"]]  # in, not yet committed
    assert "https://late.example/feed" in urls(db)  # committed when the caller returned
    with db.read() as session:
        assert session.get(Feed, new_id) is not None


@pytest.mark.anyio
async def test_a_failing_write_is_rolled_back_alone_and_answered_at_once(db: Database) -> None:
    writer = held(db, idle=0.2)
    await first_commit(writer)
    jobs = [add("https://a.example/feed"), broken, add("https://b.example/feed")]
    first, failure, last = await asyncio.gather(
        *(writer.run(job, weight=5) for job in jobs), return_exceptions=True
    )
    assert isinstance(failure, ValueError) and "poison" in str(failure)
    assert isinstance(first, int) and isinstance(last, int)
    assert urls(db) == [
        "https://a.example/feed",
        "https://b.example/feed",
        "https://first.example/feed",
    ]


def _traced(database: Database) -> list[str]:
    """Every statement run on the database's connections opened from now on (SQLite's
    own trace: the driver-level statements too)."""
    database.engine.dispose()
    seen: list[str] = []

    @event.listens_for(database.engine, "connect")
    def _trace(dbapi_connection: object, _record: object) -> None:
        dbapi_connection.set_trace_callback(seen.append)  # type: ignore[attr-defined]

    return seen


def _feeds(database: Database, count: int) -> list[int]:
    with database.write() as session:
        store = FeedStore(session)
        return [store.add(f"https://f{n}.example/feed", now=NOW).id for n in range(count)]


def _articles(feed_id: int, drafts: list[ArticleDraft]) -> Callable[[Session], tuple[int, int]]:
    """A feed's write with articles, as the poller's (the new and skipped counts)."""

    def write(session: Session) -> tuple[int, int]:
        stored = ArticleWrites(session).upsert_batch(feed_id, drafts, now=NOW, search_later=True)
        return stored.new, len(stored.skipped)

    return write


def _stored(database: Database) -> tuple[int, int, int]:
    """Articles, distinct identity keys, source links."""
    with database.read() as session:
        return (
            session.scalar(select(func.count()).select_from(Article)) or 0,
            session.scalar(select(func.count(func.distinct(Article.url_hash)))) or 0,
            session.scalar(select(func.count()).select_from(ArticleSource)) or 0,
        )


@pytest.mark.anyio
async def test_held_writes_with_articles_open_no_savepoint(poller_db: Database) -> None:
    """Under a savepoint SQLite copies every page a write first changes into its statement
    journal (~15 % of the poller's writer); a held transaction's writes open none, since
    a failure has them all run again alone (below)."""
    seen = _traced(poller_db)
    feeds = _feeds(poller_db, 3)
    writer = held(poller_db, idle=0.2)
    await first_commit(writer)
    results = await asyncio.gather(
        *(
            writer.run(_articles(feed, [_draft(10 * k + n) for n in range(1, 11)]), weight=10)
            for k, feed in enumerate(feeds)
        )
    )
    assert results == [(10, 0)] * 3
    assert writer.commits == 2  # the three feeds' articles in one held commit
    assert _stored(poller_db) == (30, 30, 30)
    assert seen, "the trace saw nothing"
    assert [s for s in seen if "SAVEPOINT" in s.upper()] == []


@pytest.mark.anyio
async def test_a_poison_entry_in_a_held_write_is_skipped_alone(poller_db: Database) -> None:
    """A feed's batch with one entry the database refuses, held with two other feeds: the
    transaction is rolled back and the three writes run again alone, where the bad entry
    is skipped on its own. Every other article is stored once; nothing is lost."""
    feeds = _feeds(poller_db, 3)
    writer = held(poller_db, idle=0.2)
    await first_commit(writer)
    batches = [
        [_draft(n) for n in range(1, 11)],
        [*(_draft(n) for n in range(11, 20)), _draft(20, title=None)],  # NOT NULL refused
        [_draft(n) for n in range(21, 31)],
    ]
    results = await asyncio.gather(
        *(
            writer.run(_articles(feed, batch), weight=10)
            for feed, batch in zip(feeds, batches, strict=True)
        )
    )
    assert results == [(10, 0), (9, 1), (10, 0)]
    assert _stored(poller_db) == (29, 29, 29)
    # and the good entries are searchable once indexed (the failed try left no half-state)
    with poller_db.read() as session:
        pending = session.scalar(text("SELECT count(*) FROM article_search_pending"))
        active = session.scalar(text("SELECT active FROM article_search_bulk"))
    assert (pending, active) == (29, 0)


@pytest.mark.anyio
async def test_a_failing_small_write_fails_alone(db: Database) -> None:
    """Small writes (no articles: a 304's record) run without a savepoint; one that fails
    has the held transaction rolled back and every write in it run again alone."""
    writer = held(db, idle=0.2)
    await first_commit(writer)
    early = asyncio.ensure_future(writer.run(add("https://early.example/feed"), weight=5))
    await asyncio.sleep(0.05)  # in the held transaction
    results = await asyncio.gather(
        writer.run(add("https://a.example/feed"), small=True),
        writer.run(broken, small=True),
        writer.run(add("https://b.example/feed"), small=True),
        return_exceptions=True,
    )
    assert isinstance(await early, int)
    assert isinstance(results[0], int) and isinstance(results[2], int)
    assert isinstance(results[1], ValueError)
    assert "https://broken.example/feed" not in urls(db)
    assert len(urls(db)) == 4


@pytest.mark.anyio
async def test_an_urgent_write_ends_the_hold(db: Database) -> None:
    writer = held(db)  # held for LONG otherwise
    await first_commit(writer)
    await asyncio.wait_for(writer.run(add("https://now.example/feed"), urgent=True), 10)
    assert "https://now.example/feed" in urls(db)


@pytest.mark.anyio
async def test_a_busy_database_has_every_held_write_run_again_alone(db: Database) -> None:
    writer = held(db, idle=0.3)
    await first_commit(writer)
    attempts = {"busy": 0}

    def busy(session: Session) -> int:
        attempts["busy"] += 1
        raise OperationalError("INSERT", {}, Exception("database is locked"))

    early = asyncio.ensure_future(writer.run(add("https://early.example/feed"), weight=5))
    await asyncio.sleep(0.05)  # in the held transaction, not committed
    results = await asyncio.gather(
        writer.run(add("https://a.example/feed"), weight=5),
        writer.run(busy, weight=5),
        writer.run(add("https://b.example/feed"), weight=5),
        return_exceptions=True,
    )
    assert isinstance(await early, int)
    assert isinstance(results[0], int) and isinstance(results[2], int)
    assert isinstance(results[1], (OperationalError, StorageBusy))
    assert attempts["busy"] == 2  # once held, once alone
    assert urls(db) == [
        "https://a.example/feed",
        "https://b.example/feed",
        "https://early.example/feed",
        "https://first.example/feed",
    ]


@pytest.mark.anyio
async def test_a_failed_commit_has_every_write_run_again_alone(poller_db: Database) -> None:
    """A foreign key checked at COMMIT (deferred) fails the held transaction's commit: the
    other writes are stored all the same, and the bad one fails alone."""
    db = poller_db
    writer = held(db, idle=0.2)
    await first_commit(writer)

    def orphan(session: Session) -> None:
        session.execute(text("PRAGMA defer_foreign_keys = ON"))  # checked at COMMIT
        session.execute(
            text(
                "INSERT INTO fetch_log (feed_id, started_at, duration_ms, outcome) "
                "VALUES (999999, '2026-11-01 00:00:00.000000', 1, 'ok')"
            )
        )

    results = await asyncio.gather(
        writer.run(add("https://a.example/feed"), weight=5),
        writer.run(orphan, weight=5),
        writer.run(add("https://b.example/feed"), weight=5),
        return_exceptions=True,
    )
    assert isinstance(results[0], int) and isinstance(results[2], int)
    assert isinstance(results[1], IntegrityError)
    assert urls(db) == [
        "https://a.example/feed",
        "https://b.example/feed",
        "https://first.example/feed",
    ]
    with db.read() as session:
        assert session.scalar(text("SELECT count(*) FROM fetch_log")) == 0


@pytest.mark.anyio
async def test_an_editor_waiting_ends_the_hold(poller_db: Database, editor_db: Database) -> None:
    """The poller holds its transaction (its hold outlasts SQLite's busy timeout); an
    editor's write from another connection is stored all the same: the writer sees it
    waiting and commits."""
    writer = held(poller_db)
    await first_commit(writer)
    polled = asyncio.ensure_future(writer.run(add("https://polled.example/feed"), weight=5))
    await asyncio.sleep(0.1)  # held now
    assert not polled.done()
    done: dict[str, object] = {}

    def edit() -> None:
        try:
            with editor_db.write() as session:
                done["id"] = FeedStore(session).add("https://edited.example/feed", now=NOW).id
        except Exception as exc:  # StorageBusy after the busy timeout, had nobody yielded
            done["error"] = exc

    editor = threading.Thread(target=edit)
    editor.start()
    await asyncio.wait_for(polled, 10)  # committed early, for the editor
    await asyncio.to_thread(editor.join, 15)
    assert "error" not in done and isinstance(done.get("id"), int)
    assert urls(poller_db) == [
        "https://edited.example/feed",
        "https://first.example/feed",
        "https://polled.example/feed",
    ]


@pytest.mark.anyio
async def test_an_editor_gets_in_between_two_writes_of_a_long_group(
    poller_db: Database, editor_db: Database
) -> None:
    """Twenty feeds' writes queued at once run as one group; an editor arriving during it
    waits for one write, not for the group: its row is stored between the poller's."""
    writer = held(poller_db)
    await first_commit(writer)

    def slow(n: int):  # type: ignore[no-untyped-def]
        def job(session: Session) -> int:
            time.sleep(0.05)  # a feed's write with a few dozen articles
            return FeedStore(session).add(f"https://n{n:02d}.example/feed", now=NOW).id

        return job

    def edit() -> int:
        time.sleep(0.2)  # the group is under way
        with editor_db.write() as session:
            return FeedStore(session).add("https://edited.example/feed", now=NOW).id

    polled, edited = await asyncio.gather(
        asyncio.gather(*(writer.run(slow(n), weight=5, urgent=n == 19) for n in range(20))),
        asyncio.to_thread(edit),
    )
    assert min(polled) < edited < max(polled)  # in between, not after the group
    assert len(urls(poller_db)) == 22


def test_a_writer_stopped_mid_hold_leaves_nothing_half_written(
    poller_db: Database, editor_db: Database
) -> None:
    """The event loop ends (a shutdown) while a write waits in a held transaction: the
    transaction is rolled back, its caller is not left hanging, and the database is free
    for the next writer at once."""
    writer = held(poller_db)
    outcome: dict[str, object] = {}

    async def poll() -> None:
        await first_commit(writer)
        pending = asyncio.ensure_future(writer.run(add("https://held.example/feed"), weight=5))
        await asyncio.sleep(0.1)  # in the held transaction
        assert writer._drainer is not None
        writer._drainer.cancel()  # as the loop's shutdown cancels it
        try:
            await pending
        except BaseException as exc:
            outcome["caller"] = exc

    asyncio.run(poll())
    assert isinstance(outcome.get("caller"), asyncio.CancelledError)
    with editor_db.write() as session:  # no busy wait: the held transaction is gone
        session.execute(text("PRAGMA busy_timeout = 0"))
        FeedStore(session).add("https://next.example/feed", now=NOW)
    with editor_db.read() as session:
        assert sorted(session.scalars(select(Feed.url))) == [
            "https://first.example/feed",
            "https://next.example/feed",
        ]
        assert session.scalar(select(func.count()).select_from(Feed)) == 2


@pytest.mark.anyio
async def test_only_a_held_transactions_connection_gets_the_wider_page_cache(
    poller_db: Database,
) -> None:
    """Its changed pages stay in memory until the commit (app.store.db.widen_cache); every
    other connection keeps SQLite's default 2 MiB (the poll process's memory target)."""
    db = poller_db
    with db.read() as session:
        assert session.execute(text("PRAGMA cache_size")).scalar_one() == -2000

    def cache(session: Session) -> int:
        return int(session.execute(text("PRAGMA cache_size")).scalar_one())

    writer = held(db, idle=0.05)
    assert await writer.run(cache, weight=1) == -HELD_CACHE_KIB  # in the held transaction
    engine = reading(db.engine)
    with engine.connect() as one, engine.connect() as other:  # the pool's others
        sizes = {c.exec_driver_sql("PRAGMA cache_size").scalar_one() for c in (one, other)}
    assert -2000 in sizes


def test_a_writer_stopped_during_a_commit_answers_its_callers(poller_db: Database) -> None:
    """Cancelled while its thread commits: the caller is answered (not left waiting on a
    write the drainer no longer tracks), and the write is stored (the commit went on)."""
    writer = held(poller_db, idle=0.05)
    commit = writer._commit_held
    outcome: dict[str, object] = {}

    def slow_commit() -> None:
        commit()
        time.sleep(0.3)  # the thread still busy with the commit's aftermath

    async def poll() -> None:
        await first_commit(writer)
        writer._commit_held = slow_commit  # type: ignore[method-assign]
        pending = asyncio.ensure_future(writer.run(add("https://late.example/feed"), weight=5))
        await asyncio.sleep(0.15)  # idle for 0.05 s: the commit is under way
        assert writer._drainer is not None
        writer._drainer.cancel()
        done, _ = await asyncio.wait([pending], timeout=5)
        outcome["answered"] = bool(done)

    asyncio.run(poll())
    assert outcome["answered"] is True
    assert "https://late.example/feed" in urls(poller_db)
