"""Query string → ``TimelineFilter``: every parameter validated here, at the edge.

The same names work on ``/``, ``/api/v1/articles``, the outgoing feeds and the
exports, so a link can move between them. Anything invalid raises
``InvalidInput`` (a 400 problem), never reaches the database as a bad value.
"""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import Query, Request
from starlette.datastructures import QueryParams

from app.core.errors import InvalidInput
from app.core.timeline import DEFAULT_LIMIT, MAX_ID, Cursor, TimelineFilter
from app.store.search import parse_query
from app.web.auth import template_user

FILTER_KEYS = (
    "theme",
    "themes_mode",
    "source",
    "lang",
    "since",
    "until",
    "q",
    "flagged",
    "relevance",
    "limit",
    "cursor",
    "updated_since",
)
PRESETS = {"24h": timedelta(hours=24), "7d": timedelta(days=7), "30d": timedelta(days=30)}
MAX_QUERY = 500  # characters of search text kept; longer input is cut, not refused
_NUMBER = re.compile(r"[0-9]{1,10}")
_LANGUAGE = re.compile(r"[a-z]{2,3}(-[a-z0-9]{1,8})?")
EARLIEST = datetime(1990, 1, 1, tzinfo=UTC)
LATEST = datetime(2200, 1, 1, tzinfo=UTC)


def parse_time(value: str | None, field: str, now: datetime) -> datetime | None:
    """An ISO date or datetime (UTC unless it says otherwise), or a preset like ``7d``."""
    if not value:
        return None
    if value in PRESETS:
        return now - PRESETS[value]
    try:
        when = datetime.fromisoformat(value.replace("Z", "+00:00"))
        when = when if when.tzinfo else when.replace(tzinfo=UTC)
        if not EARLIEST <= when <= LATEST:
            raise ValueError("out of range")
    except (ValueError, OverflowError):
        raise InvalidInput(
            f"{field} must be an ISO date (like 2025-01-31) or one of 24h, 7d, 30d", field=field
        ) from None
    return when


def parse_number(raw: str, field: str, what: str) -> int:
    if not _NUMBER.fullmatch(raw) or not 0 < int(raw) < MAX_ID:
        raise InvalidInput(f"{field} must be {what}", field=field)
    return int(raw)


def parse_filter(
    request: Request, *, now: datetime | None = None, query: str | None = None
) -> TimelineFilter:
    """The request's filter, or ``query``'s (a saved view's query string) when given."""
    qp = request.query_params if query is None else QueryParams(query)
    now = now or datetime.now(UTC)
    sources = tuple(parse_number(raw, "source", "a feed id") for raw in qp.getlist("source") if raw)
    languages = tuple(dict.fromkeys(lang.lower() for lang in qp.getlist("lang") if lang))
    for lang in languages:
        if not _LANGUAGE.fullmatch(lang):
            raise InvalidInput("lang must be a language code like en or de", field="lang")
    limit = parse_number(qp.get("limit") or str(DEFAULT_LIMIT), "limit", "a positive number")
    cursor = qp.get("cursor")
    until = parse_time(qp.get("until"), "until", now)
    if until is not None and len(qp.get("until", "")) == 10:
        until += timedelta(days=1)  # a bare date means "through the end of that day"
    q = (qp.get("q") or "").strip()[:MAX_QUERY] or None
    if q:
        parse_query(q)  # refuses what the store could not search, with a clear message
    flt = TimelineFilter(
        themes=tuple(dict.fromkeys(t for t in qp.getlist("theme") if t)),
        themes_mode=qp.get("themes_mode") or "any",
        sources=sources,
        languages=languages,
        since=parse_time(qp.get("since"), "since", now),
        until=until,
        q=q,
        flagged=qp.get("flagged") or None,
        relevance=qp.get("relevance") or "relevant",
        limit=limit,
        cursor=Cursor.decode(cursor) if cursor else None,
        updated_since=parse_time(qp.get("updated_since"), "updated_since", now),
    )
    if flt.flagged and template_user(request) is None:  # editorial flags: signed-in only
        return replace(flt, flagged=None)
    return flt


def parse_interval(request: Request) -> str | None:
    interval = request.query_params.get("interval")
    if interval not in (None, "", "day", "week"):
        raise InvalidInput("interval must be 'day' or 'week'", field="interval")
    return interval or None


# Declared for the OpenAPI schema; parse_filter reads the raw query so repeated keys work.
ThemeQ = Annotated[list[str] | None, Query(description="Theme key; repeat for several.")]
