"""Feed readers find the timeline's feeds: every timeline page names its Atom and JSON
feeds for autodiscovery and links them (and the exports) with the page's own filter."""

from __future__ import annotations

import re

import feedparser
from fastapi.testclient import TestClient

from app.store.db import Database
from tests.web.test_auth_kit import seed_article


def test_timeline_pages_announce_and_link_their_feeds(client: TestClient, db: Database) -> None:
    seed_article(db, "Amazon and TikTok extend in-app checkout", themes=("market",))
    seed_article(db, "Senators question TikTok data flows", themes=("security",))
    page = client.get("/?theme=security").text
    alternates = re.findall(r'<link rel="alternate" type="([^"]+)"[^>]*href="([^"]+)"', page)
    kinds = {kind for kind, _ in alternates}
    assert kinds == {"application/atom+xml", "application/feed+json"}
    for _, href in alternates:
        assert href.endswith("?theme=security")
    for export in ("/export.csv?theme=security", "/export.jsonl?theme=security"):
        assert f'href="{export}"' in page
    atom_href = next(h for k, h in alternates if k == "application/atom+xml")
    feed = feedparser.parse(client.get(atom_href.replace("&amp;", "&")).content)
    assert not feed.bozo
    assert [e.title for e in feed.entries] == ["Senators question TikTok data flows"]
