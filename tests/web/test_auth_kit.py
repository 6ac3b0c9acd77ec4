"""Helpers for the auth, flag and editor-API tests (plain functions, no tests here)."""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime, timedelta

from argon2 import PasswordHasher
from fastapi.testclient import TestClient

from app.core.decide import ArticleDraft, Tags
from app.core.types import ThemeTag
from app.store.articles import ArticleStore
from app.store.db import Database
from app.store.feeds import FeedStore
from app.store.users import UserStore

# Cheap parameters keep tests fast; production uses argon2-cffi's defaults.
FAST_HASHER = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
PASSWORD = "correct horse battery"
NOW = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
CSRF_RE = re.compile(r'name="csrf_token" value="([^"]+)"')


def make_user(db: Database, name: str, role: str, password: str = PASSWORD) -> int:
    with db.write() as session:
        return UserStore(session, FAST_HASHER).create(name, password, role, now=NOW).id


def make_token(db: Database, name: str, scope: str) -> str:
    with db.write() as session:
        store = UserStore(session, FAST_HASHER)
        return store.create_token(store.find(name).id, scope, now=NOW)[1]


def csrf_from(html: str) -> str:
    found = CSRF_RE.search(html)
    assert found, "page has no csrf_token field"
    return found.group(1)


def login(client: TestClient, name: str, password: str = PASSWORD) -> str:
    """Log in through the form; returns the session's CSRF token."""
    token = csrf_from(client.get("/login").text)
    response = client.post(
        "/login",
        data={"username": name, "password": password, "csrf_token": token},
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text
    return csrf_from(client.get("/account").text)


def tags(*themes: str, relevant: bool = True) -> Tags:
    theme_tags = tuple(ThemeTag(t, 1.0, (), "tagger") for t in themes)
    return Tags("en", relevant, 0.9, "test", (), theme_tags, {t: 1.0 for t in themes}, "v1")


def seed_article(
    db: Database,
    title: str = "Amazon and TikTok sign a deal",
    *,
    themes: tuple[str, ...] = ("market",),
    relevant: bool = True,
    feed_title: str = "Example News",
    summary: str = "<p>Summary</p>",
    author: str | None = "A. Writer",
    minutes_ago: int = 0,
) -> int:
    url = f"https://news.example/{hashlib.sha1(title.encode()).hexdigest()[:12]}"
    draft = ArticleDraft(
        key=hashlib.sha256(url.encode()).hexdigest(),
        key_kind="url",
        url=url,
        guid=None,
        title=title,
        author=author,
        summary=summary,
        content=summary,
        text=title,
        language="en",
        published_at=NOW - timedelta(minutes=minutes_ago),
        published_estimated=False,
        bands=(),
        tags=tags(*themes, relevant=relevant),
    )
    with db.write() as session:
        feeds = FeedStore(session)
        feed_url = f"https://{hashlib.sha1(feed_title.encode()).hexdigest()[:8]}.example/feed"
        feed_id = next((f.id for f in feeds.all() if f.url == feed_url), None)
        if feed_id is None:
            feed_id = feeds.add(feed_url, now=NOW, title=feed_title).id
        result = ArticleStore(session).upsert_batch(feed_id, [draft], now=NOW)
        return (result.new_ids or result.updated_ids)[0]
