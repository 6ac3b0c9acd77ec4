"""Outgoing feeds that readers sync cheaply and correctly, and exports analysts open."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime

import feedparser
import pytest
from fastapi.testclient import TestClient

from app.store.db import Database
from app.store.flags import FlagStore
from tests.web.test_auth_kit import NOW, make_token, make_user, seed_article

FEEDS = [
    "/feed.atom",
    "/feed.atom?theme=security&lang=en",
    "/feed.atom?q=story&relevance=all",
    "/feed.atom?updated_since=2020-01-01",
    "/feed.atom?flagged=any",
    "/feed.atom?theme=nothing-matches-this-theme-so-it-is-refused",
]


@pytest.fixture
def seeded(db: Database) -> list[int]:
    ids = [
        seed_article(db, "Security story one", themes=("security",), minutes_ago=1),
        seed_article(db, "Market story", themes=("market",), author=None, minutes_ago=2),
        seed_article(db, '=cmd story, "quoted"', themes=("security",), minutes_ago=3),
    ]
    editor = make_user(db, "ed", "editor")
    with db.write() as session:
        FlagStore(session).create(ids[0], "follow-up", "call the desk", user_id=editor, now=NOW)
    return ids


def test_every_atom_feed_parses_without_bozo(client: TestClient, seeded: list[int]) -> None:
    for path in FEEDS[:-1]:
        response = client.get(path)
        assert response.status_code == 200, path
        parsed = feedparser.parse(response.content)
        assert not parsed.bozo, (path, parsed.get("bozo_exception"))
        assert parsed.feed.title.startswith("newsmon: ") and parsed.feed.subtitle
    assert client.get(FEEDS[-1]).status_code == 400


def test_atom_describes_filter_author_language_and_links(
    client: TestClient, seeded: list[int]
) -> None:
    parsed = feedparser.parse(client.get("/feed.atom?theme=security").content)
    assert parsed.feed.title == "newsmon: security"
    first = parsed.entries[0]
    assert first.author == "A. Writer" and first.title_detail.language == "en"
    assert first.link.startswith("https://news.example/")
    related = [link.href for link in first.links if link.rel == "related"]
    assert related == [f"http://127.0.0.1:8000/articles/{seeded[0]}"]
    market = feedparser.parse(client.get("/feed.atom?theme=market").content).entries[0]
    assert market.author == "Example News"  # no byline: the outlet


def test_updated_is_the_last_change(client: TestClient, db: Database, seeded: list[int]) -> None:
    before = feedparser.parse(client.get("/feed.atom").content)
    later = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    editor = make_user(db, "ed2", "editor")
    with db.write() as session:
        FlagStore(session).create(seeded[1], "important", "", user_id=editor, now=later)
    after = feedparser.parse(client.get("/feed.atom").content)
    changed = next(e for e in after.entries if e.id.endswith(f"/{seeded[1]}"))
    assert changed.updated == "2026-01-02T03:04:05+00:00"
    assert after.feed.updated == changed.updated != before.feed.updated


@pytest.mark.parametrize("path", ["/feed.atom?theme=security", "/feed.json"])
def test_second_conditional_request_is_304(
    client: TestClient, seeded: list[int], path: str
) -> None:
    first = client.get(path)
    etag, modified = first.headers["etag"], first.headers["last-modified"]
    assert client.get(path, headers={"If-None-Match": etag}).status_code == 304
    again = client.get(path, headers={"If-Modified-Since": modified})
    assert again.status_code == 304 and again.content == b""
    assert client.get(path, headers={"If-None-Match": '"other"'}).status_code == 200


def test_entry_ids_and_links_ignore_the_host_header(client: TestClient, seeded: list[int]) -> None:
    def ids_and_links(host: str) -> tuple[list[str], list[str], str]:
        body = client.get("/feed.atom", headers={"Host": host}).content
        parsed = feedparser.parse(body)
        links = [link.href for e in parsed.entries for link in e.links]
        return [e.id for e in parsed.entries], links, parsed.feed.id

    honest = ids_and_links("127.0.0.1")
    forged = ids_and_links("attacker.example")
    assert honest == forged
    assert not any("attacker" in value for value in json.dumps(forged).split('"'))
    feed = client.get("/feed.json", headers={"Host": "attacker.example"}).text
    assert "attacker" not in feed


def test_base_url_setting_builds_ids(
    client: TestClient, seeded: list[int], settings_base: None
) -> None:
    parsed = feedparser.parse(client.get("/feed.atom").content)
    assert parsed.feed.id.startswith("https://news.example.org/feed.atom")
    assert all(e.id.startswith("https://news.example.org/api/v1/articles/") for e in parsed.entries)


@pytest.fixture
def settings_base(client: TestClient) -> None:
    client.app.state.settings.base_url = "https://news.example.org/"  # type: ignore[attr-defined]


def editor_headers(db: Database) -> dict[str, str]:
    """Flags and their notes are for signed-in readers (a visitor's export has none)."""
    return {"Authorization": f"Bearer {make_token(db, 'ed', 'read')}"}


def test_csv_has_the_analysts_columns(client: TestClient, db: Database, seeded: list[int]) -> None:
    response = client.get("/export.csv?theme=security&since=2025-01-01", headers=editor_headers(db))
    disposition = response.headers["content-disposition"]
    today = datetime.now(UTC).date().isoformat()
    assert disposition == (f'attachment; filename="newsmon-security-since-2025-01-01-{today}.csv"')
    assert not response.content.startswith(b"\xef\xbb\xbf")
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert [r["id"] for r in rows] == [str(seeded[0]), str(seeded[2])]
    first = rows[0]
    assert first["relevance_score"] == "0.900" and first["relevance_reason"] == "test"
    assert first["summary"] == "Summary" and first["author"] == "A. Writer"
    assert first["outlets"] == "Example News" and first["language"] == "en"
    assert first["themes"] == "security 1.00" and first["flags"] == "follow-up: call the desk"
    assert first["published_estimated"] == "no"
    assert first["newsmon_link"] == f"http://127.0.0.1:8000/articles/{seeded[0]}"
    assert rows[1]["title"].startswith("'=cmd")  # a formula stays text


def test_excel_gets_a_bom(client: TestClient, seeded: list[int]) -> None:
    csv_body = client.get("/export.csv?excel=1").content
    assert csv_body.startswith(b"\xef\xbb\xbfid,published_at")
    lines = client.get("/export.jsonl?excel=1").content
    assert lines.startswith(b"\xef\xbb\xbf{")


def test_jsonl_carries_flags_with_notes(
    client: TestClient, db: Database, seeded: list[int]
) -> None:
    response = client.get("/export.jsonl?relevance=all", headers=editor_headers(db))
    assert response.headers["content-disposition"].endswith(
        f'-including-not-relevant-{datetime.now(UTC).date().isoformat()}.jsonl"'
    )
    records = [json.loads(line) for line in response.text.splitlines()]
    first = next(r for r in records if r["id"] == seeded[0])
    assert first["flag_notes"] == [{"kind": "follow-up", "note": "call the desk"}]
    assert first["summary_text"] == "Summary" and first["relevance_score"] == 0.9
    assert first["link"].endswith(f"/articles/{seeded[0]}")
