"""Alert e-mails as a mail client reads them: parsed back with the ``email`` package,
both languages, both parts, the links, the escaping and the unsubscribe headers; the
unsubscribe link works end to end against the real ASGI app (test_unsubscribe_web)."""

from __future__ import annotations

import email
import email.policy
from datetime import UTC, datetime
from email.message import EmailMessage
from html.parser import HTMLParser

import pytest

from app.alerts.content import AlertArticle, AlertContent, SpikeInfo
from app.alerts.mail import build_alert_message
from app.alerts.unsubscribe import parse_token, verify
from app.config import Settings
from app.store.alerts import AlertRuleInfo

NOW = datetime(2026, 12, 1, 9, 15, tzinfo=UTC)
BASE = "https://newsmon.example"
SECRET = "mail-test-secret-" + "y" * 32
REASON = (
    "relevant (probability 0.93): both companies in one sentence 'Amazon', 'TikTok'; "
    "cooperation words 'checkout'"
)


def settings() -> Settings:
    return Settings(
        database_url="sqlite://",
        secret_key=SECRET,
        base_url=BASE,
        poll=False,
        default_feeds=False,
    )


def rule(**changes: object) -> AlertRuleInfo:
    values: dict[str, object] = {
        "id": 7,
        "view_id": 3,
        "view_name": "Security DE",
        "view_query": "theme=security&lang=de",
        "owner_id": 1,
        "kind": "new",
        "batch": "now",
        "spike_hours": 6,
        "spike_factor": 3.0,
        "spike_min_count": 5,
        "quiet_start": None,
        "quiet_end": None,
        "time_zone": "Europe/Berlin",
        "daily_cap": None,
        "channel": "email",
        "target": "ana@example.org",
        "has_secret": False,
        "language": None,
        "enabled": True,
        "disabled_reason": None,
        "consecutive_failures": 0,
        "last_error": None,
        "last_failure_at": None,
        "last_sent_at": None,
        "created_at": NOW,
        "updated_at": NOW,
    }
    values.update(changes)
    return AlertRuleInfo(**values)  # type: ignore[arg-type]


def article(**changes: object) -> AlertArticle:
    values: dict[str, object] = {
        "id": 41,
        "url": "https://news.example/ban-ruling",
        "title": "Court upholds TikTok ban ruling",
        "outlet": "Example News",
        "published_at": NOW,
        "themes": ("security", "regulatory"),
        "relevant": True,
        "relevance_reason": REASON,
        "newsmon_url": f"{BASE}/articles/41",
    }
    values.update(changes)
    return AlertArticle(**values)  # type: ignore[arg-type]


def content(language: str = "en", **changes: object) -> AlertContent:
    values: dict[str, object] = {
        "kind": "new",
        "rule": rule(),
        "articles": (article(),),
        "view_url": f"{BASE}/?theme=security&lang=de",
        "message_id": "<alert-7-41@newsmon.example>",
        "now": NOW,
        "language": language,
    }
    values.update(changes)
    return AlertContent(**values)  # type: ignore[arg-type]


def parsed(message: EmailMessage) -> EmailMessage:
    """What the receiving side sees: the bytes on the wire, parsed again."""
    back = email.message_from_bytes(bytes(message), policy=email.policy.default)
    assert isinstance(back, EmailMessage)
    return back


def parts(message: EmailMessage) -> tuple[str, str]:
    plain = message.get_body(("plain",))
    html = message.get_body(("html",))
    assert plain is not None and html is not None
    return plain.get_content(), html.get_content()


class Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.hrefs: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            self.hrefs.extend(v or "" for k, v in attrs if k == "href")

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def links_of(html: str) -> Links:
    found = Links()
    found.feed(html)
    return found


def test_an_english_alert_has_both_parts_with_everything_a_reader_needs() -> None:
    message = parsed(build_alert_message(content("en"), settings()))
    assert message.get_content_type() == "multipart/alternative"
    assert message["Subject"] == "[newsmon] Security DE: Court upholds TikTok ban ruling"
    assert message["To"] == "ana@example.org"
    assert message["Message-ID"] == "<alert-7-41@newsmon.example>"
    assert message["Content-Language"] == "en"
    plain, html = parts(message)
    for body in (plain, html):
        assert "Court upholds TikTok ban ruling" in body
        assert "Example News" in body
        # 09:15 UTC is 10:15 in Berlin in December: the rule's zone, named
        assert "Dec 1, 2026, 10:15\u202fAM CET" in body  # CLDR: a narrow space
        assert "security" in body and "regulatory" in body
        assert "both companies in one sentence 'Amazon', 'TikTok'" in body.replace("&#39;", "'")
    hrefs = links_of(html).hrefs
    assert "https://news.example/ban-ruling" in hrefs
    assert f"{BASE}/articles/41" in hrefs
    assert "https://news.example/ban-ruling" in plain and f"{BASE}/articles/41" in plain


