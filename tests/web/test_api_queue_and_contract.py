"""The editors' queue over the API, strict query parameters and bodies, CORS, 405s
and /docs (both engines, the real app in process)."""

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
    make_user(db, "ana", "editor")
    return {"Authorization": f"Bearer {make_token(db, 'ed', 'write')}"}


def flag(client: TestClient, headers: dict[str, str], article: int, kind: str) -> int:
    created = client.post(f"/api/v1/articles/{article}/flags", json={"kind": kind}, headers=headers)
    assert created.status_code == 201
    return int(created.json()["id"])


def test_queue_filters_and_pages(client: TestClient, db: Database, editor: dict[str, str]) -> None:
    a, b = seed_article(db, "One"), seed_article(db, "Two")
    ids = [flag(client, editor, a, "follow-up"), flag(client, editor, b, "important")]
    ids.append(flag(client, editor, b, "follow-up"))
    client.patch(f"/api/v1/flags/{ids[2]}", json={"status": "resolved"}, headers=editor)
    client.patch(f"/api/v1/flags/{ids[0]}", json={"assignee": "ana"}, headers=editor)

    def queue(query: str) -> list[int]:
        response = client.get(f"/api/v1/flags?{query}")
        assert response.status_code == 200, response.text
        return [f["id"] for f in response.json()["items"]]

    assert queue("") == ids
    assert queue("kind=follow-up") == [ids[0], ids[2]]
    assert queue("status=open") == ids[:2] and queue("status=resolved") == [ids[2]]
    assert queue("assignee=ana") == [ids[0]] and queue("assignee=") == ids[1:]
    assert queue(f"article={b}") == ids[1:]
    first = client.get("/api/v1/flags?limit=2").json()
    assert [f["id"] for f in first["items"]] == ids[:2] and first["next_cursor"]
    rest = client.get(f"/api/v1/flags?limit=2&cursor={first['next_cursor']}").json()
    assert [f["id"] for f in rest["items"]] == ids[2:] and rest["next_cursor"] is None


def test_patch_resolves_reopens_assigns_and_annotates_with_audit(
    client: TestClient, db: Database, editor: dict[str, str]
) -> None:
    article = seed_article(db)
    flag_id = flag(client, editor, article, "irrelevant")
    done = client.patch(
        f"/api/v1/flags/{flag_id}",
        json={"status": "resolved", "assignee": "ana", "note": "checked"},
        headers=editor,
    )
    assert done.status_code == 200
    body = done.json()
    assert body["resolved_at"] and body["assignee"] == "ana" and body["note"] == "checked"
    # resolving confirms the editor's judgement: the article stays hidden
    assert client.get("/api/v1/articles").json()["items"] == []
    reopened = client.patch(
        f"/api/v1/flags/{flag_id}", json={"status": "open", "assignee": None}, headers=editor
    ).json()
    assert reopened["resolved_at"] is None and reopened["assignee"] is None
    assert client.get("/api/v1/articles").json()["items"] == []  # still hidden while open
    with db.read() as session:
        actions = [e.action for e in AuditStore(session).recent()]
    for action in ("flag.resolve", "flag.assign", "flag.note", "flag.reopen"):
        assert action in actions
    assert client.patch(f"/api/v1/flags/{flag_id}", json={"status": "gone"}, headers=editor)
    refused = client.patch(f"/api/v1/flags/{flag_id}", json={"assignee": "nobody"}, headers=editor)
    assert refused.status_code == 400 and "nobody" in refused.json()["detail"]
    assert client.patch("/api/v1/flags/999999", json={}, headers=editor).status_code == 404


def test_viewer_cannot_patch_a_flag(
    client: TestClient, db: Database, editor: dict[str, str]
) -> None:
    flag_id = flag(client, editor, seed_article(db), "important")
    make_user(db, "vi", "viewer")
    viewer = {"Authorization": f"Bearer {make_token(db, 'vi', 'read')}"}
    response = client.patch(f"/api/v1/flags/{flag_id}", json={"note": "x"}, headers=viewer)
    assert response.status_code == 403


