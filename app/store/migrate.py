"""Run Alembic migrations from code (``newsmon db upgrade``, and every command that
opens the database: ``serve``, ``poll``, ``feeds``…).

A database already at ``HEAD`` is recognised by one query, without Alembic: importing it
and loading every migration script cost each command ~0.3 s, most of a warm poll's start.

A new SQLite database is created from ``schema_sqlite.sql``, the schema the migrations
build, read back from ``sqlite_master`` (with the rows they insert and the version
stamp), instead of replaying every migration: ~0.4 s less for a first start, and for
each of the test suite's databases. It is Alembic's "build from scratch, then stamp"
recipe with the migrations themselves as the source: ``tests/store/test_migrations.py``
rebuilds the script from the migrations and fails when the file differs (regenerate it
with ``python -m app.store.migrate``). PostgreSQL always runs the migrations.

``newsmon db upgrade`` on a plain SQLite file (``upgrade_sqlite_file``) does both of those
through the driver alone, without importing SQLAlchemy (~0.2 s of the command's ~0.3 s,
paid by every cold start); only a database that needs migrating loads it and Alembic.
"""

from __future__ import annotations

import sqlite3
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from app.store.sqlite_file import connect, write_transaction

if TYPE_CHECKING:
    from alembic.config import Config
    from sqlalchemy import Engine

ROOT = Path(__file__).resolve().parents[2]
# The newest migration's revision (a test checks it against migrations/versions: a new
# migration must change it).
HEAD = "0013_cover_id"
_VERSION = "SELECT version_num FROM alembic_version"  # the revision a database is at


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
    from sqlalchemy import text
    from sqlalchemy.exc import DBAPIError

    from app.store.db import reading

    try:
        with reading(engine).connect() as connection:
            found = connection.execute(text(_VERSION)).all()
    except DBAPIError:
        return False  # no version table: a new database
    return [row[0] for row in found] == [HEAD]


def upgrade(engine: Engine, revision: str = "head", *, snapshot: bool = True) -> None:
    """Bring the schema to ``revision``. ``snapshot=False``: a new SQLite database too is
    built by the migrations (what the snapshot is checked against)."""
    if revision == "head" and at_head(engine):
        return
    new_sqlite = revision == "head" and snapshot and engine.dialect.name == "sqlite"
    if new_sqlite and _create_from_snapshot(engine):
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


SNAPSHOT = Path(__file__).with_name("schema_sqlite.sql")


def upgrade_sqlite_file(path: Path) -> bool:
    """``upgrade(engine)`` for the SQLite file at ``path`` through the driver: True when
    the schema is at ``HEAD`` already or was created from ``SNAPSHOT`` (an empty or new
    file); False when it needs migrating (call ``upgrade``). A current database is
    recognised by a read (never behind a running writer); a creation checks again inside
    its write transaction, so two processes starting on one new file create it once."""
    connection = connect(path)
    try:
        if is_current(connection):  # a read: never waits for a running writer
            return True
        with write_transaction(connection):
            # created by another process meanwhile, or filled now (False: not empty)
            return is_current(connection) or _fill_if_empty(connection)
    finally:
        connection.close()


def is_current(connection: sqlite3.Connection) -> bool:
    """Whether the SQLite database on this driver connection is at ``HEAD`` (a read)."""
    return _version(connection) == [HEAD]


def _version(connection: sqlite3.Connection) -> list[str]:
    try:
        return [row[0] for row in connection.execute(_VERSION)]
    except sqlite3.OperationalError:  # no version table: a new database (or not ours)
        return []


def _create_from_snapshot(engine: Engine) -> bool:
    """``_fill_if_empty`` in a write transaction of ``engine``."""
    with engine.begin() as connection:
        raw = connection.connection.driver_connection
        assert raw is not None
        return _fill_if_empty(raw)


def _fill_if_empty(raw: sqlite3.Connection) -> bool:
    """Inside the caller's write transaction: the schema at ``HEAD`` from ``SNAPSHOT`` if
    the database holds nothing yet (checked in the same transaction, so two processes
    starting on one new file create it once); False when it is not empty (the migrations
    decide). Shared by the engine's path and the driver's (``upgrade_sqlite_file``)."""
    if raw.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]:
        return False
    for statement in snapshot_statements(SNAPSHOT.read_text(encoding="utf-8")):
        raw.execute(statement)
    return True


