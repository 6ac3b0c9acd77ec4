"""Article identity: which stored row an entry is (standard library only).

Order of preference: the canonical URL (the same article from several feeds, or
with tracking parameters, is one row), then the feed's GUID, then a hash of the
title and text. Keys depend only on the entry, so they are stable across polls.
This does not find near-duplicates (``core.fingerprint`` does).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from typing import NamedTuple

from app.core.types import ParsedEntry
from app.core.urls import canonical_url, url_hash

_WHITESPACE = re.compile(r"\s+")


class KeyedEntry(NamedTuple):
    kind: str  # url | guid | content
    key: str  # sha256 hex
    entry: ParsedEntry


def article_key(entry: ParsedEntry, feed_url: str) -> tuple[str, str]:
    """(key kind, sha256 hex key) for ``entry`` found in the feed at ``feed_url``."""
    if entry.url:
        try:
            return "url", url_hash(canonical_url(entry.url))
        except ValueError:
            pass  # not a usable URL: fall through to the GUID
    if entry.guid:
        return "guid", _sha256(f"{_feed_identity(feed_url)}\n{entry.guid}")
    title = _WHITESPACE.sub(" ", entry.title).strip().casefold()
    text = _WHITESPACE.sub(" ", entry.text).strip().casefold()
    return "content", _sha256(f"{title}\n{text}")


def dedupe_batch(entries: Iterable[ParsedEntry], feed_url: str) -> list[KeyedEntry]:
    """One entry per key, in first-seen order, keeping the most complete (later wins ties).

    PostgreSQL refuses an ``INSERT … ON CONFLICT DO UPDATE`` that touches one row
    twice, so the batch must be unique before it reaches the store.
    """
    chosen: dict[str, KeyedEntry] = {}
    for entry in entries:
        kind, key = article_key(entry, feed_url)
        previous = chosen.get(key)
        if previous is None or _completeness(entry) >= _completeness(previous.entry):
            chosen[key] = KeyedEntry(kind, key, entry)
    return list(chosen.values())


def _completeness(entry: ParsedEntry) -> tuple[int, int]:
    has_date = int(entry.published_at is not None or entry.updated_at is not None)
    return has_date, len(entry.content_html) + len(entry.summary_html) + len(entry.text)


def _feed_identity(feed_url: str) -> str:
    try:
        return canonical_url(feed_url)
    except ValueError:
        return feed_url


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()
