"""RELIABILITY.md §1 finding 9 and §2.6 "SQLite: readers and web writes during polling"
(docs/reliability-coverage.md): what a reader sees when the defaults would fail them."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import jinja2
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from app.config import Settings
from app.store import db as db_module
from app.store import migrate
from app.store.db import Database
from app.store.tables import Flag
from app.web.app import create_app, make_templates
from tests.support.db import DbTarget
from tests.web.test_auth_kit import FAST_HASHER, make_token, make_user, seed_article

PAYLOAD = '"><img src=x onerror=alert(1)>'


@pytest.mark.parametrize("name", ["card.html", "card.j2", "card.jinja", "card.txt", "card"])
def test_templates_autoescape_whatever_their_file_name(name: str) -> None:
    """Finding 9: ``select_autoescape()`` escapes only .html/.htm/.xml names; ours must
    escape a template named anything."""
    env = make_templates().env
    env.loader = jinja2.DictLoader({name: "<h1>{{ title }}</h1>"})
    html = env.get_template(name).render(title=PAYLOAD)
    assert html == "<h1>&#34;&gt;&lt;img src=x onerror=alert(1)&gt;</h1>"


@pytest.fixture
def busy_db(db_target: DbTarget, monkeypatch: pytest.MonkeyPatch) -> Iterator[Database]:
    """The test's SQLite file with a short busy timeout, so "locked" comes quickly."""
    monkeypatch.setattr(db_module, "BUSY_TIMEOUT_MS", 200)
    database = db_target.database()
    migrate.upgrade(database.engine)
    yield database
    database.dispose()


@pytest.mark.parametrize("db_target", ["sqlite"], indirect=True)
def test_a_locked_sqlite_database_is_a_503_for_writes_and_no_obstacle_for_reads(
    busy_db: Database, settings: Settings, db_target: DbTarget
) -> None:
    article = seed_article(busy_db)
    make_user(busy_db, "ed", "editor")
    editor = {"Authorization": f"Bearer {make_token(busy_db, 'ed', 'write')}"}
    app = create_app(settings, db=busy_db, run_poller=False)
    app.state.password_hasher = FAST_HASHER
    holder = sqlite3.connect(Path(db_target.url.removeprefix("sqlite:///")), isolation_level=None)
    with TestClient(app, base_url="http://127.0.0.1") as client:
        holder.execute("BEGIN IMMEDIATE")  # another writer (a poller's batch) holds the lock
        try:
            read = client.get("/api/v1/articles")
            page = client.get("/")
            write = client.post(
                f"/api/v1/articles/{article}/flags", json={"kind": "important"}, headers=editor
            )
        finally:
            holder.execute("ROLLBACK")
            holder.close()
        after = client.post(
            f"/api/v1/articles/{article}/flags", json={"kind": "important"}, headers=editor
        )

    assert read.status_code == 200 and [a["id"] for a in read.json()["items"]] == [article]
    assert page.status_code == 200
    assert write.status_code == 503
    assert write.headers["content-type"] == "application/problem+json"
    assert write.headers["retry-after"] == "2"
    assert "busy" in write.json()["detail"] and "Traceback" not in write.text
    assert after.status_code == 201  # the lock is gone: the same request works
    with busy_db.read() as session:
        assert session.scalar(select(func.count()).select_from(Flag)) == 1


def test_a_huge_anonymous_post_is_refused_before_its_body_is_read(app: FastAPI) -> None:
    """A 300 MB multipart POST to /login: 413 on the declared length, and the server
    never asks for the body (the stream below would count every chunk it sends)."""
    sent = 0

    def body() -> Iterator[bytes]:
        nonlocal sent
        chunk = b"x" * 65536
        for _ in range(300 * 16):
            sent += len(chunk)
            yield chunk

    with TestClient(app, base_url="http://127.0.0.1") as client:
        response = client.post(
            "/login",
            content=body(),
            headers={
                "Content-Type": "multipart/form-data; boundary=x",
                "Content-Length": str(300 * 1024 * 1024),
            },
        )
    assert response.status_code == 413
    assert "larger than 1024 KiB" in response.text
    assert sent <= 2 * 1024 * 1024  # at most what the transport buffered, never the 300 MB


def test_a_body_without_a_length_is_cut_at_the_limit(client: TestClient) -> None:
    def body() -> Iterator[bytes]:
        for _ in range(64):
            yield b"username=" + b"a" * 65536

    response = client.post(
        "/login", content=body(), headers={"Content-Type": "application/x-www-form-urlencoded"}
    )
    assert response.status_code == 413
