"""The tagger's reasons in the interface language (app/web/reasons.py)."""

from __future__ import annotations

from app.tagging.explain import REASON_KEYS
from app.web.i18n import catalogue
from app.web.reasons import localize_reason


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
