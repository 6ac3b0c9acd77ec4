"""``newsmon feeds import`` into a SQLite file at the latest revision writes through the
driver alone (no SQLAlchemy: ~0.45 s of every cold start). Everything else still goes
through the engine: a missing database is refused, an older one migrated, a file that is
not a database reported. A failed write is a clear error that stores nothing, and two
imports at once subscribe each feed once."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from app.store import migrate
from app.store.db import make_engine
from app.store.sqlite_file import connect
from tests.e2e.test_cli import NEWSMON

ROOT = Path(__file__).resolve().parents[2]
# the command run in-process, saying afterwards whether SQLAlchemy was ever imported
PROBE = (
    "import sys; from app.cli.main import main; code = main(['feeds', 'import', sys.argv[1]]); "
    "print(code, 'sqlalchemy' in sys.modules)"
)


def _env(path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSMON_")}
    env.update(
        NEWSMON_DATABASE_URL=f"sqlite:///{path}",
        NEWSMON_DATA_DIR=str(path.parent / "data"),
        NEWSMON_DEFAULT_FEEDS="false",
        NEWSMON_LOG_LEVEL="WARNING",
    )
    env.update(extra)
    return env


def _opml(tmp_path: Path, count: int, name: str = "subs.opml") -> Path:
    outlines = "".join(
        f'<outline type="rss" text="Outlet {n}" xmlUrl="https://outlet{n}.example/feed.xml"/>'
        for n in range(count)
    )
    path = tmp_path / name
    path.write_text(
        f'<?xml version="1.0"?><opml version="2.0"><body>{outlines}'
        '<outline type="rss" text="Private" xmlUrl="http://10.0.0.1/feed.xml"/></body></opml>'
    )
    return path


def feeds_import(path: Path, opml: Path, **extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [NEWSMON, "feeds", "import", str(opml)],
        env=_env(path, **extra),
        capture_output=True,
        text=True,
        timeout=120,
    )


def _column(path: Path, query: str) -> list[str]:
    connection = sqlite3.connect(path)
    try:
        return [row[0] for row in connection.execute(query)]
    finally:
        connection.close()


def _urls(path: Path) -> list[str]:
    return _column(path, "SELECT url FROM feed ORDER BY id")


def _audits(path: Path) -> list[str]:
    return _column(path, "SELECT detail FROM audit_log ORDER BY id")


def test_an_import_into_a_current_file_never_loads_sqlalchemy(tmp_path: Path) -> None:
    path = tmp_path / "newsmon.db"
    assert migrate.upgrade_sqlite_file(path)
    opml = _opml(tmp_path, 3)

    def probe() -> list[str]:
        done = subprocess.run(
            [sys.executable, "-c", PROBE, str(opml)],
            env=_env(path),
            capture_output=True,
            text=True,
            timeout=120,
            cwd=ROOT,
            check=True,
        )
        assert "skipped http://10.0.0.1/feed.xml: 10.0.0.1 is a private address" in done.stderr
        return done.stdout.strip().splitlines()

    assert probe() == ["imported 3 feeds; 0 already subscribed, 1 rejected", "0 False"]
    assert probe() == ["imported 0 feeds; 3 already subscribed, 1 rejected", "0 False"]
    assert _urls(path) == [f"https://outlet{n}.example/feed.xml" for n in range(3)]
    assert _audits(path) == [
        '{"added": 3, "skipped": 0, "rejected": 1, "feeds": [1, 2, 3]}',
        '{"added": 0, "skipped": 3, "rejected": 1, "feeds": []}',
    ]
    assert not (tmp_path / "newsmon.db-wal").exists()  # closed: nothing left in a WAL


def test_the_first_import_subscribes_the_default_feeds_too(tmp_path: Path) -> None:
    by_driver, by_engine = tmp_path / "driver.db", tmp_path / "engine.db"
    assert migrate.upgrade_sqlite_file(by_driver)
    opml = _opml(tmp_path, 2)

    for path in (by_driver, by_engine):  # the engine's path: a new database, created
        done = feeds_import(
            path, opml, NEWSMON_DEFAULT_FEEDS="true", NEWSMON_CREATE_DATABASE="true"
        )
        assert done.returncode == 0, done.stderr

    urls = _urls(by_driver)
    assert urls == _urls(by_engine)
    assert urls[0] == "newsmon:sample" and len(urls) > 3
    assert urls[-2:] == [f"https://outlet{n}.example/feed.xml" for n in range(2)]


def test_a_missing_database_is_refused_and_not_created(tmp_path: Path) -> None:
    path = tmp_path / "nowhere" / "newsmon.db"

    done = feeds_import(path, _opml(tmp_path, 1))

    assert done.returncode == 2
    assert f"no newsmon database at {path}" in done.stderr
    assert not path.exists()


def test_an_older_database_is_migrated_then_imported_into(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    engine = make_engine(f"sqlite:///{path}")
    migrate.upgrade(engine, "0008_alerts")
    engine.dispose()

    done = feeds_import(path, _opml(tmp_path, 2))

    assert done.returncode == 0, done.stderr
    assert _urls(path) == [f"https://outlet{n}.example/feed.xml" for n in range(2)]
    connection = sqlite3.connect(path)
    version = connection.execute("SELECT version_num FROM alembic_version").fetchall()
    connection.close()
    assert version == [(migrate.HEAD,)]


def test_a_file_that_is_not_a_database_is_reported_and_left_alone(tmp_path: Path) -> None:
    path = tmp_path / "notes.db"
    junk = b"these are someone's notes, not a database\n" * 200
    path.write_bytes(junk)

    done = feeds_import(path, _opml(tmp_path, 1))

    assert done.returncode == 1
    assert done.stderr.strip() == (
        f"error: cannot use the database at {path}: file is not a database"
    )
    assert path.read_bytes() == junk


def test_a_failed_write_is_a_clear_error_and_stores_nothing(tmp_path: Path) -> None:
    path = tmp_path / "newsmon.db"
    assert migrate.upgrade_sqlite_file(path)
    connection = connect(path)
    connection.execute(
        "CREATE TRIGGER refuse AFTER INSERT ON feed WHEN NEW.url LIKE '%outlet2%' "
        "BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END"
    )
    connection.close()

    done = feeds_import(path, _opml(tmp_path, 4))

    assert done.returncode == 1
    assert done.stderr.strip().splitlines()[-1] == (
        f"error: cannot import into the database at {path}: database or disk is full"
    )
    assert _urls(path) == []  # one transaction: outlet0 and outlet1 are not kept either
    assert _audits(path) == []


@pytest.mark.parametrize("engine_first", [False, True])
def test_two_imports_at_once_subscribe_each_feed_once(tmp_path: Path, engine_first: bool) -> None:
    path = tmp_path / "newsmon.db"
    assert migrate.upgrade_sqlite_file(path)
    if engine_first:  # one of them on the engine's path (a URL the driver leaves alone)
        urls = [f"sqlite:///{path}?timeout=10", f"sqlite:///{path}"]
    else:
        urls = [f"sqlite:///{path}"] * 2
    opml = _opml(tmp_path, 40)
    runs = [
        subprocess.Popen(
            [NEWSMON, "feeds", "import", str(opml)],
            env={**_env(path), "NEWSMON_DATABASE_URL": url},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for url in urls
    ]
    outputs = [run.communicate(timeout=120) for run in runs]

    assert [run.returncode for run in runs] == [0, 0], outputs
    added = sorted(int(out.split()[1]) for out, _ in outputs)
    assert sum(added) == 40  # each feed added by exactly one of them
    assert sorted(_urls(path)) == sorted(f"https://outlet{n}.example/feed.xml" for n in range(40))


def test_only_errors_that_make_the_database_unusable_lose_their_traceback() -> None:
    from sqlalchemy.exc import IntegrityError, OperationalError

    from app.cli.main import unusable_database

    locked = sqlite3.OperationalError("database is locked")
    foreign = sqlite3.DatabaseError("file is not a database")
    assert unusable_database(locked) is locked
    assert unusable_database(foreign) is foreign
    assert unusable_database(OperationalError("SELECT 1", {}, locked)) is locked
    # a bug (a broken constraint, a wrong statement) keeps its traceback
    assert unusable_database(sqlite3.IntegrityError("UNIQUE constraint failed")) is None
    assert unusable_database(IntegrityError("INSERT", {}, sqlite3.IntegrityError("x"))) is None
    assert unusable_database(ValueError("file is not a database")) is None
