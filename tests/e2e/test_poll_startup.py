"""``newsmon poll``'s start and end: only its own command module is imported, the fork
server boots at once when a new feed will bring a body to parse, small writes share
transactions, and the process ends without the interpreter's teardown once its output
is flushed and its database closed."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import update
from sqlalchemy.orm import Session

from app.cli.poll import _never_polled
from app.polling.writer import GroupWriter
from app.store import migrate
from app.store.db import Database
from app.store.feeds import FeedStore
from app.store.tables import Feed
from tests.e2e.test_poller_concurrency import cli_env, subprocess_url
from tests.support.db import DbTarget
from tests.support.feedsrv import FeedServer
from tests.support.polling import add_feed

ROOT = Path(__file__).resolve().parents[2]


def test_a_named_command_imports_its_own_module_only() -> None:
    probe = (
        "import sys; from app.cli.main import build_parser; build_parser(sys.argv[1:]); "
        "print(' '.join(sorted(m for m in sys.modules if m.startswith('app.cli.'))))"
    )

    def loaded(*argv: str) -> set[str]:
        done = subprocess.run(
            [sys.executable, "-c", probe, *argv],
            capture_output=True,
            text=True,
            timeout=60,
            cwd=ROOT,
            check=True,
        )
        return set(done.stdout.split())

    poll = loaded("poll", "--once")
    assert "app.cli.poll" in poll
    assert not poll & {"app.cli.alerts", "app.cli.serve", "app.cli.users", "app.cli.tagger"}
    assert "app.cli.tagger" in loaded("retag")  # a module that registers several commands
    # anything else (help, a misspelt command) builds the whole parser
    assert {"app.cli.alerts", "app.cli.poll", "app.cli.serve"} <= loaded("polll")


def test_a_command_process_collects_garbage_in_batches_and_serve_goes_back(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A command run as its own process starts with the poller's collection thresholds
    (its imports are most of its start-up); ``main`` called as a library leaves the
    caller's alone, and ``serve`` hands uvicorn the interpreter's defaults."""
    import gc

    from app.cli import serve
    from app.cli.main import DEFAULT_GC
    from app.config import load_settings
    from app.polling import GC_THRESHOLDS

    probe = (
        "import gc, sys; from app.cli.main import main; before = gc.get_threshold(); "
        "sys.argv = ['newsmon']; main(); print(*before, *gc.get_threshold(), file=sys.stderr)"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, cwd=ROOT
    )
    *before, t0, t1, t2 = map(int, done.stderr.split())
    assert (t0, t1, t2) == GC_THRESHOLDS != tuple(before)
    library = gc.get_threshold()
    from app.cli.main import main

    assert main([]) == 2  # no command: the help, and the thresholds untouched
    assert gc.get_threshold() == library

    seen: list[tuple[int, ...]] = []
    monkeypatch.setattr("uvicorn.run", lambda *a, **k: seen.append(gc.get_threshold()))
    gc.set_threshold(*GC_THRESHOLDS)
    try:
        settings = load_settings(secret=False)
        serve._run_uvicorn(settings, settings, "127.0.0.1", 0, 1)
    finally:
        gc.set_threshold(*library)
    assert seen == [DEFAULT_GC]


def test_poll_ends_without_teardown_once_flushed_and_closed(
    tmp_path: Path, feed_server: FeedServer
) -> None:
    target = DbTarget("sqlite", f"sqlite:///{tmp_path / 'newsmon.db'}")
    db = target.database()
    migrate.upgrade(db.engine)
    add_feed(db, feed_server.url("/feed.xml"))
    db.dispose()
    # The console script's path: main() reads sys.argv. An atexit handler would run at
    # the interpreter's teardown, which a finished poll skips.
    script = (
        "import atexit, sys; atexit.register(print, 'torn down', file=sys.stderr); "
        "from app.cli.main import main; sys.exit(main())"
    )

    def run(code: str, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-c", code, *args],
            env=cli_env(subprocess_url(target), tmp_path),
            capture_output=True,
            text=True,
            timeout=120,
            cwd=ROOT,
        )

    done = run(script, "poll", "--once", "--no-fulltext")
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1].startswith("1 feeds polled: ")  # flushed
    assert "torn down" not in done.stderr
    # the engine was disposed first: SQLite checkpointed and removed its WAL
    assert not (tmp_path / "newsmon.db-wal").exists()
    # a caller passing argv (tests, tools) keeps its process
    kept = run(script.replace("main()", "main(sys.argv[1:])"), "poll", "--once")
    assert kept.returncode == 0, kept.stderr
    assert "torn down" in kept.stderr


