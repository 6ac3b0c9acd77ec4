"""An article whose teaser says little alerts once its page is fetched: the full-text
worker re-tags it with the page's text and runs the alert hook in that write."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime
from email.utils import format_datetime

import pytest
from sqlalchemy import select

from app.alerts.hook import NewMatchHook, combine
from app.alerts.runner import AlertRunner
from app.feeds.http import FetchPolicy
from app.polling.extraction import ExtractionConfig, ExtractionRunner, enqueue_hook
from app.polling.poller import Poller
from app.store.alerts import AlertRuleStore
from app.store.db import Database
from app.store.extraction import FullTextRules
from app.store.tables import Article
from app.store.users import UserView
from tests.alerts.conftest import SECRET_KEY
from tests.alerts.receivers import WebhookReceiver
from tests.support.newssite import NewsSite
from tests.support.polling import add_feed


@pytest.fixture
def site() -> Iterator[NewsSite]:
    with NewsSite() as server:
        yield server


@pytest.mark.parametrize("db_target", ["sqlite"], indirect=True)
def test_an_article_its_page_makes_relevant_alerts_then_once(
    db: Database,
    site: NewsSite,
    make_test_poller: Callable[..., Poller],
    loopback_policy: FetchPolicy,
    runner: AlertRunner,
    receiver: WebhookReceiver,
    users: dict[str, UserView],
    make_view: Callable[..., int],
) -> None:
    view = make_view("Security", "theme=security")
    with db.write() as session:
        AlertRuleStore(session, SECRET_KEY).create(
            view,
            by=users["editor"],
            shared=True,
            now=datetime.now(UTC),
            channel="webhook",
            target=receiver.url,
            secret="whsec-test",
        )
    site.add_feed("teasers", [("A letter from Washington", site.url("/en/story"))])
    # the site's feeds carry a fixed date; an alert is for fresh news: date it now
    fresh = format_datetime(datetime.now(UTC)).encode()
    body = site.feeds["/feed/teasers.xml"]
    site.feeds["/feed/teasers.xml"] = re.sub(
        rb"<pubDate>[^<]*</pubDate>", b"<pubDate>" + fresh + b"</pubDate>", body
    )
    add_feed(db, site.url("/feed/teasers.xml"))
    hook = combine(enqueue_hook(FullTextRules(default_policy="always")), NewMatchHook())
    asyncio.run(make_test_poller(on_new=hook).poll_due())
    asyncio.run(runner.run_once())
    assert receiver.hooks == []  # the teaser alone is not about the story

    config = ExtractionConfig(workers=0, min_delay=0.0, per_host=4)
    policy = replace(loopback_policy, read_timeout=10.0, deadline=20.0)
    extraction = ExtractionRunner(db, policy, config, on_page=NewMatchHook())
    asyncio.run(extraction.run_once())
    with db.read() as session:
        article = session.scalars(select(Article)).one()
    assert article.text_source == "page" and article.relevant

    async def deliver() -> None:
        try:
            await runner.run_once()
            await runner.run_once()
        finally:
            await runner.aclose()

    asyncio.run(deliver())
    hooks = receiver.wait_for(1)
    assert len(hooks) == 1
    assert [a["id"] for a in hooks[0].body["articles"]] == [article.id]
    assert "security" in hooks[0].body["articles"][0]["themes"]
