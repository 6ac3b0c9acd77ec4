"""Alerts in Chromium: from a saved view's page, create an alert and send a test; the
e-mail arrives at a real SMTP server (aiosmtpd on 127.0.0.1). The new pages pass
axe-core with the rule, its failed deliveries and the digest form on them; the
digest's chart is decoded by the browser's own PNG decoder."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from app.alerts.digest import latest_period
from app.alerts.png import bar_chart
from app.config import Settings
from app.store import migrate
from app.store.db import Database
from app.store.saved_views import SavedViewStore
from app.store.users import UserStore
from tests.support.axe import axe_source, violations
from tests.support.browser import LiveServer, seed_corpus, serve
from tests.support.smtpsink import Sink, smtp_sink
from tests.web.test_auth_kit import NOW, PASSWORD, make_user

__all__ = ["smtp_sink"]
pytestmark = pytest.mark.browser


@pytest.fixture
def site(tmp_path_factory: pytest.TempPathFactory, smtp_sink: Sink) -> Iterator[LiveServer]:
    root = tmp_path_factory.mktemp("alerts")
    url = f"sqlite:///{root / 'newsmon.db'}"
    db = Database.from_url(url)
    migrate.upgrade(db.engine)
    ids = seed_corpus(db, count=8)
    user = make_user(db, "ana", "viewer")
    with db.write() as session:
        SavedViewStore(session).create(
            "Security watch",
            "theme=security",
            by=UserStore(session).get(user),
            shared=False,
            now=NOW,
        )
    settings = Settings(
        database_url=url,
        data_dir=root / "data",
        secret_key="k" * 48,
        poll=False,
        default_feeds=False,
        smtp_host=smtp_sink.host,
        smtp_port=smtp_sink.port,
        smtp_from="newsmon <alerts@newsmon.example>",
    )
    server = serve(db, settings)
    try:
        yield LiveServer(db=db, base_url=next(server), article_ids=ids)
    finally:
        server.close()
        db.dispose()


@pytest.mark.parametrize("locale", ["en", "de"])
def test_create_an_alert_on_a_view_and_send_a_test(
    browser: Any, site: LiveServer, smtp_sink: Sink, locale: str
) -> None:
    context = browser.new_context(locale="de-DE" if locale == "de" else "en-GB", bypass_csp=True)
    page = context.new_page()
    page.set_default_timeout(10_000)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    source = axe_source()
    try:
        page.goto(site.url("/login"))
        page.fill("#username", "ana")
        page.fill("#password", PASSWORD)
        page.locator("form.login button[type=submit]").click()
        page.wait_for_url(site.url("/"))
        page.goto(site.url("/views"))
        page.locator("tr[data-view='Security watch'] td a[href$='#alerts']").click()
        page.wait_for_url("**/views/*#alerts")
        assert page.locator("h1").inner_text() == "Security watch"
        assert violations(page, source) == []
        page.fill("#alert-target", "ana@example.org")
        page.select_option("#alert-batch", "15m")
        page.select_option("#alert-language", locale)
        page.locator("form.alert-form button[type=submit]").click()
        page.wait_for_url("**/views/*#alert-*")
        rule = page.locator("article.alert-rule")
        assert rule.count() == 1
        created = {"en": "Alert created on", "de": "angelegt"}[locale]
        assert created in page.locator("p.notice").inner_text()
        page.locator("article.alert-rule form[action$='/test'] button").click()
        page.wait_for_load_state()
        sent = {"en": "Test sent to ana@example.org.", "de": "Test an ana@example.org gesendet."}
        assert page.locator("p.notice").inner_text() == sent[locale]
        assert len(smtp_sink.messages) >= 1
        message = smtp_sink.parsed()
        subject = {
            "en": "[newsmon] Test of your alert on “Security watch”",
            "de": "[newsmon] Test Ihres Alarms zu „Security watch“",
        }[locale]
        assert message["Subject"] == subject
        assert violations(page, source) == []
        # pause it: the rule says so
        page.locator("article.alert-rule form[action$='/enabled'] button").click()
        page.wait_for_load_state()
        off = {"en": "Off", "de": "Aus"}[locale]
        assert off in page.locator("article.alert-rule .alert-state").inner_text()
        page.locator("article.alert-rule form[action$='/delete'] button").click()
        page.wait_for_load_state()
        assert page.locator("article.alert-rule").count() == 0
    finally:
        context.close()
    assert errors == []


def test_the_digest_chart_is_a_png_the_browser_decodes(browser: Any) -> None:
    """Chromium's own decoder reads the chart (a mail client does the same)."""
    period = latest_period("daily", "08:00", 0, "UTC", datetime(2025, 3, 2, 9, tzinfo=UTC))
    assert period.key == "daily:2025-03-02"
    data = base64.b64encode(bar_chart([1, 5, 0, 3] * 6, previous=[2] * 24)).decode()
    context = browser.new_context()
    page = context.new_page()
    try:
        page.set_content(f'<img id="chart" alt="chart" src="data:image/png;base64,{data}">')
        size = page.evaluate(
            """() => new Promise((ok, fail) => {
                 const img = document.getElementById('chart');
                 const done = () => img.naturalWidth ? ok([img.naturalWidth, img.naturalHeight])
                                                     : fail('not decoded');
                 if (img.complete) done(); else { img.onload = done; img.onerror = fail; }
               })"""
        )
        assert size == [480, 120]
        # a pixel of a bar is the bar's colour
        colour = page.evaluate(
            """() => { const img = document.getElementById('chart');
                 const c = document.createElement('canvas'); c.width = 480; c.height = 120;
                 const g = c.getContext('2d'); g.drawImage(img, 0, 0);
                 const p = g.getImageData(30, 110, 1, 1).data; return [p[0], p[1], p[2]]; }"""
        )
        assert colour in ([37, 99, 235], [203, 213, 225])
    finally:
        context.close()
