"""The volume chart's queries stay index range scans (the 1M-article timeline bench
depends on it): SQLite's own plan for the plain count and for share of voice
(``group=source|lang``), both relevance settings. PostgreSQL's plans are measured by
``python -m bench timeline`` (they depend on statistics a small test cannot have)."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event

from app.core.timeline import TimelineFilter
from app.store import migrate
from app.store.articles import ArticleStore
from app.store.db import Database

START, END = date(2026, 1, 1), date(2026, 12, 1)


def plan_of(db: Database, run: Any) -> list[str]:
    captured: list[tuple[str, Any]] = []

    def capture(conn: Any, cursor: Any, statement: str, params: Any, *rest: Any) -> None:
        captured.append((statement, params))

    event.listen(db.engine, "before_cursor_execute", capture)
    try:
        with db.read() as session:
            run(ArticleStore(session))
    finally:
        event.remove(db.engine, "before_cursor_execute", capture)
    statement, params = next(c for c in captured if "volume_day" in c[0])
    with db.engine.connect() as conn:
        raw = conn.connection.dbapi_connection
        assert raw is not None
        return [row[3] for row in raw.execute("EXPLAIN QUERY PLAN " + statement, params)]


@pytest.fixture
def sqlite_db(tmp_path: Path) -> Database:
    db = Database.from_url(f"sqlite:///{tmp_path / 'plan.db'}")
    migrate.upgrade(db.engine)
    return db


@pytest.mark.parametrize("group", [None, "source", "lang"])
@pytest.mark.parametrize("relevance", ["relevant", "all"])
def test_every_volume_query_reads_one_index_range_per_day(
    sqlite_db: Database, group: str | None, relevance: str
) -> None:
    flt = TimelineFilter(relevance=relevance)

    def run(store: ArticleStore) -> None:
        if group:
            store.volume_groups(flt, "day", group, start=START, end=END)
        else:
            store.volume(flt, "day", start=START, end=END)

    plan = plan_of(sqlite_db, run)
    article = [step for step in plan if " article " in f" {step} "]
    assert article, plan
    for step in article:
        assert step.startswith("SEARCH article USING COVERING INDEX ix_article_volume"), plan
        assert "published_at>? AND published_at<?" in step, plan  # a range per day
    assert not any(step.startswith("SCAN article") for step in plan), plan
    # The outlet is read from the same index (article.primary_feed_id), never looked
    # up per article.
    assert not any("article_source" in step for step in plan), plan
