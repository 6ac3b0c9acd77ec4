"""Database fixtures: a real SQLite file, and the real PostgreSQL when configured.

``NEWSMON_TEST_POSTGRES_URL`` (set by ``.ci/run``) enables the PostgreSQL cases;
each test gets a schema of its own there, dropped afterwards. Locally without
it the PostgreSQL cases are skipped with a hint; under ``CI=true`` a missing or
unreachable server fails the run instead.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.orm import Session

from app.store import migrate
from app.store.db import Database, make_engine
from app.store.tables import Feed

PG_ENV = "NEWSMON_TEST_POSTGRES_URL"
PG_HINT = (
    "PostgreSQL cases skipped: set NEWSMON_TEST_POSTGRES_URL="
    "postgresql+psycopg://postgres@127.0.0.1:5432/test to run them"
)


@dataclass(frozen=True)
class DbTarget:
    """Where one test's database lives: its URL plus engine keyword arguments."""

    kind: str  # sqlite | postgres
    url: str
    schema: str | None = None

    def engine_kwargs(self) -> dict[str, object]:
        if self.schema:
            return {"connect_args": {"options": f"-csearch_path={self.schema}"}}
        return {}

    def database(self) -> Database:
        return Database(make_engine(self.url, **self.engine_kwargs()))


def postgres_url() -> str | None:
    url = os.environ.get(PG_ENV)
    if not url:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{PG_ENV} is not set in CI: the PostgreSQL cases must run")
        pytest.skip(PG_HINT)
    return url


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_target(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[DbTarget]:
    if request.param == "sqlite":
        yield DbTarget("sqlite", f"sqlite:///{tmp_path / 'newsmon.db'}")
        return
    url = postgres_url()
    assert url is not None
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(url)
    try:
        with admin.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    except Exception as exc:  # server down: a failure in CI, a skip locally
        admin.dispose()
        if os.environ.get("CI") == "true":
            pytest.fail(f"PostgreSQL at {url} unreachable: {exc}")
        pytest.skip(f"PostgreSQL unreachable ({exc}); {PG_HINT}")
    try:
        yield DbTarget("postgres", url, schema)
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture
def db(db_target: DbTarget) -> Iterator[Database]:
    """A migrated, empty database on each engine."""
    database = db_target.database()
    migrate.upgrade(database.engine)
    yield database
    database.dispose()


def add_outlets(session: Session, count: int, *, now: datetime, **state: Any) -> list[Feed]:
    """``count`` feeds "Outlet 0".. with their ids (flushed), for tests that seed
    articles per outlet; ``state``: other columns of every feed (``next_poll_at``
    replaces the default ``now``)."""
    columns: dict[str, Any] = {"created_at": now, "next_poll_at": now, **state}
    feeds = [
        Feed(
            url=f"https://outlet{n}.example/feed.xml",
            url_hash=f"f{n:063d}",
            title=f"Outlet {n}",
            **columns,
        )
        for n in range(count)
    ]
    session.add_all(feeds)
    session.flush()
    return feeds
