"""Query string → ``TimelineFilter``: every parameter validated here, at the edge.

The same names work on ``/``, ``/api/v1/articles``, the outgoing feeds and the
exports, so a link can move between them.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import Query, Request

from app.core.errors import InvalidInput
from app.core.timeline import DEFAULT_LIMIT, Cursor, TimelineFilter

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


def parse_time(value: str | None, field: str, now: datetime) -> datetime | None:
    """An ISO date or datetime (UTC unless it says otherwise), or a preset like ``7d``."""
    if not value:
        return None
    if value in PRESETS:
        return now - PRESETS[value]
    try:
        when = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise InvalidInput(
            f"{field} must be an ISO date or one of 24h, 7d, 30d", field=field
        ) from None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def parse_filter(request: Request, *, now: datetime | None = None) -> TimelineFilter:
    qp = request.query_params
    now = now or datetime.now(UTC)
    sources = []
    for raw in qp.getlist("source"):
        if not raw.isdigit():
            raise InvalidInput("source must be a feed id", field="source")
        sources.append(int(raw))
    limit_raw = qp.get("limit") or str(DEFAULT_LIMIT)
    if not limit_raw.isdigit():
        raise InvalidInput("limit must be a number", field="limit")
    cursor = qp.get("cursor")
    until = parse_time(qp.get("until"), "until", now)
    if until is not None and len(qp.get("until", "")) == 10:
        until += timedelta(days=1)  # a bare date means "through the end of that day"
    return TimelineFilter(
        themes=tuple(dict.fromkeys(t for t in qp.getlist("theme") if t)),
        themes_mode=qp.get("themes_mode") or "any",
        sources=tuple(sources),
        languages=tuple(dict.fromkeys(lang.lower() for lang in qp.getlist("lang") if lang)),
        since=parse_time(qp.get("since"), "since", now),
        until=until,
        q=(qp.get("q") or "").strip()[:500] or None,
        flagged=qp.get("flagged") or None,
        relevance=qp.get("relevance") or "relevant",
        limit=int(limit_raw),
        cursor=Cursor.decode(cursor) if cursor else None,
        updated_since=parse_time(qp.get("updated_since"), "updated_since", now),
    )


# Declared for the OpenAPI schema; parse_filter reads the raw query so repeated keys work.
ThemeQ = Annotated[list[str] | None, Query(description="Theme key; repeat for several.")]
