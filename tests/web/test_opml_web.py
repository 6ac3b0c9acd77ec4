"""OPML export and import over the API and on the /feeds page: the same subscribe path
as ``POST /api/v1/feeds`` (scheme and SSRF checks), editors only, CSRF, a size cap."""

from __future__ import annotations

import re
from html import escape
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from app.config import Settings
from app.store.audit import AuditStore
from app.store.db import Database
from app.web.i18n import catalogue
from tests.web.test_auth_kit import FAST_HASHER, csrf_from, login, make_token, make_user
from tests.web.test_i18n_editors import assert_no_english, visible

DATA = Path(__file__).resolve().parents[1] / "data" / "opml"
TEMPLATES = Path(__file__).resolve().parents[2] / "templates"
# Only this loopback address and port pass the guard: feeds that are added without
# DNS, beside loopback and private addresses that the rule refuses by name.
ALLOWED = "127.0.0.1:8081"
FEED_A = f"http://{ALLOWED}/a.xml"
FEED_B = f"http://{ALLOWED}/b.xml"
IMPORT = "/api/v1/feeds/import"
EXPORT = "/api/v1/feeds/export.opml"
OPML = {"Content-Type": "text/x-opml"}


def opml(*outlines: tuple[str, str]) -> bytes:
    body = "".join(
        f'<outline type="rss" text="{escape(t)}" xmlUrl="{escape(u)}"/>' for t, u in outlines
    )
    return (
        '<?xml version="1.0"?><opml version="2.0"><head><title>subs</title></head>'
        f"<body>{body}</body></opml>"
    ).encode()


MIXED = opml(
    ("Alpha", FEED_A),
    ("Beta", FEED_B),
    ("Loopback", "http://127.0.0.1:9/feed.xml"),
    ("Intranet", "http://10.0.0.1/feed.xml"),
    ("Script", "javascript:alert(1)"),
    ("Local file", "file:///etc/passwd"),
)


@pytest.fixture
def settings(settings: Settings) -> Settings:
    # Pinned: the environment may allow private networks for other tests.
    return settings.replace(allow_private_networks=False, fetch_allowlist=[ALLOWED])


@pytest.fixture
def fast_hasher(app: FastAPI) -> None:
    app.state.password_hasher = FAST_HASHER


@pytest.fixture
def editor(db: Database, fast_hasher: None) -> dict[str, str]:
    make_user(db, "ed", "editor")
    return {"Authorization": f"Bearer {make_token(db, 'ed', 'write')}"}


@pytest.fixture
def editor_csrf(client: TestClient, db: Database, fast_hasher: None) -> str:
    """An editor logged in through the form: the session's CSRF token."""
    make_user(db, "ed", "editor")
    return login(client, "ed")


def feed_urls(client: TestClient) -> list[str]:
    return sorted(f["url"] for f in client.get("/api/v1/feeds").json()["items"])


def test_import_adds_skips_duplicates_and_names_each_refusal(
    client: TestClient, db: Database, editor: dict[str, str]
) -> None:
    before = client.post("/api/v1/feeds", json={"url": FEED_B}, headers=editor)
    assert before.status_code == 201

    response = client.post(IMPORT, content=MIXED, headers={**editor, **OPML})

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["counts"] == {"added": 1, "skipped": 1, "rejected": 4}
    assert [(f["url"], f["title"]) for f in body["added"]] == [(FEED_A, "Alpha")]
    assert body["skipped"] == [FEED_B]
    reasons = {r["url"]: r["reason"] for r in body["rejected"]}
    assert "127.0.0.1 is a loopback address" in reasons["http://127.0.0.1:9/feed.xml"]
    assert "NEWSMON_ALLOW_PRIVATE_NETWORKS" in reasons["http://127.0.0.1:9/feed.xml"]
    assert "10.0.0.1 is a private address" in reasons["http://10.0.0.1/feed.xml"]
    assert "scheme 'javascript'" in reasons["javascript:alert(1)"]
    assert "scheme 'file'" in reasons["file:///etc/passwd"]
    assert feed_urls(client) == [FEED_A, FEED_B]
    with db.read() as session:
        entry = AuditStore(session).recent()[0]
    assert (entry.action, entry.user_name) == ("feed.import", "ed")
    assert entry.detail == {
        "added": 1,
        "skipped": 1,
        "rejected": 4,
        "feeds": [body["added"][0]["id"]],
    }


