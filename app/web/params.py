"""Query string → ``TimelineFilter``: every parameter validated here, at the edge.

The same names work on ``/``, ``/api/v1/articles``, the outgoing feeds and the
exports, so a link can move between them. The pages read the raw query
(``parse_filter``: an HTML form sends empty fields); the API, the feeds and the
exports declare every parameter with its type (``api_filter``), so the OpenAPI
schema is the validator, and ``reject_unknown`` refuses a parameter no route
declares (``?thme=security`` is a 400 naming the allowed ones, not everything).
Anything invalid is a 400 or 422 problem, never a bad value in the database.
"""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import Depends, Query, Request
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from starlette.datastructures import QueryParams

from app.core.errors import InvalidInput
from app.core.timeline import (
    DEFAULT_LIMIT,
    GROUPS,
    MAX_ID,
    MAX_LIMIT,
    SELECTION_KEYS,
    Cursor,
    TimelineFilter,
)
from app.store.search import parse_query
from app.web.auth import template_user

FILTER_KEYS = (*SELECTION_KEYS, "limit", "cursor", "updated_since")
PRESETS = {"24h": timedelta(hours=24), "7d": timedelta(days=7), "30d": timedelta(days=30)}
MAX_QUERY = 500  # characters of search text kept; longer input is cut, not refused
_NUMBER = re.compile(r"[0-9]{1,10}")
LANGUAGE_PATTERN = r"^[a-z]{2,3}(-[a-z0-9]{1,8})?$"
_LANGUAGE = re.compile(LANGUAGE_PATTERN)
# RFC 3339 full-date, or date-time (seconds and offset optional: UTC when absent).
_TIME = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}"
    r"([Tt ][0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]{1,9})?)?([Zz]|[+-][0-9]{2}:[0-9]{2})?)?"
)
TIMELINE_ORDERS = ("published", "updated")
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(2200, 1, 1, tzinfo=UTC)


def parse_time(value: str | None, field: str, now: datetime) -> datetime | None:
    """An ISO date or datetime (UTC unless it says otherwise), or a preset like ``7d``.
    Far past or future dates are clamped: they mean "no bound", not an error."""
    if not value:
        return None
    if value in PRESETS:
        return now - PRESETS[value]
    try:
        if not _TIME.fullmatch(value):
            raise ValueError("not an RFC 3339 date")
        text = value.upper().replace("Z", "+00:00")
        if len(text) > 26 and "." in text:  # Python reads at most 6 fractional digits
            head, _, tail = text.partition(".")
            digits = re.match(r"[0-9]*", tail)
            assert digits is not None
            text = f"{head}.{digits.group()[:6]}{tail[len(digits.group()) :]}"
        when = datetime.fromisoformat(text)
        when = when if when.tzinfo else when.replace(tzinfo=UTC)
        when = when.astimezone(UTC)
    except (ValueError, OverflowError):
        raise InvalidInput(
            f"{field} must be an ISO date (like 2025-01-31) or one of 24h, 7d, 30d", field=field
        ) from None
    return min(max(when, EARLIEST), LATEST)


def parse_number(raw: str, field: str, what: str) -> int:
    if not _NUMBER.fullmatch(raw) or not 0 < int(raw) < MAX_ID:
        raise InvalidInput(f"{field} must be {what}", field=field)
    return int(raw)


