"""A poll's outcome written on SQLite's driver (``FeedStore.record_poll``, one UPDATE)
leaves the same feed row as the ORM path (``apply_poll_orm``, which PostgreSQL and a
feed moving to a new URL use) writing the same ``poll_changes``: every column, over
outcomes of every kind, with and without the values that only fill gaps (a title given
at subscribe time, a site URL or language the feed stops sending, validators a 304
omits). The rules themselves are checked on what a reader sees. ``log_fetch`` likewise."""

from __future__ import annotations

import itertools
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from app.core.schedule import PollDecision
from app.core.types import FetchKind, FetchOutcome
from app.store import migrate
from app.store.db import Database
from app.store.feeds import FeedStore, poll_changes

NOW = datetime(2026, 12, 5, 9, 30, 15, 250001, tzinfo=timezone(timedelta(hours=1)))
URL = "https://a.example/rss"


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    path = tmp_path / "feeds.db"
    assert migrate.upgrade_sqlite_file(path)
    database = Database.from_url(f"sqlite:///{path}")
    yield database
    database.dispose()


def _outcomes() -> list[FetchOutcome]:
    return [
        FetchOutcome(FetchKind.OK, URL, URL, status=200, etag='"v2"', last_modified="Fri, x"),
        FetchOutcome(FetchKind.OK, URL, URL, status=200),  # no validators any more
        FetchOutcome(FetchKind.NOT_MODIFIED, URL, URL, status=304, etag='"v3"'),
        FetchOutcome(FetchKind.NOT_MODIFIED, URL, URL, status=304),  # validators omitted
        FetchOutcome(FetchKind.HTTP_ERROR, URL, URL, status=500, error="HTTP 500"),
        FetchOutcome(FetchKind.TIMEOUT, URL, URL, error="overall deadline of 30s exceeded"),
    ]


def _decisions() -> list[PollDecision]:
    return [
        PollDecision(NOW + timedelta(minutes=30), 1800, 0, "ok", None),
        PollDecision(
            NOW + timedelta(hours=6),
            21600,
            5,
            "error",
            "HTTP 500; disabled if the next poll confirms it",
            disabled_reason="failed 5 times",
            redirect_url="https://b.example/rss",
            redirect_count=2,
        ),
    ]


def _feed_row(session: Any, feed_id: int) -> dict[str, Any]:
    row = session.connection().exec_driver_sql("SELECT * FROM feed WHERE id = ?", (feed_id,))
    mapping = dict(row.mappings().one())
    del mapping["id"], mapping["url"], mapping["url_hash"]  # the twins' own
    return mapping


CASES = list(
    itertools.product(
        _outcomes(),
        _decisions(),
        [(None, None, None), ("Feed title", "https://a.example/", "de")],  # title, site, lang
        [None, "b" * 64],  # body hash
        [None, "undefined entity " + "x" * 600],  # parser warning (cut to 500)
        [None, "", "Given title"],  # title at subscribe time
        [False, True],  # the row had a site URL, language and validators before
    )
)


def test_the_driver_update_writes_what_the_orm_writes(db: Database) -> None:
    for number, case in enumerate(CASES):
        outcome, decision, (title, site, lang), digest, warning, given, filled = case
        with db.write() as session:
            store = FeedStore(session)
            fast = store.add(f"https://fast{number}.example/rss", now=NOW, title=given).id
            slow = store.add(f"https://slow{number}.example/rss", now=NOW, title=given).id
            if filled:
                for feed_id in (fast, slow):
                    session.connection().exec_driver_sql(
                        "UPDATE feed SET site_url = 'https://old.example/', language = 'fr', "
                        "etag = '\"v1\"', last_modified = 'Mon, y', lease_owner = 'poller-1', "
                        "body_hash = ? WHERE id = ?",
                        ("a" * 64, feed_id),
                    )
        kwargs: dict[str, Any] = {
            "outcome": outcome,
            "decision": decision,
            "now": NOW,
            "title": title,
            "site_url": site,
            "language": lang,
            "ttl_seconds": 60 if title else None,
            "body_hash": digest,
            "warning": warning,
        }
        with db.write() as session:
            FeedStore(session).record_poll(fast, **kwargs)
            rest = {k: v for k, v in kwargs.items() if k not in ("outcome", "decision", "now")}
            FeedStore(session).apply_poll_orm(slow, poll_changes(outcome, decision, NOW, **rest))
        with db.read() as session:
            assert _feed_row(session, fast) == _feed_row(session, slow), case