@pytest.mark.parametrize(
    "path",
    ["/api/v1/articles", "/api/v1/stats/volume", "/api/v1/flags", "/feed.atom", "/export.csv"],
)
def test_unknown_query_parameter_is_a_400_naming_the_allowed(client: TestClient, path: str) -> None:
    response = client.get(f"{path}?thme=security")
    assert response.status_code == 400
    detail = response.json()["detail"]
    assert "thme" in detail and "allowed:" in detail
    assert ("theme" in detail) == (path != "/api/v1/flags")


@pytest.mark.parametrize("value", [0, 1, "true", "yes"])
def test_relevant_must_be_a_real_boolean(
    client: TestClient, db: Database, editor: dict[str, str], value: object
) -> None:
    article = seed_article(db)
    response = client.patch(
        f"/api/v1/articles/{article}/themes", json={"relevant": value}, headers=editor
    )
    assert response.status_code == 422
    ok = client.patch(
        f"/api/v1/articles/{article}/themes", json={"relevant": False}, headers=editor
    )
    assert ok.status_code == 200 and ok.json()["relevant"] is False


def test_405_lists_every_method_of_the_path(client: TestClient, db: Database) -> None:
    response = client.request("PUT", "/api/v1/articles/1/flags")
    assert response.status_code == 405
    assert response.headers["allow"] == "GET, POST"
    assert client.options("/api/v1/feeds").headers["allow"] == "GET, POST"
    assert client.delete("/api/v1/feeds/import").status_code == 405


def test_cors_is_off_by_default(client: TestClient) -> None:
    response = client.get("/api/v1/articles", headers={"Origin": "https://tool.example"})
    assert "access-control-allow-origin" not in response.headers


def test_cors_allowlist(app_settings_cors: TestClient) -> None:
    client = app_settings_cors
    allowed = client.get("/api/v1/articles", headers={"Origin": "https://tool.example"})
    assert allowed.headers["access-control-allow-origin"] == "https://tool.example"
    assert "ETag" in allowed.headers["access-control-expose-headers"]
    other = client.get("/api/v1/articles", headers={"Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in other.headers
    preflight = client.options(
        "/api/v1/flags/1",
        headers={"Origin": "https://tool.example", "Access-Control-Request-Method": "PATCH"},
    )
    assert (
        preflight.status_code == 200
        and "PATCH" in preflight.headers["access-control-allow-methods"]
    )


@pytest.fixture
def app_settings_cors(settings: object, db: Database) -> TestClient:
    from app.config import Settings
    from app.web.app import create_app

    assert isinstance(settings, Settings)
    settings.cors_origins = ["https://tool.example"]
    return TestClient(create_app(settings, db=db, run_poller=False), base_url="http://127.0.0.1")


def test_openapi_declares_auth_errors_and_every_parameter(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    assert set(spec["components"]["securitySchemes"]) == {"bearer", "session"}
    articles = spec["paths"]["/api/v1/articles"]["get"]
    names = {p["name"] for p in articles["parameters"]}
    assert names >= {"theme", "source", "lang", "since", "until", "q", "flagged", "relevance"}
    assert names >= {"limit", "cursor", "updated_since", "themes_mode"}
    for code in ("400", "422", "401"):
        content = articles["responses"][code]["content"]
        assert content["application/problem+json"]["schema"] == {
            "$ref": "#/components/schemas/Problem"
        }
    assert {} in articles["security"]  # reads are public by default
    patch = spec["paths"]["/api/v1/flags/{flag_id}"]["patch"]
    assert {} not in patch["security"] and "403" in patch["responses"]
    for path in ("/feed.atom", "/feed.json", "/export.csv", "/export.jsonl"):
        params = {p["name"] for p in spec["paths"][path]["get"]["parameters"]}
        assert "theme" in params, path
    assert "excel" in {p["name"] for p in spec["paths"]["/export.csv"]["get"]["parameters"]}


def test_docs_page_is_for_people(client: TestClient) -> None:
    page = client.get("/docs").text
    assert '<meta name="viewport"' in page and '<header class="site">' in page
    assert "<code>next_cursor</code>" in page  # Markdown rendered
    assert "one of: security, regulatory, market" in page  # references resolved
    assert "$ref" not in page
