"""Browser fixtures: the real app behind a live uvicorn on 127.0.0.1, and a Chromium page.

Import them from a conftest (until ``tests/conftest.py`` lists this module in
``pytest_plugins``)::

    from tests.support.browser import browser, live_server, page  # noqa: F401

``live_server`` runs ``create_app`` on a migrated SQLite file seeded by
``seed_corpus`` (module scope: seeding once per module keeps the tests quick).
``page`` fails the test on any console error, uncaught page error or dialog
(``alert``/``confirm``/``prompt``): a dialog is how an XSS payload shows itself.
Chromium is Debian's ``/usr/bin/chromium``; when it is missing the tests skip
locally and fail under ``CI=true``.
"""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from app.config import Settings
from app.core.timeline import THEME_BITS
from app.store import migrate
from app.store.db import Database
from app.store.tables import Article, ArticleSource, ArticleTheme, Flag
from tests.support.db import add_outlets

CHROMIUM = os.environ.get("NEWSMON_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
# A fixed clock for the seeded corpus, so "24h"/"7d" presets and day groups are stable
# relative to the real now the server reads: the corpus is laid out back from now.
SEED_NOW = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)


# -- seeded corpus -------------------------------------------------------------------


SEED_TITLES = [
    ("Amazon and TikTok extend their shopping partnership", "en", ("market",)),
    ("Regulators examine the Amazon TikTok data deal", "en", ("regulatory",)),
    ("Datensicherheit: Fragen zur Kooperation von Amazon und TikTok", "de", ("security",)),
    ("Übernahme-Gerüchte: Amazon prüft TikTok Shop", "de", ("market", "regulatory")),
    ("Le café des régulateurs: Amazon et TikTok sous surveillance", "fr", ("regulatory",)),
    ("Security researchers flag TikTok Shop checkout flaw", "en", ("security",)),
]


def seed_corpus(db: Database, *, count: int = 60, now: datetime = SEED_NOW) -> list[int]:
    """Fill ``db`` with ``count`` articles over ``count // 3`` days from three feeds.

    Every sixth article is not relevant; articles 0 and 1 share a story cluster; the
    newest article carries an open "important" flag. Returns ids, newest first.
    """
    with db.write() as session:
        feeds = add_outlets(
            session,
            3,
            now=now,
            next_poll_at=now + timedelta(minutes=30),
            last_polled_at=now - timedelta(minutes=30),
            last_status="ok",
        )
        articles = [_seed_article(i, now) for i in range(count)]
        session.add_all(articles)
        session.flush()
        for i, article in enumerate(articles):
            session.add(
                ArticleSource(article_id=article.id, feed_id=feeds[i % 3].id, first_seen_at=now)
            )
            for theme in SEED_TITLES[i % len(SEED_TITLES)][2]:
                session.add(_seed_theme(article, theme))
        articles[1].cluster_id = articles[0].id
        articles[0].cluster_id = articles[0].id
        session.add(
            ArticleSource(article_id=articles[0].id, feed_id=feeds[1].id, first_seen_at=now)
        )
        session.add(
            Flag(article_id=articles[0].id, kind="important", note="lead story", created_at=now)
        )
        return [a.id for a in articles]


def _seed_article(i: int, now: datetime) -> Article:
    title, language, themes = SEED_TITLES[i % len(SEED_TITLES)]
    title = f"{title} (#{i})"
    text = f"{title}\n\nBody of article {i}. Amazon and TikTok in story number {i}."
    when = now - timedelta(hours=8 * i + 1)
    return Article(
        url=f"https://news.example/a/{i}",
        url_hash=f"a{i:063d}",
        title=title,
        summary=f"<p>Summary of article {i} about <strong>TikTok</strong>.</p>",
        content=f"<p>Content of article {i}.</p>",
        text=text,
        language=language,
        published_at=when,
        first_seen_at=when,
        updated_at=when,
        relevant=i % 6 != 5,
        tagger_relevant=i % 6 != 5,
        relevance_score=round(0.5 + (i % 5) / 10, 2),
        relevance_reason="Amazon and TikTok named together in the title",
        theme_mask=sum(THEME_BITS[t] for t in themes),
        theme_scores={t: 1.0 for t in themes},
    )


