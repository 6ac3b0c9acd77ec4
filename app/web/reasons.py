"""The tagger's relevance reason in the interface language (``app.core.reasons``, with
the pages' catalogue), and a theme's evidence as the pages list it."""

from __future__ import annotations

from collections.abc import Iterable

import jinja2

from app.core import reasons as core_reasons
from app.core.types import Evidence
from app.web.i18n import DEFAULT_LOCALE, translate


def localize_reason(reason: str, locale: str) -> str:
    return core_reasons.localize_reason(reason, locale, translate)


@jinja2.pass_context
def reason_filter(ctx: jinja2.runtime.Context, reason: str) -> str:
    return localize_reason(reason, ctx.get("locale", DEFAULT_LOCALE))


def evidence_terms(evidence: Iterable[Evidence]) -> str:
    """The evidence's terms, each once (the first spelling, ignoring case), in order,
    joined by commas: what ``map(attribute='term')|unique|join(', ')`` gave, for ~2 % of
    a timeline page's time (two lists per theme per card)."""
    first: dict[str, str] = {}
    for item in evidence:
        first.setdefault(item.term.lower(), item.term)
    return ", ".join(first.values())


def install(env: jinja2.Environment) -> None:
    env.filters["reason"] = reason_filter
    env.filters["evidence_terms"] = evidence_terms
