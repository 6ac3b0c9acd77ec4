"""The tagger's relevance reason in the interface language.

A reason (app/tagging/explain.py) is built from fixed English phrases and the
article's own words in quotes: "relevant (probability 0.93): both companies in
one sentence 'Amazon', 'TikTok'; cooperation words 'checkout'". Each phrase is
looked up in the catalogue (locales/*/tagger.toml), the number formatted for
the locale, the quoted words left as the article wrote them. A reason in any
other shape (stored by an older tagger) is shown as it is. Pure string work:
the web process never loads the tagger.
"""

from __future__ import annotations

import re

import jinja2
from babel import numbers

from app.web.i18n import DEFAULT_LOCALE, translate

_HEAD = re.compile(
    r"^(?P<verdict>relevant|not relevant) \(probability (?P<p>[01]\.\d+)\)"
    r"(?P<against>, against)?: (?P<body>.*)$",
    re.DOTALL,
)


def localize_reason(reason: str, locale: str) -> str:
    m = _HEAD.match(reason)
    if m is None or locale == DEFAULT_LOCALE:
        return reason
    p = numbers.format_decimal(float(m["p"]), "0.00", locale=locale)
    head = f"{translate(locale, m['verdict'])} ({translate(locale, 'probability')} {p})"
    if m["against"]:
        head += ", " + translate(locale, "against")
    return head + ": " + "; ".join(_statement(s, locale) for s in m["body"].split("; "))


def _statement(statement: str, locale: str) -> str:
    phrase, quote, rest = statement.partition(" '")
    return translate(locale, phrase) + (quote + rest if quote else "")


@jinja2.pass_context
def reason_filter(ctx: jinja2.runtime.Context, reason: str) -> str:
    return localize_reason(reason, ctx.get("locale", DEFAULT_LOCALE))


def install(env: jinja2.Environment) -> None:
    env.filters["reason"] = reason_filter
