"""A JSON write commits inside the route's own call, so its transaction (and, on SQLite,
the writers' turnstile it holds from its first statement) never stays open across the
thread-pool hops FastAPI makes between a route and its dependencies' exits: under load
each such hop made every other write wait (issue 15, flag POST p95)."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from sqlalchemy import text
from sqlalchemy.orm import Session

from app.store.db import Database
from app.web.deps import commits, write_session
from tests.support.routes import all_routes


def _uses(dependant: Dependant, call: Any) -> bool:
    return any(d.call is call or _uses(d, call) for d in dependant.dependencies)


def test_every_route_with_a_write_session_commits_it_itself(app: FastAPI) -> None:
    writers = [
        r for r in all_routes(app) if isinstance(r, APIRoute) and _uses(r.dependant, write_session)
    ]
    assert len(writers) >= 10  # flags, themes, feeds, views, alerts
    missing = [r.path for r in writers if not getattr(r.endpoint, "__commits__", False)]
    assert missing == [], f"decorate these routes with @commits: {missing}"


def test_commits_commits_the_session_it_was_given_and_returns_the_result(db: Database) -> None:
    @commits
    def route(session: Session) -> str:
        session.execute(text("select 1"))
        return "done"

    with db.write() as session:
        assert route(session=session) == "done"
        assert not session.in_transaction()
