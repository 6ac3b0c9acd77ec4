"""Interface languages (English, German): negotiation, catalogues, Babel formatting.

Catalogues are flat TOML maps from the English source string to its German
text, one or more files per locale under ``app/web/locales/<locale>/`` (every
file is loaded, so each feature can bring its own). Templates call
``_("English text", n=3)``; placeholders use ``str.format`` names. A missing
translation falls back to the English text, never to an error.
"""

from __future__ import annotations

import tomllib
from datetime import date, datetime
from functools import cache, lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import jinja2
from babel import Locale, dates, numbers
from fastapi import APIRouter
from fastapi.responses import RedirectResponse, Response
from starlette.requests import Request

from app.core.errors import InvalidInput

LOCALES = ("en", "de")
DEFAULT_LOCALE = "en"
COOKIE = "lang_ui"
LOCALE_DIR = Path(__file__).resolve().parent / "locales"
LANGUAGE_NAMES = {"en": "English", "de": "Deutsch"}


@cache
def catalogue(locale: str) -> dict[str, str]:
    merged: dict[str, str] = {}
    for path in sorted((LOCALE_DIR / locale).glob("*.toml")):
        with path.open("rb") as handle:
            merged.update({str(k): str(v) for k, v in tomllib.load(handle).items()})
    return merged


def translate(locale: str, message: str, **values: Any) -> str:
    text = catalogue(locale).get(message, message) if locale != DEFAULT_LOCALE else message
    return text.format(**values) if values else text


def negotiate(request: Request) -> str:
    """The ``lang_ui`` cookie if valid, else the best Accept-Language match, else English."""
    chosen = request.cookies.get(COOKIE)
    if chosen in LOCALES:
        return chosen
    ranked: list[tuple[float, int, str]] = []
    for index, part in enumerate(request.headers.get("accept-language", "").split(",")[:20]):
        tag, _, params = part.strip().partition(";")
        weight = 1.0
        if params.strip().startswith("q="):
            try:
                weight = float(params.strip()[2:])
            except ValueError:
                continue
        primary = tag.strip().lower().split("-")[0]
        if primary in LOCALES and weight > 0:
            ranked.append((-weight, index, primary))
    return min(ranked)[2] if ranked else DEFAULT_LOCALE


def safe_next(target: str | None) -> str:
    """A same-origin path to go back to, or ``/``: no scheme, host, backslash or control."""
    if (
        not target
        or not target.startswith("/")
        or target.startswith("//")
        or any(c == "\\" or ord(c) < 0x20 or ord(c) == 0x7F for c in target)
        or len(target) > 2000
    ):
        return "/"
    return target


def context(request: Request) -> dict[str, Any]:
    """Added to every template: ``locale`` and the links that switch the language."""
    here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    switch = {code: f"/ui-language?set={code}&next={quote(here, safe='')}" for code in LOCALES}
    return {
        "locale": negotiate(request),
        "language_links": switch,
        "language_names": LANGUAGE_NAMES,
    }


@jinja2.pass_context
def gettext(ctx: jinja2.runtime.Context, message: str, **values: Any) -> str:
    return translate(ctx.get("locale", DEFAULT_LOCALE), message, **values)


def zone_of(ctx: jinja2.runtime.Context) -> ZoneInfo:
    """The reader's time zone (``tz`` in the context, see ``reading_pages.zone_context``)."""
    name = ctx.get("tz") or "UTC"
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


@cache
def _babel_locale(code: str) -> Locale:
    """Babel's locale for ``code``, parsed once: given as a string, each date or number
    formatted parsed it again (a date 48 µs instead of 21; a timeline page has ~100)."""
    return Locale.parse(code)


def _zone_label(value: datetime) -> str:
    return value.strftime("%Z") or "UTC"


@jinja2.pass_context
def format_datetime(ctx: jinja2.runtime.Context, value: datetime | None) -> str:
    """Date and time in the reader's zone, the zone named (``1 Dec 2026, 10:15:00 CET``)."""
    if value is None:
        return "—"
    return _datetime_text(value, zone_of(ctx), ctx.get("locale", DEFAULT_LOCALE))


@jinja2.pass_context
def format_time(ctx: jinja2.runtime.Context, value: datetime) -> str:
    """The time in the reader's zone with the zone's name (``10:15 CET``)."""
    return _time_text(value, zone_of(ctx), ctx.get("locale", DEFAULT_LOCALE))


@jinja2.pass_context
def format_date(
    ctx: jinja2.runtime.Context, value: date | datetime | None, style: str = "medium"
) -> str:
    if value is None:
        return ""
    day = value.astimezone(zone_of(ctx)).date() if isinstance(value, datetime) else value
    return _date_text(day, style, ctx.get("locale", DEFAULT_LOCALE))


@jinja2.pass_context
def format_number(ctx: jinja2.runtime.Context, value: float, digits: int = 0) -> str:
    return _number_text(value, digits, ctx.get("locale", DEFAULT_LOCALE))


# A page formats the same few values again and again (the chart's ~30 days, its counts
# in the bars' titles and in its table), and the same page is shown again and again (its
# cards' times): babel's formatting is pure, so each text is made once per value, zone
# and language. Numbers were ~10 % of a timeline page's time, the cards' times ~5 %.
@lru_cache(maxsize=4096)
def _datetime_text(value: datetime, zone: ZoneInfo, code: str) -> str:
    local = value.astimezone(zone)
    text = dates.format_datetime(local, "medium", tzinfo=local.tzinfo, locale=_babel_locale(code))
    return f"{text} {_zone_label(local)}"


@lru_cache(maxsize=4096)
def _time_text(value: datetime, zone: ZoneInfo, code: str) -> str:
    local = value.astimezone(zone)
    text = dates.format_time(local, "short", tzinfo=local.tzinfo, locale=_babel_locale(code))
    return f"{text} {_zone_label(local)}"


@lru_cache(maxsize=4096)
def _date_text(day: date, style: str, code: str) -> str:
    return dates.format_date(day, style, locale=_babel_locale(code))


@lru_cache(maxsize=4096)
def _number_text(value: float, digits: int, code: str) -> str:
    pattern = "#,##0" + ("." + "0" * digits if digits else "")
    return numbers.format_decimal(value, pattern, locale=_babel_locale(code))


def install(env: jinja2.Environment) -> None:
    env.globals["_"] = gettext
    env.filters["datetime"] = format_datetime
    env.filters["date"] = format_date
    env.filters["time"] = format_time
    env.filters["number"] = format_number


# Public (no reader rule): the login page of a private instance switches language too.
router = APIRouter(include_in_schema=False)
ONE_YEAR = 365 * 24 * 3600


@router.get("/ui-language")
def ui_language(request: Request) -> Response:
    """Remember the interface language in a cookie, then go back to ``next``."""
    chosen = request.query_params.get("set", "")
    if chosen not in LOCALES:
        raise InvalidInput(f"set must be one of {', '.join(LOCALES)}", field="set")
    response = RedirectResponse(safe_next(request.query_params.get("next")), 303)
    response.set_cookie(COOKIE, chosen, max_age=ONE_YEAR, httponly=True, samesite="lax")
    return response
