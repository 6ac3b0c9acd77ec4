"""The editors' pages (login, account, flags, overrides, audit, users) speak German on request."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from app.store.db import Database
from app.web.i18n import catalogue
from tests.web.test_auth_kit import FAST_HASHER, PASSWORD, csrf_from, login, make_user, seed_article

GERMAN = {"Accept-Language": "de-DE,de;q=0.9"}
TEMPLATES = Path(__file__).resolve().parents[2] / "templates"
EDITOR_TEMPLATES = (
    "login.html",
    "account.html",
    "flags.html",
    "audit.html",
    "users.html",
    "overrides.html",
    "_article_actions.html",
    "_user_nav.html",
)


@pytest.fixture
def fast_hasher(app: FastAPI) -> None:
    app.state.password_hasher = FAST_HASHER


def visible(html: str) -> str:
    """The page's text without tags, so class names and URLs cannot match a phrase."""
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def assert_no_english(html: str, phrases: list[str]) -> None:
    text = visible(html)
    left = [p for p in phrases if re.search(rf"(?<!\w){re.escape(p)}(?!\w)", text)]
    assert not left, f"untranslated: {left}"


@pytest.mark.usefixtures("fast_hasher")
def test_login_page_in_german_and_english_by_default(client: TestClient, db: Database) -> None:
    html = client.get("/login", headers=GERMAN).text
    assert '<html lang="de">' in html
    assert "Anmelden" in html and "Benutzername" in html and "Passwort" in html
    assert_no_english(html, ["Log in", "User name", "Password", "Timeline"])

    english = client.get("/login").text
    assert "Log in" in english and "User name" in english and "Anmelden" not in english

    make_user(db, "ed", "editor")
    token = csrf_from(html)
    wrong = client.post(
        "/login",
        data={"username": "ed", "password": "not it at all", "csrf_token": token},
        headers=GERMAN,
    )
    assert wrong.status_code == 401
    assert "Benutzername oder Passwort ist falsch." in wrong.text


@pytest.mark.usefixtures("fast_hasher")
def test_flags_queue_and_overrides_in_german(client: TestClient, db: Database) -> None:
    make_user(db, "ed", "editor")
    csrf = login(client, "ed")
    article = seed_article(db)
    client.cookies.set("lang_ui", "de")
    response = client.post(
        f"/articles/{article}/flags",
        data={"kind": "follow-up", "note": "check", "csrf_token": csrf, "next": "/"},
        follow_redirects=False,
    )
    assert response.status_code == 303

    html = client.get("/flags").text
    for german in ("Offene Markierungen", "Nachverfolgt", "Zuweisen", "nachverfolgen", "Abmelden"):
        assert german in html, german
    assert_no_english(
        html, ["Open flags", "Resolve", "Assign", "Assigned", "nobody", "Log out", "follow-up"]
    )

    timeline = client.get("/").text
    assert "Markieren" in timeline and "falsches Thema" in timeline
    assert_no_english(timeline, ["Edit themes", "wrong theme", "Flag"])

    themes = client.get(f"/articles/{article}/themes").text
    assert "Themen von „Amazon and TikTok sign a deal“" in themes
    assert "nachverfolgen von ed" in themes and "Relevant für die Meldung" in themes
    assert_no_english(themes, ["Themes of", "Relevant to the story", "leave as is", "Save"])


@pytest.mark.usefixtures("fast_hasher")
def test_account_page_and_messages_in_german(client: TestClient, db: Database) -> None:
    make_user(db, "ed", "editor")
    csrf = login(client, "ed")
    html = client.get("/account", headers=GERMAN).text
    for german in ("Konto: ed", "Rolle", "Redakteur", "Passwort ändern", "API-Tokens"):
        assert german in html, german
    assert_no_english(
        html, ["Change password", "API tokens", "Current password", "Create token", "Role"]
    )

    created = client.post(
        "/account/tokens", data={"scope": "read", "name": "cli", "csrf_token": csrf}, headers=GERMAN
    )
    assert "Kopieren Sie das Token jetzt." in created.text and "Widerrufen" in created.text
    wrong = client.post(
        "/account/password",
        data={"old_password": "nope", "new_password": "long enough", "csrf_token": csrf},
        headers=GERMAN,
    )
    assert wrong.status_code == 400 and "Das aktuelle Passwort ist falsch." in wrong.text
    changed = client.post(
        "/account/password",
        data={"old_password": PASSWORD, "new_password": "a new passphrase", "csrf_token": csrf},
        headers=GERMAN,
    )
    assert "Passwort geändert." in changed.text


@pytest.mark.usefixtures("fast_hasher")
def test_admin_pages_in_german(client: TestClient, db: Database) -> None:
    make_user(db, "root", "admin")
    login(client, "root")
    users = client.get("/users", headers=GERMAN).text
    assert "Benutzer hinzufügen" in users and "Administrator" in users and "Leser" in users
    assert_no_english(users, ["Add a user", "Change role", "Disable…", "Viewer", "Editor"])
    audit = client.get("/audit", headers=GERMAN).text
    assert "Protokoll" in audit and "Aktion" in audit
    assert_no_english(audit, ["Audit log", "Who", "Action", "Target"])


@pytest.mark.parametrize("name", EDITOR_TEMPLATES)
def test_every_literal_in_the_editor_templates_has_german(name: str) -> None:
    source = (TEMPLATES / name).read_text(encoding="utf-8")
    literals = re.findall(r"""_\(\s*(?:"([^"]*)"|'([^']*)')""", source)
    assert literals, name
    german = catalogue("de")
    missing = [a or b for a, b in literals if (a or b) not in german]
    assert not missing, missing
