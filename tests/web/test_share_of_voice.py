"""Share of voice (issue 13, reading workflow): the volume chart and
``/api/v1/stats/volume`` split by outlet or by language, each article once, the five
largest groups and "other", on both engines through the real app."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient

from app.core.timeline import THEME_BITS
from app.store.db import Database
from app.store.tables import Article, ArticleSource
from tests.support.db import add_outlets

NOW = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
SINCE = (NOW - timedelta(days=3)).date().isoformat()
# articles per outlet: the five largest are series, the last two are "other"
SIZES = (6, 5, 4, 3, 2, 1, 1)
LANGS = ("en", "de", "en", "fr", None, "de")
MASKS = (0, THEME_BITS["security"], 7, THEME_BITS["market"] | THEME_BITS["regulatory"])


def seed(db: Database) -> list[int]:
    """22 articles from 7 outlets over three days; the first one is also carried,
    later, by the second outlet (it still counts once, under the first)."""
    with db.write() as session:
        feeds = add_outlets(session, len(SIZES), now=NOW)
        n = 0
        for feed, size in zip(feeds, SIZES, strict=True):
            for _ in range(size):
                when = NOW - timedelta(hours=1 + 3 * n)
                article = Article(
                    url=f"https://news.example/{n}",
                    url_hash=f"a{n:063d}",
                    title=f"Amazon and TikTok, story {n}",
                    text="Amazon and TikTok",
                    language=LANGS[n % len(LANGS)],
                    published_at=when,
                    first_seen_at=when,
                    updated_at=when,
                    relevant=True,
                    tagger_relevant=True,
                    theme_mask=MASKS[n % len(MASKS)],
                )
                session.add(article)
                session.flush()
                session.add(
                    ArticleSource(article_id=article.id, feed_id=feed.id, first_seen_at=when)
                )
                if n == 0:
                    later = when + timedelta(minutes=30)
                    session.add(
                        ArticleSource(
                            article_id=article.id, feed_id=feeds[1].id, first_seen_at=later
                        )
                    )
                n += 1
        return [f.id for f in feeds]


def volume(client: TestClient, query: str) -> dict:  # type: ignore[type-arg]
    response = client.get(f"/api/v1/stats/volume?since={SINCE}&{query}")
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def test_split_by_outlet_counts_each_article_once_top_five_and_other(
    client: TestClient, db: Database
) -> None:
    feeds = seed(db)
    plain = volume(client, "")
    split = volume(client, "group=source")

    assert split["group"] == "source"
    assert [(s["key"], s["name"], s["total"]) for s in split["series"]] == [
        *[(str(feeds[i]), f"Outlet {i}", SIZES[i]) for i in range(5)],
        ("other", "other", 2),
    ]
    # the split bars are the unsplit bars: every article once, in one group
    assert [b["total"] for b in split["buckets"]] == [b["total"] for b in plain["buckets"]]
    assert sum(b["total"] for b in split["buckets"]) == sum(SIZES)
    for bucket in split["buckets"]:
        assert sum(bucket["groups"].values()) == bucket["total"]
        assert set(bucket["groups"]) == {s["key"] for s in split["series"]}


def test_split_by_language_and_with_filters(client: TestClient, db: Database) -> None:
    seed(db)
    split = volume(client, "group=lang")
    totals = {s["key"]: s["total"] for s in split["series"]}
    expected: dict[str, int] = {}
    for n in range(sum(SIZES)):
        key = LANGS[n % len(LANGS)] or "unknown"
        expected[key] = expected.get(key, 0) + 1
    assert totals == expected
    ordered = [s["total"] for s in split["series"]]
    assert ordered == sorted(ordered, reverse=True)  # largest first

    german = volume(client, "group=source&lang=de")
    assert sum(s["total"] for s in german["series"]) == expected["de"]
    security = volume(client, "group=lang&theme=security")
    assert sum(s["total"] for s in security["series"]) == sum(
        1 for n in range(sum(SIZES)) if MASKS[n % len(MASKS)] & THEME_BITS["security"]
    )
    bad = client.get("/api/v1/stats/volume?group=feed")
    assert bad.status_code == 400 and "group" in bad.text


def test_the_api_documents_group(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    params = {p["name"]: p for p in spec["paths"]["/api/v1/stats/volume"]["get"]["parameters"]}
    group = params["group"]
    assert "Share of voice" in group["description"]
    schema = group["schema"]
    options = schema.get("anyOf", [schema])
    assert any(o.get("enum") == ["source", "lang"] for o in options), schema
    assert "series" in spec["components"]["schemas"]["VolumeOut"]["properties"]


@pytest.mark.parametrize(
    ("headers", "words"),
    [
        ({}, ("Split by:", "Each article counts once, under one outlet:", "other")),
        (
            {"Accept-Language": "de"},
            (
                "Aufteilen:",
                "Jeder Artikel zählt einmal, unter einem Medium:",
                "andere",
            ),
        ),
    ],
)
def test_the_timeline_chart_splits_and_says_so(
    client: TestClient, db: Database, headers: dict[str, str], words: tuple[str, ...]
) -> None:
    seed(db)
    html = client.get(f"/?since={SINCE}&group=source", headers=headers).text

    desc = re.search(r'<desc id="chart-desc">(.*?)</desc>', html, re.S)
    assert desc, "no text alternative"
    text = " ".join(desc.group(1).split())
    assert words[1] in text
    assert "Outlet 0: 6 (27 %)." in text and f"{words[2]}: 2 (9 %)." in text
    assert words[0] in html
    assert re.search(r'<a href="[^"]*group=source[^"]*" aria-current="true">', html)
    assert html.count('class="bar seg seg-g') >= len(SIZES) - 2
    # the table lists every series; the feed links drop the split (they take no group)
    assert '<th scope="col">Outlet 4</th>' in html
    atom = re.search(r'<a href="(/feed\.atom[^"]*)">Atom</a>', html)
    assert atom and "group" not in atom.group(1)
    assert client.get(atom.group(1).replace("&amp;", "&")).status_code == 200
    # the filter form keeps the split when it is submitted
    assert '<input type="hidden" name="group" value="source">' in html


def test_without_a_split_the_chart_is_unchanged(client: TestClient, db: Database) -> None:
    seed(db)
    html = client.get(f"/?since={SINCE}").text
    assert "seg-g" not in html and 'class="line line-' in html
    assert re.search(r'<a href="[^"]*" aria-current="true">Themes</a>', html)


RECT = re.compile(
    r'<rect class="bar[^"]*" data-href="[^"]*since=([0-9-]+)[^"]*" '
    r'x="([0-9.]+)" y="([0-9.]+)" width="[0-9.]+" height="([0-9.]+)"'
)


def test_each_stacked_bar_is_drawn_where_and_as_tall_as_the_unsplit_bar(
    client: TestClient, db: Database
) -> None:
    seed(db)
    plain: dict[str, tuple[float, float, float]] = {}
    for day, x, y, height in RECT.findall(client.get(f"/?since={SINCE}").text):
        if float(height):
            plain[day] = (float(x), float(y), float(height))
    stacks: dict[str, list[tuple[float, float, float]]] = {}
    for day, x, y, height in RECT.findall(client.get(f"/?since={SINCE}&group=source").text):
        stacks.setdefault(day, []).append((float(x), float(y), float(height)))

    assert set(stacks) == set(plain) and len(plain) >= 3
    for day, segments in stacks.items():
        x, top, height = plain[day]
        assert {s[0] for s in segments} == {x}, day  # one column per day, at its place
        assert min(s[1] for s in segments) == pytest.approx(top, abs=0.05)
        assert sum(s[2] for s in segments) == pytest.approx(height, abs=0.05)
