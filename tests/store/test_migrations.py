"""Alembic is the only way the schema changes: head matches the models, and every
revision goes down and up again, on SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib
import sqlite3
import threading
from dataclasses import replace
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, inspect, text

from app.core.decide import story_bands
from app.core.fingerprint import minhash_bands, title_terms
from app.store import migrate
from app.store.article_writes import ArticleWrites
from app.store.db import Database, make_engine
from app.store.feeds import FeedStore
from app.store.tables import Base
from tests.store.test_raw_insert import MATCH, NOW, _draft
from tests.support.db import DbTarget


@pytest.mark.parametrize("snapshot", [True, False], ids=["snapshot", "migrations"])
def test_an_empty_database_upgrades_to_head_with_no_drift_from_the_models(
    db_target: DbTarget, snapshot: bool
) -> None:
    database = db_target.database()
    try:
        migrate.upgrade(database.engine, snapshot=snapshot)
        with database.engine.connect() as conn:
            context = MigrationContext.configure(
                conn,
                opts={"compare_type": True, "include_object": migrate.include_object},
            )
            diff = compare_metadata(context, Base.metadata)
        assert diff == []
    finally:
        database.dispose()


def test_every_revision_downgrades_to_base_and_upgrades_again(db_target: DbTarget) -> None:
    database = db_target.database()
    try:
        migrate.upgrade(database.engine)
        migrate.downgrade(database.engine, "base")
        tables = set(inspect(database.engine).get_table_names()) - {"alembic_version"}
        assert tables == set()
        migrate.upgrade(database.engine)
        assert {"article", "feed", "flag", "user"} <= set(
            inspect(database.engine).get_table_names()
        )
    finally:
        database.dispose()


def test_there_is_a_single_head() -> None:
    script = ScriptDirectory.from_config(migrate.alembic_config())
    assert len(script.get_heads()) == 1


def test_serving_twice_does_not_fail_on_an_up_to_date_database(db: Database) -> None:
    migrate.upgrade(db.engine)  # already at head: a no-op


def test_head_names_the_newest_migration() -> None:
    """``migrate.HEAD`` lets every command skip Alembic on an up-to-date database: a new
    migration must move it, or commands would believe an old schema is current."""
    script = ScriptDirectory.from_config(migrate.alembic_config())
    assert script.get_heads() == [migrate.HEAD]


def test_a_database_behind_head_is_upgraded_and_then_recognised(db_target: DbTarget) -> None:
    database = db_target.database()
    try:
        assert not migrate.at_head(database.engine)  # no schema yet
        migrate.upgrade(database.engine, "0008_alerts")
        assert not migrate.at_head(database.engine)
        migrate.upgrade(database.engine)
        assert migrate.at_head(database.engine)
        assert "primary_feed_id" in {
            c["name"] for c in inspect(database.engine).get_columns("article")
        }
    finally:
        database.dispose()


def _objects(url: str) -> tuple[list[tuple[str, ...]], dict[str, list[tuple[object, ...]]]]:
    """(type, name, table, sql) of every schema object, and the rows of the tables the
    migrations fill."""
    with sqlite3.connect(url.removeprefix("sqlite:///")) as connection:
        objects = connection.execute(
            "SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY type, name"
        ).fetchall()
        rows = {
            table: connection.execute(f"SELECT * FROM {table}").fetchall()
            for table in ("alembic_version", "article_search_bulk", "article_fts_config")
        }
    connection.close()
    return objects, rows


def test_the_sqlite_snapshot_is_what_the_migrations_build(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'migrated.db'}")
    migrate.upgrade(engine, snapshot=False)
    engine.dispose()
    with sqlite3.connect(tmp_path / "migrated.db") as connection:
        script = migrate.sqlite_schema_script(connection)
    connection.close()
    assert script == migrate.SNAPSHOT.read_text(encoding="utf-8"), (
        "app/store/schema_sqlite.sql is not what the migrations build: "
        "run `python -m app.store.migrate` and commit the file"
    )


def test_a_new_sqlite_database_from_the_snapshot_is_the_migrated_one(tmp_path: Path) -> None:
    urls = {name: f"sqlite:///{tmp_path / name}.db" for name in ("snapshot", "migrated")}
    for name, url in urls.items():
        engine = make_engine(url)
        migrate.upgrade(engine, snapshot=name == "snapshot")
        assert migrate.at_head(engine)
        engine.dispose()
    assert _objects(urls["snapshot"]) == _objects(urls["migrated"])
    # and a working one: a stored batch is found through the search index
    database = Database.from_url(urls["snapshot"])
    try:
        with database.write() as session:
            feed = FeedStore(session).add("https://outlet.example/feed.xml", now=NOW)
            ArticleWrites(session).upsert_batch(feed.id, [_draft(1), _draft(2)], now=NOW)
        with database.read() as session:
            assert len(session.execute(text(MATCH)).all()) == 2
    finally:
        database.dispose()


def test_two_processes_starting_on_one_new_file_create_the_schema_once(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'n.db'}"
    engines = [make_engine(url) for _ in range(4)]
    errors: list[BaseException] = []

    def start(engine: Engine) -> None:
        try:
            migrate.upgrade(engine)
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=start, args=(engine,)) for engine in engines]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for engine in engines:
        engine.dispose()
    assert errors == []
    objects, rows = _objects(url)
    assert rows["alembic_version"] == [(migrate.HEAD,)]
    assert rows["article_search_bulk"] == [(0,)]
    assert len({name for _, name, *_ in objects}) == len(objects)


def test_a_stored_sqlite_index_is_set_to_merge_eight_segments_at_a_time(tmp_path: Path) -> None:
    """Migration 0010: an existing database's full-text index changes its merge width
    (the setting lives in the index), and the downgrade gives FTS5's default back."""
    path = tmp_path / "old.db"
    engine = make_engine(f"sqlite:///{path}")

    def automerge() -> list[tuple[object, ...]]:
        with sqlite3.connect(path) as connection:
            found = connection.execute(
                "SELECT v FROM article_fts_config WHERE k = 'automerge'"
            ).fetchall()
        connection.close()
        return found

    try:
        migrate.upgrade(engine, "0009_primary_feed")
        assert automerge() == []  # FTS5's default (4)
        migrate.upgrade(engine)
        assert automerge() == [(8,)]
        migrate.downgrade(engine, "0009_primary_feed")
        assert automerge() == [(4,)]
    finally:
        engine.dispose()


