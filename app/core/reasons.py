"""The tagger's relevance reason in another language, for pages and e-mails alike.

A reason (``app/tagging/explain.py``) is built from fixed English phrases and the
article's own words in quotes: "relevant (probability 0.93): both companies in one
sentence 'Amazon', 'TikTok'; cooperation words 'checkout'". Each phrase goes through
the caller's ``translate`` (its catalogue holds ``locales/*/tagger.toml``), the number
is formatted for the locale, the quoted words stay as the article wrote them. A reason
in any other shape (stored by an older tagger) is returned as it is. Pure string work:
neither the web process nor the alert runner loads the tagger.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from babel import numbers

DEFAULT_LOCALE = "en"

_HEAD = re.compile(
    r"^(?P<verdict>relevant|not relevant) \(probability (?P<p>[01]\.\d+)\)"
    r"(?P<against>, against)?: (?P<body>.*)$",
    re.DOTALL,
)


def localize_reason(reason: str, locale: str, translate: Callable[[str, str], str]) -> str:
    """``reason`` in ``locale``; ``translate(locale, english)`` looks a phrase up."""
    m = _HEAD.match(reason)
    if m is None or locale == DEFAULT_LOCALE:
        return reason
    p = numbers.format_decimal(float(m["p"]), "0.00", locale=locale)
    head = f"{translate(locale, m['verdict'])} ({translate(locale, 'probability')} {p})"
    if m["against"]:
        head += ", " + translate(locale, "against")
    parts = []
    for statement in m["body"].split("; "):
        phrase, quote, rest = statement.partition(" '")
        parts.append(translate(locale, phrase) + (quote + rest if quote else ""))
    return head + ": " + "; ".join(parts)
