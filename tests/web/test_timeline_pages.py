"""The timeline, its filters and its JSON twin, through the real app on both engines."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

from app.store.db import Database
from tests.support.browser import seed_corpus


@pytest.fixture
def seeded(db: Database) -> list[int]:
    return seed_corpus(db)


def ids_in_html(html: str) -> list[int]:
    return [int(x) for x in re.findall(r'class="card[^"]*" data-article-id="(\d+)"', html)]


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("theme=weather", "theme"),
        ("themes_mode=some", "themes_mode"),
        ("limit=0", "limit"),
        ("limit=abc", "limit"),
        ("limit=99999999999999999999", "limit"),
        ("source=x", "source"),
        ("source=%C2%B2", "source"),
        ("lang=%00", "lang"),
        ("since=yesterday", "since"),
        ("until=2024-13-40", "until"),
        ("cursor=not-a-cursor", "cursor"),
        ("cursor=" + "W" * 300, "cursor"),
        ("flagged=maybe", "flagged"),
        ("relevance=some", "relevance"),
        ("q=" + "+".join(f"w{i}" for i in range(20)), "q"),
    ],
)
def test_bad_parameters_are_a_400_problem_never_a_500(
    client: TestClient, seeded: list[int], query: str, field: str
) -> None:
    api = client.get(f"/api/v1/articles?{query}")
    assert api.status_code == 400, api.text
    assert api.headers["content-type"].startswith("application/problem+json")
    assert api.json()["status"] == 400 and api.json()["detail"]
    page = client.get(f"/?{query}")
    assert page.status_code == 400
    assert "<h1>400" in page.text


@pytest.mark.parametrize(
    "query",
    [
        "",
        "theme=security",
        "theme=market&theme=regulatory&themes_mode=all",
        "lang=de",
        "relevance=all&limit=7",
        "q=sicherheit",
        "q=tiktok+-amazon",
        "flagged=any",
        "source=2&relevance=all",
        "since=30d",
    ],
)
def test_page_and_api_list_the_same_articles(
    client: TestClient, seeded: list[int], query: str
) -> None:
    api = client.get(f"/api/v1/articles?{query}").json()
    html = client.get(f"/?{query}").text
    listed = [a["id"] for a in api["items"]]
    shown = ids_in_html(html)
    # one card per story: the page shows the API's articles in its order, and each one
    # it folds into an earlier card of its story is linked from there as a copy
    assert shown == [i for i in listed if i in shown] and bool(shown) == bool(listed)
    for folded in set(listed) - set(shown):
        assert f'<a href="/articles/{folded}">' in html


def test_paging_is_keyset_and_keeps_the_filters(client: TestClient, seeded: list[int]) -> None:
    first = client.get("/?theme=regulatory&limit=5")
    older = re.search(r'rel="next" href="([^"]+)"', first.text)
    assert older and "theme=regulatory" in older.group(1) and "cursor=" in older.group(1)
    second = client.get("/" + older.group(1).replace("&amp;", "&"))
    ids = ids_in_html(first.text) + ids_in_html(second.text)
    assert len(ids) == len(set(ids)) == 10
    api = client.get("/api/v1/articles?theme=regulatory&relevance=relevant").json()
    assert ids == [a["id"] for a in api["items"]][:10]


def test_cards_show_outlets_themes_evidence_and_flags(
    client: TestClient, seeded: list[int]
) -> None:
    html = client.get("/").text
    card = html[html.index(f'data-article-id="{seeded[0]}"') :]
    card = card[: card.index("data-article-id", 20)]
    assert 'rel="noopener noreferrer"' in card
    assert "Outlet 0" in card and "+1 sources" in card
    assert 'class="chip theme-market" title="Evidence: amazon">market' in card
    assert "⚑ important" not in card  # editorial flags are for signed-in users


def test_search_highlights_matches_escaped(client: TestClient, db: Database) -> None:
    seed_corpus(db, count=6)
    html = client.get("/?q=sicherheit").text
    assert "Daten<mark>sicherheit</mark>" in html
    assert "<mark>" not in client.get("/").text


def test_volume_chart_counts_per_theme_and_links_each_day(
    client: TestClient, seeded: list[int]
) -> None:
    data = client.get("/api/v1/stats/volume?since=7d&relevance=all").json()
    assert data["interval"] == "day"
    first_day = data["buckets"][0]["start"]  # the chart covers whole days
    listed = client.get(f"/api/v1/articles?since={first_day}&relevance=all&limit=200").json()
    assert sum(b["total"] for b in data["buckets"]) == len(listed["items"])
    weekly = client.get("/api/v1/stats/volume?since=2025-01-01&interval=week").json()
    assert weekly["interval"] == "week"
    assert client.get("/api/v1/stats/volume?interval=month").status_code == 400
    html = client.get("/?since=7d").text
    assert "<svg" in html and '<title id="chart-title">' in html and "<table>" in html
    day = data["buckets"][-1]["start"]
    assert f"since={day}&amp;until={day}" in html


def test_article_page_marks_the_evidence_and_lists_flags(
    client: TestClient, seeded: list[int]
) -> None:
    html = client.get(f"/articles/{seeded[0]}").text
    assert "<mark>Amazon</mark> and TikTok extend" in html
    assert "Outlet 0" in html and "Outlet 1" in html
    assert "lead story" not in html  # editorial notes are for signed-in users
    assert "<strong>TikTok</strong>" in html or "Content of article 0" in html
    assert client.get("/articles/999999").status_code == 404


def test_feeds_page_shows_health(client: TestClient, seeded: list[int]) -> None:
    html = client.get("/feeds").text
    assert "Outlet 2" in html and "Next poll" in html and "Failures in a row" in html
