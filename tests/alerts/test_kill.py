"""A sender killed (SIGKILL) between handing a message over and recording it.

E-mail: the SMTP server has the message when the process dies; the next runner finds
the delivery in ``sending`` (its Message-ID recorded before) and does not send it again:
one e-mail, and the owner sees the delivery as "unknown" with the reason.
Webhook: the receiver has the POST; the next runner sends it again with the same
Idempotency-Key, so a receiver that honours the key keeps one delivery.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path

import pytest
from sqlalchemy import select

from app.alerts.runner import AlertRunner
from app.polling.poller import Poller
from app.store.alerts import AlertRuleStore, OutboxStore
from app.store.db import Database
from app.store.tables import Outbox
from app.store.users import UserView
from tests.alerts.conftest import SECRET_KEY, Clock
from tests.alerts.feeds import mixed_feed
from tests.alerts.receivers import SmtpServer, WebhookReceiver
from tests.support.db import DbTarget
from tests.support.feedsrv import FeedServer
from tests.support.polling import add_feed

NEWSMON = str(Path(sys.executable).with_name("newsmon"))


def start_runner(target: DbTarget, tmp_path: Path, smtp_port: int) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSMON_")}
    env.update(
        NEWSMON_DATABASE_URL=target.url,
        NEWSMON_DATA_DIR=str(tmp_path / "data"),
        NEWSMON_SECRET_KEY=SECRET_KEY,
        NEWSMON_DEFAULT_FEEDS="false",
        NEWSMON_LOG_LEVEL="WARNING",
        NEWSMON_WEBHOOK_ALLOWLIST='["127.0.0.0/8"]',
        NEWSMON_SMTP_HOST="127.0.0.1",
        NEWSMON_SMTP_PORT=str(smtp_port),
        NEWSMON_SMTP_FROM="alerts@newsmon.test",
        NEWSMON_ALERTS_INTERVAL_SECONDS="0.2",
    )
    return subprocess.Popen(
        [NEWSMON, "alerts", "run"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def setup_rule(
    db: Database,
    users: dict[str, UserView],
    make_view: Callable[..., int],
    feed_server: FeedServer,
    alert_poller: Callable[..., Poller],
    **rule: str,
) -> int:
    view = make_view("Relevant", "")
    with db.write() as session:
        rule_id = (
            AlertRuleStore(session, SECRET_KEY)
            .create(view, by=users["editor"], shared=True, now=datetime.now(UTC), **rule)
            .id
        )
    feed_server.add_file("/one.xml", mixed_feed())
    add_feed(db, feed_server.url("/one.xml"))
    asyncio.run(alert_poller().poll_due())
    return rule_id


def wait_dead(proc: subprocess.Popen[str]) -> int:
    try:
        proc.communicate(timeout=60)  # also closes the pipes
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    return proc.returncode


async def run_once(runner: AlertRunner) -> None:
    try:
        await runner.run_once()
    finally:
        await runner.aclose()


@pytest.mark.parametrize("db_target", ["sqlite"], indirect=True)
def test_an_email_handed_over_before_the_kill_is_not_sent_again(
    db: Database,
    db_target: DbTarget,
    tmp_path: Path,
    smtp_server: SmtpServer,
    feed_server: FeedServer,
    alert_poller: Callable[..., Poller],
    users: dict[str, UserView],
    make_view: Callable[..., int],
    runner: AlertRunner,
    clock: Clock,
) -> None:
    rule = setup_rule(
        db, users, make_view, feed_server, alert_poller, channel="email", target="a@example.org"
    )
    proc = start_runner(db_target, tmp_path, smtp_server.port)

    def kill(msg: EmailMessage) -> None:  # the server keeps the message, the sender dies
        os.kill(proc.pid, signal.SIGKILL)
        time.sleep(0.2)

    smtp_server.on_data = kill
    assert wait_dead(proc) == -signal.SIGKILL
    smtp_server.on_data = None
    assert len(smtp_server.messages) == 1
    with db.read() as session:
        rows = list(session.scalars(select(Outbox).where(Outbox.rule_id == rule)))
    assert {r.status for r in rows} == {"sending"}
    assert {r.message_id for r in rows} == {smtp_server.messages[0].message["Message-ID"]}

    # A later runner, once the dead sender's lease has run out.
    clock.advance(minutes=3)
    asyncio.run(run_once(runner))
    clock.advance(hours=1)
    asyncio.run(run_once(runner))
    assert len(smtp_server.messages) == 1
    with db.read() as session:
        failures = OutboxStore(session).failures(rule)
    assert failures and {f.status for f in failures} == {"unknown"}
    assert "not sent again" in (failures[0].last_error or "")


@pytest.mark.parametrize("db_target", ["sqlite"], indirect=True)
def test_a_webhook_posted_before_the_kill_is_repeated_with_the_same_key(
    db: Database,
    db_target: DbTarget,
    tmp_path: Path,
    smtp_server: SmtpServer,
    feed_server: FeedServer,
    alert_poller: Callable[..., Poller],
    users: dict[str, UserView],
    make_view: Callable[..., int],
    runner: AlertRunner,
    clock: Clock,
) -> None:
    with WebhookReceiver() as receiver:
        rule = setup_rule(
            db, users, make_view, feed_server, alert_poller, channel="webhook", target=receiver.url
        )
        proc = start_runner(db_target, tmp_path, smtp_server.port)
        receiver.kill_pid = proc.pid
        assert wait_dead(proc) == -signal.SIGKILL
        assert len(receiver.hooks) == 1
        clock.advance(minutes=3)
        asyncio.run(run_once(runner))
        assert len(receiver.hooks) == 2  # at least once: sent again after the crash
        keys = receiver.unique()
        assert len(keys) == 1  # ... under the same Idempotency-Key
        assert sorted(receiver.article_ids()) == sorted(
            {a["id"] for a in receiver.hooks[0].body["articles"]}
        )
        with db.read() as session:
            rows = OutboxStore(session).for_rule(rule)
        assert {r.status for r in rows} == {"sent"}
