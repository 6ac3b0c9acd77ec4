"""Main text of the loopback news site's pages: per language, token-level F1 ≥ 0.90
against the known text and no boilerplate line; walls and stubs never become text."""

from __future__ import annotations

import re
from collections import Counter

import pytest

from app.core.pages import PageOutcome
from app.feeds.extract import MIN_TEXT, extract_page
from tests.support.newssite import article_page, consent_page, paywall_page
from tests.support.newstext import ARTICLES, BOILERPLATE, CONSENT_TEXT, PAYWALL_LEAD

F1_TARGET = 0.90


def tokens(text: str) -> Counter[str]:
    return Counter(re.findall(r"\w+", text.casefold()))


def token_f1(got: str, known: str) -> float:
    a, b = tokens(got), tokens(known)
    common = sum((a & b).values())
    if not common:
        return 0.0
    precision, recall = common / sum(a.values()), common / sum(b.values())
    return 2 * precision * recall / (precision + recall)


def boilerplate_lines(text: str) -> list[str]:
    return [b for b in BOILERPLATE for line in text.splitlines() if b in line]


@pytest.mark.parametrize("lang", sorted(ARTICLES))
def test_main_text_matches_the_known_article(lang: str) -> None:
    url = f"https://news.example/{lang}/story"
    page = extract_page(article_page(lang, url), url=url, content_type="text/html; charset=utf-8")
    assert page.outcome is PageOutcome.OK
    _, paragraphs = ARTICLES[lang]
    assert token_f1(page.text, "\n".join(paragraphs)) >= F1_TARGET
    assert boilerplate_lines(page.text) == []
    assert page.canonical == url
    assert page.site_name == "Loopback Times"
    assert page.author == "Dana Reporter"
    assert page.date == "2026-11-30"
    # Stored as sanitised HTML: paragraphs kept, no script, no attributes beyond the allowlist.
    assert page.html.count("<p>") >= len(paragraphs) and "<script" not in page.html


def test_a_paywall_stub_is_an_outcome_not_text() -> None:
    page = extract_page(paywall_page("https://news.example/p"), url="https://news.example/p")
    assert page.outcome is PageOutcome.PAYWALL
    assert page.text == "" and page.html == ""
    assert PAYWALL_LEAD not in (page.reason or "")


def test_a_consent_interstitial_is_an_outcome_not_text() -> None:
    page = extract_page(consent_page(), url="https://news.example/c")
    assert page.outcome is PageOutcome.CONSENT
    assert page.text == "" and CONSENT_TEXT not in (page.reason or "")


def test_too_little_text_is_never_the_article() -> None:
    body = b"<html><body><article><p>Short note.</p></article></body></html>"
    page = extract_page(body, url="https://news.example/s")
    assert page.outcome is PageOutcome.PAYWALL and page.text == ""
    assert "too little text" in (page.reason or "")
    assert len("Short note.") < MIN_TEXT


def test_not_html_is_refused_before_parsing() -> None:
    page = extract_page(b'{"a": 1}', url="https://news.example/j", content_type="application/json")
    assert page.outcome is PageOutcome.NOT_HTML


def test_the_header_charset_wins() -> None:
    url = "https://news.example/de/story"
    body = article_page("de", url).decode("utf-8").encode("latin-1", "replace")
    body = body.replace(b'<meta charset="utf-8">', b"")
    page = extract_page(body, url=url, content_type="text/html; charset=ISO-8859-1")
    assert "Abgeordnete" in page.text and "fließen" in page.text
