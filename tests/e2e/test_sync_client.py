"""A real sync client: it mirrors newsmon into a fresh SQLite file through
``/api/v1/articles/changes`` (starting from ``updated_since``, then resuming from the
cursor it kept), editors change things over the API, it syncs again, and the mirror
equals the server row for row. One mirror keeps everything, another only the
default timeline (relevant articles), so hidden articles must leave it too."""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.store.test_sync_store import ingest
from tests.support.served import ENGINES, Served, serve
from tests.web.test_auth_kit import seed_article


class Mirror:
    """What a third-party tool would write: one JSON row per article, plus its cursor."""

    def __init__(self, path: Path, base: str, query: dict[str, str]) -> None:
        self.db = sqlite3.connect(path)
        self.db.execute("CREATE TABLE article (id INTEGER PRIMARY KEY, doc TEXT NOT NULL)")
        self.db.execute("CREATE TABLE state (cursor TEXT)")
        self.db.execute("INSERT INTO state VALUES (NULL)")
        self.base, self.query = base, query

    def sync(self, client: httpx.Client) -> int:
        applied = 0
        while True:
            (cursor,) = self.db.execute("SELECT cursor FROM state").fetchone()
            params = dict(self.query, limit="3")  # small pages: many resumes
            if cursor:
                params["cursor"] = cursor
            else:
                params["updated_since"] = "1970-01-01T00:00:00Z"
            page = client.get(f"{self.base}/api/v1/articles/changes", params=params)
            page.raise_for_status()
            body = page.json()
            with self.db:
                for item in body["items"]:
                    if item["change"] == "article":
                        self.db.execute(
                            "INSERT OR REPLACE INTO article VALUES (?, ?)",
                            (item["id"], json.dumps(item["article"], sort_keys=True)),
                        )
                    else:  # hidden or deleted: not in this mirror any more
                        self.db.execute("DELETE FROM article WHERE id = ?", (item["id"],))
                    applied += 1
                if body["next_cursor"]:
                    self.db.execute("UPDATE state SET cursor = ?", (body["next_cursor"],))
            if not body["more"]:
                return applied

    def rows(self) -> dict[int, dict[str, Any]]:
        return {i: json.loads(doc) for i, doc in self.db.execute("SELECT id, doc FROM article")}


def server_rows(client: httpx.Client, base: str, query: dict[str, str]) -> dict[int, Any]:
    rows: dict[int, Any] = {}
    params = dict(query, limit="200")
    while True:
        body = client.get(f"{base}/api/v1/articles", params=params).json()
        rows.update({a["id"]: a for a in body["items"]})
        if not body["next_cursor"]:
            return rows
        params["cursor"] = body["next_cursor"]


def seed(served: Served) -> list[int]:
    ids = [
        seed_article(served.db, f"Story {i}", themes=("security",), minutes_ago=i) for i in range(8)
    ]
    ids.append(seed_article(served.db, "Unrelated", relevant=False, minutes_ago=20))
    ids.append(seed_article(served.db, "Only here", feed_title="Small Outlet", minutes_ago=30))
    return ids


@pytest.mark.parametrize("kind", ENGINES)
def test_mirror_equals_server_after_editor_changes(kind: str, tmp_path: Path) -> None:
    with serve(kind, tmp_path, sync_settle_seconds="0") as served:
        token = served.write_token("ed")
        ids = seed(served)
        everything = Mirror(tmp_path / "all.db", served.base, {"relevance": "all"})
        timeline = Mirror(tmp_path / "timeline.db", served.base, {})
        auth = {"Authorization": f"Bearer {token}"}
        with httpx.Client(headers=auth, timeout=30) as client:
            assert everything.sync(client) == len(ids)
            assert timeline.sync(client) == len(ids)  # the irrelevant one comes as hidden
            assert len(timeline.rows()) == len(ids) - 1
            assert everything.sync(client) == 0  # nothing new: the cursor holds

            api = f"{served.base}/api/v1"
            flag = client.post(f"{api}/articles/{ids[0]}/flags", json={"kind": "irrelevant"})
            assert flag.status_code == 201
            client.post(f"{api}/articles/{ids[1]}/flags", json={"kind": "important"})
            patched = client.patch(f"{api}/flags/{flag.json()['id']}", json={"note": "sports"})
            assert patched.status_code == 200
            client.patch(f"{api}/articles/{ids[2]}/themes", json={"add": ["market"]})
            client.patch(f"{api}/articles/{ids[9]}/themes", json={"relevant": False})
            ingest(served.db, "https://second.example/feed", ["Story 3"], datetime.now(UTC))
            small = next(
                f["id"]
                for f in client.get(f"{api}/feeds").json()["items"]
                if f["title"] == "Small Outlet"
            )
            assert client.delete(f"{api}/feeds/{small}").status_code == 204  # ids[9] goes
            served.cli("retag")  # a changed taxonomy re-tags everything

            assert everything.sync(client) >= 5
            timeline.sync(client)
            assert everything.rows() == server_rows(client, served.base, {"relevance": "all"})
            assert timeline.rows() == server_rows(client, served.base, {})
            assert ids[0] not in timeline.rows() and ids[0] in everything.rows()
            assert ids[9] not in everything.rows()
            assert everything.rows()[ids[0]]["flags"] == ["irrelevant"]
            assert len(everything.rows()[ids[3]]["sources"]) == 2