def test_a_german_alert_is_german_in_both_parts() -> None:
    message = parsed(build_alert_message(content("de"), settings()))
    assert message["Content-Language"] == "de"
    plain, html = parts(message)
    for body in (plain, html):
        assert "Neu in Ihrer gespeicherten Ansicht „Security DE“" in body
        assert "01.12.2026, 10:15 CET" in body
        assert "Sicherheit" in body and "Regulierung" in body
        assert "Warum es passt" in body
        # the tagger's reason in German, the article's own words kept
        assert "Wahrscheinlichkeit 0,93" in body
        assert "beide Unternehmen in einem Satz" in body.replace("&#39;", "'")
        assert "Diese E-Mails abbestellen" in body
    assert 'lang="de"' in html


def test_the_unsubscribe_link_is_signed_and_in_the_rfc_8058_headers() -> None:
    message = parsed(build_alert_message(content(), settings()))
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    header = str(message["List-Unsubscribe"]).strip()  # folded: the URL is long
    assert header.startswith(f"<{BASE}/unsubscribe/") and header.endswith(">")
    url = header[1:-1]
    plain, html = parts(message)
    assert url in plain and url in links_of(html).hrefs
    token = parse_token(url.rsplit("/", 1)[1])
    assert token is not None and token.kind == "rule" and token.id == 7
    assert verify(SECRET, token, "ana@example.org")
    assert verify(SECRET, token, "ANA@example.org ")  # the address, as written by anyone
    assert not verify(SECRET, token, "someone.else@example.org")
    assert not verify("another-secret", token, "ana@example.org")


def test_feed_text_is_escaped_and_only_web_links_are_links() -> None:
    hostile = article(
        title='<script>alert(1)</script> & "quotes"',
        outlet="<b>Outlet</b>",
        url="javascript:alert(1)",
    )
    message = parsed(build_alert_message(content(articles=(hostile,)), settings()))
    plain, html = parts(message)
    assert "<script>" not in html and "<b>Outlet</b>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; &#34;quotes&#34;" in html
    assert "javascript:" not in html.lower()
    assert all(h.startswith(BASE) for h in links_of(html).hrefs)
    assert '<script>alert(1)</script> & "quotes"' in plain  # plain text stays as written


def test_a_batch_a_spike_and_a_test_say_what_they_are() -> None:
    batch = content(articles=(article(), article(id=42, title="Second story")))
    message = parsed(build_alert_message(batch, settings()))
    assert message["Subject"] == "[newsmon] Security DE: 2 new articles"
    plain, _ = parts(message)
    assert "Second story" in plain and f"{BASE}/articles/42" not in plain  # url given below
    spike = SpikeInfo(NOW, NOW, count=12, baseline=2.5, factor=3.0, min_count=5)
    message = parsed(
        build_alert_message(content("de", kind="spike", articles=(), spike=spike), settings())
    )
    assert message["Subject"] == "[newsmon] Security DE: 12 Artikel in 6 Std."
    plain, _ = parts(message)
    assert "12 Artikel in den letzten 6 Stunden; üblich sind 2,5" in plain
    test = parsed(build_alert_message(content(kind="test", articles=()), settings()))
    assert test["Subject"] == "[newsmon] Test of your alert on “Security DE”"


@pytest.mark.parametrize("language", ["en", "de"])
def test_every_german_string_is_translated(language: str) -> None:
    """No English sentence left in a German e-mail (the catalogue has each one)."""
    from app.alerts.text import catalogue

    assert catalogue("de")["Why it matched"] == "Warum es passt"
    message = parsed(build_alert_message(content(language), settings()))
    plain, _ = parts(message)
    if language == "de":
        for english in ("Why it matched", "Outlet", "Open the view", "Stop these e-mails"):
            assert english not in plain
