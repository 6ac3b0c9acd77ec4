"""The tagger's relevance reason in the interface language (``app.core.reasons``, with
the pages' catalogue)."""

from __future__ import annotations

import jinja2

from app.core import reasons as core_reasons
from app.web.i18n import DEFAULT_LOCALE, translate


def localize_reason(reason: str, locale: str) -> str:
    return core_reasons.localize_reason(reason, locale, translate)


@jinja2.pass_context
def reason_filter(ctx: jinja2.runtime.Context, reason: str) -> str:
    return localize_reason(reason, ctx.get("locale", DEFAULT_LOCALE))


def install(env: jinja2.Environment) -> None:
    env.filters["reason"] = reason_filter
