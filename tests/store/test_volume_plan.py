"""The volume chart's queries stay index range scans (the 1M-article timeline bench
depends on it): SQLite's own plan for the plain count and for share of voice
(``group=source|lang``), both relevance settings; share of voice grouped per bucket; a
search and an outlet filter checked against the ranges, not leading them (with the 1M
file's statistics, which decide those plans). PostgreSQL's plans are measured by
``python -m bench timeline`` (they depend on statistics a small test cannot have)."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event

import app.store.articles as articles_module
from app.core.timeline import TimelineFilter
from app.store import migrate
from app.store.articles import ArticleStore
from app.store.db import Database

START, END = date(2026, 1, 1), date(2026, 12, 1)


def plan_of(db: Database, run: Any) -> list[str]:
    """The details of SQLite's plan for the chart's statement that ``run`` executes."""
    return [detail for _, _, detail in plan_rows(db, run)]


def plan_rows(db: Database, run: Any) -> list[tuple[int, int, str]]:
    """(id, parent id, detail) of each step of that plan."""
    captured: list[tuple[str, Any]] = []

    def capture(conn: Any, cursor: Any, statement: str, params: Any, *rest: Any) -> None:
        captured.append((statement, params))

    event.listen(db.engine, "before_cursor_execute", capture)
    try:
        with db.read() as session:
            run(ArticleStore(session))
    finally:
        event.remove(db.engine, "before_cursor_execute", capture)
    statement, params = next(c for c in captured if "volume_day" in c[0] or "volume_bucket" in c[0])
    with db.engine.connect() as conn:
        raw = conn.connection.dbapi_connection
        assert raw is not None
        return [
            (row[0], row[1], row[3])
            for row in raw.execute("EXPLAIN QUERY PLAN " + statement, params)
        ]


def chart(flt: TimelineFilter, group: str | None, interval: str = "day") -> Any:
    """What draws the chart: share of voice for ``group``, else the plain count."""

    def run(store: ArticleStore) -> None:
        if group:
            store.volume_groups(flt, interval, group, start=START, end=END)
        else:
            store.volume(flt, interval, start=START, end=END)

    return run


@pytest.fixture
def sqlite_db(tmp_path: Path) -> Database:
    db = Database.from_url(f"sqlite:///{tmp_path / 'plan.db'}")
    migrate.upgrade(db.engine)
    return db


@pytest.mark.parametrize("group", [None, "source", "lang"])
@pytest.mark.parametrize("relevance", ["relevant", "all"])
def test_every_volume_query_reads_index_ranges_per_day(
    sqlite_db: Database, group: str | None, relevance: str
) -> None:
    plan = plan_of(sqlite_db, chart(TimelineFilter(relevance=relevance), group))
    article = [step for step in plan if " article " in f" {step} "]
    assert article, plan
    for step in article:
        # The volume index, or for the language split the timeline's covering index
        # (relevance, time, mask, language), which SQLite takes without statistics.
        covering = "ix_article_volume" if group != "lang" else "ix_article_"
        assert step.startswith(f"SEARCH article USING COVERING INDEX {covering}"), plan
        assert "published_at>? AND published_at<?" in step, plan  # a range per day
    assert not any(step.startswith("SCAN article") for step in plan), plan
    # The outlet is read from the same index (article.primary_feed_id), never looked
    # up per article.
    assert not any("article_source" in step for step in plan), plan


@pytest.mark.parametrize("group", ["source", "lang"])
@pytest.mark.parametrize("interval", ["day", "week"])
def test_share_of_voice_groups_each_bucket_on_its_own(
    sqlite_db: Database, group: str, interval: str
) -> None:
    """SQLite groups with a sorter: grouping a whole year by (day, group) sorted every
    article of the range (1M articles: ~0.4 s); each bucket's articles are grouped in a
    subquery of their own."""
    rows = plan_rows(sqlite_db, chart(TimelineFilter(), group, interval))
    parent = {ident: up for ident, up, _ in rows}
    detail = {ident: text for ident, _, text in rows}

    def ancestors(ident: int) -> list[str]:
        found = []
        while ident in parent and parent[ident] in detail:
            ident = parent[ident]
            found.append(detail[ident])
        return found

    grouping = [ident for ident, _, text in rows if "FOR GROUP BY" in text]
    assert grouping, rows
    for ident in grouping:
        assert any(a.startswith("CORRELATED SCALAR SUBQUERY") for a in ancestors(ident)), rows


# SQLite's statistics of the 1M-article bench's database (``python -m bench timeline``,
# after its ANALYZE): the planner weighs the plans as it does there.
AT_SCALE = (
    ("article", None, "1000000"),
    ("article", "ix_article_volume", "1000000 125000 62500 1 1 1"),
    ("article", "ix_article_timeline_cover", "1000000 500000 1 1 1"),
    ("article", "ix_article_relevant_published", "1000000 500000 1 1"),
    ("article", "ix_article_published", "1000000 1 1"),
    ("article", "ix_article_updated", "1000000 1 1"),
    ("article", "ix_article_language", "1000000 250000"),
    ("article", "ix_article_cluster_id", "1000000 20"),
    ("article", "ix_article_canonical_hash", "1000000 1000000"),
    ("article", "sqlite_autoindex_article_1", "1000000 1"),
    ("article_source", "ix_article_source_feed_id", "1090000 5450"),
    ("article_source", "sqlite_autoindex_article_source_1", "1090000 1 1"),
    ("article_search", None, "1000000"),
    ("article_fts_idx", "article_fts_idx", "6197 388 1"),
    ("article_fts_data", None, "186579"),
    ("article_fts_docsize", None, "1000000"),
)


@pytest.fixture
def db_at_scale(sqlite_db: Database) -> Database:
    """The plan test's database with the statistics of 1M articles."""
    with sqlite_db.engine.begin() as conn:
        raw = conn.connection.dbapi_connection
        assert raw is not None
        raw.execute("ANALYZE")
        raw.execute("DELETE FROM sqlite_stat1")
        raw.executemany("INSERT INTO sqlite_stat1 VALUES (?, ?, ?)", AT_SCALE)
    sqlite_db.engine.dispose()  # new connections read the statistics
    return sqlite_db


