"""SQLite's ingest insert goes through the driver (``_insert_new_sqlite``), not SQLAlchemy's
bind processing. It must store exactly what the SQLAlchemy statement stores (the
PostgreSQL path and the reference): same values, same SQLite types, same search
documents, and the same errors for a poison entry."""

from __future__ import annotations

import dataclasses
import hashlib
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from sqlalchemy import text

from app.core.decide import ArticleDraft, Tags
from app.core.types import Evidence, ThemeTag
from app.store.article_writes import ArticleWrites, _row, _statements
from app.store.db import Database
from app.store.sqlite_file import sqlite_stamp
from app.store.tables import UTCDateTime

NOW = datetime(2026, 11, 1, 12, 0, 0, 123456, tzinfo=UTC)
CEST = timezone(timedelta(hours=2))
MATCH = "SELECT rowid FROM article_fts WHERE article_fts MATCH '\"datensicherheit\"'"


def _draft(n: int, **changes: Any) -> ArticleDraft:
    url = f"https://outlet.example/news/{n}"
    evidence = (Evidence("Datensicherheit", "title", 0, 15), Evidence("TikTok", "text", 4, 10))
    tags = Tags(
        "de",
        n % 2 == 0,
        0.25 * n,
        f"names both companies ({n})",
        evidence,
        (ThemeTag("security", 0.9, evidence), ThemeTag("market", 0.5)),
        {"security": 0.9, "market": 0.5, "regulatory": 0.125},
        "v7",
    )
    base = ArticleDraft(
        key=hashlib.sha256(url.encode()).hexdigest(),
        key_kind="url",
        url=url,
        guid=f"urn:uuid:{n}" if n % 3 else None,
        title=f"Händler und Datensicherheit – Ausgabe {n}",
        author="Élodie Brün" if n % 2 else None,
        summary=f"<p>Über TikTok Shop {n}</p>",
        content="" if n % 2 else "<p>Volltext</p>",
        text=f"Über TikTok und Amazon, Nummer {n}. Ça coûte €5.",
        language="de",
        published_at=datetime(2026, 10, n % 28 + 1, 9, 30, n, tzinfo=CEST),
        published_estimated=n % 4 == 0,
        bands=(n, -n, 2**31 - 1, -(2**31)) if n % 5 else (),
        tags=tags,
        outlet="Rhein-Kurier" if n % 3 == 0 else None,
    )
    return dataclasses.replace(base, **changes)


def _dump(database: Database) -> dict[str, list[tuple[Any, ...]]]:
    columns = ", ".join(f"{c}, typeof({c})" for c in ("id", *_row(_draft(1), NOW, 1)))
    with database.read() as session:
        return {
            "article": [tuple(r) for r in session.execute(text(f"SELECT {columns} FROM article"))],
            "search": [
                tuple(r) for r in session.execute(text("SELECT id, doc FROM article_search"))
            ],
            "fts": [tuple(r) for r in session.execute(text(MATCH))],
        }


@pytest.mark.parametrize(
    "stamp",
    [
        NOW,
        datetime(2026, 3, 29, 1, 59, 59, tzinfo=CEST),
        datetime(999, 1, 2, 3, 4, 5, tzinfo=UTC),
        datetime(2026, 12, 31, 23, 0, 0, 1, tzinfo=timezone(timedelta(hours=-5))),
    ],
)
def test_the_stamp_is_what_sqlalchemy_binds(
    two: tuple[Database, Database, int], stamp: datetime
) -> None:
    raw, _, _ = two
    # The column type's full bind chain, as SQLAlchemy runs it for an insert.
    bind = UTCDateTime().dialect_impl(raw.engine.dialect).bind_processor(raw.engine.dialect)
    assert bind is not None
    assert sqlite_stamp(stamp) == bind(stamp)
    assert sqlite_stamp(stamp) == bind(stamp)  # the same object again: the same text
    with pytest.raises(ValueError, match="naive"):
        sqlite_stamp(stamp.replace(tzinfo=None))


