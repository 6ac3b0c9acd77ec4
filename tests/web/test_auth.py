"""Login, logout, sessions, cookies, tokens and rate limits, as a user meets them."""

from __future__ import annotations

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select

from app.store.db import Database
from app.store.tables import AuditLog, UserSession
from tests.web.test_auth_kit import (
    FAST_HASHER,
    PASSWORD,
    csrf_from,
    login,
    make_token,
    make_user,
    seed_article,
)


@pytest.fixture(autouse=True)
def fast_hasher(app: FastAPI) -> None:
    app.state.password_hasher = FAST_HASHER


def test_login_sets_a_hardened_cookie_and_logout_ends_the_session(
    client: TestClient, db: Database
) -> None:
    make_user(db, "ed", "editor")
    token = csrf_from(client.get("/login").text)
    response = client.post(
        "/login",
        data={"username": "ed", "password": PASSWORD, "csrf_token": token},
        follow_redirects=False,
    )
    assert response.status_code == 303
    cookie = response.headers["set-cookie"]
    assert cookie.startswith("newsmon_session=")
    assert "HttpOnly" in cookie and "samesite=lax" in cookie.lower() and "Path=/" in cookie
    raw = client.cookies["newsmon_session"]
    with db.read() as session:
        stored = session.scalars(select(UserSession.id_hash)).all()
    assert raw not in stored and len(stored) == 1  # only the hash is kept

    csrf = csrf_from(client.get("/account").text)
    assert (
        client.post("/logout", data={"csrf_token": csrf}, follow_redirects=False).status_code == 303
    )
    client.cookies.set("newsmon_session", raw)  # replay the old cookie
    assert client.get("/account").status_code == 401


def test_https_cookie_is_secure_with_host_prefix(app: FastAPI, db: Database) -> None:
    make_user(db, "ed", "editor")
    with TestClient(app, base_url="https://127.0.0.1") as client:
        token = csrf_from(client.get("/login").text)
        response = client.post(
            "/login",
            data={"username": "ed", "password": PASSWORD, "csrf_token": token},
            follow_redirects=False,
        )
    cookie = response.headers["set-cookie"]
    assert cookie.startswith("__Host-newsmon_session=") and "Secure" in cookie
    assert "strict-transport-security" in response.headers


def test_login_rotates_the_session_id(client: TestClient, db: Database) -> None:
    make_user(db, "ed", "editor")
    login(client, "ed")
    first = client.cookies["newsmon_session"]
    login(client, "ed")
    assert client.cookies["newsmon_session"] != first
    with db.read() as session:
        assert len(session.scalars(select(UserSession.id_hash)).all()) == 1


def test_wrong_password_is_refused_and_audited(client: TestClient, db: Database) -> None:
    make_user(db, "ed", "editor")
    token = csrf_from(client.get("/login").text)
    response = client.post(
        "/login", data={"username": "ed", "password": "wrong password", "csrf_token": token}
    )
    assert response.status_code == 401
    assert "Wrong user name or password" in response.text
    with db.read() as session:
        assert session.scalars(select(AuditLog.action)).all() == ["login.failed"]


def test_login_rate_limit_per_account_ignores_x_forwarded_for(
    client: TestClient, db: Database
) -> None:
    make_user(db, "ed", "editor")
    token = csrf_from(client.get("/login").text)
    statuses = []
    for i in range(7):
        response = client.post(
            "/login",
            data={"username": "ed", "password": "bad guess", "csrf_token": token},
            headers={"X-Forwarded-For": f"10.0.0.{i}"},
        )
        statuses.append(response.status_code)
    assert statuses[:5] == [401] * 5 and statuses[5:] == [429, 429]
    assert int(response.headers["retry-after"]) > 0
    right = client.post(
        "/login", data={"username": "ed", "password": PASSWORD, "csrf_token": token}
    )
    assert right.status_code == 429  # even the right password waits


def test_login_rate_limit_per_address(client: TestClient, db: Database) -> None:
    token = csrf_from(client.get("/login").text)
    codes = [
        client.post(
            "/login",
            data={"username": f"nobody{i}", "password": "bad guess", "csrf_token": token},
            headers={"X-Forwarded-For": "203.0.113.9"},
        ).status_code
        for i in range(21)
    ]
    assert codes[:20] == [401] * 20 and codes[20] == 429


@pytest.mark.parametrize(
    "target",
    [
        "//evil.example",
        "/\\evil.example",
        "\\\\evil.example",
        "https:evil.example",
        "https://evil.example/",
        "%2F%2Fevil.example",
        "/%2F%2Fevil.example/..",
        "/\x00x",
        "javascript:alert(1)",
        "/\\/evil.example",
    ],
)
def test_open_redirect_payloads_land_on_home(client: TestClient, db: Database, target: str) -> None:
    make_user(db, "ed", "editor")
    token = csrf_from(client.get("/login").text)
    response = client.post(
        "/login",
        data={"username": "ed", "password": PASSWORD, "csrf_token": token, "next": target},
        follow_redirects=False,
    )
    assert response.status_code == 303
    assert response.headers["location"] == "/"


