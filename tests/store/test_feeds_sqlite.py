"""The driver's subscriptions (``SqliteSubscriptions``, used by ``newsmon feeds import`` on
a SQLite file) store exactly what the engine's stores do: every column of every feed and
audit row, and the same views; a failed write leaves nothing behind; a database that is
not current is left to the engine."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from app.config import Settings
from app.services.setup import first_feeds, prepare_database
from app.services.subscriptions import StoreSubscriptions, import_into
from app.store import migrate
from app.store.db import Database, make_engine
from app.store.feed_view import feed_key
from app.store.feeds import FeedStore
from app.store.feeds_sqlite import SqliteSubscriptions
from app.store.sqlite_file import connect

NOW = datetime(2026, 12, 4, 9, 30, 15, 250001, tzinfo=timezone(timedelta(hours=1)))
FEEDS: list[tuple[str, str | None]] = [
    ("https://a.example/rss", "Rhein-Kurier – Wirtschaft"),
    ("https://b.example/atom.xml", None),
    ("https://a.example/rss", "named twice"),  # skipped, as FeedStore skips it
    ("https://c.example/feed?x=1&y=é", "Le Monde d'à côté"),
]


def _settings(tmp_path: Path, **changes: object) -> Settings:
    return Settings(
        database_url=f"sqlite:///{tmp_path / 'unused.db'}",
        data_dir=tmp_path / "data",
        secret_key="test-secret-key-" + "x" * 32,
        poll=False,
        default_feeds=False,
    ).replace(**changes)


def _new(path: Path) -> None:
    assert migrate.upgrade_sqlite_file(path)


@pytest.fixture
def pair(tmp_path: Path) -> Iterator[tuple[SqliteSubscriptions, Database, Path, Path]]:
    driver_path, engine_path = tmp_path / "driver.db", tmp_path / "engine.db"
    _new(driver_path)
    _new(engine_path)
    store = SqliteSubscriptions.open_current(driver_path)
    assert store is not None
    db = Database.from_url(f"sqlite:///{engine_path}")
    yield store, db, driver_path, engine_path
    store.close()
    db.dispose()


def _rows(path: Path, table: str) -> list[tuple[object, ...]]:
    connection = sqlite3.connect(path)
    try:
        return connection.execute(f"SELECT * FROM {table} ORDER BY id").fetchall()
    finally:
        connection.close()


def _without_times(rows: list[tuple[object, ...]]) -> list[tuple[object, ...]]:
    """Feed rows without ``created_at`` and ``next_poll_at`` (two writes, two clocks)."""
    return [r[:8] + r[10:] for r in rows]


def test_feeds_and_the_audit_entry_are_the_rows_the_orm_writes(
    pair: tuple[SqliteSubscriptions, Database, Path, Path],
) -> None:
    store, db, driver_path, engine_path = pair
    by_engine = StoreSubscriptions(db)

    views = store.add_many(FEEDS, now=NOW)
    expected = by_engine.add_many(FEEDS, now=NOW)
    detail = {"added": 3, "names": ["Zürich", "x" * 300], "feeds": [1, 2, 3]}
    store.record_import(detail, now=NOW, user_id=None)
    by_engine.record_import(detail, now=NOW, user_id=None)
    store.record_import({}, now=NOW, user_id=None)
    by_engine.record_import({}, now=NOW, user_id=None)

    assert views == expected
    assert [v is None for v in views] == [False, False, True, False]
    feeds = _rows(driver_path, "feed")
    assert feeds == _rows(engine_path, "feed")
    assert feeds[0][8] == "2026-12-04 08:30:15.250001"  # created_at: naive UTC, as bound
    assert _rows(driver_path, "audit_log") == _rows(engine_path, "audit_log")
    # and the engine reads the driver's rows back as the feeds it returned
    other = Database.from_url(f"sqlite:///{driver_path}")
    try:
        with other.read() as session:
            read_back = FeedStore(session).all()
    finally:
        other.dispose()
    assert read_back == [v for v in views if v is not None]
    assert read_back[0].next_poll_at == NOW.astimezone(UTC)


def test_an_import_through_either_store_gives_the_same_report_and_feeds(
    pair: tuple[SqliteSubscriptions, Database, Path, Path], tmp_path: Path
) -> None:
    settings = _settings(tmp_path)
    store, db, driver_path, engine_path = pair
    outlines = (
        "".join(
            f'<outline text="Outlet {n}" xmlUrl="https://outlet{n % 5}.invalid/rss"/>'
            for n in range(8)
        )
        + '<outline text="private" xmlUrl="http://10.1.2.3/rss"/>'
    )
    document = f'<opml version="2.0"><body>{outlines}</body></opml>'.encode()
    store.add_many([("https://outlet0.invalid/rss", "already")], now=NOW)
    StoreSubscriptions(db).add_many([("https://outlet0.invalid/rss", "already")], now=NOW)

    report = import_into(settings, store, document)
    expected = import_into(settings, StoreSubscriptions(db), document)

    assert [f.url for f in report.added] == [f.url for f in expected.added]
    assert [f.id for f in report.added] == [2, 3, 4, 5]
    assert report.skipped == expected.skipped == ("https://outlet0.invalid/rss",)
    assert report.warnings == expected.warnings and len(report.warnings) == 4  # no DNS
    assert report.rejected == expected.rejected and len(report.rejected) == 1
    # the times differ (two imports), nothing else does
    assert _without_times(_rows(driver_path, "feed")) == _without_times(_rows(engine_path, "feed"))
    assert [r[3:] for r in _rows(driver_path, "audit_log")] == [
        r[3:] for r in _rows(engine_path, "audit_log")
    ]


def test_the_first_start_subscribes_the_defaults_once(tmp_path: Path) -> None:
    driver_path, engine_path = tmp_path / "driver.db", tmp_path / "engine.db"
    _new(driver_path)
    store = SqliteSubscriptions.open_current(driver_path)
    assert store is not None
    assert store.fill_if_empty(first_feeds, now=NOW)
    assert not store.fill_if_empty(first_feeds, now=NOW)  # only into an empty table
    store.close()
    db = Database.from_url(f"sqlite:///{engine_path}")
    prepare_database(_settings(tmp_path, default_feeds=True), db)
    db.dispose()

    feeds = _without_times(_rows(driver_path, "feed"))
    assert feeds == _without_times(_rows(engine_path, "feed"))
    assert len(feeds) == len(first_feeds()) > 1
    assert feeds[0][1] == "newsmon:sample"


def test_a_failed_write_stores_nothing_of_it(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite"
    _new(path)
    guard = connect(path)
    guard.execute(
        "CREATE TRIGGER refuse AFTER INSERT ON feed WHEN NEW.url LIKE '%poison%' "
        "BEGIN SELECT RAISE(ABORT, 'disk full'); END"
    )
    guard.close()
    store = SqliteSubscriptions.open_current(path)
    assert store is not None
    store.add_many([("https://first.example/rss", None)], now=NOW)

    with pytest.raises(sqlite3.IntegrityError, match="disk full"):
        store.add_many(
            [("https://ok.example/rss", None), ("https://poison.example/rss", None)], now=NOW
        )

    assert not store.connection.in_transaction
    assert [r[1] for r in _rows(path, "feed")] == ["https://first.example/rss"]
    store.add_many([("https://ok.example/rss", None)], now=NOW)  # and it goes on working
    store.close()
    assert len(_rows(path, "feed")) == 2


def test_a_write_waits_for_another_writer_and_then_sees_its_feeds(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite"
    _new(path)
    holding, release = threading.Event(), threading.Event()

    def other_writer() -> None:  # another process's import, holding the write lock
        other = connect(path)
        other.execute("BEGIN IMMEDIATE")
        other.execute(
            "INSERT INTO feed (url, url_hash, created_at, next_poll_at, interval_seconds, "
            "consecutive_failures, redirect_count) VALUES ('https://a.example/rss', ?, "
            "'2026-12-04 08:00:00.000000', '2026-12-04 08:00:00.000000', 3600, 0, 0)",
            (feed_key("https://a.example/rss"),),
        )
        holding.set()
        release.wait(10)
        other.execute("COMMIT")
        other.close()

    thread = threading.Thread(target=other_writer)
    thread.start()
    assert holding.wait(10)
    store = SqliteSubscriptions.open_current(path)  # a read: not blocked by the writer
    assert store is not None
    threading.Timer(0.2, release.set).start()

    views = store.add_many(
        [("https://a.example/rss", None), ("https://b.example/rss", None)], now=NOW
    )

    thread.join(10)
    # it waited for the commit (no "database is locked") and re-read inside its own
    # transaction: the feed subscribed meanwhile is skipped, not a duplicate-key error
    assert views[0] is None and views[1] is not None
    store.close()
    assert sorted(r[1] for r in _rows(path, "feed")) == [
        "https://a.example/rss",
        "https://b.example/rss",
    ]


@pytest.mark.parametrize("kind", ["missing", "older", "not a database", "empty"])
def test_only_a_current_database_is_opened(tmp_path: Path, kind: str) -> None:
    path = tmp_path / "db.sqlite"
    junk = b"not a database at all\n" * 100
    if kind == "older":
        engine = make_engine(f"sqlite:///{path}")
        migrate.upgrade(engine, "0008_alerts")
        engine.dispose()
    elif kind == "not a database":
        path.write_bytes(junk)
    elif kind == "empty":
        path.write_bytes(b"")

    assert SqliteSubscriptions.open_current(path) is None

    if kind == "missing":
        assert not path.exists()
    elif kind == "not a database":
        assert path.read_bytes() == junk
    elif kind == "older":
        connection = sqlite3.connect(path)
        version = connection.execute("SELECT version_num FROM alembic_version").fetchall()
        connection.close()
        assert version == [("0008_alerts",)]
