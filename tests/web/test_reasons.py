"""The tagger's reasons in the interface language (app/web/reasons.py)."""

from __future__ import annotations

from datetime import UTC, date, datetime

import jinja2

from app.core.types import Evidence
from app.tagging.explain import REASON_KEYS
from app.web import i18n
from app.web.i18n import catalogue
from app.web.reasons import evidence_terms, install, localize_reason


def test_every_reason_phrase_has_a_german_text() -> None:
    german = catalogue("de")
    assert not [k for k in REASON_KEYS if k not in german]


def test_german_reason_keeps_the_article_words() -> None:
    reason = (
        "relevant (probability 0.93): both companies in one sentence 'Amazon', 'TikTok'; "
        "cooperation words 'Kaufknopf'"
    )
    assert localize_reason(reason, "de") == (
        "relevant (Wahrscheinlichkeit 0,93): beide Unternehmen in einem Satz 'Amazon', "
        "'TikTok'; Kooperationswörter 'Kaufknopf'"
    )
    assert localize_reason(reason, "en") == reason


def test_negative_reason_and_old_reasons() -> None:
    reason = "not relevant (probability 0.04), against: rivalry wording 'rival'"
    assert localize_reason(reason, "de") == (
        "nicht relevant (Wahrscheinlichkeit 0,04), dagegen spricht: Wörter für Konkurrenz 'rival'"
    )
    old = "Amazon ×2, TikTok ×1; 1 sentence(s) pair them with 'deal' in title"
    assert localize_reason(old, "de") == old


def test_evidence_terms_list_each_term_once_as_the_pages_did() -> None:
    """The card's and the article page's evidence list: each term once, its first
    spelling, in order, escaped as any text. Jinja's ``map(attribute='term')|unique|
    join(', ')``, which the filter replaced, renders the reference."""
    reference = jinja2.Environment(autoescape=True).from_string(
        "{{ ev|map(attribute='term')|unique|join(', ') }}"
    )
    ours = jinja2.Environment(autoescape=True)
    install(ours)
    page = ours.from_string("{{ ev|evidence_terms }}")
    cases = [
        (),
        ("TikTok",),
        ("TikTok", "Amazon", "tiktok", "TIKTOK", "Amazon", "Prime"),
        ("Datenschutz", "Übernahme", "übernahme", "<b>&\"'", "Kaufknopf"),
    ]
    for terms in cases:
        ev = tuple(Evidence(t, "title", i, i + len(t)) for i, t in enumerate(terms))
        assert page.render(ev=ev) == reference.render(ev=ev)
    ev = tuple(Evidence(t, "text", 0, 1) for t in ("TikTok", "Amazon", "tiktok", "Prime"))
    assert evidence_terms(ev) == "TikTok, Amazon, Prime"


def test_numbers_and_dates_follow_each_pages_language_when_made_once() -> None:
    """Numbers, dates and times are formatted once per value, zone and language: the
    same value on a German page and then on an English one still reads in each page's
    language, and a time in each reader's zone."""
    env = jinja2.Environment(autoescape=True)
    i18n.install(env)
    page = env.from_string("{{ n|number }} | {{ x|number(2) }} | {{ d|date }} | {{ t|time }}")
    values = {
        "n": 1234567,
        "x": 0.5,
        "d": date(2026, 12, 7),
        "t": datetime(2026, 12, 7, 9, tzinfo=UTC),
    }
    for _ in range(2):
        assert page.render(locale="de", tz="Europe/Berlin", **values) == (
            "1.234.567 | 0,50 | 07.12.2026 | 10:00 CET"
        )
        assert page.render(locale="en", tz="America/New_York", **values) == (
            "1,234,567 | 0.50 | Dec 7, 2026 | 4:00\u202fAM EST"
        )
        assert (
            page.render(locale="de", tz="UTC", **values)
            == "1.234.567 | 0,50 | 07.12.2026 | 09:00 UTC"
        )