def build_filter(
    raw: dict[str, Any], now: datetime, *, orders: tuple[str, ...] = TIMELINE_ORDERS
) -> TimelineFilter:
    """The filter from already-split values (lists for repeatable keys)."""
    languages = tuple(dict.fromkeys(lang.lower() for lang in raw.get("lang") or () if lang))
    for lang in languages:
        if not _LANGUAGE.fullmatch(lang):
            raise InvalidInput("lang must be a language code like en or de", field="lang")
    until_raw = raw.get("until") or ""
    until = parse_time(until_raw, "until", now)
    if until is not None and len(until_raw) == 10 and until < LATEST:
        until += timedelta(days=1)  # a bare date means "through the end of that day"
    q = (raw.get("q") or "").strip()[:MAX_QUERY] or None
    if q:
        parse_query(q)  # refuses what the store could not search, with a clear message
    updated_since = parse_time(raw.get("updated_since"), "updated_since", now)
    cursor = raw.get("cursor")
    return TimelineFilter(
        themes=tuple(dict.fromkeys(t for t in raw.get("theme") or () if t)),
        themes_mode=raw.get("themes_mode") or "any",
        sources=tuple(dict.fromkeys(raw.get("source") or ())),
        languages=languages,
        since=parse_time(raw.get("since"), "since", now),
        until=until,
        q=q,
        flagged=raw.get("flagged") or None,
        relevance=raw.get("relevance") or "relevant",
        limit=raw.get("limit") or DEFAULT_LIMIT,
        cursor=Cursor.decode(cursor, orders) if cursor else None,
        updated_since=updated_since,
    )


def parse_filter(
    request: Request, *, now: datetime | None = None, query: str | None = None
) -> TimelineFilter:
    """The pages' filter, from the raw query (empty form fields are ignored), or from
    ``query`` (a saved view's query string) when given. Editorial flags filter only for
    signed-in users."""
    qp = request.query_params if query is None else QueryParams(query)
    raw: dict[str, Any] = {key: qp.get(key) for key in FILTER_KEYS}
    raw.update({key: qp.getlist(key) for key in ("theme", "lang")})
    raw["source"] = [parse_number(v, "source", "a feed id") for v in qp.getlist("source") if v]
    raw["limit"] = parse_number(qp.get("limit") or str(DEFAULT_LIMIT), "limit", "a positive number")
    flt = build_filter(raw, now or datetime.now(UTC))
    if flt.flagged and template_user(request) is None:
        return replace(flt, flagged=None)
    return flt


def parse_group(request: Request) -> str | None:
    """The volume chart's split (share of voice): ``source``, ``lang`` or none."""
    group = request.query_params.get("group")
    if group not in (None, "", *GROUPS):
        raise InvalidInput("group must be 'source' or 'lang'", field="group")
    return group or None


def parse_interval(request: Request) -> str | None:
    interval = request.query_params.get("interval")
    if interval not in (None, "", "day", "week"):
        raise InvalidInput("interval must be 'day' or 'week'", field="interval")
    return interval or None


# -- the API's declared parameters ----------------------------------------------------

TIME_SCHEMA = {
    "anyOf": [
        {"type": "string", "format": "date"},
        {"type": "string", "format": "date-time"},
        {"type": "string", "enum": list(PRESETS)},
    ]
}
_TIME_HELP = " An RFC 3339 date or date-time (UTC when no offset), or 24h, 7d, 30d."
ThemeKey = Literal["security", "regulatory", "market"]
FlagFilter = Literal["important", "irrelevant", "wrong-theme", "follow-up", "any"]
FeedId = Annotated[int, Query(ge=1, le=MAX_ID - 1)]
TimeQ = Any  # declared as a string; TIME_SCHEMA documents its three forms


def _time(description: str, example: str) -> Any:
    return Query(
        description=description + _TIME_HELP,
        examples=[example],
        json_schema_extra=TIME_SCHEMA,
    )


