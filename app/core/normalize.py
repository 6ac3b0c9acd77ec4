"""Normalising parsed feed values: text, dates and field caps (standard library only).

Everything here is total: bad input gives ``None`` or a shortened value, never an
exception, so one poison entry cannot abort a feed's batch. ``now`` is always a
parameter. This does not sanitise HTML (``feeds.sanitize`` does).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime

TITLE_MAX = 1_000
AUTHOR_MAX = 200
SUMMARY_MAX = 20_000
CONTENT_MAX = 500_000
URL_MAX = 4_096
GUID_MAX = 4_096
ELLIPSIS = "…"

# Earlier dates are junk (epoch zero, year 0001); the web was young then anyway.
MIN_DATE = datetime(1990, 1, 1, tzinfo=UTC)
FUTURE_SKEW = timedelta(days=1)

# C0/C1 controls except \t \n \r, lone surrogates (not encodable, so PostgreSQL
# rejects them) and the XML non-characters U+FFFE/U+FFFF.
_CONTROLS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")


def strip_controls(text: str) -> str:
    """``text`` without control characters, keeping tab and newlines (for HTML fields)."""
    # Every character of _CONTROLS is unprintable (Cc, Cs, Cn), so printable text has
    # none; the check stops at the first tab or newline, where the regex takes over.
    return text if text.isprintable() else _CONTROLS.sub("", text)


def clean_text(text: str, max_len: int) -> str:
    """Single-line plain text: controls removed, whitespace collapsed, capped with "…"."""
    # str.split() splits at the characters ``\s`` matches (both ask Py_UNICODE_ISSPACE):
    # the same as substituting " " for every ``\s+`` run and stripping, without
    # rebuilding the text around every single space.
    return cap(" ".join(strip_controls(text).split()), max_len)


def cap(text: str, max_len: int) -> str:
    """``text`` cut to at most ``max_len`` characters, marked with an ellipsis when cut.

    Python strings index code points, so a cut never splits a UTF-8 sequence, and
    ``strip_controls`` has already removed lone surrogates.
    """
    if len(text) <= max_len:
        return text
    if max_len <= 0:
        return ""
    return text[: max_len - 1].rstrip() + ELLIPSIS


def cap_url(url: str | None) -> str | None:
    """URLs over the cap are dropped: a shortened URL points somewhere else."""
    if url is None or len(url) > URL_MAX:
        return None
    return url


@dataclass(frozen=True, slots=True)
class EntryDate:
    """A normalised date. ``value`` None: the caller uses first-seen time (estimated)."""

    value: datetime | None
    clamped: bool = False  # was in the future beyond the allowed skew; now ``now``


def parse_date(raw: str | None) -> datetime | None:
    """RFC 822/2822 or ISO 8601 text as an aware UTC datetime; None if unparsable."""
    if not raw:
        return None
    text = raw.strip()
    try:
        parsed = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError, OverflowError):
        try:
            parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            return None
    return as_utc(parsed)


def as_utc(value: datetime) -> datetime | None:
    """Naive datetimes are taken as UTC (feeds that omit the zone mostly mean it)."""
    try:
        if value.tzinfo is None or value.utcoffset() is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)
    except (OverflowError, ValueError):  # year 1 or 9999 shifted past the range
        return None


def from_time_tuple(parts: tuple[int, ...] | None) -> datetime | None:
    """A UTC time tuple (feedparser's ``*_parsed``) as an aware datetime, or None."""
    if parts is None or len(parts) < 6:
        return None
    try:
        year, month, day, hour, minute, second = parts[:6]
        return datetime(year, month, day, hour, minute, min(second, 59), tzinfo=UTC)
    except (TypeError, ValueError, OverflowError):
        return None


def normalise_date(value: datetime | None, *, now: datetime) -> EntryDate:
    """Drop dates before 1990, clamp dates later than ``now`` + 1 day to ``now``."""
    if value is None:
        return EntryDate(None)
    utc = as_utc(value)
    if utc is None or utc < MIN_DATE:
        return EntryDate(None)
    if utc > now + FUTURE_SKEW:
        return EntryDate(now, clamped=True)
    return EntryDate(utc)