def test_the_downgrade_from_search_batches_indexes_what_is_pending(tmp_path: Path) -> None:
    """Migration 0011: articles the poller left pending are in the full-text index after
    a downgrade (whose triggers assume every document is indexed), so an edit of one of
    them afterwards works and nothing is lost; upgrading again starts with no pending."""
    path = tmp_path / "batches.db"
    database = Database(make_engine(f"sqlite:///{path}"))
    try:
        migrate.upgrade(database.engine)
        with database.write() as session:
            feed_id = FeedStore(session).add("https://outlet.example/feed.xml", now=NOW).id
            ArticleWrites(session).upsert_batch(
                feed_id, [_draft(n) for n in range(1, 4)], now=NOW, search_later=True
            )
        with sqlite3.connect(path) as connection:
            assert connection.execute(MATCH).fetchall() == []  # waiting for their batch
        connection.close()
        migrate.downgrade(database.engine, "0010_fts_automerge")
        with sqlite3.connect(path) as connection:
            assert len(connection.execute(MATCH).fetchall()) == 3
            tables = {r[0] for r in connection.execute("SELECT name FROM sqlite_master")}
            assert "article_search_pending" not in tables
            # The old update trigger forgets the indexed document: no corruption.
            connection.execute("UPDATE article SET title = 'Lager', text = 'neu' WHERE id = 1")
            connection.execute("INSERT INTO article_fts(article_fts) VALUES ('integrity-check')")
            assert len(connection.execute(MATCH).fetchall()) == 2
        connection.close()
        migrate.upgrade(database.engine)
        with sqlite3.connect(path) as connection:
            assert connection.execute("SELECT count(*) FROM article_search_pending").fetchone() == (
                0,
            )
        connection.close()
    finally:
        database.dispose()