def test_the_stamp_is_the_instant_in_utc_whatever_the_object() -> None:
    first = datetime(2026, 12, 5, 10, 0, 0, 1, tzinfo=UTC)
    assert sqlite_stamp(first) == "2026-12-05 10:00:00.000001"
    # equal instant, other zone: its own (equal) text; another instant: its own text
    assert sqlite_stamp(first.astimezone(CEST)) == "2026-12-05 10:00:00.000001"
    assert sqlite_stamp(first + timedelta(microseconds=1)) == "2026-12-05 10:00:00.000002"
    assert sqlite_stamp(first) == "2026-12-05 10:00:00.000001"


def test_the_driver_insert_stores_what_the_sqlalchemy_statement_stores(
    two: tuple[Database, Database, int],
) -> None:
    raw, core, feed_id = two
    drafts = [_draft(n) for n in range(1, 41)]
    ordered = sorted(drafts, key=lambda d: d.key)
    with raw.write() as session:
        inserted = ArticleWrites(session)._insert_new(feed_id, drafts, NOW)
    with core.write() as session:
        # The reference: SQLAlchemy's statement, with the row trigger indexing for search.
        rows = [_row(d, NOW, feed_id) for d in ordered]
        result = session.execute(_statements("sqlite")["article"], rows)
        reference = {key: ident for key, ident in result}
    assert inserted == reference and len(inserted) == 40
    got, want = _dump(raw), _dump(core)
    assert got == want
    assert len(got["fts"]) == 40  # every row is searchable
    # Nothing new the second time, and nothing changed.
    with raw.write() as session:
        assert ArticleWrites(session)._insert_new(feed_id, drafts, NOW) == {}
    assert _dump(raw) == want


def test_a_poison_entry_fails_as_sqlalchemys_error_and_the_rest_commit(
    two: tuple[Database, Database, int],
) -> None:
    raw, _, feed_id = two
    batch = [_draft(1), _draft(2, title=None), _draft(3)]
    with raw.write() as session:
        result = ArticleWrites(session).upsert_batch(feed_id, batch, now=NOW)
    assert result.new == 2 and len(result.skipped) == 1
    assert "NOT NULL" in result.skipped[0]
    assert len(_dump(raw)["search"]) == 2


def test_the_driver_enqueue_stores_what_the_sqlalchemy_statement_stores(
    two: tuple[Database, Database, int],
) -> None:
    """The full-text queue's insert (every new article of every poll) takes the driver
    path on SQLite; the rows, their SQLite types and the conflict rule are the statement's."""
    from app.store.extraction import ExtractionStore, FullTextRules, _enqueue_statement

    raw, core, feed_id = two
    drafts = [_draft(n) for n in range(1, 13)]
    # A Google News link cannot be resolved: queued as done ("unresolvable"), no host.
    gnews = "https://news.google.com/rss/articles/CBMi7"
    drafts[6] = dataclasses.replace(drafts[6], url=gnews, key=hashlib.sha256(b"7").hexdigest())
    later = NOW + timedelta(minutes=5)
    rules = FullTextRules("always")
    dumps = []
    for database in (raw, core):
        with database.write() as session:
            ids = sorted(ArticleWrites(session)._insert_new(feed_id, drafts, NOW).values())
            store = ExtractionStore(session)
            if database is raw:
                assert store.enqueue(feed_id, ids, now=later, rules=rules) == 12
            else:  # the reference: SQLAlchemy's statement, the same rows
                rows = store.queue_rows(feed_id, ids, now=later, rules=rules)
                session.execute(_enqueue_statement("sqlite"), rows)
        with database.write() as session:  # again, later: the conflicts change nothing
            ExtractionStore(session).enqueue(
                feed_id, ids, now=later + timedelta(hours=1), rules=rules
            )
        names = "article_id url host state outcome detail attempts created_at due_at lease_until"
        columns = ", ".join(f"{c}, typeof({c})" for c in names.split())
        with database.read() as session:
            dumps.append(
                [tuple(r) for r in session.execute(text(f"SELECT {columns} FROM extraction"))]
            )
    assert dumps[0] == dumps[1] and len(dumps[0]) == 12
    done = [r for r in dumps[0] if r[6] == "done"]
    assert len(done) == 1 and done[0][4] is None and done[0][8] == "unresolvable"
    assert {r[14] for r in dumps[0]} == {sqlite_stamp(later)}  # created_at: the first enqueue


