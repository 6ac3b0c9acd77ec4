"""Alembic is the only way the schema changes: head matches the models, and every
revision goes down and up again, on SQLite and PostgreSQL."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect

from app.store import migrate
from app.store.db import Database
from app.store.tables import Base
from tests.support.db import DbTarget


def test_an_empty_database_upgrades_to_head_with_no_drift_from_the_models(
    db_target: DbTarget,
) -> None:
    database = db_target.database()
    try:
        migrate.upgrade(database.engine)
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
