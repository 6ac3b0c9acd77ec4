"""The real ``newsmon`` console script in subprocesses, against a SQLite file in tmp_path."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from tests.support.feedsrv import FeedServer
from tests.support.rss import rss, story

NEWSMON = str(Path(sys.executable).with_name("newsmon"))


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("NEWSMON_")}
    base.update(
        NEWSMON_DATABASE_URL=f"sqlite:///{tmp_path / 'newsmon.db'}",
        NEWSMON_DATA_DIR=str(tmp_path / "data"),
        NEWSMON_DEFAULT_FEEDS="false",
        NEWSMON_CREATE_DATABASE="true",  # each test starts from an empty folder
        NEWSMON_PARSE_WORKERS="1",
        NEWSMON_LOG_LEVEL="WARNING",
    )
    return base


def newsmon(env: dict[str, str], *args: str, **extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [NEWSMON, *args], env={**env, **extra}, capture_output=True, text=True, timeout=120
    )


PRIVATE = {"NEWSMON_ALLOW_PRIVATE_NETWORKS": "true"}


def test_add_list_poll_remove(env: dict[str, str], feed_server: FeedServer) -> None:
    feed_server.add_file("/news.xml", rss([story(1), story(2)]))
    url = feed_server.url("/news.xml")

    added = newsmon(env, "feeds", "add", url, **PRIVATE)
    assert added.returncode == 0 and f"added feed 1: {url}" in added.stdout
    again = newsmon(env, "feeds", "add", url, **PRIVATE)
    assert again.returncode == 1 and "already subscribed" in again.stderr

    polled = newsmon(env, "poll", "--once", **PRIVATE)
    assert polled.returncode == 0, polled.stderr
    assert polled.stdout.strip().splitlines()[-1] == (
        "1 feeds polled: 2 new, 0 updated articles, 0 errors"
    )

    listed = newsmon(env, "feeds", "list")
    assert listed.returncode == 0
    row = next(line for line in listed.stdout.splitlines() if url in line)
    assert " ok " in row and " 2 " in row

    removed = newsmon(env, "feeds", "remove", url)
    assert removed.returncode == 0 and "removed feed 1" in removed.stdout
    assert "no feeds" in newsmon(env, "feeds", "list").stdout
    db = sqlite3.connect(env["NEWSMON_DATABASE_URL"].removeprefix("sqlite:///"))
    assert db.execute("SELECT count(*) FROM article").fetchone() == (0,)
    db.close()


def test_enable_polls_a_disabled_feed_again(env: dict[str, str], feed_server: FeedServer) -> None:
    feed_server.add_route("/news.xml", lambda r: r.reply(410, b"gone", content_type="text/plain"))
    url = feed_server.url("/news.xml")
    assert newsmon(env, "feeds", "add", url, **PRIVATE).returncode == 0
    for _ in range(2):  # a first 410 may wait for the next poll to confirm it
        assert newsmon(env, "poll", "--once", "--all", **PRIVATE).returncode == 0
    listed = newsmon(env, "feeds", "list").stdout
    assert " disabled " in listed and "410" in listed
    hits = feed_server.hits("/news.xml")
    assert "0 feeds polled" in newsmon(env, "poll", "--once", "--all", **PRIVATE).stdout

    enabled = newsmon(env, "feeds", "enable", url)

    assert enabled.returncode == 0, enabled.stderr
    assert enabled.stdout.splitlines() == [f"enabled feed 1: {url}; it is polled next"]
    row = next(line for line in newsmon(env, "feeds", "list").stdout.splitlines() if url in line)
    status, failures = row.split()[1:3]
    assert status != "disabled" and failures == "0"
    feed_server.add_file("/news.xml", rss([story(1)]))
    polled = newsmon(env, "poll", "--once", **PRIVATE)  # due now, without --all
    assert polled.stdout.strip().splitlines()[-1] == (
        "1 feeds polled: 1 new, 0 updated articles, 0 errors"
    )
    assert feed_server.hits("/news.xml") == hits + 1
    db = sqlite3.connect(env["NEWSMON_DATABASE_URL"].removeprefix("sqlite:///"))
    assert db.execute("SELECT action, user_id FROM audit_log").fetchall() == [("feed.enable", None)]
    db.close()
    unknown = newsmon(env, "feeds", "enable", "42")
    assert unknown.returncode == 1 and "no feed with id 42" in unknown.stderr


def test_subscribing_to_a_private_address_is_refused_with_the_rule(
    env: dict[str, str],
) -> None:
    refused = newsmon(env, "feeds", "add", "http://127.0.0.1:9/x")
    assert refused.returncode != 0
    assert "Traceback" not in refused.stderr
    assert "loopback" in refused.stderr.lower() or "private" in refused.stderr.lower()
    assert "no feeds" in newsmon(env, "feeds", "list").stdout


def test_db_upgrade(env: dict[str, str]) -> None:
    first = newsmon(env, "db", "upgrade")
    assert first.returncode == 0 and "latest revision" in first.stdout
    assert newsmon(env, "db", "upgrade").returncode == 0


def test_backup_of_a_live_database_is_consistent(env: dict[str, str], tmp_path: Path) -> None:
    assert newsmon(env, "db", "upgrade").returncode == 0
    path = tmp_path / "newsmon.db"
    stop = threading.Event()
    written = [0]

    def writer() -> None:
        conn = sqlite3.connect(path, timeout=10, isolation_level=None)
        while not stop.is_set():
            conn.execute("BEGIN IMMEDIATE")
            conn.execute(
                "INSERT INTO fetch_log (feed_id, started_at, duration_ms, outcome, "
                "new_count, updated_count, skipped_count) "
                "SELECT id, '2026-01-01', 1, 'ok', 0, 0, 0 FROM feed"
            )
            conn.execute(
                "INSERT INTO feed (url, url_hash, created_at, next_poll_at, interval_seconds, "
                "consecutive_failures, redirect_count) VALUES (?, ?, '2026-01-01', "
                "'2026-01-01', 3600, 0, 0)",
                (f"https://x.example/{written[0]}", f"{written[0]:064d}"),
            )
            conn.execute("COMMIT")
            written[0] += 1
        conn.close()

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        while written[0] < 20:
            stop.wait(0.01)
        backup = tmp_path / "copy" / "backup.db"
        done = newsmon(env, "db", "backup", str(backup))
    finally:
        stop.set()
        thread.join()
    assert done.returncode == 0, done.stderr

    copy = sqlite3.connect(backup)
    assert copy.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    feeds = copy.execute("SELECT count(*) FROM feed").fetchone()[0]
    logs = copy.execute("SELECT count(*) FROM fetch_log").fetchone()[0]
    copy.close()
    # A consistent snapshot: the n-th transaction logged one row per earlier feed.
    assert feeds >= 20 and logs == feeds * (feeds - 1) // 2


def test_opml_import_reports_refused_urls_and_export_round_trips(
    env: dict[str, str], tmp_path: Path, feed_server: FeedServer
) -> None:
    opml = tmp_path / "subs.opml"
    opml.write_text(
        '<?xml version="1.0"?><opml version="2.0"><head><title>subs</title></head><body>'
        '<outline type="rss" text="Public" xmlUrl="https://news.example/feed.xml"/>'
        '<outline type="rss" text="Private" xmlUrl="http://10.0.0.1/feed.xml"/>'
        '<outline type="rss" text="Script" xmlUrl="javascript:alert(1)"/>'
        "</body></opml>"
    )
    # Name resolution of news.example is not needed: the rule judges literal addresses
    # at once and resolves names at poll time.
    imported = newsmon(env, "feeds", "import", str(opml))
    assert imported.returncode == 0, imported.stderr
    assert "skipped http://10.0.0.1/feed.xml: 10.0.0.1 is a private address" in imported.stderr
    assert "skipped javascript:alert(1): only http and https URLs" in imported.stderr
    exported = newsmon(env, "feeds", "export")
    assert exported.returncode == 0
    assert "10.0.0.1" not in exported.stdout and "javascript" not in exported.stdout
    assert "imported" in imported.stdout


def test_opml_import_ends_without_teardown_once_its_database_is_closed(
    env: dict[str, str], tmp_path: Path
) -> None:
    """A cold start runs ``feeds import`` before the first poll: like ``poll`` it skips
    the interpreter's teardown (~0.08 s), but only after closing its database."""
    opml = tmp_path / "subs.opml"
    outlines = "".join(
        f'<outline type="rss" text="Outlet {n}" xmlUrl="https://outlet{n}.example/feed.xml"/>'
        for n in range(3)
    )
    opml.write_text(f'<?xml version="1.0"?><opml version="2.0"><body>{outlines}</body></opml>')
    assert newsmon(env, "db", "upgrade").returncode == 0
    # The console script's path (main() reads sys.argv); an atexit handler would run at
    # the interpreter's teardown.
    script = (
        "import atexit, sys; atexit.register(print, 'torn down', file=sys.stderr); "
        "from app.cli.main import main; sys.exit(main())"
    )

    done = subprocess.run(
        [sys.executable, "-c", script, "feeds", "import", str(opml)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "imported 3 feeds; 0 already subscribed, 0 rejected"
    assert "torn down" not in done.stderr
    # disposed first: the subscriptions are in the database file, no WAL is left behind
    assert not (tmp_path / "newsmon.db-wal").exists()
    with sqlite3.connect(tmp_path / "newsmon.db") as connection:
        urls = [row[0] for row in connection.execute("SELECT url FROM feed ORDER BY url")]
    connection.close()
    assert urls == [f"https://outlet{n}.example/feed.xml" for n in range(3)]


def test_the_cli_mints_no_write_token_for_a_viewer(env: dict[str, str]) -> None:
    added = subprocess.run(
        [NEWSMON, "users", "add", "vera", "--role", "viewer", "--password-stdin"],
        env=env,
        input="a long enough password\n",
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert added.returncode == 0, added.stderr
    refused = newsmon(env, "tokens", "create", "--user", "vera", "--scope", "write")
    assert refused.returncode == 1
    assert "write tokens need the editor role" in refused.stderr
    assert "Traceback" not in refused.stderr
    assert "vera" not in newsmon(env, "tokens", "list").stdout  # nothing was created
    read = newsmon(env, "tokens", "create", "--user", "vera", "--scope", "read")
    assert read.returncode == 0 and read.stdout.strip().splitlines()[-1].startswith("nm_")
