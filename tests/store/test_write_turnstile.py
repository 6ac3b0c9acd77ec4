"""SQLite's one writer, shared fairly: an editor's write does not wait behind a poller
that commits batch after batch (the turnstile of ``app.store.db``), across processes
and within one, and a write that ends in another thread than it began frees the way."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from app.core.errors import StorageBusy
from app.store.db import Database, make_engine

# A poller stand-in: back-to-back write transactions of 30 ms each, as a busy poller's
# feed batches are, until the stop file appears.
BACKGROUND = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from sqlalchemy import text
    from app.store.db import Database, make_engine

    url, stop, mode = sys.argv[1], Path(sys.argv[2]), sys.argv[3]
    if mode == "plain":  # no turnstile at all: SQLite's busy handler alone
        db = Database(make_engine(url), turnstile=False)
    else:
        db = Database.from_url(url, background=mode == "background")
    while not stop.exists():
        with db.write() as session:
            session.execute(text("INSERT INTO log (who) VALUES ('poller')"))
            time.sleep(0.03)
    """
)


def rows_between(db: Database, after: int, before: int) -> int:
    with db.read() as session:
        return int(
            session.scalar(
                text("SELECT count(*) FROM log WHERE who = 'poller' AND id > :a AND id < :b"),
                {"a": after, "b": before},
            )
            or 0
        )


def last_id(db: Database) -> int:
    with db.read() as session:
        return int(session.scalar(text("SELECT coalesce(max(id), 0) FROM log")) or 0)


@pytest.fixture
def sqlite_db(tmp_path: Path) -> Iterator[tuple[str, Database]]:
    url = f"sqlite:///{tmp_path / 'turnstile.db'}"
    db = Database.from_url(url)
    with db.write() as session:
        session.execute(
            text("CREATE TABLE log (id INTEGER PRIMARY KEY AUTOINCREMENT, who TEXT NOT NULL)")
        )
    yield url, db
    db.dispose()


def poller_commits_while_an_editor_writes(
    url: str, db: Database, tmp_path: Path, *, mode: str, writes: int
) -> list[int]:
    """How many poller transactions committed while each editor write waited."""
    stop = tmp_path / f"stop-{mode}"
    proc = subprocess.Popen([sys.executable, "-c", BACKGROUND, url, str(stop), mode])
    try:
        while last_id(db) < 3:  # the poller is writing
            assert proc.poll() is None
            time.sleep(0.01)
        overtaken = []
        for _ in range(writes):
            before = last_id(db)
            try:
                with db.write() as session:
                    session.execute(text("INSERT INTO log (who) VALUES ('editor')"))
                    mine = int(session.scalar(text("SELECT last_insert_rowid()")) or 0)
            except StorageBusy:  # starved for the whole busy timeout: a 503 for the editor
                mine = last_id(db) + 1
            overtaken.append(rows_between(db, before, mine))
            time.sleep(0.05)
        return overtaken
    finally:
        stop.touch()
        proc.wait(timeout=30)


def test_an_editor_write_waits_for_one_poller_batch_at_most(
    sqlite_db: tuple[str, Database], tmp_path: Path
) -> None:
    url, db = sqlite_db
    overtaken = poller_commits_while_an_editor_writes(
        url, db, tmp_path, mode="background", writes=8
    )
    # the batch under way when the editor asked, and at most one that began as it asked
    assert max(overtaken) <= 2, overtaken


def test_without_the_turnstile_the_poller_overtakes_the_editor(
    sqlite_db: tuple[str, Database], tmp_path: Path
) -> None:
    """The control: the same poller with no turnstile. SQLite's busy handler sleeps and
    retries, so batch after batch commits before the editor's write gets in. (This is
    what the test above would see without the turnstile.)"""
    url, _ = sqlite_db
    # the editor without it too: SQLite's busy handler alone on both sides
    editor = Database(make_engine(url), turnstile=False)
    try:
        overtaken = poller_commits_while_an_editor_writes(
            url, editor, tmp_path, mode="plain", writes=4
        )
    finally:
        editor.dispose()
    assert sum(overtaken) > 2 * len(overtaken), overtaken


