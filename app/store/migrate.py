"""Run Alembic migrations from code (``newsmon db upgrade``, and every command that
opens the database: ``serve``, ``poll``, ``feeds``…).

A database already at ``HEAD`` is recognised by one query, without Alembic: importing it
and loading every migration script cost each command ~0.3 s, most of a warm poll's start.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Engine, text
from sqlalchemy.exc import DBAPIError

from app.store.db import reading

if TYPE_CHECKING:
    from alembic.config import Config

ROOT = Path(__file__).resolve().parents[2]
# The newest migration's revision (a test checks it against migrations/versions: a new
# migration must change it).
HEAD = "0009_primary_feed"


# Full-text search objects (migration 0002) are kept by triggers, not ORM classes:
# the FTS5 table with its shadow tables, and PostgreSQL's article_search. Autogenerate
# must not see them as drift.
SEARCH_TABLES = ("article_fts", "article_search")


def include_object(
    obj: object, name: str | None, type_: str, reflected: bool, compare_to: object
) -> bool:
    if type_ == "table" and name and name.startswith(SEARCH_TABLES):
        return False
    return not (type_ == "index" and name and name.startswith("ix_article_search"))


def alembic_config(engine: Engine | None = None) -> Config:
    from alembic.config import Config

    config = Config(str(ROOT / "alembic.ini"))
    config.set_main_option("script_location", str(ROOT / "migrations"))
    if engine is not None:
        config.attributes["engine"] = engine
    return config


def at_head(engine: Engine) -> bool:
    """Whether the schema is at ``HEAD`` (False when there is no schema yet)."""
    try:
        with reading(engine).connect() as connection:
            found = connection.execute(text("SELECT version_num FROM alembic_version")).all()
    except DBAPIError:
        return False  # no version table: a new database
    return [row[0] for row in found] == [HEAD]


def upgrade(engine: Engine, revision: str = "head") -> None:
    if revision == "head" and at_head(engine):
        return
    from alembic import command

    with engine.begin() as connection:
        config = alembic_config()
        config.attributes["connection"] = connection
        command.upgrade(config, revision)


def downgrade(engine: Engine, revision: str = "base") -> None:
    from alembic import command

    with engine.begin() as connection:
        config = alembic_config()
        config.attributes["connection"] = connection
        command.downgrade(config, revision)
