"""Enabling a feed the poller disabled: ``POST /api/v1/feeds/{id}/enable`` and the
"Enable again" form on /feeds (editors only, CSRF, no JavaScript), audited; the next
poll fetches the feed again. The command line is in tests/e2e/test_cli.py."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from app.store.audit import AuditStore
from app.store.db import Database
from tests.support.feedsrv import FeedRequest, FeedServer
from tests.support.polling import add_feed, aware, make_all_due, poll, view
from tests.support.rss import rss, story
from tests.web.test_auth_kit import FAST_HASHER, csrf_from, login, make_token, make_user
from tests.web.test_i18n_editors import assert_no_english, visible

PATH = "/news.xml"
UNKNOWN = 2**31 - 1


def gone(request: FeedRequest) -> None:
    request.reply(410, b"gone", content_type="text/plain")


@pytest.fixture
def fast_hasher(app: FastAPI) -> None:
    app.state.password_hasher = FAST_HASHER


@pytest.fixture
def disabled(db: Database, feed_server: FeedServer, make_test_poller: Any) -> int:
    """A feed the poller disabled because its URL answers 410 Gone (confirmed)."""
    feed_server.add_route(PATH, gone)
    feed_id = add_feed(db, feed_server.url(PATH))
    poll(make_test_poller)
    if view(db, feed_id).disabled_reason is None:  # a first 410 may wait for confirmation
        make_all_due(db)
        poll(make_test_poller)
    health = view(db, feed_id)
    assert health.disabled_reason and "410" in health.disabled_reason
    assert aware(health.next_poll_at) > datetime.now(UTC)
    return feed_id


@pytest.fixture
def assert_polled_again(
    db: Database, feed_server: FeedServer, make_test_poller: Any
) -> Callable[[int], None]:
    """Check that an enabled feed is healthy, due now, and fetched by the next poll."""

    def check(feed_id: int) -> None:
        health = view(db, feed_id)
        assert health.disabled_reason is None and health.consecutive_failures == 0
        assert aware(health.next_poll_at) <= datetime.now(UTC)
        hits = feed_server.hits(PATH)
        feed_server.add_file(PATH, rss([story(1), story(2)]))  # the publisher is back
        results = poll(make_test_poller)
        assert [(r.feed_id, r.outcome, r.new) for r in results] == [(feed_id, "ok", 2)]
        assert feed_server.hits(PATH) == hits + 1
        assert view(db, feed_id).last_status == "ok"

    return check


def audited(db: Database) -> tuple[str, str | None, str, dict[str, Any]]:
    with db.read() as session:
        entry = AuditStore(session).recent()[0]
    return entry.action, entry.user_name, entry.target_id, entry.detail


# -- the API ------------------------------------------------------------------------


@pytest.mark.usefixtures("fast_hasher")
def test_api_enables_a_disabled_feed_and_the_next_poll_fetches_it(
    client: TestClient, db: Database, disabled: int, assert_polled_again: Callable[[int], None]
) -> None:
    before = view(db, disabled)
    make_user(db, "ed", "editor")
    editor = {"Authorization": f"Bearer {make_token(db, 'ed', 'write')}"}

    response = client.post(f"/api/v1/feeds/{disabled}/enable", headers=editor)

    assert response.status_code == 200, response.text
    body = response.json()
    listed = client.get("/api/v1/feeds").json()["items"]
    assert body == next(f for f in listed if f["id"] == disabled)
    assert body["disabled_reason"] is None and body["consecutive_failures"] == 0
    assert body["url"] == before.url
    assert audited(db) == (
        "feed.enable",
        "ed",
        str(disabled),
        {"url": before.url, "was": before.disabled_reason},
    )
    assert_polled_again(disabled)


@pytest.mark.usefixtures("fast_hasher")
def test_api_enable_needs_an_editor_with_a_write_token(
    client: TestClient, db: Database, disabled: int
) -> None:
    make_user(db, "vi", "viewer")
    make_user(db, "ed", "editor")
    viewer = {"Authorization": f"Bearer {make_token(db, 'vi', 'write')}"}
    read_only = {"Authorization": f"Bearer {make_token(db, 'ed', 'read')}"}
    url = f"/api/v1/feeds/{disabled}/enable"

    anonymous = client.post(url)
    assert anonymous.status_code == 401
    assert anonymous.headers["content-type"] == "application/problem+json"
    assert client.post(url, headers=viewer).status_code == 403
    assert client.post(url, headers=read_only).status_code == 403
    assert view(db, disabled).disabled_reason is not None


@pytest.mark.usefixtures("fast_hasher")
def test_api_enable_with_a_session_needs_the_csrf_header(
    client: TestClient, db: Database, disabled: int
) -> None:
    make_user(db, "ed", "editor")
    csrf = login(client, "ed")
    url = f"/api/v1/feeds/{disabled}/enable"

    assert client.post(url).status_code == 403
    assert view(db, disabled).disabled_reason is not None
    response = client.post(url, headers={"X-CSRF-Token": csrf})
    assert response.status_code == 200 and response.json()["disabled_reason"] is None


@pytest.mark.usefixtures("fast_hasher")
def test_api_enable_of_an_unknown_feed_is_404_problem_json(
    client: TestClient, db: Database
) -> None:
    make_user(db, "ed", "editor")
    editor = {"Authorization": f"Bearer {make_token(db, 'ed', 'write')}"}

    response = client.post(f"/api/v1/feeds/{UNKNOWN}/enable", headers=editor)

    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["detail"] == f"no feed with id {UNKNOWN}"
    with db.read() as session:
        assert AuditStore(session).actions("feed.enable") == []


# -- the /feeds page ------------------------------------------------------------------


def enable_form(html: str, feed_id: int) -> bool:
    return f'action="/feeds/{feed_id}/enable"' in html


@pytest.mark.usefixtures("fast_hasher")
def test_page_enables_a_disabled_feed_without_javascript(
    client: TestClient, db: Database, disabled: int, assert_polled_again: Callable[[int], None]
) -> None:
    make_user(db, "ed", "editor")
    login(client, "ed")
    page = client.get("/feeds").text
    assert enable_form(page, disabled) and "Enable again" in visible(page)

    response = client.post(
        f"/feeds/{disabled}/enable", data={"csrf_token": csrf_from(page)}, follow_redirects=False
    )

    assert response.status_code == 303 and response.headers["location"] == "/feeds"
    after = client.get("/feeds").text
    assert not enable_form(after, disabled) and "Enable again" not in after
    assert audited(db)[:3] == ("feed.enable", "ed", str(disabled))
    assert_polled_again(disabled)


@pytest.mark.usefixtures("fast_hasher")
def test_page_button_is_for_editors_only(client: TestClient, db: Database, disabled: int) -> None:
    anonymous = client.get("/feeds").text
    assert "410" in anonymous and not enable_form(anonymous, disabled)
    pre_session = csrf_from(client.get("/login").text)  # a valid token, but nobody logged in
    nobody = client.post(f"/feeds/{disabled}/enable", data={"csrf_token": pre_session})
    assert nobody.status_code == 401 and "log in first" in nobody.text

    make_user(db, "vi", "viewer")
    csrf = login(client, "vi")
    page = client.get("/feeds").text
    assert not enable_form(page, disabled) and "Enable again" not in page
    refused = client.post(f"/feeds/{disabled}/enable", data={"csrf_token": csrf})
    assert refused.status_code == 403 and "this needs the editor role" in refused.text
    assert view(db, disabled).disabled_reason is not None


@pytest.mark.usefixtures("fast_hasher")
def test_page_enable_needs_the_csrf_token(client: TestClient, db: Database, disabled: int) -> None:
    make_user(db, "ed", "editor")
    login(client, "ed")

    response = client.post(f"/feeds/{disabled}/enable", data={})

    assert response.status_code == 403 and "CSRF token" in response.text
    assert view(db, disabled).disabled_reason is not None


@pytest.mark.usefixtures("fast_hasher")
def test_page_enable_of_an_unknown_feed_is_404(client: TestClient, db: Database) -> None:
    make_user(db, "ed", "editor")
    csrf = login(client, "ed")

    response = client.post(
        f"/feeds/{UNKNOWN}/enable", data={"csrf_token": csrf}, follow_redirects=False
    )

    assert response.status_code == 404
    assert response.headers["content-type"].startswith("text/html")


@pytest.mark.usefixtures("fast_hasher")
def test_page_button_speaks_german(client: TestClient, db: Database, disabled: int) -> None:
    make_user(db, "ed", "editor")
    login(client, "ed")
    client.cookies.set("lang_ui", "de")

    html = client.get("/feeds").text

    assert enable_form(html, disabled) and "Wieder aktivieren" in visible(html)
    assert_no_english(html, ["Enable again"])


@pytest.mark.usefixtures("fast_hasher")
def test_an_enabled_feed_starts_a_fresh_record_so_one_new_410_does_not_disable_it(
    client: TestClient, db: Database, disabled: int, make_test_poller: Any
) -> None:
    make_user(db, "ed", "editor")
    editor = {"Authorization": f"Bearer {make_token(db, 'ed', 'write')}"}
    body = client.post(f"/api/v1/feeds/{disabled}/enable", headers=editor).json()
    assert (body["last_status"], body["last_http_status"], body["last_error"]) == (None,) * 3

    poll(make_test_poller)  # still 410: the first of two again, not an instant disable
    health = view(db, disabled)
    assert health.disabled_reason is None
    assert health.last_error and "disabled if the next poll confirms it" in health.last_error
