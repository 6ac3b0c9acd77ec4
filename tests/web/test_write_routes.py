"""A route's session transaction ends inside the route's own call (``ends_transaction``):
the session dependencies are async and do no I/O, so a request makes one thread-pool hop
instead of three, and a write's transaction (and, on SQLite, the writers' turnstile it
holds from its first statement) never stays open across a hand-back to the event loop.
Under load each such hop made every other write wait (issue 15, flag POST p95)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from app.store.db import Database
from app.store.feeds import FeedStore
from app.store.tables import Feed
from app.web.deps import ends_transaction, read_session, write_session
from tests.support.routes import all_routes

NOW = datetime(2025, 3, 1, tzinfo=UTC)


def _uses(dependant: Dependant, call: Any) -> bool:
    return any(d.call is call or _uses(d, call) for d in dependant.dependencies)


@pytest.mark.parametrize("dependency", [read_session, write_session])
def test_every_route_with_a_session_ends_its_transaction_itself(
    app: FastAPI, dependency: Any
) -> None:
    users = [
        r for r in all_routes(app) if isinstance(r, APIRoute) and _uses(r.dependant, dependency)
    ]
    assert len(users) >= 10  # timeline, articles, feeds, flags, themes, views, alerts
    missing = [r.path for r in users if not getattr(r.endpoint, "__ends_transaction__", False)]
    assert missing == [], f"decorate these routes with @ends_transaction: {missing}"


def _feeds(db: Database) -> int:
    with db.read() as session:
        return int(session.scalar(select(func.count()).select_from(Feed)) or 0)


def test_the_route_commits_before_it_returns(db: Database) -> None:
    @ends_transaction
    def route(session: Session) -> int:
        FeedStore(session).add("https://a.example/feed", now=NOW, title="A")
        return 7

    with db.write() as session:
        assert asyncio.run(route(session=session)) == 7
        assert not session.in_transaction()
        assert _feeds(db) == 1  # visible to another connection before the dependency's exit


def test_the_route_rolls_back_when_it_raises(db: Database) -> None:
    @ends_transaction
    def route(session: Session) -> None:
        FeedStore(session).add("https://b.example/feed", now=NOW, title="B")
        raise LookupError("no such thing")

    with pytest.raises(LookupError), db.write() as session:
        asyncio.run(route(session=session))
    assert _feeds(db) == 0


def test_a_read_session_ends_inside_the_route(db: Database) -> None:
    @ends_transaction
    def route(session: Session) -> int:
        return int(session.execute(text("select 1")).scalar_one())

    with db.read() as session:
        assert asyncio.run(route(session=session)) == 1
        assert not session.in_transaction()
