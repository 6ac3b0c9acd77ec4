"""Issue 13's defects, end to end through the real app (both engines): each test here
failed on the code before the fix."""

from __future__ import annotations

import re
from fastapi.testclient import TestClient

from app.store.db import Database
from tests.web.test_auth_kit import NOW, csrf_from, login, make_user, seed_article


def chart_svg(html: str) -> str:
    found = re.search(r"<svg class=\"chart\".*?</svg>", html, re.S)
    assert found, "no chart on the page"
    return found.group(0)


def test_the_chart_counts_articles_once_and_covers_what_the_timeline_lists(
    client: TestClient, db: Database
) -> None:
    seed_article(db, "Amazon TikTok deal under review", themes=("market", "regulatory", "security"))
    html = client.get("/").text  # NOW is long before the last 30 days
    svg = chart_svg(html)
    desc = re.search(r'<desc id="chart-desc">(.*?)</desc>', svg, re.S)
    assert desc and desc.group(1).startswith("1 articles from"), svg
    assert "the busiest bar has 1." in desc.group(1)
    assert NOW.date().isoformat() in html  # the table links the article's day
    heights = [float(h) for h in re.findall(r'class="bar"[^>]*height="([0-9.]+)"', svg)]
    assert len([h for h in heights if h]) == 1  # one bar, one article tall, not three
    assert "<a " not in svg  # nothing focusable inside role="img" (axe nested-interactive)
    assert re.findall(r'class="label tick">(\d+)<', svg) == ["0", "1"]  # a y-axis scale
    since = client.get(f"/?since={NOW.date().isoformat()}").text
    assert "1 articles from" in since
