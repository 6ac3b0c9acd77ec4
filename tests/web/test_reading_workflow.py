"""The reading workflow through the real app (both engines): read state, "mark all as
read" for a filter, saved views with unread counts and their own feeds."""

from __future__ import annotations

import re

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from app.store.db import Database
from tests.support.browser import seed_corpus
from tests.web.test_auth_kit import FAST_HASHER, login, make_user

pytestmark = pytest.mark.usefixtures("fast_hasher")


@pytest.fixture
def fast_hasher(app: FastAPI) -> None:
    app.state.password_hasher = FAST_HASHER


def header_unread(html: str) -> int:
    found = re.search(r'<a href="/">Timeline <span class="count">(\d+) unread</span>', html)
    assert found, "no unread count in the header"
    return int(found.group(1))


def unread_cards(html: str) -> list[int]:
    return [
        int(x) for x in re.findall(r'class="card[^"]*unread"[^>]*data-article-id="(\d+)"', html)
    ]


def test_read_state_per_user_and_mark_all_for_a_filter(
    app: FastAPI, client: TestClient, db: Database
) -> None:
    ids = seed_corpus(db, count=6)  # five relevant articles over two days
    make_user(db, "vera", "viewer")
    make_user(db, "ed", "editor")
    csrf = login(client, "vera")
    page = client.get("/").text
    # articles 0 and 1 are one story: one card, still two unread articles
    assert header_unread(page) == 5 and len(unread_cards(page)) == 4
    client.post(f"/articles/{ids[0]}/read", data={"csrf_token": csrf, "next": "/"})
    assert ids[0] in unread_cards(client.get("/").text)  # its story's copy is unread
    client.get(f"/articles/{ids[1]}")  # opening an article reads it
    assert ids[0] not in unread_cards(client.get("/").text)
    assert header_unread(client.get("/").text) == 3
    done = client.post("/read/all", data={"csrf_token": csrf, "query": "lang=de"})
    assert "articles marked as read." in done.text and "lang=de" in str(done.url)
    assert unread_cards(done.text) == []
    assert header_unread(done.text) == 1  # the French one is left
    client.post(f"/articles/{ids[0]}/read", data={"csrf_token": csrf, "read": "no"})
    assert header_unread(client.get("/").text) == 2
    with TestClient(app, base_url="http://127.0.0.1") as other:
        login(other, "ed")
        assert header_unread(other.get("/").text) == 5  # read state is per user
    with TestClient(app, base_url="http://127.0.0.1") as visitor:
        assert 'class="count"' not in visitor.get("/").text  # visitors have no read state


def test_saved_views_list_unread_counts_and_have_their_own_feeds(
    app: FastAPI, client: TestClient, db: Database
) -> None:
    seed_corpus(db, count=6)
    make_user(db, "vera", "viewer")
    make_user(db, "ed", "editor")
    csrf = login(client, "vera")
    saved = client.post(
        "/views",
        data={"csrf_token": csrf, "name": "Security", "query": "theme=security&cursor=zz"},
    )
    assert "Saved the view “Security”." in saved.text and "theme=security" in str(saved.url)
    nav = re.search(r'<nav class="saved-views".*?</nav>', saved.text, re.S)
    assert nav and 'href="/?theme=security">Security <span class="count">1' in nav.group(0)
    assert (
        client.post(
            "/views", data={"csrf_token": csrf, "name": "Bad", "query": "theme=weather"}
        ).status_code
        == 400
    )  # checked by the timeline's own parser
    assert (
        client.post(
            "/views", data={"csrf_token": csrf, "name": "Team", "query": "", "shared": "yes"}
        ).status_code
        == 403
    )  # sharing takes the editor role
    listing = client.get("/views").text
    view_id = int(re.search(r"/views/(\d+)/feed.atom", listing).group(1))  # type: ignore[union-attr]
    atom = client.get(f"/views/{view_id}/feed.atom")
    assert atom.status_code == 200 and "<title>newsmon: Security</title>" in atom.text
    assert len(re.findall(r"<entry[ >]", atom.text)) == 1  # the relevant security article
    feed = client.get(f"/views/{view_id}/feed.json").json()
    assert feed["title"] == "newsmon: Security" and len(feed["items"]) == 1
    assert len(client.get(f"/views/{view_id}/export.csv").text.splitlines()) == 2
    with TestClient(app, base_url="http://127.0.0.1") as other:
        login(other, "ed")
        assert other.get(f"/views/{view_id}/feed.atom").status_code == 404  # personal
        assert "Security" not in other.get("/views").text
    client.post(f"/views/{view_id}/delete", data={"csrf_token": csrf})
    assert "No saved views yet." in client.get("/views").text


def test_a_story_card_marks_its_folded_copy_read_and_unread_with_it(
    app: FastAPI, client: TestClient, db: Database
) -> None:
    ids = seed_corpus(db, count=6)
    make_user(db, "vera", "viewer")
    csrf = login(client, "vera")
    page = client.get("/").text
    card = re.search(rf'data-article-id="{ids[0]}".*?</form>', page, re.S)
    assert card and f'name="also" value="{ids[1]}"' in card.group(0)
    fields = {"csrf_token": csrf, "next": "/", "also": [str(ids[1])]}
    client.post(f"/articles/{ids[0]}/read", data=fields)
    page = client.get("/").text
    assert ids[0] not in unread_cards(page) and header_unread(page) == 3
    client.post(f"/articles/{ids[0]}/read", data={**fields, "read": "no"})
    assert header_unread(client.get("/").text) == 5