def test_the_driver_update_changes_what_a_poll_changes(db: Database) -> None:
    # Not merely equal to the ORM: the values a reader of the feed page sees.
    with db.write() as session:
        feed_id = FeedStore(session).add(URL, now=NOW, title="Given").id
    ok = FetchOutcome(FetchKind.OK, URL, URL, status=200, etag='"v2"')
    decision = PollDecision(NOW + timedelta(minutes=30), 1800, 0, "ok", None)
    with db.write() as session:
        store = FeedStore(session)
        store.record_poll(feed_id, outcome=ok, decision=decision, now=NOW, title="Own title")
        store.log_fetch(
            feed_id,
            started_at=NOW,
            duration_ms=12,
            outcome="ok",
            http_status=200,
            error=None,
            new=3,
        )
    with db.read() as session:
        store = FeedStore(session)
        [view] = store.all()
        [log] = store.fetch_log(feed_id)
    assert view.title == "Given"  # the subscriber's title wins
    assert view.last_status == "ok"
    assert view.last_polled_at == NOW.astimezone(UTC)
    assert view.next_poll_at == (NOW + timedelta(minutes=30)).astimezone(UTC)
    assert (log.outcome, log.http_status, log.new_count, log.duration_ms) == ("ok", 200, 3, 12)
    assert log.started_at == NOW.astimezone(UTC)


def test_gaps_keep_the_stored_values(db: Database) -> None:
    with db.write() as session:
        feed_id = FeedStore(session).add(URL, now=NOW).id
    decision = PollDecision(NOW + timedelta(minutes=30), 1800, 0, "ok", None)
    first = FetchOutcome(FetchKind.OK, URL, URL, status=200, etag='"v1"', last_modified="Mon")
    second = FetchOutcome(FetchKind.OK, URL, URL, status=200, etag='"v2"', last_modified="Tue")
    bare_304 = FetchOutcome(FetchKind.NOT_MODIFIED, URL, URL, status=304)
    with db.write() as session:
        store = FeedStore(session)
        store.record_poll(
            feed_id, outcome=first, decision=decision, now=NOW, site_url="https://a.example/"
        )
        store.record_poll(feed_id, outcome=second, decision=decision, now=NOW)
        store.record_poll(feed_id, outcome=bare_304, decision=decision, now=NOW)
    with db.read() as session:
        row = _feed_row(session, feed_id)
    # a 304 without validators keeps the old ones; a feed's site URL stays when not resent
    assert (row["etag"], row["last_modified"]) == ('"v2"', "Tue")
    assert row["site_url"] == "https://a.example/"
    assert row["last_status"] == "ok" and row["lease_owner"] is None


def test_a_feed_removed_while_it_was_polled_is_not_written(db: Database) -> None:
    with db.write() as session:
        feed_id = FeedStore(session).add(URL, now=NOW).id
    with db.write() as session:
        session.connection().exec_driver_sql("DELETE FROM feed WHERE id = ?", (feed_id,))
        FeedStore(session).record_poll(
            feed_id,
            outcome=FetchOutcome(FetchKind.OK, URL, URL, status=200),
            decision=PollDecision(NOW, 60, 0, "ok", None),
            now=NOW,
        )
    with db.read() as session:
        assert FeedStore(session).all() == []


def test_fetch_log_rows_are_the_orms(db: Database, tmp_path: Path) -> None:
    with db.write() as session:
        store = FeedStore(session)
        feed_id = store.add(URL, now=NOW).id
        kwargs: dict[str, Any] = {
            "started_at": NOW,
            "duration_ms": 40,
            "outcome": "http_error",
            "http_status": 503,
            "error": "HTTP 503",
            "new": 1,
            "updated": 2,
            "skipped": 3,
        }
        store.log_fetch(feed_id, **kwargs)
    # the ORM's row, written on the engine path by hand, for comparison
    from app.store.tables import FetchLog

    with db.write() as session:
        session.add(
            FetchLog(
                feed_id=feed_id,
                started_at=NOW,
                duration_ms=40,
                outcome="http_error",
                http_status=503,
                error="HTTP 503",
                new_count=1,
                updated_count=2,
                skipped_count=3,
            )
        )
    with sqlite3.connect(tmp_path / "feeds.db") as conn:
        rows = conn.execute("SELECT * FROM fetch_log ORDER BY id").fetchall()
    assert len(rows) == 2
    assert rows[0][1:] == rows[1][1:]