def test_export_round_trips_through_import(client: TestClient, editor: dict[str, str]) -> None:
    first = client.post(
        IMPORT, content=opml(("Alpha", FEED_A), ("Beta & Co", FEED_B)), headers=editor
    )
    assert first.json()["counts"] == {"added": 2, "skipped": 0, "rejected": 0}

    exported = client.get(EXPORT)  # anonymous: reading is public by default

    assert exported.status_code == 200
    assert exported.headers["content-type"] == "text/x-opml; charset=utf-8"
    assert exported.headers["content-disposition"] == 'attachment; filename="newsmon-feeds.opml"'
    for feed in client.get("/api/v1/feeds").json()["items"]:
        assert client.delete(f"/api/v1/feeds/{feed['id']}", headers=editor).status_code == 204
    again = client.post(IMPORT, content=exported.content, headers={**editor, **OPML})
    assert again.json()["counts"] == {"added": 2, "skipped": 0, "rejected": 0}
    titles = {f["url"]: f["title"] for f in client.get("/api/v1/feeds").json()["items"]}
    assert titles == {FEED_A: "Alpha", FEED_B: "Beta & Co"}
    repeated = client.post(IMPORT, content=exported.content, headers=editor)
    assert repeated.json()["counts"] == {"added": 0, "skipped": 2, "rejected": 0}


def test_import_accepts_a_multipart_file(client: TestClient, editor: dict[str, str]) -> None:
    response = client.post(
        IMPORT,
        files={"file": ("subs.opml", opml(("Alpha", FEED_A)), "text/x-opml")},
        headers=editor,
    )
    assert response.status_code == 200 and response.json()["counts"]["added"] == 1


TOO_MANY = opml(*((f"n{i}", f"http://{ALLOWED}/{i}.xml") for i in range(5001)))


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ((DATA / "bomb.opml").read_bytes(), "entity declarations and external references"),
        ((DATA / "xxe.opml").read_bytes(), "entity declarations and external references"),
        (b"<rss><channel/></rss>", "not an OPML document"),
        (b"<opml><body><outline", "not well-formed"),
        (TOO_MANY, "more than 5000 outlines; split it"),
    ],
    ids=["entity-bomb", "external-entity", "not-opml", "broken", "too-many-outlines"],
)
def test_hostile_or_broken_documents_are_400_and_add_nothing(
    client: TestClient, editor: dict[str, str], document: bytes, message: str
) -> None:
    response = client.post(IMPORT, content=document, headers={**editor, **OPML})
    assert response.status_code == 400
    assert response.headers["content-type"] == "application/problem+json"
    assert message in response.json()["detail"]
    assert feed_urls(client) == []


def test_a_body_over_one_mib_is_413_problem_json(
    client: TestClient, editor: dict[str, str]
) -> None:
    padding = b"<!--" + b"x" * (1024 * 1024) + b"-->"
    declared = client.post(IMPORT, content=opml(("Alpha", FEED_A)) + padding, headers=editor)
    streamed = client.post(IMPORT, content=iter([opml(("Alpha", FEED_A)), padding]), headers=editor)
    for response in (declared, streamed):
        assert response.status_code == 413
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["detail"] == "the upload is larger than 1024 KiB"
    assert feed_urls(client) == []


@pytest.mark.usefixtures("fast_hasher")
def test_import_needs_an_editor_with_a_write_token(client: TestClient, db: Database) -> None:
    make_user(db, "vi", "viewer")
    make_user(db, "ed", "editor")
    viewer = {"Authorization": f"Bearer {make_token(db, 'vi', 'write')}"}
    read_only = {"Authorization": f"Bearer {make_token(db, 'ed', 'read')}"}
    document = opml(("Alpha", FEED_A))

    anonymous = client.post(IMPORT, content=document, headers=OPML)
    assert anonymous.status_code == 401
    assert anonymous.headers["content-type"] == "application/problem+json"
    assert client.post(IMPORT, content=document, headers=viewer).status_code == 403
    assert client.post(IMPORT, content=document, headers=read_only).status_code == 403
    assert client.get(EXPORT, headers=read_only).status_code == 200
    assert feed_urls(client) == []