def test_never_polled_is_asked_of_new_subscriptions_only(
    db: Database, feed_server: FeedServer, tmp_path: Path
) -> None:
    assert not _never_polled(db)  # no feed at all
    feed_id = add_feed(db, feed_server.url("/feed.xml"))
    assert _never_polled(db)
    with db.write() as session:
        FeedStore(session).remove(feed_id)
    add_feed(db, feed_server.url("/etag"))
    with db.write() as session:  # as a poll records it
        session.execute(update(Feed).values(last_polled_at=datetime.now(UTC)))
    assert not _never_polled(db)
    empty = Database.from_url(f"sqlite:///{tmp_path / 'empty.db'}")
    assert not _never_polled(empty)  # no schema yet: no early start, no error
    empty.dispose()


EARLY_PROBE = """
import os, sys
from multiprocessing import forkserver
from app.cli.poll import _boot_parse_workers_early
from app.config import load_settings
booted = _boot_parse_workers_early(load_settings(secret=False))
server = getattr(getattr(forkserver, "_forkserver", None), "_forkserver_pid", None)
alive = server is not None and os.waitpid(server, os.WNOHANG) == (0, 0)
print(booted, alive, "sqlalchemy" in sys.modules)
"""


def test_the_fork_server_boots_before_the_poll_imports_sqlalchemy(
    tmp_path: Path, feed_server: FeedServer
) -> None:
    """On a SQLite file with a new subscription, the parse workers' fork server (the
    tagger's ~0.4 s start-up) starts before the poll's own imports, so the two run on two
    cores. With no new feed it answers no; where it cannot look (no file, not a database)
    it answers None, and the poll asks through the engine later. Never does it create,
    change or fail on the file."""
    path = tmp_path / "newsmon.db"

    def probe(url: str) -> list[str]:
        done = subprocess.run(
            [sys.executable, "-c", EARLY_PROBE],
            env=cli_env(url, tmp_path),
            capture_output=True,
            text=True,
            timeout=120,
            cwd=ROOT,
            check=True,
        )
        return done.stdout.split()

    url = f"sqlite:///{path}"
    assert probe(url) == ["None", "False", "False"]  # no file yet: none is created
    assert not path.exists()
    db = Database.from_url(url)
    migrate.upgrade(db.engine)
    assert probe(url) == ["False", "False", "False"]  # no feed
    feed_id = add_feed(db, feed_server.url("/feed.xml"))
    assert probe(url) == ["True", "True", "False"]  # a new feed: booted, SQLAlchemy not loaded
    with db.write() as session:  # as a poll records it
        session.execute(
            update(Feed).where(Feed.id == feed_id).values(last_polled_at=datetime.now(UTC))
        )
    assert probe(url) == ["False", "False", "False"]
    db.dispose()
    (tmp_path / "not-a-db").write_bytes(b"plain text, not SQLite" * 100)
    assert probe(f"sqlite:///{tmp_path / 'not-a-db'}") == ["None", "False", "False"]


@pytest.mark.anyio
async def test_small_writes_that_trickle_in_share_a_transaction(db: Database) -> None:
    writer = GroupWriter(db, linger=0.5)

    def write(session: Session) -> int:
        return FeedStore(session).count()

    first = asyncio.ensure_future(writer.run(write, small=True))
    await asyncio.sleep(0.05)  # the first write's group is waiting for company
    second = asyncio.ensure_future(writer.run(write, small=True))
    assert await asyncio.gather(first, second) == [0, 0]
    assert writer.groups == 1  # one shared transaction (alone, each had its own)
