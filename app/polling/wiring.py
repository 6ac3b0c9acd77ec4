"""Builds a poller from settings: used by the CLI and by the web app's lifespan."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

from app.config import Settings
from app.core.errors import Conflict
from app.core.schedule import SchedulePolicy
from app.feeds.guard import fetch_policy
from app.metrics import Metrics
from app.polling.poller import Poller, run_forever
from app.store.db import Database
from app.store.lock import poller_lock

log = logging.getLogger("newsmon")


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
    """The poller inside ``newsmon serve``; skipped when another poller holds the lock."""
    try:
        with poller_lock(settings.database_url):
            await run_forever(
                make_poller(settings, db, metrics), settings.poll_interval_seconds, stop
            )
    except Conflict as exc:
        log.warning("in-process poller not started: %s", exc)
