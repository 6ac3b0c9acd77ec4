"""New matches end to end: a real feed server, the real poller with the alert hook,
the runner, a real webhook receiver checking signatures and a real SMTP server."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select, text

from app.alerts.runner import AlertRunner
from app.polling.poller import Poller
from app.store.alerts import AlertRuleStore, OutboxStore
from app.store.db import Database
from app.store.reading import ReadingStore
from app.store.tables import Article, Outbox
from app.store.users import UserView
from tests.alerts.conftest import SECRET_KEY, Clock
from tests.alerts.feeds import mixed_feed
from tests.alerts.receivers import SmtpServer, WebhookReceiver
from tests.support.feedsrv import FeedServer
from tests.support.polling import add_feed


def add_rule(db: Database, view_id: int, by: UserView, **kwargs: Any) -> int:
    with db.write() as session:
        return (
            AlertRuleStore(session, SECRET_KEY)
            .create(view_id, by=by, now=datetime.now(UTC), **kwargs)
            .id
        )


def ingest(
    db: Database, feed_server: FeedServer, poller: Callable[..., Poller], body: bytes, path: str
) -> None:
    feed_server.add_file(path, body)
    add_feed(db, feed_server.url(path))
    asyncio.run(poller().poll_due())


def run(runner: AlertRunner) -> Any:
    return asyncio.run(_once(runner))


async def _once(runner: AlertRunner) -> Any:
    try:
        return await runner.run_once()
    finally:
        await runner.aclose()


def outbox(db: Database) -> list[Outbox]:
    with db.read() as session:
        return list(session.scalars(select(Outbox).order_by(Outbox.id)))


def title_ids(db: Database) -> dict[str, int]:
    with db.read() as session:
        return {t: i for i, t in session.execute(select(Article.id, Article.title))}


def test_new_matches_reach_the_webhook_signed_and_the_mailbox_once(
    db: Database,
    feed_server: FeedServer,
    alert_poller: Callable[..., Poller],
    runner: AlertRunner,
    receiver: WebhookReceiver,
    smtp_server: SmtpServer,
    users: dict[str, UserView],
    make_view: Callable[..., int],
) -> None:
    view = make_view("Security", "theme=security")
    hook_rule = add_rule(
        db,
        view,
        users["editor"],
        shared=True,
        channel="webhook",
        target=receiver.url,
        secret="whsec-test",
    )
    mail_rule = add_rule(
        db, view, users["viewer"], channel="email", target="viktor@example.org", language="de"
    )
    ingest(db, feed_server, alert_poller, mixed_feed(), "/one.xml")

    summary = run(runner)
    assert summary.failed == 0, summary
    ids = title_ids(db)
    security = sorted(i for t, i in ids.items() if "Amazon-Kooperation" in t or "Senators" in t)
    assert len(security) == 2

    hooks = receiver.wait_for(1)
    assert len(hooks) == 1  # both matches of one feed write: one message
    hook = hooks[0]
    assert hook.signed_ok
    assert hook.headers["x-newsmon-signature"].startswith("t=")
    assert hook.headers["idempotency-key"]
    body = hook.body
    assert body["rule"]["id"] == hook_rule
    assert body["view"]["name"] == "Security"
    assert sorted(a["id"] for a in body["articles"]) == security
    first = body["articles"][0]
    assert set(first) >= {"id", "url", "title", "themes", "relevant", "newsmon_url"}
    assert "security" in first["themes"] and first["relevant"] is True
    assert first["newsmon_url"] == f"https://newsmon.test/articles/{first['id']}"
    assert "Security" in body["text"] and first["url"] in body["text"]

    mails = smtp_server.wait_for(1)
    assert len(mails) == 1
    msg = mails[0].message
    assert mails[0].envelope_to == ["viktor@example.org"]
    assert "Sicherheit" in msg["Subject"] or "neue Artikel" in msg["Subject"]
    assert msg.get_content_type() == "multipart/alternative"
    text = msg.get_body(preferencelist=("plain",))
    html = msg.get_body(preferencelist=("html",))
    assert text is not None and html is not None
    assert f"https://newsmon.test/articles/{security[0]}" in text.get_content()
    assert 'href="https://news.example/' in html.get_content()
    assert str(msg["List-Unsubscribe"]).strip().startswith("<https://newsmon.test/unsubscribe/r")
    rows = [r for r in outbox(db) if r.rule_id == mail_rule]
    assert {r.message_id for r in rows} == {msg["Message-ID"]}
    assert all(r.status == "sent" for r in outbox(db))

    # The same feed again, and another pass: nothing new, nothing sent twice.
    asyncio.run(alert_poller().poll_due())
    run(runner)
    assert len(receiver.hooks) == 1 and len(smtp_server.messages) == 1


def test_a_language_view_gets_only_its_language_and_irrelevant_news_no_alert(
    db: Database,
    feed_server: FeedServer,
    alert_poller: Callable[..., Poller],
    runner: AlertRunner,
    receiver: WebhookReceiver,
    users: dict[str, UserView],
    make_view: Callable[..., int],
) -> None:
    german = make_view("Deutsch", "lang=de")
    everything = make_view("Alles", "relevance=all&q=bakery")
    add_rule(db, german, users["editor"], shared=True, channel="webhook", target=receiver.url)
    add_rule(db, everything, users["editor"], shared=True, channel="webhook", target=receiver.url)
    ingest(db, feed_server, alert_poller, mixed_feed(), "/one.xml")
    run(runner)
    hooks = receiver.wait_for(2)
    by_view = {h.body["view"]["name"]: [a["title"] for a in h.body["articles"]] for h in hooks}
    assert by_view == {
        "Deutsch": ["Bundestag debattiert TikTok-Verbot und Amazon-Kooperation"],
        "Alles": ["Local bakery wins prize"],
    }
    assert all("x-newsmon-signature" not in h.headers for h in hooks)  # no secret set


def test_a_batched_rule_sends_one_message_when_its_window_closes(
    db: Database,
    feed_server: FeedServer,
    alert_poller: Callable[..., Poller],
    runner: AlertRunner,
    clock: Clock,
    receiver: WebhookReceiver,
    users: dict[str, UserView],
    make_view: Callable[..., int],
) -> None:
    view = make_view("Relevant", "")
    add_rule(db, view, users["viewer"], channel="webhook", target=receiver.url, batch="15m")
    ingest(db, feed_server, alert_poller, mixed_feed(), "/one.xml")
    ingest(db, feed_server, alert_poller, mixed_feed(10, " (2)"), "/two.xml")
    run(runner)
    assert receiver.hooks == []
    clock.advance(minutes=15)
    run(runner)
    hooks = receiver.wait_for(1)
    assert len(hooks) == 1
    assert len(hooks[0].body["articles"]) == 6  # three relevant stories in each feed


def test_a_failing_receiver_is_retried_with_backoff_then_delivered_once(
    db: Database,
    feed_server: FeedServer,
    alert_poller: Callable[..., Poller],
    runner: AlertRunner,
    clock: Clock,
    users: dict[str, UserView],
    make_view: Callable[..., int],
) -> None:
    with WebhookReceiver(secret="s3cret", statuses=[503, 500]) as flaky:
        view = make_view("Market", "theme=market")
        rule = add_rule(
            db,
            view,
            users["editor"],
            shared=True,
            channel="webhook",
            target=flaky.url,
            secret="s3cret",
        )
        ingest(db, feed_server, alert_poller, mixed_feed(), "/one.xml")
        run(runner)
        assert flaky.attempts == 1 and flaky.hooks == []
        with db.read() as session:
            failures = OutboxStore(session).failures(rule)
            info = AlertRuleStore(session).get(rule)
        assert failures and "HTTP 503" in (failures[0].last_error or "")
        assert info.consecutive_failures == 1 and info.enabled
        run(runner)  # not due yet: backoff
        assert flaky.attempts == 1
        clock.advance(seconds=31)
        run(runner)
        assert flaky.attempts == 2
        clock.advance(seconds=61)
        run(runner)
        assert flaky.attempts == 3
        assert len(flaky.hooks) == 1 and flaky.hooks[0].signed_ok
        keys = {r.message_id for r in outbox(db)}
        assert keys == {flaky.hooks[0].headers["idempotency-key"]}  # the same key each time
        clock.advance(hours=2)
        run(runner)
        assert flaky.attempts == 3
        with db.read() as session:
            info = AlertRuleStore(session).get(rule)
        assert info.consecutive_failures == 0 and info.last_sent_at is not None


def test_a_receiver_that_keeps_failing_disables_the_rule_with_the_reason(
    db: Database,
    feed_server: FeedServer,
    alert_poller: Callable[..., Poller],
    runner: AlertRunner,
    clock: Clock,
    users: dict[str, UserView],
    make_view: Callable[..., int],
) -> None:
    with WebhookReceiver(statuses=[500] * 20) as down:
        view = make_view("Market", "theme=market")
        rule = add_rule(db, view, users["viewer"], channel="webhook", target=down.url)
        ingest(db, feed_server, alert_poller, mixed_feed(), "/one.xml")
        for _ in range(6):
            run(runner)
            clock.advance(hours=1)
        assert down.attempts == 3  # NEWSMON_ALERT_MAX_FAILURES in the fixture
        with db.read() as session:
            info = AlertRuleStore(session).get(rule)
            rows = OutboxStore(session).for_rule(rule)
        assert not info.enabled
        assert info.disabled_reason and "HTTP 500" in info.disabled_reason
        assert all(r.status == "failed" for r in rows)
        # Turning it on again forgets the failures.
        with db.write() as session:
            info = AlertRuleStore(session).update(
                rule, by=users["viewer"], now=datetime.now(UTC), enabled=True
            )
        assert info.enabled and info.disabled_reason is None and info.consecutive_failures == 0


def test_quiet_hours_and_the_daily_cap_postpone_and_never_drop(
    db: Database,
    feed_server: FeedServer,
    alert_poller: Callable[..., Poller],
    runner: AlertRunner,
    clock: Clock,
    receiver: WebhookReceiver,
    users: dict[str, UserView],
    make_view: Callable[..., int],
) -> None:
    now = datetime.now(UTC)
    start = (now - timedelta(hours=1)).strftime("%H:%M")
    end = (now + timedelta(hours=1)).strftime("%H:%M")
    view = make_view("Relevant", "")
    add_rule(
        db,
        view,
        users["viewer"],
        channel="webhook",
        target=receiver.url,
        quiet_start=start,
        quiet_end=end,
        time_zone="UTC",
        daily_cap=1,
    )
    ingest(db, feed_server, alert_poller, mixed_feed(), "/one.xml")
    run(runner)
    assert receiver.hooks == []  # quiet
    clock.advance(hours=1, minutes=1)
    run(runner)
    assert len(receiver.wait_for(1)) == 1
    ingest(db, feed_server, alert_poller, mixed_feed(10, " (2)"), "/two.xml")
    run(runner)
    assert len(receiver.hooks) == 1  # the cap: one a day
    clock.advance(days=1)
    run(runner)
    hooks = receiver.wait_for(2)
    assert len(hooks) == 2 and len(hooks[1].body["articles"]) == 3


def test_a_webhook_to_a_private_address_needs_the_allowlist(
    db: Database,
    feed_server: FeedServer,
    alert_poller: Callable[..., Poller],
    settings: Any,
    clock: Clock,
    receiver: WebhookReceiver,
    users: dict[str, UserView],
    make_view: Callable[..., int],
) -> None:
    strict = settings.replace(webhook_allowlist=[], fetch_allowlist=[])
    runner = AlertRunner(db, strict, clock=clock, digests=False)
    view = make_view("Relevant", "")
    rule = add_rule(db, view, users["viewer"], channel="webhook", target=receiver.url)
    ingest(db, feed_server, alert_poller, mixed_feed(), "/one.xml")
    run(runner)
    assert receiver.attempts == 0
    with db.read() as session:
        failures = OutboxStore(session).failures(rule)
    assert "refused" in (failures[0].last_error or "")
    assert "127.0.0.1" in (failures[0].last_error or "")


@pytest.mark.parametrize("channel", ["webhook", "email"])
def test_send_a_test_now(
    db: Database,
    runner: AlertRunner,
    receiver: WebhookReceiver,
    smtp_server: SmtpServer,
    users: dict[str, UserView],
    make_view: Callable[..., int],
    channel: str,
) -> None:
    view = make_view("Relevant", "")
    target = receiver.url if channel == "webhook" else "erika@example.org"
    rule = add_rule(db, view, users["editor"], shared=True, channel=channel, target=target)

    async def go() -> Any:
        try:
            return await runner.send_test(rule)
        finally:
            await runner.aclose()

    result = asyncio.run(go())
    assert result.status == "sent", result.last_error
    if channel == "webhook":
        assert receiver.wait_for(1)[0].body["event"] == "test"
    else:
        msg = smtp_server.wait_for(1)[0].message
        assert "Test" in msg["Subject"] and msg["Message-ID"] == result.message_id


def test_a_mail_server_that_defers_gets_the_same_message_later(
    db: Database,
    feed_server: FeedServer,
    alert_poller: Callable[..., Poller],
    runner: AlertRunner,
    clock: Clock,
    smtp_server: SmtpServer,
    users: dict[str, UserView],
    make_view: Callable[..., int],
) -> None:
    smtp_server.refuse = ["451 4.3.0 try again later", "451 4.3.0 try again later"]
    view = make_view("Market", "theme=market")
    rule = add_rule(db, view, users["viewer"], channel="email", target="v@example.org")
    ingest(db, feed_server, alert_poller, mixed_feed(), "/one.xml")
    run(runner)
    with db.read() as session:
        failures = OutboxStore(session).failures(rule)
    assert "451" in (failures[0].last_error or "") and failures[0].status == "pending"
    clock.advance(seconds=31)
    run(runner)
    clock.advance(seconds=61)
    run(runner)
    assert smtp_server.attempts == 3
    assert len(smtp_server.messages) == 1
    with db.read() as session:
        (row,) = OutboxStore(session).for_rule(rule)
    assert row.status == "sent" and row.attempts == 3
    assert row.message_id == smtp_server.messages[0].message["Message-ID"]


def test_the_runner_wakes_when_new_matches_commit(
    db: Database,
    feed_server: FeedServer,
    settings: Any,
    receiver: WebhookReceiver,
    users: dict[str, UserView],
    make_view: Callable[..., int],
    make_test_poller: Callable[..., Poller],
) -> None:
    """Wired as in ``newsmon poll``: an "at once" alert goes out right after the commit,
    not at the runner's next turn (here ten minutes away)."""
    from app.alerts.hook import NewMatchHook

    view = make_view("Relevant", "")
    add_rule(db, view, users["editor"], shared=True, channel="webhook", target=receiver.url)
    runner = AlertRunner(db, settings, digests=False)
    feed_server.add_file("/one.xml", mixed_feed())
    add_feed(db, feed_server.url("/one.xml"))

    visible_at_wake: list[int] = []

    def wake() -> None:  # the deliveries must be committed (visible to others) by now
        with db.read() as session:
            visible_at_wake.append(session.execute(text("SELECT count(*) FROM outbox")).one()[0])
        runner.wake()

    async def go() -> None:
        stop = asyncio.Event()
        task = asyncio.create_task(runner.run_forever(stop, interval=600))
        await asyncio.sleep(0.5)  # its first (empty) pass is done; now it waits
        await make_test_poller(on_new=NewMatchHook(on_commit=wake)).poll_due()
        for _ in range(200):
            if receiver.hooks:
                break
            await asyncio.sleep(0.05)
        stop.set()
        await task

    asyncio.run(go())
    # once, after the commit (at a savepoint's release the deliveries were not visible yet)
    assert len(visible_at_wake) == 1 and visible_at_wake[0] > 0
    assert len(receiver.hooks) == 1


def test_an_email_shows_times_in_its_owners_time_zone(
    db: Database,
    feed_server: FeedServer,
    alert_poller: Callable[..., Poller],
    runner: AlertRunner,
    smtp_server: SmtpServer,
    users: dict[str, UserView],
    make_view: Callable[..., int],
) -> None:
    """A rule without a zone of its own (one made through the API or the CLI) writes
    times in its owner's zone from /account, not in UTC."""
    with db.write() as session:
        ReadingStore(session).set_time_zone(users["viewer"].id, "Asia/Tokyo")
    view = make_view("Security", "theme=security")
    add_rule(db, view, users["viewer"], channel="email", target="viktor@example.org")
    ingest(db, feed_server, alert_poller, mixed_feed(), "/one.xml")

    assert run(runner).failed == 0
    msg = smtp_server.wait_for(1)[0].message
    text = msg.get_body(preferencelist=("plain",))
    assert text is not None
    assert "GMT+9" in text.get_content() or "JST" in text.get_content(), text.get_content()
