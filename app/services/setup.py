"""First start: the schema at head, and the default and sample feeds registered once."""

from __future__ import annotations

import logging
import tomllib
from datetime import UTC, datetime
from importlib import resources
from typing import TYPE_CHECKING

from app.config import Settings
from app.store.feed_view import SAMPLE_URL

if TYPE_CHECKING:
    from app.store.db import Database

log = logging.getLogger("newsmon")


def prepare_database(settings: Settings, db: Database) -> None:
    """Upgrade the schema to head; on first start register the default and sample feeds."""
    from app.store import migrate
    from app.store.feeds import FeedStore

    migrate.upgrade(db.engine)
    if not settings.default_feeds:
        return
    with db.write() as session:
        store = FeedStore(session)
        if store.count():
            return
        now = datetime.now(UTC)
        for url, title in first_feeds():
            store.add(url, now=now, title=title)
    log.info("registered the default feeds and the sample feed")


def first_feeds() -> list[tuple[str, str | None]]:
    """What a first start subscribes to: the bundled sample feed, then the defaults."""
    return [(SAMPLE_URL, "Sample"), *default_feeds()]


def default_feeds() -> list[tuple[str, str]]:
    data = tomllib.loads(resources.files("app.data").joinpath("default_feeds.toml").read_text())
    return [(f["url"], f["title"]) for f in data["feed"]]
