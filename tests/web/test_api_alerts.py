"""/api/v1/views and /api/v1/alerts through the real app (both engines): CRUD, and the
same permission rules as the pages. A viewer manages their own views and alerts and
reads the team's; they cannot change the team's, and another user's are not there
at all (404). Writes take a session with X-CSRF-Token or a write-scope token."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from app.store.db import Database
from tests.web.test_auth_kit import FAST_HASHER, login, make_token, make_user

pytestmark = pytest.mark.usefixtures("fast_hasher")


@pytest.fixture
def fast_hasher(app: FastAPI) -> None:
    app.state.password_hasher = FAST_HASHER


class Api:
    """A signed-in browser session calling the API (the CSRF token in the header)."""

    def __init__(self, client: TestClient, csrf: str) -> None:
        self.client, self.csrf = client, csrf

    def call(self, method: str, path: str, json: object = None) -> httpx.Response:
        headers = {"X-CSRF-Token": self.csrf}
        return self.client.request(method, f"/api/v1{path}", json=json, headers=headers)


@pytest.fixture
def sessions(app: FastAPI, db: Database) -> Iterator[dict[str, Api]]:
    make_user(db, "ed", "editor")
    make_user(db, "vera", "viewer")
    make_user(db, "bob", "viewer")
    clients = {}
    for name in ("ed", "vera", "bob"):
        client = TestClient(app, base_url="http://127.0.0.1")
        client.__enter__()
        clients[name] = Api(client, login(client, name))
    yield clients
    for api in clients.values():
        api.client.__exit__(None, None, None)


def test_views_crud_round_trip(sessions: dict[str, Api]) -> None:
    vera = sessions["vera"]
    made = vera.call("POST", "/views", {"name": "Mine", "query": "theme=security&limit=5"})
    assert made.status_code == 201, made.text
    view = made.json()
    assert made.headers["location"] == f"/api/v1/views/{view['id']}"
    assert view["query"] == "theme=security" and view["shared"] is False  # limit dropped
    assert view["feed"].endswith(f"/views/{view['id']}/feed.atom")
    got = vera.call("GET", f"/views/{view['id']}")
    assert got.json()["name"] == "Mine"
    patched = vera.call("PATCH", f"/views/{view['id']}", {"name": "Renamed", "query": "lang=de"})
    assert patched.json()["name"] == "Renamed" and patched.json()["query"] == "lang=de"
    listed = vera.call("GET", "/views").json()["items"]
    assert [v["name"] for v in listed] == ["Renamed"]
    assert vera.call("DELETE", f"/views/{view['id']}").status_code == 204
    assert vera.call("GET", f"/views/{view['id']}").status_code == 404
    bad = vera.call("POST", "/views", {"name": "Bad", "query": "theme=nonsense"})
    assert bad.status_code == 400 and "theme" in bad.text
    assert vera.call("POST", "/views", {"name": "   "}).status_code == 422


def test_a_viewer_cannot_touch_team_rules_or_anyone_elses(
    sessions: dict[str, Api], app: FastAPI, db: Database
) -> None:
    ed, vera, bob = sessions["ed"], sessions["vera"], sessions["bob"]
    team_view = ed.call("POST", "/views", {"name": "Team", "query": "", "shared": True}).json()
    team_rule = ed.call(
        "POST",
        "/alerts",
        {
            "view_id": team_view["id"],
            "channel": "email",
            "target": "desk@example.org",
            "shared": True,
        },
    )
    assert team_rule.status_code == 201, team_rule.text
    team_id = team_rule.json()["id"]
    assert team_rule.json()["shared"] is True

    # a viewer cannot make team views or team alerts
    denied = vera.call("POST", "/views", {"name": "Try", "shared": True})
    assert denied.status_code == 403
    denied = vera.call(
        "POST",
        "/alerts",
        {"view_id": team_view["id"], "channel": "email", "target": "v@example.org", "shared": True},
    )
    assert denied.status_code == 403
    # sees the team's alert, cannot change or delete it
    assert team_id in [a["id"] for a in vera.call("GET", "/alerts").json()["items"]]
    assert vera.call("PATCH", f"/alerts/{team_id}", {"enabled": False}).status_code == 403
    assert vera.call("DELETE", f"/alerts/{team_id}").status_code == 403
    assert vera.call("PATCH", f"/views/{team_view['id']}", {"name": "X"}).status_code == 403
    # her own alert on the team's view
    own = vera.call(
        "POST",
        "/alerts",
        {"view_id": team_view["id"], "channel": "email", "target": "vera@example.org"},
    )
    assert own.status_code == 201, own.text
    own_id = own.json()["id"]
    paused = vera.call("PATCH", f"/alerts/{own_id}", {"enabled": False, "batch": "1h"})
    assert paused.json()["enabled"] is False and paused.json()["batch"] == "1h"
    assert "vera" in (paused.json()["disabled_reason"] or "")
    # another viewer: not there at all
    for method, body in (("GET", None), ("PATCH", {"enabled": True}), ("DELETE", None)):
        assert bob.call(method, f"/alerts/{own_id}", body).status_code == 404
    assert bob.call("GET", f"/alerts/{own_id}/deliveries").status_code == 404
    assert own_id not in [a["id"] for a in bob.call("GET", "/alerts").json()["items"]]
    vera_view = vera.call("POST", "/views", {"name": "Private", "query": "lang=de"}).json()
    assert bob.call("GET", f"/views/{vera_view['id']}").status_code == 404
    on_hers = bob.call(
        "POST",
        "/alerts",
        {"view_id": vera_view["id"], "channel": "email", "target": "b@example.org"},
    )
    assert on_hers.status_code == 404
    # the editor manages the team's rule; the viewer's own stays hers
    assert ed.call("PATCH", f"/alerts/{team_id}", {"daily_cap": 5}).json()["daily_cap"] == 5
    assert ed.call("DELETE", f"/alerts/{own_id}").status_code == 404
    assert vera.call("DELETE", f"/alerts/{own_id}").status_code == 204
    assert ed.call("DELETE", f"/alerts/{team_id}").status_code == 204

    # a read token reads but cannot write; no CSRF header on a session: refused
    read = make_token(db, "vera", "read")
    with TestClient(app, base_url="http://127.0.0.1") as bearer:
        auth = {"Authorization": f"Bearer {read}"}
        assert bearer.get("/api/v1/alerts", headers=auth).status_code == 200
        wrote = bearer.post("/api/v1/views", json={"name": "T"}, headers=auth)
        assert wrote.status_code == 403
    no_csrf = vera.client.post("/api/v1/views", json={"name": "No token"})
    assert no_csrf.status_code == 403
    with TestClient(app, base_url="http://127.0.0.1") as visitor:
        assert visitor.get("/api/v1/alerts").status_code == 401


def test_alert_input_is_checked(sessions: dict[str, Api]) -> None:
    vera = sessions["vera"]
    view = vera.call("POST", "/views", {"name": "Mine", "query": "theme=security"}).json()
    base = {"view_id": view["id"], "channel": "email"}
    assert vera.call("POST", "/alerts", {**base, "target": "not-an-address"}).status_code == 400
    hook = {"view_id": view["id"], "channel": "webhook", "target": "ftp://x.example/"}
    assert vera.call("POST", "/alerts", hook).status_code == 400
    odd = {**base, "target": "v@example.org", "quiet_start": "25:00"}
    assert vera.call("POST", "/alerts", odd).status_code == 422
    made = vera.call(
        "POST",
        "/alerts",
        {
            "view_id": view["id"],
            "channel": "webhook",
            "target": "https://hooks.example/x",
            "secret": "s3cret",
            "kind": "spike",
            "spike_hours": 3,
            "spike_factor": 2.5,
            "spike_min_count": 4,
            "quiet_start": "22:00",
            "quiet_end": "07:00",
            "time_zone": "Europe/Berlin",
            "language": "de",
        },
    )
    assert made.status_code == 201, made.text
    body = made.json()
    assert body["has_secret"] is True and "secret" not in body and "s3cret" not in made.text
    assert (body["kind"], body["spike_hours"], body["spike_factor"]) == ("spike", 3, 2.5)
    assert body["quiet_start"] == "22:00" and body["time_zone"] == "Europe/Berlin"
    cleared = vera.call("PATCH", f"/alerts/{body['id']}", {"quiet_start": None, "quiet_end": None})
    assert cleared.json()["quiet_start"] is None
    deliveries = vera.call("GET", f"/alerts/{body['id']}/deliveries")
    assert deliveries.json() == {"items": []}


def test_a_test_send_reports_its_outcome(sessions: dict[str, Api]) -> None:
    """No SMTP server is set up here: the test fails and says why."""
    ed, vera = sessions["ed"], sessions["vera"]
    team_view = ed.call("POST", "/views", {"name": "Team", "shared": True}).json()
    team = ed.call(
        "POST",
        "/alerts",
        {"view_id": team_view["id"], "channel": "email", "target": "d@example.org", "shared": True},
    ).json()
    assert vera.call("POST", f"/alerts/{team['id']}/test").status_code == 403
    done = ed.call("POST", f"/alerts/{team['id']}/test")
    assert done.status_code == 200, done.text
    assert done.json()["status"] == "failed" and "NEWSMON_SMTP_HOST" in done.json()["last_error"]
    listed = ed.call("GET", f"/alerts/{team['id']}/deliveries").json()["items"]
    assert [d["kind"] for d in listed] == ["test"] and listed[0]["last_error"]
