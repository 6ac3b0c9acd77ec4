"""The CPU-bound half of ingest, run inside parse workers: bytes → tagged drafts.

parse (``feeds.parse``) → decide (``core.decide``) → tag (``tagging``). Everything a
worker returns is a small picklable value; nothing here touches the network or
the database.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from app.core.decide import ArticleDraft, plan_articles
from app.core.types import ParsedFeed
from app.feeds.parse import parse_feed

if TYPE_CHECKING:  # the poller's main process never tags: it need not load the tagger's libraries
    from app.tagging import Tagger


@dataclass(frozen=True, slots=True)
class PreparedFeed:
    title: str | None
    site_url: str | None
    language: str | None
    ttl_seconds: int | None
    bozo_reason: str | None
    error: str | None
    drafts: tuple[ArticleDraft, ...]


def failed(reason: str) -> PreparedFeed:
    return PreparedFeed(None, None, None, None, None, reason, ())


def prepare_feed(body: bytes, url: str, headers: dict[str, str], now: datetime) -> PreparedFeed:
    from app.tagging import load_tagger

    parsed = parse_feed(body, url=url, headers=headers, now=now)
    return prepare_parsed(parsed, url=url, now=now, tagger=load_tagger())


def prepare_parsed(parsed: ParsedFeed, *, url: str, now: datetime, tagger: Tagger) -> PreparedFeed:
    from app.tagging.apply import tag_article

    if parsed.error:
        return failed(parsed.error)
    drafts = tuple(
        d.with_tags(
            tag_article(
                tagger, title=d.title, summary_html=d.summary, text=d.text, language=d.language
            )
        )
        for d in plan_articles(parsed, feed_url=url, now=now)
    )
    return PreparedFeed(
        parsed.title,
        parsed.site_url,
        parsed.language,
        parsed.ttl_seconds,
        parsed.bozo_reason,
        None,
        drafts,
    )
