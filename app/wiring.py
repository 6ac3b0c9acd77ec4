"""Builds the pieces from settings: used by the CLI and by ``create_app``'s lifespan."""

from __future__ import annotations

import asyncio
import logging
import tomllib
from datetime import UTC, datetime, timedelta
from importlib import resources

from app.config import Settings
from app.core.errors import Conflict, NewsmonError
from app.core.schedule import SchedulePolicy
from app.feeds.http import FetchPolicy, check_url
from app.metrics import Metrics
from app.poller import SAMPLE_URL, Poller, run_forever
from app.store import migrate
from app.store.db import Database
from app.store.feeds import FeedStore, FeedView
from app.store.lock import poller_lock

log = logging.getLogger("newsmon")


def fetch_policy(settings: Settings) -> FetchPolicy:
    return FetchPolicy(
        allow_private_networks=settings.allow_private_networks,
        allowlist=tuple(settings.fetch_allowlist),
        max_bytes=settings.max_feed_bytes,
        deadline=settings.fetch_deadline_seconds,
        max_connections=settings.fetch_concurrency,
        max_per_host=settings.fetch_per_host,
    )


def make_poller(settings: Settings, db: Database, metrics: Metrics | None = None) -> Poller:
    return Poller(
        db,
        fetch_policy(settings),
        schedule=SchedulePolicy(
            min_interval=settings.min_interval_minutes * 60,
            max_interval=max(settings.max_interval_minutes, settings.min_interval_minutes) * 60,
        ),
        parse_workers=settings.parse_workers or None,
        batch_size=settings.poll_batch_size,
        lease=timedelta(seconds=settings.poll_lease_seconds),
        metrics=metrics,
    )


async def in_process_poller(
    settings: Settings, db: Database, metrics: Metrics, stop: asyncio.Event
) -> None:
    try:
        with poller_lock(settings.database_url):
            await run_forever(
                make_poller(settings, db, metrics), settings.poll_interval_seconds, stop
            )
    except Conflict as exc:
        log.warning("in-process poller not started: %s", exc)


def prepare_database(settings: Settings, db: Database) -> None:
    """Upgrade the schema to head; on first start register the default and sample feeds."""
    migrate.upgrade(db.engine)
    if not settings.default_feeds:
        return
    with db.write() as session:
        store = FeedStore(session)
        if store.count():
            return
        now = datetime.now(UTC)
        store.add(SAMPLE_URL, now=now, title="Sample")
        for url, title in default_feeds():
            store.add(url, now=now, title=title)
    log.info("registered the default feeds and the sample feed")


def default_feeds() -> list[tuple[str, str]]:
    data = tomllib.loads(resources.files("app.data").joinpath("default_feeds.toml").read_text())
    return [(f["url"], f["title"]) for f in data["feed"]]


def subscribe(settings: Settings, db: Database, url: str, title: str | None = None) -> FeedView:
    """Add a feed after the scheme and SSRF checks (the same rule every poll applies)."""
    checked = url if url == SAMPLE_URL else check_url(url.strip(), fetch_policy(settings))
    with db.write() as session:
        return FeedStore(session).add(checked, now=datetime.now(UTC), title=title)


__all__ = ["NewsmonError", "fetch_policy", "make_poller", "prepare_database", "subscribe"]
