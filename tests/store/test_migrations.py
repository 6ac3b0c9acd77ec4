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