def test_the_driver_links_themes_and_touches_store_what_the_statements_store(
    two: tuple[Database, Database, int],
) -> None:
    """A feed's other rows on SQLite (sources, theme rows, cluster ids, ``updated_at``)
    also go through the driver; the reference is SQLAlchemy's statements on the same
    articles: same values, same SQLite types, the same conflict rules."""
    from sqlalchemy import update

    from app.store.article_writes import _CLUSTER_SQL, _UPDATE_CLUSTER, _theme_row
    from app.store.db import run_on_driver
    from app.store.tables import Article
    from app.store.touch import touch_articles, touch_clusters

    def core_touch(session: Any, column: Any, ids: list[int], when: datetime) -> None:
        # The reference: the Core statement the other engine runs.
        session.execute(
            update(Article)
            .where(column.in_(sorted(set(ids))), Article.updated_at < when)
            .values(updated_at=when)
            .execution_options(synchronize_session=False)
        )

    raw, core, feed_id = two
    drafts = [_draft(n) for n in range(1, 21)]
    later, latest = NOW + timedelta(minutes=5), NOW + timedelta(hours=1)
    dumps = []
    for database in (raw, core):
        with database.write() as session:
            writes = ArticleWrites(session)
            inserted = writes._insert_new(feed_id, drafts, NOW)
            ids = sorted(inserted.values())
            themes = [
                _theme_row(inserted[d.key], t, d.tags.version)
                for d in drafts
                for t in d.tags.themes
            ]
            clusters = [(ids[0], ids[1]), (ids[0], ids[2]), (ids[5], ids[6])]
            if database is raw:
                gained = writes._add_sources(feed_id, ids, later)
                again = writes._add_sources(feed_id, ids[:3], latest)  # conflicts: no change
                writes._insert_themes(themes)
                writes._insert_themes(themes[:4])
                run_on_driver(session, _CLUSTER_SQL, clusters, many=True)
                touch_articles(session, ids[:7], later)  # the driver's path on SQLite
                touch_clusters(session, [ids[0]], latest)
                touch_articles(session, ids[:2], NOW)  # never earlier than they already were
            else:
                statements = _statements("sqlite")
                rows = [{"article_id": a, "feed_id": feed_id, "first_seen_at": later} for a in ids]
                gained = set(session.scalars(statements["source"], rows))
                rows = [
                    {"article_id": a, "feed_id": feed_id, "first_seen_at": latest} for a in ids[:3]
                ]
                again = set(session.scalars(statements["source"], rows))
                session.execute(statements["theme"], themes)
                session.execute(statements["theme"], themes[:4])
                session.execute(_UPDATE_CLUSTER, [{"b_id": a, "b_cluster": c} for c, a in clusters])
                core_touch(session, Article.id, ids[:7], later)
                core_touch(session, Article.cluster_id, [ids[0]], latest)
                core_touch(session, Article.id, ids[:2], NOW)
            assert gained == set(ids) and again == set()
        with database.read() as session:
            dumps.append(
                {
                    table: [tuple(r) for r in session.execute(text(sql))]
                    for table, sql in {
                        "source": "SELECT article_id, feed_id, first_seen_at,"
                        " typeof(first_seen_at) FROM article_source ORDER BY 1, 2",
                        "theme": "SELECT article_id, theme, score, typeof(score), evidence,"
                        " origin, tag_version FROM article_theme ORDER BY 1, 2",
                        "article": "SELECT id, cluster_id, updated_at, typeof(updated_at)"
                        " FROM article ORDER BY id",
                    }.items()
                }
            )
    assert dumps[0] == dumps[1]
    assert len(dumps[0]["source"]) == 20 and len(dumps[0]["theme"]) == 40
    touched = {row[0]: row[2] for row in dumps[0]["article"]}
    # ids[1] and ids[2] are in ids[0]'s story; ids[8] was never touched.
    assert [touched[ids[n]] for n in (0, 1, 2, 3, 8)] == [
        sqlite_stamp(t) for t in (later, latest, latest, later, NOW)
    ]
