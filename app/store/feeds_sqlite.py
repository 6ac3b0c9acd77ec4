"""Subscriptions in a SQLite file through the driver alone: what ``newsmon feeds import``
needs of ``FeedStore`` and ``AuditStore`` (which subscriptions exist, add many, one audit
entry), without importing SQLAlchemy.

Every cold start of a reader's setup runs ``feeds import`` once; importing SQLAlchemy and
the ORM tables was ~0.45 s of its ~0.55 s of CPU, on one core while the other waited.
The rows are the ones the ORM writes (``tests/store/test_feeds_sqlite.py`` compares every
column of both): the same column defaults, timestamps in SQLAlchemy's storage format
(``sqlite_stamp``) and the audit detail as SQLAlchemy's JSON type serialises it.
Only a database at the latest revision is written here (``open_current``); anything else
goes through the engine, which migrates, creates or refuses it as before.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from app.store.feed_view import NEW_FEED_INTERVAL, SUBSCRIBED_PER_QUERY, FeedView, feed_key
from app.store.migrate import is_current
from app.store.sqlite_file import connect, marks, sqlite_stamp, write_transaction


class SqliteSubscriptions:
    """Reads and writes of an OPML import on one driver connection; each write is one
    ``BEGIN IMMEDIATE`` transaction that re-reads what it depends on."""

    def __init__(self, connection: sqlite3.Connection) -> None:
        self.connection = connection

    @classmethod
    def open_current(cls, path: Path) -> SqliteSubscriptions | None:
        """The database at ``path`` if it exists and is at ``HEAD``; None otherwise (a
        missing, older, foreign or unreadable file: the engine's path decides)."""
        if not path.is_file():
            return None
        try:
            connection = connect(path)
        except sqlite3.Error:  # not a database, unreadable: the engine reports it
            return None
        try:
            if is_current(connection):
                return cls(connection)
        except sqlite3.Error:  # e.g. locked past the busy timeout
            pass
        connection.close()
        return None

    def close(self) -> None:
        self.connection.close()

    def subscribed(self, keys: Sequence[str]) -> set[str]:
        """Which of these ``feed_key`` values are subscribed already."""
        found: set[str] = set()
        for start in range(0, len(keys), SUBSCRIBED_PER_QUERY):
            part = list(keys[start : start + SUBSCRIBED_PER_QUERY])
            rows = self.connection.execute(
                f"SELECT url_hash FROM feed WHERE url_hash IN ({marks(len(part))})",  # noqa: S608 - marks only
                part,
            )
            found.update(row[0] for row in rows)
        return found

    def add_many(
        self, feeds: Sequence[tuple[str, str | None]], *, now: datetime
    ) -> list[FeedView | None]:
        """``FeedStore.add_many`` in one transaction: per item the new feed, or None for a
        URL already subscribed (or named earlier in ``feeds``)."""
        with write_transaction(self.connection):
            return self._add(feeds, now)

    def fill_if_empty(
        self, feeds: Callable[[], Sequence[tuple[str, str | None]]], *, now: datetime
    ) -> bool:
        """Subscribe to ``feeds()`` if there are no feeds at all yet (the first start's
        default feeds), checked in the same transaction; whether it did. ``feeds`` is
        only called then (the defaults are a file to read)."""
        with write_transaction(self.connection):
            if self.connection.execute("SELECT 1 FROM feed LIMIT 1").fetchone():
                return False
            self._add(feeds(), now)
            return True

    def record_import(self, detail: dict[str, Any], *, now: datetime, user_id: int | None) -> None:
        """``AuditStore.record`` of an import (action "feed.import", target type "feed"),
        committed at once."""
        with write_transaction(self.connection):
            self.connection.execute(
                "INSERT INTO audit_log (at, user_id, action, target_type, target_id, detail) "
                "VALUES (?, ?, 'feed.import', 'feed', '', ?)",
                # SQLAlchemy's JSON type writes json.dumps with its defaults
                (sqlite_stamp(now), user_id, json.dumps(detail)),
            )

    def _add(self, feeds: Sequence[tuple[str, str | None]], now: datetime) -> list[FeedView | None]:
        keys = [feed_key(url) for url, _ in feeds]
        taken = self.subscribed(keys)
        stamp = sqlite_stamp(now)
        views: list[FeedView | None] = []
        for (url, title), key in zip(feeds, keys, strict=True):
            if key in taken:
                views.append(None)
                continue
            taken.add(key)
            cursor = self.connection.execute(
                "INSERT INTO feed (url, url_hash, title, created_at, next_poll_at, "
                "interval_seconds, consecutive_failures, redirect_count) "
                "VALUES (?, ?, ?, ?, ?, ?, 0, 0)",
                (url, key, title, stamp, stamp, NEW_FEED_INTERVAL),
            )
            assert cursor.lastrowid is not None
            views.append(_new_view(cursor.lastrowid, url, title, now))
        return views


def _new_view(feed_id: int, url: str, title: str | None, now: datetime) -> FeedView:
    """What ``FeedStore``'s view of a feed it has just added holds."""
    return FeedView(
        id=feed_id,
        url=url,
        title=title,
        site_url=None,
        last_status=None,
        last_http_status=None,
        last_error=None,
        consecutive_failures=0,
        last_polled_at=None,
        last_success_at=None,
        next_poll_at=now,
        interval_seconds=NEW_FEED_INTERVAL,
        disabled_reason=None,
    )