def _seed_theme(article: Article, theme: str) -> ArticleTheme:
    word = {"market": "Amazon", "regulatory": "TikTok", "security": "TikTok"}[theme]
    start = article.title.find(word)
    evidence = [{"term": word.lower(), "field": "title", "start": start, "end": start + len(word)}]
    return ArticleTheme(article_id=article.id, theme=theme, score=1.0, evidence=evidence)


# -- live server ---------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class LiveServer:
    """The real app served by uvicorn in a thread; ``url("/")`` builds addresses."""

    db: Database
    base_url: str
    article_ids: list[int] = field(default_factory=list)

    def url(self, path: str) -> str:
        return self.base_url + path


def serve(db: Database, settings: Settings) -> Iterator[str]:
    """Run the app on a free loopback port until the generator is closed."""
    import uvicorn

    from app.web.app import create_app

    app = create_app(settings, db=db, run_poller=False)
    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start within 10 s")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@pytest.fixture(scope="module")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """The real app on a seeded SQLite file (the browser is the subject, not the engine)."""
    root = tmp_path_factory.mktemp("live")
    url = f"sqlite:///{root / 'newsmon.db'}"
    db = Database.from_url(url)
    migrate.upgrade(db.engine)
    ids = seed_corpus(db)
    settings = Settings(
        database_url=url,
        data_dir=root / "data",
        secret_key="test-secret-key-" + "x" * 32,
        poll=False,
        default_feeds=False,
    )
    server = serve(db, settings)
    try:
        yield LiveServer(db=db, base_url=next(server), article_ids=ids)
    finally:
        server.close()
        db.dispose()


# -- browser -------------------------------------------------------------------------


def chromium_path() -> str:
    path = CHROMIUM if os.path.exists(CHROMIUM) else shutil.which("chromium")
    if not path:
        message = f"Debian's chromium not found at {CHROMIUM}: run `make browser`"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return path


# Module scope, not session: Playwright's sync API keeps an event loop running in
# this thread while it is open, which breaks every later test that calls asyncio.run.
@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    path = chromium_path()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        instance = pw.chromium.launch(executable_path=path, args=CHROMIUM_ARGS)
        try:
            yield instance
        finally:
            instance.close()


@dataclass
class PageProblems:
    """What went wrong in the page; any entry fails the test."""

    entries: list[str] = field(default_factory=list)


@pytest.fixture
def page_problems() -> PageProblems:
    return PageProblems()


@pytest.fixture
def page(browser: Any, page_problems: PageProblems) -> Iterator[Any]:
    """A fresh English page; fails the test on console errors, page errors or dialogs."""
    context = browser.new_context(locale="en-GB", viewport={"width": 1280, "height": 900})
    pg = context.new_page()
    pg.set_default_timeout(10_000)
    pg.on(
        "console",
        lambda msg: (
            page_problems.entries.append(f"console {msg.type}: {msg.text}")
            if msg.type == "error"
            else None
        ),
    )
    pg.on("pageerror", lambda exc: page_problems.entries.append(f"page error: {exc}"))

    def on_dialog(dialog: Any) -> None:
        page_problems.entries.append(f"dialog {dialog.type}: {dialog.message}")
        dialog.dismiss()

    pg.on("dialog", on_dialog)
    try:
        yield pg
    finally:
        context.close()
    assert not page_problems.entries, "problems in the page:\n" + "\n".join(page_problems.entries)


def screenshot(pg: Any, name: str) -> Path:
    """Keep a full-page screenshot under tests/artifacts/ (git-ignored, a CI artifact)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / name
    pg.screenshot(path=str(path), full_page=True)
    return path
