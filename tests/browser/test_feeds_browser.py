"""The /feeds page in Chromium as an editor: OPML import through the file form, enabling
a disabled feed, health notes; and what a visitor who is not logged in sees."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import update

from app.config import Settings
from app.store import migrate
from app.store.db import Database
from app.store.feeds import FeedStore
from app.store.tables import Feed
from tests.support.browser import LiveServer, serve
from tests.web.test_auth_kit import PASSWORD, make_user

pytestmark = pytest.mark.browser
NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
GONE = "https://gone.example/feed.xml"
FLAGGED = "https://sloppy.example/feed.xml"
EXISTING = "http://127.0.0.1:9/existing.xml"


@pytest.fixture(scope="module")
def feeds_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    root = tmp_path_factory.mktemp("feeds")
    url = f"sqlite:///{root / 'newsmon.db'}"
    db = Database.from_url(url)
    migrate.upgrade(db.engine)
    with db.write() as session:
        store = FeedStore(session)
        gone = store.add(GONE, now=NOW, title="Gone Daily").id
        sloppy = store.add(FLAGGED, now=NOW, title="Sloppy Times").id
        store.add(EXISTING, now=NOW, title="Existing Wire")
        session.execute(
            update(Feed)
            .where(Feed.id == gone)
            .values(disabled_reason="the feed is gone (HTTP 410 on two polls in a row)")
        )
        session.execute(
            update(Feed)
            .where(Feed.id == sloppy)
            .values(last_status="ok", parse_warning="junk after document element")
        )
    make_user(db, "ed", "editor")
    settings = Settings(
        database_url=url,
        data_dir=root / "data",
        secret_key="k" * 48,
        poll=False,
        default_feeds=False,
        allow_private_networks=True,  # the imported feeds live on 127.0.0.1
    )
    server = serve(db, settings)
    try:
        yield LiveServer(db=db, base_url=next(server))
    finally:
        server.close()
        db.dispose()


def log_in(page: Any, server: LiveServer) -> None:
    page.goto(server.url("/login"))
    page.fill("#username", "ed")
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_load_state("networkidle")


def row(page: Any, name: str) -> Any:
    return page.locator("table.feeds tbody tr", has_text=name)


def test_an_editor_imports_opml_through_the_form_and_sees_what_happened(
    page: Any, feeds_server: LiveServer, tmp_path: Path
) -> None:
    opml = tmp_path / "reader-export.opml"
    opml.write_text(
        '<?xml version="1.0"?><opml version="2.0"><head><title>x</title></head><body>'
        '<outline text="Tech"><outline text="Loopback News" xmlUrl="http://127.0.0.1:9/a.xml"/>'
        f'<outline text="Again" xmlUrl="{EXISTING}"/></outline>'
        '<outline text="Bad" xmlUrl="javascript:alert(1)"/></body></opml>'
    )
    log_in(page, feeds_server)
    page.goto(feeds_server.url("/feeds"))
    page.set_input_files("#opml-file", str(opml))
    page.get_by_role("button", name="Import OPML").click()
    page.wait_for_load_state("networkidle")

    report = page.get_by_role("status")
    assert "1 added, 1 already subscribed, 1 rejected" in report.inner_text()
    assert "Loopback News" in report.inner_text()
    assert "javascript:alert(1)" in report.locator("li", has_text="javascript").inner_text()
    assert row(page, "Loopback News").count() == 1  # listed among the feeds at once


def test_an_editor_enables_a_disabled_feed_with_one_click(
    page: Any, feeds_server: LiveServer
) -> None:
    log_in(page, feeds_server)
    page.goto(feeds_server.url("/feeds"))
    gone = row(page, "Gone Daily")
    assert "disabled" in gone.inner_text() and "HTTP 410" in gone.inner_text()
    gone.get_by_role("button", name="Enable again").click()
    page.wait_for_url("**/feeds")
    gone = row(page, "Gone Daily")
    assert "disabled" not in gone.inner_text() and "not polled yet" in gone.inner_text()
    assert gone.get_by_role("button", name="Enable again").count() == 0


def test_health_notes_show_and_visitors_get_no_editor_forms(
    page: Any, feeds_server: LiveServer
) -> None:
    page.goto(feeds_server.url("/feeds"))
    assert "Parser warning: junk after document element" in row(page, "Sloppy Times").inner_text()
    assert page.locator("form.opml-import").count() == 0
    assert page.get_by_role("button", name="Enable again").count() == 0
    assert page.get_by_role("link", name="Export OPML").is_visible()
