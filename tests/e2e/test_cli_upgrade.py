"""``newsmon db upgrade`` on a SQLite file: a new or current database is handled through
the driver alone (no SQLAlchemy, ~0.2 s of every cold start), builds the same database as
the engine does, still migrates an old one, and refuses a file that is not a database
with a clear error, leaving it as it was."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from app.store import migrate
from app.store.db import make_engine
from app.store.sqlite_file import connect, plain_sqlite_path
from tests.e2e.test_cli import NEWSMON
from tests.store.test_migrations import _objects

ROOT = Path(__file__).resolve().parents[2]
# the command run in-process, saying afterwards whether SQLAlchemy was ever imported
PROBE = (
    "import sys; from app.cli.main import main; code = main(['db', 'upgrade']); "
    "print(code, 'sqlalchemy' in sys.modules)"
)


def _env(url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSMON_")}
    env.update(NEWSMON_DATABASE_URL=url, NEWSMON_LOG_LEVEL="WARNING")
    return env


def upgrade(url: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [NEWSMON, "db", "upgrade"], env=_env(url), capture_output=True, text=True, timeout=120
    )


def probe(url: str) -> str:
    done = subprocess.run(
        [sys.executable, "-c", PROBE],
        env=_env(url),
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
        check=True,
    )
    return done.stdout.strip().splitlines()[-1]


def test_a_new_and_then_a_current_sqlite_file_never_load_sqlalchemy(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'new' / 'newsmon.db'}"
    assert probe(url) == "0 False"  # created (its folder too)
    assert probe(url) == "0 False"  # at the latest revision already
    with sqlite3.connect(tmp_path / "new" / "newsmon.db") as connection:
        assert connection.execute("SELECT version_num FROM alembic_version").fetchall() == [
            (migrate.HEAD,)
        ]
        assert connection.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    connection.close()


def test_the_driver_builds_the_database_the_engine_builds(tmp_path: Path) -> None:
    by_driver = f"sqlite:///{tmp_path / 'driver.db'}"
    by_engine = f"sqlite:///{tmp_path / 'engine.db'}"
    assert migrate.upgrade_sqlite_file(tmp_path / "driver.db")
    engine = make_engine(by_engine)
    migrate.upgrade(engine)
    engine.dispose()
    assert _objects(by_driver) == _objects(by_engine)


def test_an_older_database_is_still_migrated_to_the_latest_revision(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    engine = make_engine(f"sqlite:///{path}")
    migrate.upgrade(engine, "0008_alerts")
    engine.dispose()
    assert not migrate.upgrade_sqlite_file(path)  # the driver leaves it to the migrations

    answer = upgrade(f"sqlite:///{path}")

    assert answer.returncode == 0, answer.stderr
    assert answer.stdout.strip() == f"database {path} is at the latest revision"
    with sqlite3.connect(path) as connection:
        found = connection.execute("SELECT version_num FROM alembic_version").fetchall()
        columns = {row[1] for row in connection.execute("PRAGMA table_info(article)")}
    connection.close()
    assert found == [(migrate.HEAD,)]
    assert "primary_feed_id" in columns  # added by 0009


def test_a_file_that_is_not_a_database_is_refused_and_left_alone(tmp_path: Path) -> None:
    path = tmp_path / "notes.db"
    junk = b"these are someone's notes, not a database\n" * 200
    path.write_bytes(junk)

    answer = upgrade(f"sqlite:///{path}")

    assert answer.returncode == 1
    assert answer.stderr.strip() == (
        f"error: cannot upgrade the database at {path}: file is not a database"
    )
    assert path.read_bytes() == junk
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.db"]


def test_four_processes_starting_on_one_new_file_create_it_once(tmp_path: Path) -> None:
    path = tmp_path / "n.db"
    results: list[bool] = []
    errors: list[BaseException] = []

    def start() -> None:
        try:
            results.append(migrate.upgrade_sqlite_file(path))
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=start) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == [] and results == [True] * 4
    objects, rows = _objects(f"sqlite:///{path}")
    assert rows["alembic_version"] == [(migrate.HEAD,)]
    assert rows["article_search_bulk"] == [(0,)]
    assert len({name for _, name, *_ in objects}) == len(objects)


def test_a_relative_url_resolves_against_the_current_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert plain_sqlite_path("sqlite:///data/newsmon.db") == tmp_path / "data" / "newsmon.db"
    assert plain_sqlite_path("sqlite+pysqlite:////abs/x.db") == Path("/abs/x.db")


@pytest.mark.parametrize(
    "url",
    [
        "sqlite://",
        "sqlite:///:memory:",
        "sqlite:///file.db?mode=ro",
        "sqlite:///my%20file.db",
        "postgresql+psycopg://postgres@127.0.0.1:5432/test",
        "sqlite+aiosqlite:///x.db",
    ],
)
def test_anything_but_a_plain_file_is_left_to_sqlalchemy(url: str) -> None:
    assert plain_sqlite_path(url) is None


def test_a_current_database_is_recognised_while_a_poller_holds_the_write_lock(
    tmp_path: Path,
) -> None:
    """A read answers: waiting for the write lock would fail with "database is locked"
    once the busy timeout ran out, while the poller writes."""
    path = tmp_path / "busy.db"
    assert migrate.upgrade_sqlite_file(path)
    writer = sqlite3.connect(path, isolation_level=None)
    try:
        writer.execute("BEGIN IMMEDIATE")
        writer.execute("UPDATE article_search_bulk SET active = 0")

        assert migrate.upgrade_sqlite_file(path)
    finally:
        writer.execute("ROLLBACK")
        writer.close()


def test_a_start_waits_while_another_process_creates_the_file_in_its_first_journal(
    tmp_path: Path,
) -> None:
    """SQLite refuses the switch to WAL at once (no busy wait) while another connection
    writes a new file in the default journal: the switch is tried again until it holds."""
    path = tmp_path / "n.db"
    creator = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    creator.execute("BEGIN IMMEDIATE")
    creator.execute("CREATE TABLE first_writer (x INTEGER)")
    creator.execute("INSERT INTO first_writer VALUES (1)")
    timer = threading.Timer(0.3, lambda: creator.execute("COMMIT"))
    timer.start()
    try:
        connection = connect(path)  # before the fix: "database is locked" at once
    finally:
        timer.join()
        creator.close()
    try:
        assert connection.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        assert connection.execute("SELECT x FROM first_writer").fetchall() == [(1,)]
    finally:
        connection.close()
