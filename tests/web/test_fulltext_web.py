"""Full text on the web: the article page's section (text with the evidence marked, or
why there is none), the API's ``text_source``/``fulltext`` and search on page words,
the per-feed policy through ``PATCH /api/v1/feeds/{id}`` and the /feeds form."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from app.feeds.http import FetchPolicy
from app.polling.extraction import ExtractionConfig, ExtractionRunner, enqueue_hook
from app.store.audit import AuditStore
from app.store.db import Database
from app.store.extraction import FullTextRules
from tests.support.newssite import NewsSite
from tests.support.newstext import ARTICLES
from tests.support.polling import add_feed, poll, view
from tests.web.test_auth_kit import FAST_HASHER, csrf_from, login, make_token, make_user
from tests.web.test_i18n_editors import visible


@pytest.fixture
def fast_hasher(app: FastAPI) -> None:
    app.state.password_hasher = FAST_HASHER


@pytest.fixture
def site() -> Iterator[NewsSite]:
    with NewsSite() as server:
        yield server


@pytest.fixture
def extracted(
    db: Database, site: NewsSite, make_test_poller: Any, loopback_policy: FetchPolicy
) -> dict[str, int]:
    """English story and a paywall, polled from a teaser feed, pages extracted."""
    links = [("en", site.url("/en/story")), ("paywall", site.url("/paywall/story"))]
    add_feed(db, site.add_feed("teasers", links, "Teaser."))
    poll(make_test_poller, on_new=enqueue_hook(FullTextRules()))
    config = ExtractionConfig(workers=0, min_delay=0.0)
    policy = replace(loopback_policy, read_timeout=5.0, deadline=10.0)
    asyncio.run(ExtractionRunner(db, policy, config).run_once())
    from app.store.tables import Article

    with db.read() as session:
        rows = session.query(Article.url, Article.id).all()
    by_url = dict(rows)
    return {"en": by_url[links[0][1]], "paywall": by_url[links[1][1]]}


def test_the_api_says_where_the_text_came_from(
    client: TestClient, extracted: dict[str, int], site: NewsSite
) -> None:
    one = client.get(f"/api/v1/articles/{extracted['en']}").json()
    assert one["text_source"] == "page"
    assert ARTICLES["en"][1][0][:40] in one["page_content"]
    assert one["fulltext"]["outcome"] == "ok"
    assert one["fulltext"]["final_url"] == site.url("/en/story")
    assert one["fulltext"]["site_name"] == "Loopback Times"
    walled = client.get(f"/api/v1/articles/{extracted['paywall']}").json()
    assert walled["text_source"] == "feed" and walled["page_content"] == ""
    assert walled["fulltext"]["outcome"] == "paywall"
    listed = client.get("/api/v1/articles", params={"relevance": "all", "q": "Ohio"}).json()
    assert [(a["id"], a["text_source"]) for a in listed["items"]] == [(extracted["en"], "page")]
    assert listed["items"][0]["page_content"] == "" and listed["items"][0]["fulltext"] is None


def test_the_article_page_shows_the_full_text_with_evidence(
    client: TestClient, extracted: dict[str, int], site: NewsSite
) -> None:
    page = client.get(f"/articles/{extracted['en']}").text
    text = visible(page)
    assert f"Full text from {site.address}" in text
    assert ARTICLES["en"][1][-1][:30] in text
    section = page[page.index('id="fulltext-h"') :]
    assert "<mark>" in section.split("</section>")[0]  # the tagger's evidence, marked
    walled = visible(client.get(f"/articles/{extracted['paywall']}").text)
    assert "No full text: a paywall, or too little text to be the article" in walled


def test_the_article_page_in_german(client: TestClient, extracted: dict[str, int]) -> None:
    page = client.get(f"/articles/{extracted['paywall']}", headers={"Accept-Language": "de"})
    assert "Kein Volltext: eine Bezahlschranke" in visible(page.text)


@pytest.mark.usefixtures("fast_hasher")
def test_the_policy_through_the_api(client: TestClient, db: Database, site: NewsSite) -> None:
    feed_id = add_feed(db, site.url("/feed/x.xml"))
    make_user(db, "ed", "editor")
    make_user(db, "vi", "viewer")
    editor = {"Authorization": f"Bearer {make_token(db, 'ed', 'write')}"}
    viewer = {"Authorization": f"Bearer {make_token(db, 'vi', 'write')}"}
    url = f"/api/v1/feeds/{feed_id}"

    assert client.patch(url, json={"fulltext_policy": "never"}).status_code == 401
    assert client.patch(url, json={"fulltext_policy": "never"}, headers=viewer).status_code == 403
    bad = client.patch(url, json={"fulltext_policy": "sometimes"}, headers=editor)
    assert bad.status_code in (400, 422)
    done = client.patch(url, json={"fulltext_policy": "always"}, headers=editor)
    assert done.status_code == 200 and done.json()["fulltext_policy"] == "always"
    listed = client.get("/api/v1/feeds").json()["items"]
    assert listed[0]["fulltext_policy"] == "always"
    back = client.patch(url, json={"fulltext_policy": None}, headers=editor)
    assert back.json()["fulltext_policy"] is None
    missing = client.patch("/api/v1/feeds/999999", json={"fulltext_policy": None}, headers=editor)
    assert missing.status_code == 404
    with db.read() as session:
        assert len(AuditStore(session).actions("feed.fulltext")) == 2


@pytest.mark.usefixtures("fast_hasher")
def test_the_policy_form_on_feeds(client: TestClient, db: Database, site: NewsSite) -> None:
    feed_id = add_feed(db, site.url("/feed/x.xml"))
    anonymous = client.get("/feeds").text
    assert "Full text: server default" in visible(anonymous)
    assert f'action="/feeds/{feed_id}/fulltext"' not in anonymous
    make_user(db, "ed", "editor")
    login(client, "ed")
    page = client.get("/feeds").text
    assert f'action="/feeds/{feed_id}/fulltext"' in page
    refused = client.post(f"/feeds/{feed_id}/fulltext", data={"policy": "never"})
    assert refused.status_code == 403 and view(db, feed_id).fulltext_policy is None
    response = client.post(
        f"/feeds/{feed_id}/fulltext",
        data={"policy": "never", "csrf_token": csrf_from(page)},
        follow_redirects=False,
    )
    assert response.status_code == 303
    assert view(db, feed_id).fulltext_policy == "never"
    assert "Full text: never" in visible(client.get("/feeds").text)
