"""Editor API: flags, theme overrides, feeds, themes; ETag/304 on the article list."""

from __future__ import annotations

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from app.store.audit import AuditStore
from app.store.db import Database
from tests.web.test_auth_kit import FAST_HASHER, make_token, make_user, seed_article


@pytest.fixture
def editor(app: FastAPI, db: Database) -> dict[str, str]:
    app.state.password_hasher = FAST_HASHER
    make_user(db, "ed", "editor")
    return {"Authorization": f"Bearer {make_token(db, 'ed', 'write')}"}


def test_flag_lifecycle_hides_and_restores(
    client: TestClient, db: Database, editor: dict[str, str]
) -> None:
    article = seed_article(db)
    created = client.post(
        f"/api/v1/articles/{article}/flags",
        json={"kind": "irrelevant", "note": "off topic"},
        headers=editor,
    )
    assert created.status_code == 201
    flag = created.json()
    assert flag["kind"] == "irrelevant" and flag["user"] == "ed"
    assert client.get("/api/v1/articles").json()["items"] == []
    listed = client.get(f"/api/v1/articles/{article}/flags").json()["items"]
    assert [f["id"] for f in listed] == [flag["id"]]
    gone = client.delete(f"/api/v1/articles/{article}/flags/{flag['id']}", headers=editor)
    assert gone.status_code == 204
    assert [a["id"] for a in client.get("/api/v1/articles").json()["items"]] == [article]
    with db.read() as session:
        actions = [e.action for e in AuditStore(session).recent()]
    assert actions == ["flag.delete", "flag.create"]


def test_flag_errors_are_problem_json(
    client: TestClient, db: Database, editor: dict[str, str]
) -> None:
    article = seed_article(db)
    bad = client.post(f"/api/v1/articles/{article}/flags", json={"kind": "spam"}, headers=editor)
    assert bad.status_code == 422
    assert bad.headers["content-type"].startswith("application/problem+json")
    missing = client.post("/api/v1/articles/999/flags", json={"kind": "important"}, headers=editor)
    assert missing.status_code == 404 and missing.json()["status"] == 404
    assert "Traceback" not in missing.text


def test_patch_themes(client: TestClient, db: Database, editor: dict[str, str]) -> None:
    article = seed_article(db, themes=("market",))
    response = client.patch(
        f"/api/v1/articles/{article}/themes",
        json={"add": ["security"], "remove": ["market"], "relevant": True},
        headers=editor,
    )
    assert response.status_code == 200
    body = response.json()
    assert [(t["key"], t["origin"]) for t in body["themes"]] == [("security", "editor")]
    assert client.get("/api/v1/articles?theme=security").json()["items"][0]["id"] == article
    assert client.get("/api/v1/articles?theme=market").json()["items"] == []
    conflict = client.patch(
        f"/api/v1/articles/{article}/themes",
        json={"add": ["market"], "remove": ["market"]},
        headers=editor,
    )
    assert conflict.status_code == 400


def test_feeds_add_is_ssrf_checked_and_remove(client: TestClient, editor: dict[str, str]) -> None:
    blocked = client.post("/api/v1/feeds", json={"url": "http://127.0.0.1:9/feed"}, headers=editor)
    assert blocked.status_code == 400
    scheme = client.post("/api/v1/feeds", json={"url": "file:///etc/passwd"}, headers=editor)
    assert scheme.status_code == 400
    assert client.delete("/api/v1/feeds/12345", headers=editor).status_code == 404


def test_themes_list(client: TestClient) -> None:
    assert client.get("/api/v1/themes").json() == {"items": ["security", "regulatory", "market"]}


def test_etag_and_304(client: TestClient, db: Database, editor: dict[str, str]) -> None:
    article = seed_article(db)
    first = client.get("/api/v1/articles", headers=editor)  # flags show to signed-in users
    etag = first.headers["etag"]
    assert etag.startswith('W/"')
    again = client.get("/api/v1/articles", headers={**editor, "If-None-Match": etag})
    assert again.status_code == 304 and again.content == b""
    client.post(f"/api/v1/articles/{article}/flags", json={"kind": "important"}, headers=editor)
    changed = client.get("/api/v1/articles", headers={**editor, "If-None-Match": etag})
    assert changed.status_code == 200 and changed.headers["etag"] != etag


def test_stable_order_and_updated_since(client: TestClient, db: Database) -> None:
    ids = [seed_article(db, f"Story {i}", minutes_ago=i // 2) for i in range(6)]
    pages, cursor = [], None
    while True:
        url = "/api/v1/articles?limit=2" + (f"&cursor={cursor}" if cursor else "")
        body = client.get(url).json()
        pages.extend(a["id"] for a in body["items"])
        cursor = body["next_cursor"]
        if not cursor:
            break
    assert sorted(pages) == sorted(ids) and len(set(pages)) == 6
    assert pages == [a["id"] for a in client.get("/api/v1/articles?limit=50").json()["items"]]
    assert client.get("/api/v1/articles?updated_since=2099-01-01").json().get("items", "x") == []
