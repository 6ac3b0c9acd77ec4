"""The tagger's reasons in the interface language (app/web/reasons.py)."""

from __future__ import annotations

import jinja2

from app.core.types import Evidence
from app.tagging.explain import REASON_KEYS
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