@pytest.mark.usefixtures("fast_hasher")
def test_export_is_readable_exactly_when_the_feed_list_is(
    app: FastAPI, client: TestClient, db: Database
) -> None:
    app.state.settings.public_read = False
    assert client.get("/api/v1/feeds").status_code == 401
    assert client.get(EXPORT).status_code == 401
    make_user(db, "vi", "viewer")
    viewer = {"Authorization": f"Bearer {make_token(db, 'vi', 'read')}"}
    assert client.get(EXPORT, headers=viewer).status_code == 200


# -- the /feeds page ----------------------------------------------------------------


def upload(document: bytes) -> dict[str, tuple[str, bytes, str]]:
    return {"file": ("subs.opml", document, "text/x-opml")}


@pytest.mark.usefixtures("fast_hasher")
def test_page_shows_export_to_everyone_and_import_to_editors_only(
    client: TestClient, db: Database
) -> None:
    anonymous = client.get("/feeds").text
    assert 'href="/api/v1/feeds/export.opml"' in anonymous and "Export OPML" in anonymous
    assert "Import OPML" not in anonymous and 'type="file"' not in anonymous

    make_user(db, "vi", "viewer")
    csrf = login(client, "vi")
    assert "Import OPML" not in client.get("/feeds").text
    refused = client.post("/feeds/import", data={"csrf_token": csrf}, files=upload(MIXED))
    assert refused.status_code == 403
    assert "this needs the editor role" in refused.text
    client.cookies.clear()
    pre_session = csrf_from(client.get("/login").text)  # a valid token, but nobody logged in
    nobody = client.post("/feeds/import", data={"csrf_token": pre_session}, files=upload(MIXED))
    assert nobody.status_code == 401 and "log in first" in nobody.text
    assert feed_urls(client) == []


@pytest.mark.usefixtures("editor_csrf")
def test_page_import_needs_the_csrf_token(client: TestClient) -> None:
    response = client.post("/feeds/import", files=upload(MIXED))
    assert response.status_code == 403
    assert "CSRF token" in response.text
    assert feed_urls(client) == []


@pytest.mark.usefixtures("editor_csrf")
def test_page_import_shows_the_summary_without_javascript(client: TestClient) -> None:
    page = client.get("/feeds").text
    assert 'enctype="multipart/form-data"' in page and 'action="/feeds/import"' in page
    client.post("/api/v1/feeds", json={"url": FEED_B}, headers={"X-CSRF-Token": csrf_from(page)})

    response = client.post(
        "/feeds/import", data={"csrf_token": csrf_from(page)}, files=upload(MIXED)
    )

    assert response.status_code == 200
    text = visible(response.text)
    assert "1 added, 1 already subscribed, 4 rejected" in text
    added = text[text.index("Added") : text.index("Already subscribed")]
    assert "Alpha" in added and FEED_A in added
    rejected = text[text.index(" Rejected ") :]
    assert "http://10.0.0.1/feed.xml: 10.0.0.1 is a private address" in rejected
    assert "javascript:alert(1): only http and https URLs are allowed" in rejected
    assert feed_urls(client) == [FEED_A, FEED_B]

    client.cookies.set("lang_ui", "de")
    german = client.post(
        "/feeds/import", data={"csrf_token": csrf_from(page)}, files=upload(MIXED)
    ).text
    assert "0 hinzugefügt, 2 bereits abonniert, 4 abgelehnt" in visible(german)
    assert "Als OPML exportieren" in german and "OPML importieren" in german
    assert_no_english(german, ["Export OPML", "Import OPML", "Already subscribed", "Rejected"])


def test_page_import_of_a_hostile_file_explains_and_adds_nothing(
    client: TestClient, editor_csrf: str
) -> None:
    bomb = (DATA / "bomb.opml").read_bytes()
    response = client.post("/feeds/import", data={"csrf_token": editor_csrf}, files=upload(bomb))
    assert response.status_code == 400
    assert "Nothing was imported: OPML rejected: entity declarations" in visible(response.text)
    big = client.post(
        "/feeds/import", data={"csrf_token": editor_csrf}, files=upload(b"x" * (1024 * 1024 + 1))
    )
    assert big.status_code == 413 and "Content Too Large" in big.text
    assert feed_urls(client) == []


def test_every_literal_of_the_feeds_page_has_german() -> None:
    source = (TEMPLATES / "feeds.html").read_text(encoding="utf-8")
    literals = [a or b for a, b in re.findall(r"""_\(\s*(?:"([^"]*)"|'([^']*)')""", source)]
    missing = [text for text in literals if text not in catalogue("de")]
    assert "Export OPML" in literals and not missing, missing
