"""Interface language: Accept-Language, the lang_ui cookie, and a safe way back."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from app.web.i18n import catalogue, safe_next


def test_german_from_accept_language_with_locale_dates(client: TestClient) -> None:
    html = client.get("/", headers={"Accept-Language": "de-DE,de;q=0.9,en;q=0.5"}).text
    assert '<html lang="de">' in html
    assert "Zeitleiste Amazon × TikTok" in html and "Suche" in html
    english = client.get("/", headers={"Accept-Language": "fr, en;q=0.1"}).text
    assert '<html lang="en">' in english and "Amazon × TikTok timeline" in english


def test_switching_sets_a_cookie_and_goes_back(client: TestClient) -> None:
    response = client.get(
        "/ui-language", params={"set": "de", "next": "/feeds?x=1"}, follow_redirects=False
    )
    assert response.status_code == 303
    assert response.headers["location"] == "/feeds?x=1"
    assert "lang_ui=de" in response.headers["set-cookie"]
    client.cookies.set("lang_ui", "de")
    assert "Nächster Abruf" in client.get("/feeds", headers={"Accept-Language": "en"}).text
    assert client.get("/ui-language?set=xx").status_code == 400


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("/feeds", "/feeds"),
        ("/?theme=market&q=a", "/?theme=market&q=a"),
        ("//evil.example", "/"),
        ("/\\evil.example", "/"),
        ("https://evil.example/", "/"),
        ("javascript:alert(1)", "/"),
        ("/\nSet-Cookie: x", "/"),
        ("", "/"),
        (None, "/"),
    ],
)
def test_next_is_a_same_origin_path_only(target: str | None, expected: str) -> None:
    assert safe_next(target) == expected


def test_every_german_translation_keeps_its_placeholders() -> None:
    import re

    for source, german in catalogue("de").items():
        assert set(re.findall(r"{\w+}", source)) == set(re.findall(r"{\w+}", german)), source
