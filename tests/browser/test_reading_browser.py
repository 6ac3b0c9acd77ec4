"""The reading workflow in Chromium, end to end, in English and German: unread counts,
keyboard shortcuts, mark read, save a view and follow it, mark all as read, the view's
feed; flagging from the keyboard and the flags queue on a phone."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from app.config import Settings
from app.store import migrate
from app.store.db import Database
from tests.support.browser import LiveServer, seed_corpus, serve
from tests.web.test_auth_kit import PASSWORD, make_user

pytestmark = pytest.mark.browser
WORDS = {
    "en": {"unread": "unread", "saved": "Saved the view", "marked": "marked as read"},
    "de": {"unread": "ungelesen", "saved": "gespeichert", "marked": "als gelesen markiert"},
}


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    root = tmp_path_factory.mktemp("reading")
    url = f"sqlite:///{root / 'newsmon.db'}"
    db = Database.from_url(url)
    migrate.upgrade(db.engine)
    ids = seed_corpus(db, count=12)
    for name in ("reader_en", "reader_de", "flagger", "phone"):
        make_user(db, name, "editor")
    settings = Settings(
        database_url=url,
        data_dir=root / "data",
        secret_key="k" * 48,
        poll=False,
        default_feeds=False,
    )
    server = serve(db, settings)
    try:
        yield LiveServer(db=db, base_url=next(server), article_ids=ids)
    finally:
        server.close()
        db.dispose()


def log_in(browser: Any, site: LiveServer, name: str, locale: str, width: int = 1366) -> Any:
    context = browser.new_context(
        locale="de-DE" if locale == "de" else "en-GB", viewport={"width": width, "height": 900}
    )
    page = context.new_page()
    page.set_default_timeout(10_000)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(site.url("/login"))
    page.fill("#username", name)
    page.fill("#password", PASSWORD)
    page.locator("form.login button[type=submit]").click()
    page.wait_for_url(site.url("/"))
    page.errors = errors
    return page


def unread(page: Any) -> int:
    text = page.locator("header nav a[href='/'] .count").inner_text()
    return int(text.split()[0])


@pytest.mark.parametrize("locale", ["en", "de"])
def test_reading_workflow_end_to_end(browser: Any, site: LiveServer, locale: str) -> None:
    words = WORDS[locale]
    page = log_in(browser, site, f"reader_{locale}", locale)
    try:
        assert page.locator("html").get_attribute("lang") == locale
        start = unread(page)
        assert start == 10 and words["unread"] in page.locator("header").inner_text()
        page.keyboard.press("?")
        assert page.locator("dialog#shortcuts").is_visible()
        page.keyboard.press("Escape")
        page.keyboard.press("j")
        first = page.locator(".card.current").get_attribute("data-article-id")
        with page.expect_navigation():  # mark read: the form posts and the page comes back
            page.keyboard.press("m")
        # the first card is a story of two articles (seed_corpus): both are read now
        assert unread(page) == start - 2
        card = page.locator(f".card[data-article-id='{first}']")
        assert "unread" not in (card.get_attribute("class") or "")

        page.locator("input[name=theme][value=regulatory]").check()
        page.wait_for_url("**theme=regulatory**")
        page.locator("details.save-view summary").click()
        page.fill("#view-name", f"Regulation {locale}")
        page.locator("details.save-view button[type=submit]").click()
        page.wait_for_url("**theme=regulatory**")
        assert words["saved"] in page.get_by_role("status").first.inner_text()
        nav = page.locator("nav.saved-views a", has_text=f"Regulation {locale}")
        view_unread = int(nav.locator(".count").inner_text().split()[0])
        assert view_unread > 0

        page.goto(site.url("/"))
        nav.click()
        page.wait_for_url("**theme=regulatory**")
        with page.expect_navigation():
            page.locator(".reading-actions form[action='/read/all'] button").click()
        assert words["marked"] in page.locator("p.notice").inner_text()
        assert nav.locator(".count").count() == 0  # nothing unread left in the view
        assert unread(page) == start - 2 - view_unread

        page.goto(site.url("/views"))
        atom = page.locator("tr", has_text=f"Regulation {locale}").get_by_role("link", name="Atom")
        body = page.request.get(site.url(atom.get_attribute("href"))).text()
        assert f"<title>newsmon: Regulation {locale}</title>" in body
        assert not page.errors, page.errors
    finally:
        page.context.close()


def test_flag_from_the_keyboard_then_the_queue_fits_a_phone(browser: Any, site: LiveServer) -> None:
    page = log_in(browser, site, "flagger", "en")
    try:
        page.keyboard.press("j")
        page.keyboard.press("j")
        page.keyboard.press("f")  # opens the flag form of the current card
        kind = page.locator(".card.current details.article-actions select")
        assert kind.evaluate("el => el === document.activeElement")
        kind.select_option("follow-up")
        with page.expect_navigation():
            page.locator(".card.current details.article-actions button[type=submit]").click()
        assert "Flagged as follow-up." in page.locator("p.notice").inner_text()
        page.set_viewport_size({"width": 390, "height": 800})
        page.goto(site.url("/flags"))
        overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, f"/flags is {overflow} px wider than a phone"
        label = page.locator("label[for^=assignee-]").first.bounding_box()
        assert label is None or label["width"] <= 1  # "Assign to" is for screen readers only
        assert page.get_by_role("button", name="Followed up").first.is_visible()
        assert not page.errors, page.errors
    finally:
        page.context.close()


def test_a_signed_in_editor_on_a_phone_sees_the_first_article_on_the_first_screen(
    browser: Any, site: LiveServer
) -> None:
    """With the unread count, saved views and the reading actions above the timeline."""
    page = log_in(browser, site, "phone", "de", width=390)
    try:
        page.set_viewport_size({"width": 390, "height": 844})
        page.goto(site.url("/?theme=regulatory"))
        page.locator("details.save-view summary").click()  # a saved view in the header
        page.fill("#view-name", "Regulierung")
        page.locator("details.save-view button[type=submit]").click()
        page.wait_for_url("**theme=regulatory**")
        assert page.locator("nav.saved-views a", has_text="Regulierung").is_visible()
        page.goto(site.url("/?theme=regulatory"))  # the next visit: no "saved" notice
        assert page.locator("details.filter-panel > summary").inner_text() == "Filter (1 aktiv)"
        card = page.locator(".card").first.bounding_box()
        assert card["y"] >= 0 and card["y"] + card["height"] <= 844, card
    finally:
        page.context.close()
