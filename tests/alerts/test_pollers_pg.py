"""Two pollers on PostgreSQL ingest the same matching articles (neighbouring feeds carry
the same stories) and both send alerts: every (alert, article) arrives exactly once,
on the webhook and in the mailbox. The unique outbox key and SKIP LOCKED claims do it."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote

import pytest
from sqlalchemy import select

from app.core.timeline import THEME_BITS
from app.store.alerts import AlertRuleStore
from app.store.db import Database
from app.store.feeds import FeedStore
from app.store.tables import Article, Outbox
from app.store.users import UserView
from tests.alerts.conftest import SECRET_KEY
from tests.alerts.feeds import BAKERY, MARKET, SECURITY_DE, SECURITY_EN, item
from tests.alerts.receivers import SmtpServer, WebhookReceiver
from tests.support.db import DbTarget
from tests.support.feedsrv import FeedServer
from tests.support.rss import rss

NEWSMON = str(Path(sys.executable).with_name("newsmon"))
FEEDS = 6
STORIES = (SECURITY_EN, SECURITY_DE, MARKET, BAKERY)


def feed_body(f: int) -> bytes:
    # feed f carries stories f*4 .. f*4+7: each story is in two neighbouring feeds
    items = [item(n, STORIES[n % 4], tag=f" #{n}") for n in range(f * 4, f * 4 + 8)]
    return rss(items, title=f"Outlet {f}")


def subprocess_url(target: DbTarget) -> str:
    assert target.schema is not None
    sep = "&" if "?" in target.url else "?"
    return f"{target.url}{sep}options={quote(f'-csearch_path={target.schema}')}"


@pytest.mark.postgres
@pytest.mark.parametrize("db_target", ["postgres"], indirect=True)
def test_two_pollers_deliver_each_alert_exactly_once(
    db: Database,
    db_target: DbTarget,
    tmp_path: Path,
    feed_server: FeedServer,
    receiver: WebhookReceiver,
    smtp_server: SmtpServer,
    users: dict[str, UserView],
    make_view: object,
) -> None:
    view = make_view("Security", "theme=security")  # type: ignore[operator]
    now = datetime.now(UTC)
    with db.write() as session:
        rules = AlertRuleStore(session, SECRET_KEY)
        hook = rules.create(
            view,
            by=users["editor"],
            shared=True,
            now=now,
            channel="webhook",
            target=receiver.url,
            secret="whsec-test",
        ).id
        rules.create(view, by=users["viewer"], now=now, channel="email", target="v@example.org")
        feeds = FeedStore(session)
        for f in range(FEEDS):
            feed_server.add_file(f"/f{f}.xml", feed_body(f))
            feeds.add(feed_server.url(f"/f{f}.xml"), now=now)
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSMON_")}
    env.update(
        NEWSMON_DATABASE_URL=subprocess_url(db_target),
        NEWSMON_DATA_DIR=str(tmp_path / "data"),
        NEWSMON_SECRET_KEY=SECRET_KEY,
        NEWSMON_DEFAULT_FEEDS="false",
        NEWSMON_ALLOW_PRIVATE_NETWORKS="true",
        NEWSMON_WEBHOOK_ALLOWLIST='["127.0.0.0/8"]',
        NEWSMON_PARSE_WORKERS="1",
        NEWSMON_POLL_BATCH_SIZE="1",
        NEWSMON_LOG_LEVEL="WARNING",
        NEWSMON_SMTP_HOST="127.0.0.1",
        NEWSMON_SMTP_PORT=str(smtp_server.port),
        NEWSMON_SMTP_FROM="alerts@newsmon.test",
        NEWSMON_BASE_URL="https://newsmon.test",
    )

    def run_two(*args: str) -> None:
        procs = [
            subprocess.Popen(
                [NEWSMON, *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
            )
            for _ in range(2)
        ]
        for proc in procs:
            _out, err = proc.communicate(timeout=180)
            assert proc.returncode == 0, err
            assert "Traceback" not in err, err

    run_two("poll", "--once", "--no-fulltext")
    run_two("alerts", "run", "--once")  # whatever the pollers' own passes left

    with db.read() as session:
        security = THEME_BITS["security"]
        expected = sorted(
            i
            for i, mask, relevant in session.execute(
                select(Article.id, Article.theme_mask, Article.relevant)
            )
            if mask & security and relevant
        )
        statuses = {s for (s,) in session.execute(select(Outbox.status))}
    assert len(expected) == FEEDS * 4 // 2 + 2  # stories carried, every other one security
    assert statuses == {"sent"}

    delivered = sorted(a["id"] for h in receiver.hooks for a in h.body["articles"])
    assert delivered == expected  # no repeat, nothing lost
    assert all(h.signed_ok and h.body["rule"]["id"] == hook for h in receiver.hooks)
    mailed = sorted(
        int(line.rsplit("/", 1)[1])
        for m in smtp_server.messages
        for line in m.message.get_body(preferencelist=("plain",)).get_content().splitlines()
        if "https://" in line and "/articles/" in line
    )
    assert mailed == expected
    assert len({m.message["Message-ID"] for m in smtp_server.messages}) == len(smtp_server.messages)
