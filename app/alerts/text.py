"""The e-mails' words in the recipient's language (English, German).

The alerts layer sits below the web, so it cannot use ``app.web.i18n``; it has its
own small catalogue in the same format (a flat TOML map from the English text to
the German, ``app/alerts/locales/<locale>.toml``, shipped as package data) and
formats dates and numbers with Babel, as the pages do. The tagger's reason phrases
are read from their one catalogue file (``app/web/locales/<locale>/tagger.toml``,
package data too: a file read, not an import), so a reason reads the same in an
e-mail as on the article's page.
"""

from __future__ import annotations

import tomllib
from datetime import date, datetime
from functools import cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from babel import numbers  # (loaded anyway: app.core.reasons formats with it)

from app.core import reasons as core_reasons

LOCALES = ("en", "de")
DEFAULT_LOCALE = "en"
LOCALE_DIR = Path(__file__).resolve().parent / "locales"
REASON_PHRASES = str(Path(__file__).resolve().parents[1] / "web/locales/{locale}/tagger.toml")


def pick_locale(value: str | None) -> str:
    value = (value or "").strip().lower()[:2]
    return value if value in LOCALES else DEFAULT_LOCALE


@cache
def catalogue(locale: str) -> dict[str, str]:
    merged: dict[str, str] = {}
    for path in (Path(REASON_PHRASES.format(locale=locale)), LOCALE_DIR / f"{locale}.toml"):
        if path.exists():
            with path.open("rb") as handle:
                merged.update({str(k): str(v) for k, v in tomllib.load(handle).items()})
    return merged


def translate(locale: str, message: str, **values: Any) -> str:
    text = catalogue(locale).get(message, message) if locale != DEFAULT_LOCALE else message
    return text.format(**values) if values else text


def zone(name: str | None) -> ZoneInfo:
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def format_datetime(value: datetime, locale: str, tz: ZoneInfo) -> str:
    """``1 Dec 2026, 10:15 CET`` / ``01.12.2026, 10:15 MEZ``: the zone always named."""
    from babel import dates  # (here: a poll with nothing to send never loads it)

    local = value.astimezone(tz)
    text = dates.format_date(local, "medium", locale=locale)
    clock = dates.format_time(local, "short", tzinfo=tz, locale=locale)
    return f"{text}, {clock} {local.strftime('%Z') or 'UTC'}"


def format_date(value: date, locale: str) -> str:
    from babel import dates

    return dates.format_date(value, "medium", locale=locale)


def format_number(value: float, locale: str, digits: int = 0) -> str:
    pattern = "#,##0" + ("." + "0" * digits if digits else "")
    return numbers.format_decimal(value, pattern, locale=locale)


def format_change(now: int, before: int, locale: str) -> str:
    """``+3`` / ``−2`` / ``±0`` against the previous period."""
    delta = now - before
    if delta == 0:
        return "±0"
    sign = "+" if delta > 0 else "−"
    return sign + format_number(abs(delta), locale)


def localize_reason(reason: str, locale: str) -> str:
    """The tagger's reason in ``locale`` (``app.core.reasons``, with this catalogue, which
    holds the pages' reason phrases too)."""
    return core_reasons.localize_reason(reason, locale, translate)