def test_next_path_is_kept(client: TestClient, db: Database) -> None:
    make_user(db, "ed", "editor")
    token = csrf_from(client.get("/login").text)
    response = client.post(
        "/login",
        data={"username": "ed", "password": PASSWORD, "csrf_token": token, "next": "/flags?x=1"},
        follow_redirects=False,
    )
    assert response.headers["location"] == "/flags?x=1"


def test_password_change_ends_other_sessions(app: FastAPI, db: Database) -> None:
    make_user(db, "ed", "editor")
    with (
        TestClient(app, base_url="http://127.0.0.1") as one,
        TestClient(app, base_url="http://127.0.0.1") as two,
    ):
        csrf = login(one, "ed")
        login(two, "ed")
        response = one.post(
            "/account/password",
            data={
                "old_password": PASSWORD,
                "new_password": "a new long password",
                "csrf_token": csrf,
            },
        )
        assert response.status_code == 200 and "Password changed" in response.text
        assert one.get("/account").status_code == 200  # the changer stays logged in
        assert two.get("/account").status_code == 401


def test_tokens_read_write_revoked(client: TestClient, db: Database) -> None:
    make_user(db, "ed", "editor")
    article = seed_article(db)
    read, write = make_token(db, "ed", "read"), make_token(db, "ed", "write")
    body = {"kind": "important", "note": "lead story"}
    url = f"/api/v1/articles/{article}/flags"
    assert client.post(url, json=body).status_code == 401
    assert (
        client.post(url, json=body, headers={"Authorization": f"Bearer {read}"}).status_code == 403
    )
    created = client.post(url, json=body, headers={"Authorization": f"Bearer {write}"})
    assert created.status_code == 201
    assert created.headers["location"].endswith(f"/flags/{created.json()['id']}")
    assert client.get(url, headers={"Authorization": f"Bearer {read}"}).status_code == 200
    csrf = login(client, "ed")
    token_id = client.get("/account").text.count("Revoke")
    assert token_id == 2
    from app.store.users import UserStore

    with db.read() as session:
        ids = [t.id for t in UserStore(session).tokens()]
    client.post(f"/account/tokens/{ids[1]}/revoke", data={"csrf_token": csrf})
    client.cookies.clear()
    revoked = client.get(url, headers={"Authorization": f"Bearer {write}"})
    assert revoked.status_code == 401
    assert revoked.headers["content-type"].startswith("application/problem+json")
    assert client.get(url, headers={"Authorization": "Bearer nm_forged"}).status_code == 401


def test_account_page_shows_a_new_token_once_and_the_db_never_holds_it(
    client: TestClient, db: Database
) -> None:
    make_user(db, "ed", "editor")
    csrf = login(client, "ed")
    response = client.post(
        "/account/tokens", data={"csrf_token": csrf, "scope": "write", "name": "bot"}
    )
    raw = response.text.split('id="new-token">')[1].split("<")[0]
    assert raw.startswith("nm_") and len(raw) > 40
    assert raw not in client.get("/account").text
    assert (
        client.get("/api/v1/articles", headers={"Authorization": f"Bearer {raw}"}).status_code
        == 200
    )
    assert raw not in dump_database(db)
    assert client.cookies["newsmon_session"] not in dump_database(db)


def dump_database(db: Database) -> str:
    """Every text value of every table, concatenated."""
    from app.store.tables import Base

    parts = []
    with db.read() as session:
        for table in Base.metadata.sorted_tables:
            for row in session.execute(select(table)):
                parts.extend(str(v) for v in row)
    return "\n".join(parts)


def test_public_read_off_needs_login(app: FastAPI, client: TestClient, db: Database) -> None:
    app.state.settings.public_read = False
    assert client.get("/api/v1/articles").status_code == 401
    assert client.get("/").status_code == 401
    make_user(db, "viewer", "viewer")
    token = make_token(db, "viewer", "read")
    assert (
        client.get("/api/v1/articles", headers={"Authorization": f"Bearer {token}"}).status_code
        == 200
    )
    login(client, "viewer")
    assert client.get("/").status_code == 200


def test_bad_tokens_are_limited_per_address_but_a_live_token_still_works(
    client: TestClient, db: Database
) -> None:
    make_user(db, "api", "viewer")
    live = make_token(db, "api", "read")
    codes = [
        client.get("/api/v1/articles", headers={"Authorization": f"Bearer nm_guess{n}"})
        for n in range(32)
    ]
    assert [r.status_code for r in codes[:30]] == [401] * 30
    assert [r.status_code for r in codes[30:]] == [429, 429]
    assert int(codes[-1].headers["retry-after"]) > 0
    # a token is 256 random bits: the limit stops guessing, not its owner behind the same
    # address (a colleague behind one NAT with a scanner)
    ok = client.get("/api/v1/articles", headers={"Authorization": f"Bearer {live}"})
    assert ok.status_code == 200
