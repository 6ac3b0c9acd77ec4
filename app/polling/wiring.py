"""Builds a poller from settings: used by the CLI and by the web app's lifespan."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import timedelta

from app.alerts.hook import NewMatchHook, combine
from app.alerts.runner import AlertRunner
from app.config import Settings
from app.core.errors import Conflict
from app.core.schedule import SchedulePolicy
from app.feeds.guard import fetch_policy
from app.metrics import Metrics
from app.polling.extraction import ExtractionConfig, ExtractionRunner, enqueue_hook
from app.polling.poller import Poller, run_forever
from app.store.db import Database
from app.store.extraction import FullTextRules
from app.store.lock import poller_lock

log = logging.getLogger("newsmon")
EXTRACTION_INTERVAL = 5.0  # seconds between looks at the full-text queue


def make_poller(
    settings: Settings,
    db: Database,
    metrics: Metrics | None = None,
    *,
    alert_wake: Callable[[], object] | None = None,
) -> Poller:
    """``alert_wake``: the alert runner's ``wake``, called once new matches commit."""
    return Poller(
        db,
        fetch_policy(settings),
        schedule=SchedulePolicy(
            min_interval=settings.min_interval_minutes * 60,
            max_interval=max(settings.max_interval_minutes, settings.min_interval_minutes) * 60,
        ),
        parse_workers=settings.parse_workers or None,
        parse_nice=settings.poll_nice,
        batch_size=settings.poll_batch_size,
        lease=timedelta(seconds=settings.poll_lease_seconds),
        metrics=metrics,
        # in the feed's write transaction: the full-text queue, then the alert outbox
        on_new=combine(enqueue_hook(fulltext_rules(settings)), NewMatchHook(on_commit=alert_wake)),
    )


def fulltext_rules(settings: Settings) -> FullTextRules:
    return FullTextRules(settings.fulltext_policy, settings.fulltext_threshold)


def make_alert_runner(settings: Settings, db: Database) -> AlertRunner:
    """Alert and digest deliveries, run beside the poller in its process."""
    return AlertRunner(db, settings)


def make_extraction_runner(
    settings: Settings, db: Database, *, alert_wake: Callable[[], object] | None = None
) -> ExtractionRunner:
    return ExtractionRunner(
        db,
        fetch_policy(settings),
        ExtractionConfig(
            rules=fulltext_rules(settings),
            concurrency=settings.extract_concurrency,
            per_host=settings.page_per_host,
            min_delay=settings.page_host_delay_seconds,
            max_page_bytes=settings.max_page_bytes,
            workers=settings.extract_workers,
            nice=settings.poll_nice,
            lease=timedelta(seconds=settings.poll_lease_seconds),
        ),
        on_page=NewMatchHook(on_commit=alert_wake),
    )


async def in_process_poller(
    settings: Settings, db: Database, metrics: Metrics, stop: asyncio.Event
) -> None:
    """The poller inside the web process; skipped when another poller holds the lock.
    Its SQLite writes give way to the web's own (``Database.as_background``)."""
    db = db.as_background()
    try:
        with poller_lock(settings.database_url):
            # The full-text worker runs beside the poller, never inside a feed's poll.
            alerts = make_alert_runner(settings, db)
            extraction = make_extraction_runner(settings, db, alert_wake=alerts.wake)
            poller = make_poller(settings, db, metrics, alert_wake=alerts.wake)
            async with asyncio.TaskGroup() as group:
                group.create_task(run_forever(poller, settings.poll_interval_seconds, stop))
                group.create_task(extraction.run_forever(EXTRACTION_INTERVAL, stop))
                group.create_task(alerts.run_forever(stop))
    except Conflict as exc:
        log.warning("in-process poller not started: %s", exc)
