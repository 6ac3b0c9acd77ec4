"""AlertRuleStore's permissions (the saved views' rules), the sealed webhook secret, and
OutboxStore's guarantees: one row per (rule, channel, subject) however often it is
enqueued, and one claimant per due row."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from app.core.errors import InvalidInput, NotFound, PermissionDenied
from app.core.sealing import seal, unseal
from app.store.alerts import AlertRuleStore, DigestStore, OutboxItem, OutboxStore
from app.store.db import Database
from app.store.tables import AlertRule
from app.store.users import UserView
from tests.alerts.conftest import SECRET_KEY

NOW = datetime(2026, 12, 2, 8, 0, tzinfo=UTC)


def rules(session: object) -> AlertRuleStore:
    return AlertRuleStore(session, SECRET_KEY)  # type: ignore[arg-type]


def test_viewers_manage_their_own_rules_and_editors_the_teams(
    db: Database, users: dict[str, UserView], make_view: Callable[..., int]
) -> None:
    team_view = make_view("Team", "theme=security")
    own_view = make_view("Mine", "lang=de", by="viewer", shared=False)
    editors_own = make_view("Erika's", "lang=en", by="editor", shared=False)
    viewer, editor, other = users["viewer"], users["editor"], users["other"]
    hook = {"channel": "webhook", "target": "https://hooks.example/x"}
    with db.write() as session:
        store = rules(session)
        with pytest.raises(PermissionDenied):
            store.create(team_view, by=viewer, now=NOW, shared=True, **hook)
        mine = store.create(team_view, by=viewer, now=NOW, **hook)  # own rule, team view
        on_own = store.create(own_view, by=viewer, now=NOW, **hook)
        team = store.create(team_view, by=editor, now=NOW, shared=True, **hook)
        with pytest.raises(NotFound):
            store.create(own_view, by=editor, now=NOW, **hook)  # not a view the editor sees
        with pytest.raises(InvalidInput, match="team view"):
            store.create(editors_own, by=editor, now=NOW, shared=True, **hook)
    with db.write() as session:
        store = rules(session)
        assert [r.id for r in store.list_for(viewer)] == [on_own.id, mine.id, team.id]
        assert {r.id for r in store.list_for(other)} == {team.id}
        with pytest.raises(NotFound):
            store.get(mine.id, by=other)
        with pytest.raises(NotFound):
            store.delete(mine.id, by=other)
        with pytest.raises(PermissionDenied):
            store.update(team.id, by=viewer, now=NOW, batch="1h")
        with pytest.raises(PermissionDenied):
            store.delete(team.id, by=viewer)
        assert store.update(team.id, by=editor, now=NOW, batch="1h").batch == "1h"
        assert store.update(mine.id, by=viewer, now=NOW, daily_cap=3).daily_cap == 3
        store.delete(mine.id, by=viewer)
        assert {r.id for r in store.list_for(viewer)} == {on_own.id, team.id}


def test_settings_are_checked(
    db: Database, users: dict[str, UserView], make_view: Callable[..., int]
) -> None:
    view = make_view("Team", "")
    editor = users["editor"]
    bad: list[dict[str, object]] = [
        {"channel": "sms", "target": "+49"},
        {"channel": "email", "target": "nobody"},
        {"channel": "webhook", "target": "ftp://x.example/"},
        {"channel": "webhook", "target": "https://x.example/", "kind": "sometimes"},
        {"channel": "webhook", "target": "https://x.example/", "batch": "2h"},
        {"channel": "webhook", "target": "https://x.example/", "quiet_start": "25:00"},
        {"channel": "webhook", "target": "https://x.example/", "time_zone": "Mars/Olympus"},
        {"channel": "email", "target": "a@b.example", "secret": "only for webhooks"},
        {"channel": "webhook", "target": "https://x.example/", "colour": "red"},
    ]
    with db.write() as session:
        for values in bad:
            with pytest.raises(InvalidInput):
                rules(session).create(view, by=editor, now=NOW, shared=True, **values)  # type: ignore[arg-type]


def test_the_webhook_secret_is_sealed_and_comes_back(
    db: Database, users: dict[str, UserView], make_view: Callable[..., int]
) -> None:
    view = make_view("Team", "")
    with db.write() as session:
        rule = rules(session).create(
            view,
            by=users["editor"],
            now=NOW,
            shared=True,
            channel="webhook",
            target="https://x.example/",
            secret="whsec-abc",
        )
        stored = session.scalar(select(AlertRule.secret_sealed).where(AlertRule.id == rule.id))
        assert stored and "whsec-abc" not in stored
        assert rules(session).webhook_secret(rule.id) == "whsec-abc"
        assert rule.has_secret
    with pytest.raises(InvalidInput):
        unseal(seal("x", "key one"), "key two")
    sealed = seal("x", "key one")
    with pytest.raises(InvalidInput):
        unseal(sealed[:-4] + ("AAAA" if not sealed.endswith("AAAA") else "BBBB"), "key one")


def test_enqueue_is_at_most_once_per_rule_channel_and_subject(
    db: Database, users: dict[str, UserView], make_view: Callable[..., int]
) -> None:
    view = make_view("Team", "")
    with db.write() as session:
        rule = rules(session).create(
            view,
            by=users["editor"],
            now=NOW,
            shared=True,
            channel="webhook",
            target="https://x.example/",
        )
        outbox = OutboxStore(session)
        item = OutboxItem("webhook", "a:1", "new", rule_id=rule.id)
        assert outbox.enqueue([item, item], now=NOW) == 1
        assert outbox.enqueue([item], now=NOW) == 0
        assert outbox.enqueue([OutboxItem("webhook", "a:2", "new", rule_id=rule.id)], now=NOW) == 1
        digest = OutboxItem("email", "d:2026-12-02", "digest", user_id=users["viewer"].id)
        assert outbox.enqueue([digest], now=NOW) == 1
        assert outbox.enqueue([digest], now=NOW) == 0  # the partial unique index


def test_concurrent_claims_never_share_a_row(
    db: Database, users: dict[str, UserView], make_view: Callable[..., int]
) -> None:
    view = make_view("Team", "")
    with db.write() as session:
        rule = rules(session).create(
            view,
            by=users["editor"],
            now=NOW,
            shared=True,
            channel="webhook",
            target="https://x.example/",
        )
        OutboxStore(session).enqueue(
            [OutboxItem("webhook", f"a:{n}", "new", rule_id=rule.id) for n in range(200)], now=NOW
        )
    claimed: list[list[int]] = []
    lock = threading.Lock()

    def claim(owner: str) -> None:
        for _ in range(20):
            with db.write() as session:
                got = OutboxStore(session).claim_due(
                    now=NOW, owner=owner, lease=timedelta(minutes=5), limit=7
                )
            with lock:
                claimed.append([d.id for d in got])

    threads = [threading.Thread(target=claim, args=(f"w{i}",)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    ids = [i for batch in claimed for i in batch]
    assert len(ids) == len(set(ids)) == 200


def test_digest_settings(db: Database, users: dict[str, UserView]) -> None:
    with db.write() as session:
        store = DigestStore(session)
        info = store.put(
            users["viewer"].id,
            now=NOW,
            email="v@example.org",
            frequency="weekly",
            weekday=4,
            local_time="07:30",
            time_zone="Europe/Berlin",
            language="de",
        )
        assert (info.frequency, info.weekday, info.local_time) == ("weekly", 4, "07:30")
        assert store.user_time_zone(users["viewer"].id) == "Europe/Berlin"
        with pytest.raises(InvalidInput):
            store.put(users["viewer"].id, now=NOW, email="v@example.org", frequency="hourly")
        assert [d.user_id for d in store.enabled()] == [users["viewer"].id]


def test_finished_deliveries_are_pruned_pending_ones_kept(
    db: Database, users: dict[str, UserView], make_view: Callable[..., int]
) -> None:
    view = make_view("Team", "")
    old = NOW - timedelta(days=40)
    with db.write() as session:
        rule = rules(session).create(
            view,
            by=users["editor"],
            now=NOW,
            shared=True,
            channel="webhook",
            target="https://x.example/",
        )
        outbox = OutboxStore(session)
        outbox.enqueue(
            [OutboxItem("webhook", f"a:{n}", "new", rule_id=rule.id) for n in range(3)], now=old
        )
        done = [d.id for d in outbox.for_rule(rule.id)][:2]
        outbox.mark_sent(done, now=old)
        assert outbox.has_work(now=NOW)
        assert outbox.prune(before=NOW - timedelta(days=30)) == 2
        assert [d.status for d in outbox.for_rule(rule.id)] == ["pending"]
