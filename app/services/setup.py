"""First start: the schema at head, and the default and sample feeds registered once."""

from __future__ import annotations

import logging
import tomllib
from datetime import UTC, datetime
from importlib import resources

from app.config import Settings
from app.store import migrate
from app.store.db import Database
from app.store.feeds import SAMPLE_URL, FeedStore

log = logging.getLogger("newsmon")


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
