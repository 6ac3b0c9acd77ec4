"""Route × role matrix, CSRF on every unsafe route, security headers on every response.

Both lists come from ``app.routes``: a new route without a rule here fails.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from app.store.db import Database
from app.store.flags import FlagStore
from app.store.users import UserStore
from tests.support.routes import all_routes
from tests.web.test_auth import dump_database
from tests.web.test_auth_kit import FAST_HASHER, NOW, login, make_token, make_user, seed_article

# Who may call each route: public (always), reader (public_read, else any login),
# user (any login), editor, admin.
RULES = {
    ("GET", "/"): "reader",
    ("GET", "/feeds"): "reader",
    ("GET", "/metrics"): "reader",
    ("GET", "/articles/{article_id}"): "reader",
    ("GET", "/api/v1/articles"): "reader",
    ("GET", "/api/v1/articles/{article_id}"): "reader",
    ("GET", "/api/v1/feeds"): "reader",
    ("GET", "/api/v1/themes"): "reader",
    ("GET", "/api/v1/stats/volume"): "reader",
    ("GET", "/api/v1/articles/{article_id}/flags"): "reader",
    ("GET", "/api/v1/articles/changes"): "reader",
    ("GET", "/api/v1/flags"): "reader",
    ("PATCH", "/api/v1/flags/{flag_id}"): "editor",
    ("POST", "/api/v1/articles/{article_id}/flags"): "editor",
    ("DELETE", "/api/v1/articles/{article_id}/flags/{flag_id}"): "editor",
    ("PATCH", "/api/v1/articles/{article_id}/themes"): "editor",
    ("POST", "/api/v1/feeds"): "editor",
    ("DELETE", "/api/v1/feeds/{feed_id:digits}"): "editor",
    ("PATCH", "/api/v1/feeds/{feed_id:digits}"): "editor",
    ("POST", "/feeds/{feed_id}/fulltext"): "editor",
    ("GET", "/feed.atom"): "reader",
    ("GET", "/feed.json"): "reader",
    ("GET", "/export.csv"): "reader",
    ("GET", "/export.jsonl"): "reader",
    ("GET", "/login"): "public",
    ("POST", "/login"): "public",
    ("POST", "/logout"): "user",
    ("GET", "/account"): "user",
    ("POST", "/account/password"): "user",
    ("POST", "/account/tokens"): "user",
    ("POST", "/account/tokens/{token_id}/revoke"): "user",
    ("GET", "/flags"): "editor",
    ("POST", "/articles/{article_id}/flags"): "editor",
    ("POST", "/flags/{flag_id}/resolve"): "editor",
    ("POST", "/flags/{flag_id}/dismiss"): "editor",
    ("POST", "/flags/{flag_id}/assign"): "editor",
    ("POST", "/flags/{flag_id}/delete"): "editor",
    ("GET", "/articles/{article_id}/themes"): "editor",
    ("POST", "/articles/{article_id}/themes"): "editor",
    ("GET", "/audit"): "admin",
    ("GET", "/users"): "admin",
    ("GET", "/ui-language"): "public",
    ("GET", "/api/v1/feeds/export.opml"): "reader",
    ("POST", "/api/v1/feeds/import"): "editor",
    ("POST", "/api/v1/feeds/{feed_id}/enable"): "editor",
    ("POST", "/feeds/import"): "editor",
    ("POST", "/feeds/{feed_id}/enable"): "editor",
    ("POST", "/users"): "admin",
    ("POST", "/users/{user_id}/role"): "admin",
    ("POST", "/users/{user_id}/disable"): "admin",
    ("POST", "/users/{user_id}/enable"): "admin",
    ("POST", "/articles/{article_id}/read"): "user",
    ("POST", "/read/all"): "user",
    ("GET", "/views"): "user",
    ("POST", "/views"): "user",
    ("POST", "/views/{view_id}/delete"): "user",
    ("GET", "/views/{view_id}/feed.atom"): "reader",
    ("GET", "/views/{view_id}/feed.json"): "reader",
    ("GET", "/views/{view_id}/export.csv"): "reader",
    ("POST", "/account/time-zone"): "user",
    ("POST", "/feeds/add"): "editor",
    ("POST", "/feeds/{feed_id}/poll"): "editor",
    ("POST", "/feeds/{feed_id}/remove"): "editor",
    ("GET", "/views/{view_id}"): "user",
    ("POST", "/views/{view_id}/alerts"): "user",
    ("POST", "/alerts/{rule_id}/enabled"): "user",
    ("POST", "/alerts/{rule_id}/delete"): "user",
    ("POST", "/alerts/{rule_id}/test"): "user",
    ("POST", "/account/digest"): "user",
    ("GET", "/api/v1/views"): "user",
    ("POST", "/api/v1/views"): "user",
    ("GET", "/api/v1/views/{view_id}"): "user",
    ("PATCH", "/api/v1/views/{view_id}"): "user",
    ("DELETE", "/api/v1/views/{view_id}"): "user",
    ("GET", "/api/v1/alerts"): "user",
    ("POST", "/api/v1/alerts"): "user",
    ("GET", "/api/v1/alerts/{alert_id}"): "user",
    ("PATCH", "/api/v1/alerts/{alert_id}"): "user",
    ("DELETE", "/api/v1/alerts/{alert_id}"): "user",
    ("GET", "/api/v1/alerts/{alert_id}/deliveries"): "user",
    ("POST", "/api/v1/alerts/{alert_id}/test"): "user",
    # RFC 8058 one-click unsubscribe: the signed token is the credential (see web.csrf)
    ("GET", "/unsubscribe/{token}"): "public",
    ("POST", "/unsubscribe/{token}"): "public",
    ("GET", "/docs"): "public",
    ("GET", "/openapi.json"): "public",
    ("GET", "/healthz"): "public",
}
ROLE_ORDER = ("viewer", "editor", "admin")
UNSAFE = {"POST", "PUT", "PATCH", "DELETE"}


def routes(app: FastAPI) -> Iterator[tuple[str, str]]:
    for route in all_routes(app):
        if isinstance(route, APIRoute) or hasattr(route, "methods"):
            for method in sorted(getattr(route, "methods", None) or ()):
                if method != "HEAD":
                    yield method, route.path  # type: ignore[attr-defined]


@pytest.fixture
def world(app: FastAPI, db: Database) -> dict[str, int]:
    """One of everything a path parameter can point at."""
    app.state.password_hasher = FAST_HASHER
    ids = {name: make_user(db, name, name) for name in ROLE_ORDER}
    article = seed_article(db)
    with db.write() as session:
        flag = FlagStore(session).create(article, "follow-up", "", user_id=ids["editor"], now=NOW)
        token, _ = UserStore(session).create_token(ids["viewer"], "read", now=NOW)
    feed_id = 1
    return {
        "article_id": article,
        "flag_id": flag.id,
        "token_id": token.id,
        "user_id": ids["viewer"],
        "feed_id": feed_id,
    }


def fill(path: str, world: dict[str, int]) -> str:
    return re.sub(r"\{(\w+)(?::\w+)?\}", lambda m: str(world.get(m.group(1), 1)), path)


def test_every_route_has_a_rule(app: FastAPI) -> None:
    assert len(list(routes(app))) >= len(RULES) - 2  # the walk sees included routers' routes
    missing = [r for r in routes(app) if r not in RULES]
    assert not missing, f"routes without an access rule in RULES: {missing}"


def allowed(rule: str, role: str | None, public_read: bool) -> bool:
    if rule == "public" or (rule == "reader" and (public_read or role)):
        return True
    if role is None:
        return False
    return rule in ("user", "reader") or ROLE_ORDER.index(role) >= ROLE_ORDER.index(rule)


@pytest.mark.parametrize("public_read", [False, True])
@pytest.mark.parametrize("role", [None, "viewer", "editor", "admin"])
def test_route_role_matrix(
    app: FastAPI, db: Database, world: dict[str, int], role: str | None, public_read: bool
) -> None:
    app.state.settings.public_read = public_read
    with TestClient(app, base_url="http://127.0.0.1") as client:
        csrf = login(client, role) if role else ""
        for method, path in routes(app):
            if (method, path) in (("POST", "/logout"), ("POST", "/login")):
                continue  # would end or replace this client's session mid-matrix
            rule = RULES[(method, path)]
            response = client.request(method, fill(path, world), headers={"X-CSRF-Token": csrf})
            denied = response.status_code in (401, 403)
            expect = allowed(rule, role, public_read)
            assert denied != expect, f"{role} {method} {path} -> {response.status_code}"
            if denied and role is None and method in UNSAFE and not path.startswith("/api/"):
                assert response.status_code in (401, 403), (method, path)  # CSRF comes first
            elif denied:
                assert response.status_code == (401 if role is None else 403), (method, path)


def test_read_token_cannot_write_anywhere(
    client: TestClient, db: Database, world: dict[str, int]
) -> None:
    make_user(db, "ed2", "editor")
    token = make_token(db, "ed2", "read")
    for method, path in routes(client.app):  # type: ignore[arg-type]
        if method in UNSAFE and path.startswith("/api/"):
            response = client.request(
                method, fill(path, world), headers={"Authorization": f"Bearer {token}"}, json={}
            )
            assert response.status_code == 403, (method, path)


# The only unsafe routes without a CSRF check: they act on a signed token in the URL and
# never on the session (RFC 8058 one-click unsubscribe; see web.csrf.SIGNED_LINKS).
SIGNED_LINK_ROUTES = {("POST", "/unsubscribe/{token}")}


def unsafe_routes(app: FastAPI) -> list[tuple[str, str]]:
    return [(m, p) for m, p in routes(app) if m in UNSAFE and (m, p) not in SIGNED_LINK_ROUTES]


def test_only_the_signed_unsubscribe_links_skip_the_csrf_check(app: FastAPI) -> None:
    from app.web.csrf import SIGNED_LINKS

    exempt = {(m, p) for m, p in routes(app) if m in UNSAFE and SIGNED_LINKS.fullmatch(p)}
    assert exempt == SIGNED_LINK_ROUTES
    for near_miss in ("/unsubscribe", "/unsubscribe/a/b", "/alerts/1/delete", "/x/unsubscribe/r1"):
        assert not SIGNED_LINKS.fullmatch(near_miss)


@pytest.mark.parametrize(
    "attack",
    ["no token", "other session's token", "foreign origin", "cross-site fetch", "opaque origin"],
)
def test_csrf_on_every_unsafe_route(
    app: FastAPI, db: Database, world: dict[str, int], attack: str
) -> None:
    with TestClient(app, base_url="http://127.0.0.1") as other:
        other_token = login(other, "editor")
    with TestClient(app, base_url="http://127.0.0.1") as client:
        own = login(client, "admin")
        before = dump_database(db)
        for method, path in unsafe_routes(app):
            headers = {
                "no token": {},
                "other session's token": {"X-CSRF-Token": other_token},
                "foreign origin": {"X-CSRF-Token": own, "Origin": "https://evil.example"},
                "cross-site fetch": {"X-CSRF-Token": own, "Sec-Fetch-Site": "cross-site"},
                "opaque origin": {"X-CSRF-Token": own, "Origin": "null"},
            }[attack]
            form = (
                {"csrf_token": headers.pop("X-CSRF-Token")}
                if "X-CSRF-Token" in headers and method == "POST" and not path.startswith("/api/")
                else {}
            )
            if form:
                response = client.request(method, fill(path, world), headers=headers, data=form)
            else:
                response = client.request(method, fill(path, world), headers=headers)
            assert response.status_code == 403, (attack, method, path, response.status_code)
        assert dump_database(db) == before


def test_anonymous_form_posts_need_a_token(client: TestClient, world: dict[str, int]) -> None:
    for method, path in unsafe_routes(client.app):  # type: ignore[arg-type]
        if not path.startswith("/api/"):
            assert client.request(method, fill(path, world)).status_code == 403, path


def test_cookie_api_write_needs_csrf_header(
    client: TestClient, db: Database, world: dict[str, int]
) -> None:
    csrf = login(client, "editor")
    url = f"/api/v1/articles/{world['article_id']}/flags"
    assert client.post(url, json={"kind": "important"}).status_code == 403
    ok = client.post(url, json={"kind": "important"}, headers={"X-CSRF-Token": csrf})
    assert ok.status_code == 201


SECURITY_HEADERS = {
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "x-frame-options": "DENY",
}


def check_headers(response: object) -> None:
    headers = response.headers  # type: ignore[attr-defined]
    for name, value in SECURITY_HEADERS.items():
        assert headers.get(name) == value, (name, response)
    csp = headers["content-security-policy"]
    assert "frame-ancestors 'none'" in csp and "object-src 'none'" in csp
    assert "unsafe-inline" not in csp.split("script-src")[1].split(";")[0]


def test_security_headers_on_every_get_route_and_errors(
    app: FastAPI, db: Database, world: dict[str, int]
) -> None:
    @app.get("/boom-for-test")
    def boom() -> None:
        raise RuntimeError("secret internal detail")

    with TestClient(app, base_url="http://127.0.0.1", raise_server_exceptions=False) as client:
        login(client, "admin")
        for method, path in routes(app):
            if method == "GET":
                check_headers(client.get(fill(path, world)))
        check_headers(client.get("/no-such-page"))
        check_headers(client.get("/static/newsmon.css"))
        failed = client.get("/boom-for-test")
        assert failed.status_code == 500
        check_headers(failed)
        assert "secret internal detail" not in failed.text and "Traceback" not in failed.text
        api_failed = client.get("/boom-for-test", headers={"Accept": "application/json"})
        assert api_failed.headers["content-type"].startswith("application/problem+json")


def test_docs_page_works_without_script(client: TestClient) -> None:
    page = client.get("/docs")
    assert page.status_code == 200
    assert "<script>" not in page.text and "<script " + "src=" in page.text  # no inline script
    assert 'name="viewport"' in page.text and 'class="site"' in page.text
    assert "/api/v1/articles/{article_id}/flags" in page.text
