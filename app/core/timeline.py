"""The one timeline filter, from query string to store, and its keyset cursor.

``TimelineFilter`` is built from query parameters by ``web.params`` and read by
``ArticleStore.timeline``; the cursor is an opaque, validated position
(published time and id of the last item shown). Pure: no I/O, no clock.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from app.core.errors import InvalidInput

THEMES = ("security", "regulatory", "market")
THEME_BITS = {key: 1 << i for i, key in enumerate(THEMES)}
FLAG_KINDS = ("important", "irrelevant", "wrong-theme", "follow-up")
# The query-string keys that choose which articles a filter selects (a saved view keeps
# these); the page's own keys (``limit``, ``cursor``) come on top of them.
SELECTION_KEYS = (
    "theme",
    "themes_mode",
    "source",
    "lang",
    "since",
    "until",
    "q",
    "flagged",
    "relevance",
)
DEFAULT_LIMIT = 50
MAX_LIMIT = 200
MAX_ID = 2**31  # article ids are 32-bit integers on PostgreSQL


ORDERS = ("published", "updated", "changes")


@dataclass(frozen=True, slots=True)
class Cursor:
    """A keyset position: ``published_at`` is the time of the order the cursor belongs
    to (published time; ``updated_at`` for ``updated_since`` and the changes feed).
    ``rank`` breaks a tie of time and id in the changes feed (0 article, 1 tombstone).
    A timeline cursor continues in its own order (by published time, or by update);
    a changes-feed cursor and a timeline cursor are refused by each other."""

    published_at: datetime
    id: int
    order: str = "published"
    rank: int = 0

    def encode(self) -> str:
        fields: list[object] = [self.published_at.isoformat(), self.id]
        if self.order != "published":
            fields += [self.order, self.rank]
        raw = json.dumps(fields, separators=(",", ":"))
        return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")

    @classmethod
    def decode(cls, token: str, orders: tuple[str, ...] = ("published",)) -> Cursor:
        try:
            if len(token) > 200:  # also keeps deeply nested JSON away from json.loads
                raise ValueError("cursor too long")
            raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
            stamp, ident, *rest = json.loads(raw)
            kind, rank = rest if rest else ("published", 0)
            when = datetime.fromisoformat(stamp)
            if when.tzinfo is None or not isinstance(ident, int) or isinstance(ident, bool):
                raise ValueError("bad cursor fields")
            if not 0 < ident < MAX_ID or kind not in orders or rank not in (0, 1):
                raise ValueError("bad cursor fields")
            return cls(when.astimezone(UTC), ident, kind, rank)
        except (ValueError, TypeError, OverflowError, binascii.Error, UnicodeDecodeError) as exc:
            raise InvalidInput("invalid cursor", field="cursor") from exc


@dataclass(frozen=True, slots=True)
class TimelineFilter:
    themes: tuple[str, ...] = ()
    themes_mode: str = "any"  # any | all
    sources: tuple[int, ...] = ()  # feed ids
    languages: tuple[str, ...] = ()
    since: datetime | None = None
    until: datetime | None = None
    q: str | None = None
    flagged: str | None = None  # a flag kind, or "any"
    relevance: str = "relevant"  # relevant | all
    limit: int = DEFAULT_LIMIT
    cursor: Cursor | None = None
    updated_since: datetime | None = None

    def __post_init__(self) -> None:
        for theme in self.themes:
            if theme not in THEMES:
                raise InvalidInput(f"unknown theme {theme!r}", field="theme")
        if self.themes_mode not in ("any", "all"):
            raise InvalidInput("themes_mode must be 'any' or 'all'", field="themes_mode")
        if self.relevance not in ("relevant", "all"):
            raise InvalidInput("relevance must be 'relevant' or 'all'", field="relevance")
        if self.flagged is not None and self.flagged not in (*FLAG_KINDS, "any"):
            raise InvalidInput(f"unknown flag kind {self.flagged!r}", field="flagged")
        if not 1 <= self.limit <= MAX_LIMIT:
            raise InvalidInput(f"limit must be between 1 and {MAX_LIMIT}", field="limit")

    @property
    def theme_mask(self) -> int:
        mask = 0
        for theme in self.themes:
            mask |= THEME_BITS[theme]
        return mask


def theme_mask(themes: tuple[str, ...] | list[str] | set[str]) -> int:
    mask = 0
    for theme in themes:
        mask |= THEME_BITS.get(theme, 0)
    return mask


# -- volume chart --------------------------------------------------------------------

WEEKLY_AFTER_DAYS = 90  # longer ranges are drawn per week, so bars stay readable
UNTHEMED = "none"


@dataclass(frozen=True, slots=True)
class VolumeBucket:
    """Articles in one day (or ISO week starting ``start``), counted per theme, or per
    group when the volume is split by outlet or language.

    An article with two themes counts in both; ``total`` counts articles once; an
    article is in exactly one group, so group counts add up to ``total``.
    """

    start: date
    counts: tuple[tuple[str, int], ...]  # (theme or "none" | group key, articles)
    total: int

    def count(self, theme: str) -> int:
        return dict(self.counts).get(theme, 0)


def choose_interval(start: date, end: date) -> str:
    return "week" if (end - start).days > WEEKLY_AFTER_DAYS else "day"


def bucket_volume(
    rows: Iterable[tuple[str, int, int]], interval: str, start: date, end: date
) -> list[VolumeBucket]:
    """``(YYYY-MM-DD, theme_mask, articles)`` rows → one bucket per day or week, gaps filled."""
    if interval not in ("day", "week"):
        raise InvalidInput("interval must be 'day' or 'week'", field="interval")
    step = timedelta(days=7 if interval == "week" else 1)
    first = _bucket_start(start, interval)
    per_theme: dict[date, dict[str, int]] = {}
    totals: dict[date, int] = {}
    for day, mask, count in rows:
        key = _bucket_start(date.fromisoformat(day), interval)
        themes = per_theme.setdefault(key, {})
        for theme in [t for t in THEMES if mask & THEME_BITS[t]] or [UNTHEMED]:
            themes[theme] = themes.get(theme, 0) + count
        totals[key] = totals.get(key, 0) + count
    buckets = []
    current = first
    while current <= end:
        counts = per_theme.get(current, {})
        ordered = tuple((k, counts.get(k, 0)) for k in (*THEMES, UNTHEMED))
        buckets.append(VolumeBucket(current, ordered, totals.get(current, 0)))
        current += step
    return buckets


GROUPS = ("source", "lang")  # share of voice: the volume split by outlet or language
TOP_GROUPS = 5  # the largest groups are drawn, the rest is "other"
OTHER = "other"
UNKNOWN = "unknown"  # an article without a language (or outlet)


def group_volume(
    rows: Iterable[tuple[str, str | None, int]],
    interval: str,
    start: date,
    end: date,
    *,
    top: int = TOP_GROUPS,
) -> tuple[tuple[str, ...], list[VolumeBucket]]:
    """``(YYYY-MM-DD, group key, articles)`` rows, each article in exactly one group →
    the series (the ``top`` largest groups over the whole range, then "other" when
    more) and one bucket per day or week counting articles per series; a bucket's
    counts add up to its total, so a split bar is as tall as the unsplit one."""
    if interval not in ("day", "week"):
        raise InvalidInput("interval must be 'day' or 'week'", field="interval")
    # One pass over the cells (a year by outlet is ~70k of them): per (bucket, key)
    # sums, each day's bucket computed once; then the ranking and "other" per bucket.
    totals: dict[str, int] = {}
    per_key: dict[date, dict[str, int]] = {}
    bucket_of: dict[str, dict[str, int]] = {}
    for day, key, count in rows:
        key = key if key is not None else UNKNOWN
        totals[key] = totals.get(key, 0) + count
        counts = bucket_of.get(day)
        if counts is None:
            start_of = _bucket_start(date.fromisoformat(day), interval)
            counts = bucket_of[day] = per_key.setdefault(start_of, {})
        counts[key] = counts.get(key, 0) + count
    ranked = sorted(totals, key=lambda k: (-totals[k], k))
    series = tuple(ranked[:top]) + ((OTHER,) if len(ranked) > top else ())
    kept = set(series)
    step = timedelta(days=7 if interval == "week" else 1)
    per_bucket: dict[date, dict[str, int]] = {}
    for start_of, by_key in per_key.items():
        counts = per_bucket[start_of] = {}
        for key, count in by_key.items():
            slot = key if key in kept else OTHER
            counts[slot] = counts.get(slot, 0) + count
    buckets = []
    current = _bucket_start(start, interval)
    while current <= end:
        counts = per_bucket.get(current, {})
        ordered = tuple((k, counts.get(k, 0)) for k in series)
        buckets.append(VolumeBucket(current, ordered, sum(counts.values())))
        current += step
    return series, buckets


def _bucket_start(day: date, interval: str) -> date:
    return day - timedelta(days=day.weekday()) if interval == "week" else day


# -- article page --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FlagEntry:
    kind: str
    note: str
    created_at: datetime
    resolved_at: datetime | None
    by: str | None  # the editor's name, if still known


@dataclass(frozen=True, slots=True)
class ArticleDetail:
    """What the article page shows beyond the card: the plain fields the tagger's
    evidence offsets index, its relevance evidence, and the flag history."""

    text: str
    relevance_evidence: tuple[tuple[str, str, int, int], ...]  # term, field, start, end
    flags: tuple[FlagEntry, ...]
