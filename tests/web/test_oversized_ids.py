"""An id no database can hold is "not found" on every route, present and future: the
test walks ``app.routes`` instead of listing them, as an admin with a valid CSRF token,
so neither the role check nor CSRF hides a 500 behind a 403."""

from __future__ import annotations

import re

from fastapi import FastAPI
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from app.store.db import Database
from tests.support.routes import all_routes
from tests.web.test_auth_kit import login, make_user

HUGE = "99999999999999999999"  # 20 digits: past the 64-bit integers both engines store


def routes_with_ids(app: FastAPI) -> list[tuple[str, str]]:
    found = []
    for route in all_routes(app):
        if isinstance(route, APIRoute) and re.search(r"\{\w+_id(:\w+)?\}", route.path):
            for method in sorted(route.methods - {"HEAD"}):
                found.append((method, re.sub(r"\{\w+_id(:\w+)?\}", HUGE, route.path)))
    return found


def test_every_route_with_an_id_answers_not_found_for_an_impossible_id(
    app: FastAPI, client: TestClient, db: Database
) -> None:
    make_user(db, "root", "admin")
    csrf = login(client, "root")
    routes = routes_with_ids(app)
    assert len(routes) >= 10  # pages and API alike
    for method, path in routes:
        response = client.request(
            method,
            path,
            data={"csrf_token": csrf} if method != "GET" and not path.startswith("/api/") else None,
            headers={"X-CSRF-Token": csrf},
        )
        assert response.status_code == 404, (method, path, response.status_code)
        if path.startswith("/api/"):
            assert response.headers["content-type"].startswith("application/problem+json")


def test_an_anonymous_visitor_gets_404_for_an_impossible_article(client: TestClient) -> None:
    response = client.get(f"/articles/{HUGE}")
    assert response.status_code == 404
    assert "Traceback" not in response.text
