"""Helpers for end-to-end poller tests: add feeds, make them due, poll, look."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select, update

from app.polling.poller import FeedResult
from app.store.db import Database
from app.store.feeds import FeedStore, FeedView
from app.store.tables import Feed


def add_feed(db: Database, url: str) -> int:
    with db.write() as session:
        return FeedStore(session).add(url, now=datetime.now(UTC)).id


def make_all_due(db: Database) -> None:
    with db.write() as session:
        session.execute(update(Feed).values(next_poll_at=datetime.now(UTC)))


def view(db: Database, feed_id: int) -> FeedView:
    with db.read() as session:
        return FeedStore(session).get(feed_id)


def count(db: Database, table: type) -> int:
    with db.read() as session:
        return session.scalar(select(func.count()).select_from(table)) or 0


def aware(when: datetime) -> datetime:
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def poll(make_test_poller: Any, **kwargs: Any) -> list[FeedResult]:
    """Poll every due feed; the results in the order the feeds finished."""
    order: list[FeedResult] = []
    asyncio.run(make_test_poller(**kwargs).poll_due(on_result=order.append))
    return order
