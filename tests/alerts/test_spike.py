"""A spike built from the benchmark corpus over simulated days: four articles a day for
a month (one in each six-hour window), then a burst of twelve one morning. Checked every
simulated hour, the spike rule fires once, at the first check after the burst, and its
webhook says how many against the usual."""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from app.alerts.runner import AlertRunner
from app.alerts.spike import check_spikes
from app.config import Settings
from app.core.decide import ArticleDraft
from app.polling.ingest import prepare_feed
from app.store.alerts import AlertRuleStore
from app.store.articles import ArticleStore
from app.store.db import Database
from app.store.feeds import FeedStore
from app.store.tables import Outbox
from app.store.users import UserView
from bench.corpus import corpus
from tests.alerts.conftest import SECRET_KEY
from tests.alerts.receivers import WebhookReceiver

DAY0 = datetime(2026, 10, 1, tzinfo=UTC)
DAYS = 30
BURST_DAY = DAYS  # the day after the month of baseline
BURST = 12


def corpus_drafts(n: int) -> list[ArticleDraft]:
    """``n`` distinct tagged drafts from the benchmark corpus (real parse, real tagger)."""
    seen: dict[str, ArticleDraft] = {}
    for path, body in corpus(40, 20).items():
        prepared = prepare_feed(body, f"https://bench.example{path}", {}, DAY0)
        for draft in prepared.drafts:
            seen.setdefault(draft.key, draft)
        if len(seen) >= n:
            break
    assert len(seen) >= n
    return list(seen.values())[:n]


def simulated_times() -> list[datetime]:
    times = [DAY0 + timedelta(days=d, hours=h) for d in range(DAYS + 2) for h in (2, 8, 14, 20)]
    burst = DAY0 + timedelta(days=BURST_DAY, hours=10)
    times += [burst + timedelta(minutes=5 + 4 * i) for i in range(BURST)]
    return sorted(times)


def store(db: Database) -> None:
    times = simulated_times()
    drafts = corpus_drafts(len(times))
    with db.write() as session:
        feed = FeedStore(session).add("https://bench.example/feed.xml", now=DAY0).id
        ArticleStore(session).upsert_batch(
            feed,
            [dataclasses.replace(d, published_at=t) for d, t in zip(drafts, times, strict=True)],
            now=DAY0,
        )


def test_a_spike_fires_once_at_the_first_check_after_the_burst(
    db: Database,
    settings: Settings,
    users: dict[str, UserView],
    make_view: object,
) -> None:
    store(db)
    view = make_view("Everything", "relevance=all")  # type: ignore[operator]
    with WebhookReceiver(secret="s") as receiver:
        with db.write() as session:
            rule = (
                AlertRuleStore(session, SECRET_KEY)
                .create(
                    view,
                    by=users["editor"],
                    shared=True,
                    now=DAY0,
                    channel="webhook",
                    target=receiver.url,
                    secret="s",
                    kind="spike",
                    spike_hours=6,
                    spike_factor=3.0,
                    spike_min_count=5,
                )
                .id
            )
        current = [DAY0]
        runner = AlertRunner(db, settings, clock=lambda: current[0], digests=False)

        async def run_hours() -> list[datetime]:
            fired = []
            try:
                start = DAY0 + timedelta(days=BURST_DAY - 1)
                for hour in range(60):
                    current[0] = start + timedelta(hours=hour)
                    summary = await runner.run_once()
                    if summary.spikes:
                        fired.append(current[0])
            finally:
                await runner.aclose()
            return fired

        fired = asyncio.run(run_hours())
        expected = DAY0 + timedelta(days=BURST_DAY, hours=11)  # first check after 10:05..10:49
        assert fired == [expected]
        with db.read() as session:
            keys = list(session.scalars(select(Outbox.subject_key).where(Outbox.rule_id == rule)))
        assert keys == [f"s:{expected.strftime('%Y-%m-%dT%H:%MZ')}"]
        hooks = receiver.wait_for(1)
        assert len(hooks) == 1
        spike = hooks[0].body["spike"]
        assert hooks[0].body["event"] == "spike"
        assert spike["count"] == BURST + 1  # the burst and the 08:00 article
        assert 0.9 <= spike["baseline"] <= 1.1  # one article per six hours, every day
        assert len(hooks[0].body["articles"]) == 10  # the newest of the window


def test_no_spike_on_an_ordinary_day(
    db: Database, users: dict[str, UserView], make_view: object
) -> None:
    store(db)
    view = make_view("Everything", "relevance=all")  # type: ignore[operator]
    with db.write() as session:
        AlertRuleStore(session, SECRET_KEY).create(
            view,
            by=users["editor"],
            shared=True,
            now=DAY0,
            channel="webhook",
            target="https://hooks.example/x",
            kind="spike",
        )
    for hour in range(24):
        with db.write() as session:
            at = DAY0 + timedelta(days=DAYS - 2, hours=hour)
            assert check_spikes(session, at, secret_key=SECRET_KEY) == 0