async def _filter_values(
    theme: Annotated[
        list[ThemeKey] | None,
        Query(description="Theme key; repeat for several.", examples=[["security"]]),
    ] = None,
    themes_mode: Annotated[
        Literal["any", "all"],
        Query(description="With several themes: any of them, or all of them."),
    ] = "any",
    source: Annotated[
        list[Annotated[int, Query(ge=1, le=MAX_ID - 1)]] | None,
        Query(description="Feed id (see /api/v1/feeds); repeat for several.", examples=[[1]]),
    ] = None,
    lang: Annotated[
        list[Annotated[str, Query(pattern=LANGUAGE_PATTERN, max_length=12)]] | None,
        Query(
            description="Language code (ISO 639-1 or -3); repeat for several.",
            examples=[["en"]],
        ),
    ] = None,
    since: Annotated[str | None, _time("Published at or after.", "2025-01-31")] = None,
    until: Annotated[
        str | None, _time("Published before (a bare date: through that day).", "7d")
    ] = None,
    q: Annotated[
        str | None,
        Query(
            description='Search words: all must match; "a phrase", -excluded, a OR b '
            f"(at most 16 terms; text past {MAX_QUERY} characters is ignored).",
            examples=["tiktok -music"],
        ),
    ] = None,
    flagged: Annotated[
        FlagFilter | None, Query(description="Only articles with an open flag of this kind.")
    ] = None,
    relevance: Annotated[
        Literal["relevant", "all"],
        Query(description="relevant: the timeline's default; all: also the filtered-out ones."),
    ] = "relevant",
    limit: Annotated[
        int, Query(ge=1, le=MAX_LIMIT, description="Items per page.", examples=[50])
    ] = DEFAULT_LIMIT,
    updated_since: Annotated[
        str | None,
        _time(
            "Changed at or after (any change the API shows); then sorted by change, "
            "oldest first, with a cursor of that order.",
            "2025-01-31T12:00:00Z",
        ),
    ] = None,
) -> dict[str, Any]:
    raw = {key: value for key, value in locals().items() if key in FILTER_KEYS}
    for key in ("since", "until", "updated_since"):
        if raw[key] == "":  # the pages ignore an empty form field; the API has no forms
            raise InvalidInput(f"{key} must not be empty", field=key)
    return raw


def _cursor_query(fmt: str) -> Any:
    return Query(
        description="Opaque position: the previous page's next_cursor.",
        max_length=200,
        json_schema_extra={"format": fmt},
    )


FilterValues = Annotated[dict[str, Any], Depends(_filter_values)]
TimelineCursor = Annotated[str | None, _cursor_query("newsmon-cursor")]
ChangesCursor = Annotated[str | None, _cursor_query("newsmon-changes-cursor")]


# The API's filter dependencies are async: pure computation, and a sync dependency costs
# each request a thread-pool hop (and, under load, a wait for the GIL on the way back).


async def api_filter(values: FilterValues, cursor: TimelineCursor = None) -> TimelineFilter:
    """The timeline: by published time, or by update (with updated_since, or its cursor)."""
    return build_filter({**values, "cursor": cursor}, datetime.now(UTC), orders=TIMELINE_ORDERS)


async def changes_filter(values: FilterValues, cursor: ChangesCursor = None) -> TimelineFilter:
    """The changes feed: the same filters, its own cursor."""
    return build_filter({**values, "cursor": cursor}, datetime.now(UTC), orders=("changes",))


async def reject_unknown(request: Request) -> None:
    """Router-wide: a query parameter the route does not declare is a 400 that names
    the ones it does (a typo like ``thme`` must not silently match everything). Async:
    pure computation, no thread-pool hop."""
    route = request.scope.get("route")
    if not isinstance(route, APIRoute):
        return
    allowed = _declared(route)
    unknown = sorted({key for key in request.query_params if key not in allowed})
    if unknown:
        names = ", ".join(sorted(allowed)) or "none"
        raise InvalidInput(
            f"unknown query parameter {', '.join(unknown)}; allowed: {names}", field=unknown[0]
        )


def _declared(route: APIRoute) -> frozenset[str]:
    cached: frozenset[str] | None = getattr(route, "_newsmon_query_names", None)
    if cached is None:
        cached = frozenset(_query_names(route.dependant))
        route._newsmon_query_names = cached  # type: ignore[attr-defined]
    return cached


def _query_names(dependant: Dependant) -> set[str]:
    names = {param.alias for param in dependant.query_params}
    for sub in dependant.dependencies:
        names |= _query_names(sub)
    return names
