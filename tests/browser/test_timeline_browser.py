"""The timeline in real headless Chromium, from a seeded database."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.browser import LiveServer, screenshot

pytestmark = pytest.mark.browser


def test_timeline_loads_newest_first(page: Any, live_server: LiveServer) -> None:
    page.goto(live_server.url("/"))
    titles = page.locator(".card h3 a").all_inner_texts()
    assert titles[0].startswith("Amazon and TikTok extend")
    screenshot(page, "timeline.png")