def test_a_write_that_ends_in_another_thread_frees_the_way(
    sqlite_db: tuple[str, Database],
) -> None:
    """FastAPI may enter a session dependency in one worker thread and leave it in
    another; the poller and the next editor must not wait for ever afterwards."""
    url, db = sqlite_db
    write = db.write()
    session = write.__enter__()
    session.execute(text("INSERT INTO log (who) VALUES ('editor')"))
    ender = threading.Thread(target=write.__exit__, args=(None, None, None))
    ender.start()
    ender.join(timeout=30)

    poller = Database.from_url(url, background=True)
    done: list[str] = []

    def background_write() -> None:
        with poller.write() as s:
            s.execute(text("INSERT INTO log (who) VALUES ('poller')"))
        done.append("poller")

    worker = threading.Thread(target=background_write)
    worker.start()
    worker.join(timeout=30)
    with db.write() as s:
        s.execute(text("INSERT INTO log (who) VALUES ('editor')"))
    poller.dispose()
    assert done == ["poller"]
    with db.read() as s:
        assert list(s.scalars(text("SELECT who FROM log ORDER BY id"))) == [
            "editor",
            "poller",
            "editor",
        ]


def test_the_in_process_poller_gives_way_to_the_web_in_the_same_process(
    sqlite_db: tuple[str, Database],
) -> None:
    """``as_background`` shares the engine yet queues behind the web's write: while an
    editor's transaction is open, the poller's next write does not begin."""
    _, db = sqlite_db
    poller = db.as_background()
    order: list[str] = []

    def background_write() -> None:
        with poller.write() as s:
            s.execute(text("INSERT INTO log (who) VALUES ('poller')"))  # its BEGIN
            order.append("poller began")

    with db.write() as session:
        session.execute(text("INSERT INTO log (who) VALUES ('editor')"))
        worker = threading.Thread(target=background_write)
        worker.start()
        worker.join(timeout=0.5)  # it waits at the turnstile, not inside SQLite
        order.append("editor commits")
    worker.join(timeout=30)
    assert order == ["editor commits", "poller began"]


def _busy_timeout(db: Database) -> int:
    with db.write() as session:
        return int(session.scalar(text("PRAGMA busy_timeout")) or 0)


def test_an_editor_write_begins_once_a_lock_held_outside_is_free(
    sqlite_db: tuple[str, Database], tmp_path: Path
) -> None:
    """The editor asks for the lock every millisecond (``_begin_promptly``) instead of
    SQLite's growing sleeps; it still waits as long as the lock is held, gets in when it
    is free, and its connection keeps the usual busy timeout for everything else."""
    _, db = sqlite_db
    holder = sqlite3.connect(tmp_path / "turnstile.db", isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    holder.execute("INSERT INTO log (who) VALUES ('outside')")
    wrote: list[str] = []

    def editor() -> None:
        with db.write() as session:
            session.execute(text("INSERT INTO log (who) VALUES ('editor')"))
        wrote.append("editor")

    worker = threading.Thread(target=editor)
    worker.start()
    worker.join(timeout=0.3)
    assert wrote == [] and worker.is_alive()  # still waiting: the lock is held
    holder.execute("COMMIT")
    holder.close()
    worker.join(timeout=30)
    assert wrote == ["editor"]
    with db.read() as session:
        assert list(session.scalars(text("SELECT who FROM log ORDER BY id"))) == [
            "outside",
            "editor",
        ]
    assert _busy_timeout(db) == 10_000


def test_an_editor_starved_for_the_whole_busy_timeout_gets_busy_and_loses_nothing(
    sqlite_db: tuple[str, Database], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import app.store.db as dbmod

    _, db = sqlite_db
    monkeypatch.setattr(dbmod, "BUSY_TIMEOUT_MS", 200)
    holder = sqlite3.connect(tmp_path / "turnstile.db", isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        with pytest.raises(StorageBusy), db.write() as session:
            session.execute(text("INSERT INTO log (who) VALUES ('editor')"))
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert _busy_timeout(db) == 200  # restored on the way out of a failed wait too
    with db.write() as session:  # the next write goes through
        session.execute(text("INSERT INTO log (who) VALUES ('editor')"))
    with db.read() as session:
        assert list(session.scalars(text("SELECT who FROM log"))) == ["editor"]
