"""Fixtures of the store's tests."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from app.store import migrate
from app.store.db import Database
from app.store.feeds import FeedStore

FEED_URL = "https://outlet.example/feed.xml"


@pytest.fixture
def two(tmp_path: Path) -> Iterator[tuple[Database, Database, int]]:
    """Two new SQLite databases, each with the same feed (same id): one written the way
    under test, the other the reference way."""
    dbs = []
    for name in ("raw", "core"):
        database = Database.from_url(f"sqlite:///{tmp_path / name}.db")
        migrate.upgrade(database.engine)
        dbs.append(database)
    ids = []
    for database in dbs:
        with database.write() as session:
            ids.append(FeedStore(session).add(FEED_URL, now=datetime.now(UTC)).id)
    assert ids[0] == ids[1]
    yield dbs[0], dbs[1], ids[0]
    for database in dbs:
        database.dispose()
