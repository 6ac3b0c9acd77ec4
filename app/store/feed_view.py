"""What a feed looks like outside the store (``FeedView``), the bundled sample feed's
address, and the key a subscription is unique by: without SQLAlchemy, so that the
driver-only OPML import (``app.store.feeds_sqlite``) shares them with ``FeedStore``."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from app.core.urls import url_hash

NEW_FEED_INTERVAL = 3600  # seconds between polls of a new subscription, until it has a history
SUBSCRIBED_PER_QUERY = 500  # feed keys per ``IN (...)`` list when checking subscriptions
SAMPLE_SCHEME = "newsmon:"
SAMPLE_URL = "newsmon:sample"  # the bundled sample feed, read from the package


@dataclass(frozen=True, slots=True)
class FeedView:
    """A feed and its health, as the CLI, the /feeds page and the API show it."""

    id: int
    url: str
    title: str | None
    site_url: str | None
    last_status: str | None
    last_http_status: int | None
    last_error: str | None
    consecutive_failures: int
    last_polled_at: datetime | None
    last_success_at: datetime | None
    next_poll_at: datetime
    interval_seconds: int
    disabled_reason: str | None
    article_count: int = 0
    parse_warning: str | None = None
    fulltext_policy: str | None = None  # None: the setting's default

    @property
    def name(self) -> str:
        return self.title or self.url

    @property
    def is_sample(self) -> bool:
        return self.url.startswith(SAMPLE_SCHEME)


def feed_key(url: str) -> str:
    return url_hash(url)
