"""The timeline in real headless Chromium, from a seeded database."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.browser import LiveServer, screenshot

pytestmark = pytest.mark.browser


def test_timeline_loads_newest_first_with_chart(page: Any, live_server: LiveServer) -> None:
    page.goto(live_server.url("/"))
    titles = page.locator(".card h3 a").all_inner_texts()
    assert titles[0].startswith("Amazon and TikTok extend")
    assert page.locator("svg.chart rect.bar").count() == 30
    assert page.get_by_role("search").is_visible()
    screenshot(page, "timeline.png")


def test_filter_by_theme_submits_on_change(page: Any, live_server: LiveServer) -> None:
    page.goto(live_server.url("/"))
    page.locator("input[name=theme][value=security]").check()
    page.wait_for_url("**theme=security**")
    chips = page.locator(".card .chips").all_inner_texts()
    assert chips and all("security" in c for c in chips)
    assert "source=" not in page.url  # empty fields stay out of shared links


def test_search_with_slash_shortcut_highlights(page: Any, live_server: LiveServer) -> None:
    page.goto(live_server.url("/"))
    page.keyboard.press("/")
    page.keyboard.type("sicherheit")
    page.keyboard.press("Enter")
    page.wait_for_url("**q=sicherheit**")
    assert page.locator(".card h3 mark").first.inner_text() == "sicherheit"


def test_paging_and_keyboard_navigation(page: Any, live_server: LiveServer) -> None:
    page.goto(live_server.url("/?limit=5&theme=market"))
    first = page.locator(".card").first.get_attribute("data-article-id")
    page.keyboard.press("j")
    assert page.locator(".card.current").get_attribute("data-article-id") == first
    page.get_by_role("link", name="Older articles").click()
    page.wait_for_url("**cursor=**")
    assert "theme=market" in page.url
    assert first not in page.locator(".card").evaluate_all(
        "cards => cards.map(c => c.dataset.articleId)"
    )


def test_open_article_and_switch_language(page: Any, live_server: LiveServer) -> None:
    page.goto(live_server.url("/"))
    page.locator(".card").first.get_by_role("link", name="Details").click()
    page.wait_for_url("**/articles/**")
    assert page.locator(".why mark").count() >= 1
    page.get_by_role("link", name="Deutsch").click()
    page.wait_for_url("**/articles/**")
    assert page.locator("html").get_attribute("lang") == "de"
    assert page.get_by_role("heading", name="Warum so verschlagwortet").is_visible()
    page.goto(live_server.url("/"))
    assert page.get_by_role("heading", name="Zeitleiste Amazon × TikTok").is_visible()


def test_phone_width_has_no_horizontal_scroll(browser: Any, live_server: LiveServer) -> None:
    context = browser.new_context(viewport={"width": 360, "height": 740})
    pg = context.new_page()
    pg.goto(live_server.url("/"))
    overflow = pg.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    context.close()
    assert overflow <= 0


PHONE = {"width": 390, "height": 844}


@pytest.mark.parametrize(("locale", "words"), [("en-GB", "Filters"), ("de-DE", "Filter")])
def test_on_a_phone_the_filters_fold_away_and_the_first_article_is_on_the_first_screen(
    browser: Any, live_server: LiveServer, locale: str, words: str
) -> None:
    """Issue 13, defect 13: the filter form filled a phone's first screen."""
    context = browser.new_context(viewport=PHONE, locale=locale)
    pg = context.new_page()
    try:
        pg.goto(live_server.url("/?theme=market&lang=en"))  # two filters active
        summary = pg.locator("details.filter-panel > summary")
        assert summary.is_visible()
        assert summary.inner_text().startswith(words) and "2" in summary.inner_text()
        assert not pg.locator("#f-q").is_visible()
        card = pg.locator(".card").first.bounding_box()
        assert card["y"] >= 0 and card["y"] + card["height"] <= PHONE["height"]

        # keyboard: Tab reaches the summary, Enter opens it, the form is usable
        for _ in range(40):
            pg.keyboard.press("Tab")
            if pg.evaluate("document.activeElement.tagName") == "SUMMARY":
                break
        assert pg.evaluate("document.activeElement.closest('details.filter-panel') !== null")
        pg.keyboard.press("Enter")
        assert pg.locator("#f-q").is_visible()
        pg.keyboard.press("Tab")
        assert pg.evaluate("document.activeElement.id") == "f-q"

        # "/" opens the folded panel and focuses the search
        pg.goto(live_server.url("/"))
        assert not pg.locator("#f-q").is_visible()
        pg.keyboard.press("/")
        assert pg.evaluate("document.activeElement.id") == "f-q"
    finally:
        context.close()


def test_on_a_wide_screen_the_filters_stay_open_without_a_summary(
    browser: Any, live_server: LiveServer
) -> None:
    context = browser.new_context(viewport={"width": 1366, "height": 900})
    pg = context.new_page()
    try:
        pg.goto(live_server.url("/"))
        assert pg.locator("#f-q").is_visible() and pg.get_by_role("search").is_visible()
        assert not pg.locator("details.filter-panel > summary").is_visible()
        pg.locator("#f-q").click()
        assert pg.evaluate("document.activeElement.id") == "f-q"
    finally:
        context.close()