@pytest.mark.parametrize("common", [False, True])
@pytest.mark.parametrize("group", [None, "source"])
def test_a_searched_chart_still_reads_the_volume_index(
    db_at_scale: Database, monkeypatch: pytest.MonkeyPatch, group: str | None, common: bool
) -> None:
    """With a search, the planner read every match's row by its id, once per day and
    theme mask of the chart (1M articles, a common term: 6 s for two days, minutes for
    a month). The matches (few) or the documents (many) are checked per article of the
    index's ranges instead."""
    if common:
        monkeypatch.setattr(articles_module, "RARE_MATCHES", 0)
    plan = plan_of(db_at_scale, chart(TimelineFilter(q="tiktok amazon"), group))
    article = [step for step in plan if " article " in f" {step} "]
    assert article, plan
    for step in article:
        assert step.startswith("SEARCH article USING COVERING INDEX ix_article_volume"), plan
    searched = "article_search" if common else "article_fts"
    assert any(searched in step for step in plan), plan


@pytest.mark.parametrize("group", [None, "lang"])
def test_a_chart_of_some_outlets_reads_their_articles_once(
    db_at_scale: Database, group: str | None
) -> None:
    """An outlet filter looked up article_source once per article of the ranges (1M
    articles, a year by language: ~1 s); the outlets' articles are read once, by feed,
    and each article of the ranges is checked against them."""
    plan = plan_of(db_at_scale, chart(TimelineFilter(sources=(3, 7)), group, "week"))
    # and the ranges still lead (a plain id would have the list lead, its rows read
    # once per bucket and theme)
    assert not any("INTEGER PRIMARY KEY" in step for step in plan), plan
    sources = [step for step in plan if "article_source" in step]
    assert sources == ["SEARCH article_source USING INDEX ix_article_source_feed_id (feed_id=?)"], (
        plan
    )