def _keys_before_0012(title: str) -> tuple[int, ...]:
    """Story keys as ingest computed them before migration 0012: every word min-hashed."""
    terms = title_terms(title)
    digest = hashlib.blake2b(" ".join(sorted(terms)).encode(), digest_size=4).digest()
    return (*minhash_bands(terms, count=3, rows=1), int.from_bytes(digest, "big", signed=True))


def test_the_story_keys_migration_rekeys_stored_articles_both_ways(db_target: DbTarget) -> None:
    """Migration 0012: articles stored before it carry keys drawn from every headline word;
    after the upgrade each has the keys ingest gives a new article with its headline
    (a copy arriving later finds it by them), and the downgrade gives the old ones back.
    Keys that did not fall on the story's names stay as they were; an untitled row keeps
    none."""
    titles = [
        "Amazon and TikTok widen their shopping partnership",
        "Senators press TikTok over shopper data",  # no key fell on the name
        "Bakeries sell record numbers of stollen",  # no names
    ]
    database = db_target.database()
    try:
        migrate.upgrade(database.engine, "0011_search_pending")
        with database.write() as session:
            feed_id = FeedStore(session).add("https://outlet.example/feed.xml", now=NOW).id
            drafts = [
                replace(_draft(n + 1), title=title, bands=_keys_before_0012(title))
                for n, title in enumerate(titles)
            ] + [replace(_draft(9), title="", bands=())]
            ids = ArticleWrites(session).upsert_batch(feed_id, drafts, now=NOW).new_ids
        keys = text("SELECT band0, band1, band2, band3 FROM article WHERE id = :id")

        def stored() -> list[tuple[int | None, ...]]:
            with database.engine.connect() as connection:
                return [tuple(connection.execute(keys, {"id": i}).one()) for i in ids]

        before = stored()
        assert before[:3] == [_keys_before_0012(t) for t in titles]
        migrate.upgrade(database.engine)
        after = stored()
        assert after[:3] == [story_bands(t) for t in titles]
        assert after[0][0] == before[0][0] and after[0][1:3] != before[0][1:3]  # off "amazon"
        assert after[1:3] == before[1:3]
        assert after[3] == before[3] == (None, None, None, None)
        migrate.downgrade(database.engine, "0011_search_pending")
        assert stored() == before
    finally:
        database.dispose()


def _cover_index(engine: Engine, kind: str) -> str:
    """How the database itself states the timeline cover index."""
    with engine.connect() as connection:
        if kind == "postgres":
            sql = "SELECT indexdef FROM pg_indexes WHERE indexname = 'ix_article_timeline_cover'"
            sql += " AND schemaname = current_schema()"
        else:
            sql = "SELECT sql FROM sqlite_master WHERE name = 'ix_article_timeline_cover'"
        return str(connection.execute(text(sql)).scalar_one())


def test_the_cover_index_carries_the_id_and_outlet_on_postgresql_only(
    db_target: DbTarget,
) -> None:
    """Migration 0013: a searched chart reads each article's id from the cover index, and
    share of voice its outlet. On PostgreSQL the index includes both (the ranges are then
    read without the table's rows); SQLite's indexes end with the row id already, and its
    index is left as it was. The downgrade gives PostgreSQL the old index back."""
    database = db_target.database()
    try:
        migrate.upgrade(database.engine, "0012_story_keys")
        before = _cover_index(database.engine, db_target.kind)
        migrate.upgrade(database.engine)
        after = _cover_index(database.engine, db_target.kind)
        columns = "(relevant, published_at, theme_mask, language)"
        if db_target.kind == "postgres":
            assert before.endswith(columns)
            assert after.endswith(f"{columns} INCLUDE (id, primary_feed_id)")
        else:
            assert after == before
            assert after.replace('"', "").endswith(columns)
        migrate.downgrade(database.engine, "0012_story_keys")
        assert _cover_index(database.engine, db_target.kind) == before
    finally:
        database.dispose()
