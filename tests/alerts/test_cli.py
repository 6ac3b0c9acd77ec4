"""``newsmon views`` and ``newsmon alerts`` through the real console script, then
``newsmon poll --once`` delivering to a real webhook receiver and SMTP server."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.alerts.feeds import mixed_feed
from tests.alerts.receivers import SmtpServer, WebhookReceiver
from tests.support.feedsrv import FeedServer

NEWSMON = str(Path(sys.executable).with_name("newsmon"))


@pytest.fixture
def env(tmp_path: Path, smtp_server: SmtpServer) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("NEWSMON_")}
    base.update(
        NEWSMON_DATABASE_URL=f"sqlite:///{tmp_path / 'newsmon.db'}",
        NEWSMON_DATA_DIR=str(tmp_path / "data"),
        NEWSMON_DEFAULT_FEEDS="false",
        NEWSMON_PARSE_WORKERS="1",
        NEWSMON_LOG_LEVEL="WARNING",
        NEWSMON_ALLOW_PRIVATE_NETWORKS="true",
        NEWSMON_WEBHOOK_ALLOWLIST='["127.0.0.0/8"]',
        NEWSMON_SMTP_HOST="127.0.0.1",
        NEWSMON_SMTP_PORT=str(smtp_server.port),
        NEWSMON_SMTP_FROM="alerts@newsmon.test",
        NEWSMON_BASE_URL="https://newsmon.test",
    )
    return base


def newsmon(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([NEWSMON, *args], env=env, capture_output=True, text=True, timeout=120)


def test_views_and_alerts_from_the_command_line(
    env: dict[str, str],
    feed_server: FeedServer,
    receiver: WebhookReceiver,
    smtp_server: SmtpServer,
) -> None:
    assert newsmon(env, "db", "upgrade").returncode == 0  # as the README sets up a database
    added = newsmon(env, "views", "add", "Security", "--query", "theme=security&limit=5")
    assert added.returncode == 0, added.stderr
    assert "added view 1: Security (team) ?theme=security" in added.stdout  # limit dropped
    bad = newsmon(env, "views", "add", "Bad", "--query", "theme=weather")
    assert bad.returncode == 1 and "unknown theme 'weather'" in bad.stderr
    listed = newsmon(env, "views", "list")
    assert "Security" in listed.stdout and "team" in listed.stdout

    hook = newsmon(
        env, "alerts", "add", "Security", "--webhook", receiver.url, "--secret", "whsec-test"
    )
    assert hook.returncode == 0, hook.stderr
    assert "added alert 1: new on “Security” → webhook" in hook.stdout
    mail = newsmon(
        env,
        "alerts",
        "add",
        "1",
        "--email",
        "team@example.org",
        "--batch",
        "15m",
        "--language",
        "de",
    )
    assert mail.returncode == 0, mail.stderr
    wrong = newsmon(env, "alerts", "add", "Security", "--email", "not-an-address")
    assert wrong.returncode == 1 and "not an e-mail address" in wrong.stderr
    listed = newsmon(env, "alerts", "list")
    assert "webhook" in listed.stdout and "team@example.org" in listed.stdout

    tested = newsmon(env, "alerts", "test", "1")
    assert tested.returncode == 0 and "test sent" in tested.stdout, tested.stdout + tested.stderr
    first = receiver.wait_for(1)
    assert first[0].body["event"] == "test" and first[0].signed_ok

    feed_server.add_file("/one.xml", mixed_feed())
    assert newsmon(env, "feeds", "add", feed_server.url("/one.xml")).returncode == 0
    polled = newsmon(env, "poll", "--once", "--no-fulltext")
    assert polled.returncode == 0, polled.stderr
    hooks = receiver.wait_for(2)
    assert len(hooks) == 2 and hooks[1].body["event"] == "new"
    assert len(hooks[1].body["articles"]) == 2
    assert smtp_server.messages == []  # batched: its window has not closed yet

    removed = newsmon(env, "alerts", "remove", "1")
    assert removed.returncode == 0 and "removed alert 1" in removed.stdout
    assert "webhook" not in newsmon(env, "alerts", "list").stdout


def test_a_failing_test_prints_the_error(env: dict[str, str]) -> None:
    assert newsmon(env, "db", "upgrade").returncode == 0
    assert newsmon(env, "views", "add", "All", "--query", "relevance=all").returncode == 0
    # Nothing listens on port 9 of the loopback; the allowlist lets it be tried.
    assert newsmon(env, "alerts", "add", "All", "--webhook", "http://127.0.0.1:9/x").returncode == 0
    tested = newsmon(env, "alerts", "test", "1")
    assert tested.returncode == 1
    assert "test failed" in tested.stdout and "Connect" in tested.stdout