def snapshot_statements(script: str) -> list[str]:
    """The statements of ``script``, one per complete SQL statement (trigger bodies hold
    semicolons of their own)."""
    statements: list[str] = []
    pending = ""
    for line in script.splitlines(keepends=True):
        if not pending and (not line.strip() or line.startswith("--")):
            continue
        pending += line
        if sqlite3.complete_statement(pending):
            statements.append(pending.strip())
            pending = ""
    if pending.strip():
        raise ValueError(f"incomplete statement at the end of the schema: {pending[:80]!r}")
    return statements


def sqlite_schema_script(connection: sqlite3.Connection) -> str:
    """The schema of a SQLite database as a script that recreates it: every table, index,
    trigger and virtual table in creation order (a virtual table's own shadow tables
    come with it), then the rows of its ordinary tables."""
    objects = connection.execute(
        "SELECT type, name, sql FROM sqlite_master WHERE sql IS NOT NULL "
        "AND name NOT LIKE 'sqlite_%' ORDER BY rowid"
    ).fetchall()
    virtual = [name for kind, name, sql in objects if sql.upper().startswith("CREATE VIRTUAL")]
    shadow = {
        name
        for kind, name, _ in objects
        if kind == "table" and any(name.startswith(f"{v}_") for v in virtual)
    }
    lines = [
        "-- newsmon's SQLite schema at the migrations' head, generated by",
        "-- `python -m app.store.migrate` from a database the migrations built.",
        "-- A new SQLite database is created from it (app/store/migrate.py). Do not edit.",
        "",
    ]
    tables: list[str] = []
    for kind, name, sql in objects:
        if name in shadow:
            continue
        lines += [f"{sql};", ""]
        if kind == "table" and name not in virtual:
            tables.append(name)
    for name in tables:
        # (names read from sqlite_master of a database the migrations built)
        for row in connection.execute(f'SELECT * FROM "{name}" ORDER BY rowid'):  # noqa: S608
            values = ", ".join(_literal(value) for value in row)
            lines += [f'INSERT INTO "{name}" VALUES ({values});', ""]  # noqa: S608
    lines += _fts5_settings(connection, virtual)
    return "\n".join(lines)


def _fts5_settings(connection: sqlite3.Connection, virtual: list[str]) -> list[str]:
    """A full-text table's settings that migrations changed (``automerge``…), as the FTS5
    commands that set them: its ``_config`` shadow table is created with the table and
    holds only the format ``version`` until then."""
    lines = []
    for name in virtual:
        try:  # (names read from sqlite_master, as above)
            found = connection.execute(
                f"SELECT k, v FROM \"{name}_config\" WHERE k != 'version' ORDER BY k"  # noqa: S608
            ).fetchall()
        except sqlite3.OperationalError:  # not an FTS5 table
            continue
        for key, value in found:
            setting = f"{_literal(key)}, {_literal(value)}"
            lines += [f'INSERT INTO "{name}"("{name}", rank) VALUES ({setting});', ""]  # noqa: S608
    return lines


def _literal(value: Any) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, bool | int | float):
        return repr(int(value) if isinstance(value, bool) else value)
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    raise TypeError(f"no SQL literal for {type(value).__name__} in the schema's rows")


def write_snapshot(path: Path = SNAPSHOT) -> str:
    """Build a database with the migrations in a temporary file; write its script."""
    import tempfile

    from app.store.db import make_engine

    with tempfile.TemporaryDirectory() as folder:
        engine = make_engine(f"sqlite:///{folder}/schema.db")
        try:
            upgrade(engine, snapshot=False)
        finally:
            engine.dispose()
        with sqlite3.connect(f"{folder}/schema.db") as connection:
            script = sqlite_schema_script(connection)
        connection.close()
    path.write_text(script, encoding="utf-8")
    return script


if __name__ == "__main__":
    write_snapshot()
    print(f"wrote {SNAPSHOT}", file=sys.stderr)
