"""Rows of RELIABILITY.md §2.1-2.3 and §2.6 that had no end-to-end test, or only one
that would pass without the guard (docs/reliability-coverage.md maps every row).

The real poller, a loopback ``feedsrv``, the real database (SQLite file and, when
configured, PostgreSQL) and the real ASGI app. Assertions are on stored rows, feed
health and what the API and pages show; never on wall time.
"""

from __future__ import annotations

import asyncio
import threading
import uuid
import xml.etree.ElementTree as ET
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from markupsafe import escape
from sqlalchemy import create_engine, func, select, text

from app.feeds.http import FetchPolicy
from app.polling.poller import Poller
from app.store.db import Database, make_engine
from app.store.feeds import FeedStore
from app.store.flags import FlagStore
from app.store.overrides import OverrideChange, OverrideStore
from app.store.tables import Article, ArticleTheme, Feed, FetchLog, Flag
from tests.support.db import DbTarget
from tests.support.feedsrv import SAMPLE_RSS, FeedRequest, FeedServer
from tests.support.polling import add_feed, aware, count, make_all_due, poll, view
from tests.support.rss import RELEVANT_BODY, Item, rss, story
from tests.web.test_auth_kit import make_user

DATA = Path(__file__).resolve().parents[1] / "data" / "feeds"
ATOM = "{http://www.w3.org/2005/Atom}"


# --- §2.1 a private feed URL is refused at every poll, not only at subscribe time ---------


def test_a_feed_at_a_private_address_is_refused_at_poll_time_and_logged(
    db: Database,
    feed_server: FeedServer,
    sentinel_server: FeedServer,
    feed_policy: FetchPolicy,
    make_test_poller: Any,
) -> None:
    # Subscribed while the name pointed elsewhere, or before the admin narrowed the
    # allowlist: the stored URL now reaches a loopback port nothing allows.
    private = add_feed(db, sentinel_server.url("/feed.xml"))
    public = add_feed(db, feed_server.url("/feed.xml"))

    results = {r.feed_id: r for r in poll(make_test_poller, policy=feed_policy)}

    assert results[public].outcome == "ok"
    assert results[private].outcome == "blocked"
    assert sentinel_server.connections == 0
    health = view(db, private)
    assert health.last_status == "blocked" and health.consecutive_failures == 1
    assert "127.0.0.1 is a loopback address" in (health.last_error or "")
    assert "NEWSMON_ALLOW_PRIVATE_NETWORKS" in (health.last_error or "")
    assert aware(health.next_poll_at) > datetime.now(UTC)  # backed off, not retried at once
    with db.read() as session:
        [log] = FeedStore(session).fetch_log(private)
    assert log.outcome == "blocked" and "loopback" in (log.error or "")
    assert count(db, Article) == 1  # the public feed's one entry, nothing from the sentinel


# --- §2.2 410 Gone: the reason is shown where people look ---------------------------------


def test_a_gone_feed_shows_why_in_the_api_and_on_the_feeds_page(
    db: Database, client: TestClient, feed_server: FeedServer, make_test_poller: Any
) -> None:
    gone = add_feed(db, feed_server.url("/status/410"))
    poll(make_test_poller)
    [first] = [f for f in client.get("/api/v1/feeds").json()["items"] if f["id"] == gone]
    assert first["disabled_reason"] is None  # one 410 is not yet proof
    assert "disabled if the next poll confirms it" in first["last_error"]

    make_all_due(db)
    poll(make_test_poller)
    [feed] = [f for f in client.get("/api/v1/feeds").json()["items"] if f["id"] == gone]
    assert feed["last_status"] == "gone" and feed["last_http_status"] == 410
    assert "HTTP 410 on two polls in a row" in feed["disabled_reason"]
    page = client.get("/feeds").text
    assert "disabled" in page and "the feed is gone (HTTP 410" in page


# --- §2.2 Cache-Control and Expires from the server set the schedule -----------------------


def _cached(headers: dict[str, str]) -> Any:
    def route(request: FeedRequest) -> None:
        request.reply(200, SAMPLE_RSS, headers)

    return route


@pytest.mark.parametrize(
    ("kind", "interval"),
    [("max-age", 7200), ("expires", 3 * 3600), ("expires-past", 3600), ("none", 3600)],
)
def test_cache_headers_lengthen_the_poll_interval(
    db: Database, feed_server: FeedServer, make_test_poller: Any, kind: str, interval: int
) -> None:
    soon = datetime.now(UTC) + timedelta(hours=3)
    headers = {
        "max-age": {"Cache-Control": "public, max-age=7200"},
        "expires": {"Expires": format_datetime(soon, usegmt=True)},
        "expires-past": {"Expires": "Thu, 01 Jan 1970 00:00:00 GMT"},
        "none": {},
    }[kind]
    feed_server.add_route("/cached", _cached(headers))
    feed_id = add_feed(db, feed_server.url("/cached"))  # a new feed starts hourly

    [result] = poll(make_test_poller)

    assert result.outcome == "ok"
    health = view(db, feed_id)
    # Expires is counted from the server's Date header: a second either way.
    assert abs(health.interval_seconds - interval) <= 2
    assert health.last_polled_at is not None
    delay = (aware(health.next_poll_at) - aware(health.last_polled_at)).total_seconds()
    assert 0.9 * health.interval_seconds <= delay <= 1.1 * health.interval_seconds  # jitter


# --- §2.2 many feeds on one host -----------------------------------------------------------


def test_fifty_feeds_on_one_host_never_exceed_the_per_host_limit(
    db: Database, feed_server: FeedServer, make_test_poller: Any, loopback_policy: FetchPolicy
) -> None:
    for n in range(50):
        add_feed(db, feed_server.url(f"/inflight?hold=0.05&feed={n}"))
    policy = replace(loopback_policy, max_per_host=2, max_connections=50)

    results = poll(make_test_poller, policy=policy, batch_size=50)

    assert [r.outcome for r in results] == ["ok"] * 50
    assert feed_server.hits("/inflight") == 50
    assert feed_server.max_inflight <= 2


# --- §2.3 control characters: stored clean on both engines, our Atom stays XML -------------


def test_control_characters_are_stripped_before_storage_and_our_atom_stays_valid(
    db: Database, client: TestClient, feed_server: FeedServer, make_test_poller: Any
) -> None:
    nasty = "Amazon\x00 TikTok\x0b deal \u202eRTL\u200b"
    body = rss([story(1), story(2)], title="Outlet\x0c one")
    body = body.replace(b"Amazon and TikTok shopping deal, part 1", nasty.encode())
    body = body.replace(b"(update 2)", b"(update\x00 2\x1f)")
    feed_server.add_file("/controls.xml", body)
    add_feed(db, feed_server.url("/controls.xml"))

    [result] = poll(make_test_poller)

    assert (result.outcome, result.new, result.skipped) == ("ok", 2, 0)  # nothing lost on PG
    with db.read() as session:
        stored = session.execute(select(Article.title, Article.text, Article.summary)).all()
        feed_title = session.scalar(select(Feed.title))
    values = [value for row in stored for value in row] + [feed_title]
    for value in values:
        assert not any(ch in value for ch in "\x00\x0b\x0c\x1f"), repr(value)
    assert "Amazon TikTok deal \u202eRTL\u200b" in {row.title for row in stored}  # kept

    atom = client.get("/feed.atom?relevance=all")
    root = ET.fromstring(atom.content)  # expat: strict XML 1.0, no recovery
    titles = [e.findtext(f"{ATOM}title") for e in root.iter(f"{ATOM}entry")]
    assert "Amazon TikTok deal \u202eRTL\u200b" in titles


# --- §2.3 missing, invalid and future dates ---------------------------------------------


def test_undated_and_future_entries_are_stored_at_first_seen_and_marked_estimated(
    db: Database, client: TestClient, feed_server: FeedServer, make_test_poller: Any
) -> None:
    feed_server.add_file("/dates.xml", (DATA / "future-dates.xml").read_bytes())
    add_feed(db, feed_server.url("/dates.xml"))
    first_seen = datetime.now(UTC) + timedelta(seconds=1)

    [result] = poll(make_test_poller, clock=lambda: first_seen)

    assert result.new == 8
    items = client.get("/api/v1/articles?relevance=all&limit=50").json()["items"]
    got = {
        a["url"].rsplit("/", 1)[1]: (
            datetime.fromisoformat(a["published_at"]),
            a["published_estimated"],
        )
        for a in items
    }
    estimated = {"d0", "d1", "d3", "d4", "d5", "d7"}  # 2099, junk, year 1, 1970, 9999, none
    for name, (published, flagged) in got.items():
        if name in estimated:
            assert (published, flagged) == (first_seen, True), name
        else:
            assert flagged is False and published < first_seen, name
    assert got["d2"][0] == datetime(2024, 3, 1, 12, tzinfo=UTC)  # no zone: read as UTC
    assert got["d6"][0] == datetime(2024, 5, 1, 8, tzinfo=UTC)


# --- §2.3 GUIDs that change on every poll -------------------------------------------------


def test_guids_that_change_every_poll_do_not_grow_the_timeline(
    db: Database, feed_server: FeedServer, make_test_poller: Any
) -> None:
    served = [0]

    def stamped(request: FeedRequest) -> None:
        served[0] += 1
        items = [
            replace(story(n), guid=f"urn:x-cms:{n}:{served[0]}:{uuid.uuid4()}") for n in (1, 2, 3)
        ]
        request.reply(200, rss(items))

    feed_server.add_route("/stamped.xml", stamped)
    add_feed(db, feed_server.url("/stamped.xml"))
    news = []
    for _ in range(3):
        make_all_due(db)
        [result] = poll(make_test_poller)
        news.append(result.new)
    assert served[0] == 3
    assert news == [3, 0, 0]
    assert count(db, Article) == 3


# --- §2.3 an edited entry: updated in place, editors' decisions kept ----------------------


def test_an_edited_entry_updates_in_place_and_keeps_editor_decisions(
    db: Database, client: TestClient, feed_server: FeedServer, make_test_poller: Any
) -> None:
    v1 = story(1)
    v2 = Item(
        v1.title + " (corrected)",
        v1.link,
        RELEVANT_BODY + "<p>Correction: the deal starts in spring.</p>",
        published=v1.published,
    )
    feed_server.add_file("/v.xml", rss([v1]))
    feed_id = add_feed(db, feed_server.url("/v.xml"))
    [first] = poll(make_test_poller)
    assert first.new == 1
    with db.read() as session:
        article_id = session.scalar(select(Article.id))
        tagged = set(session.scalars(select(ArticleTheme.theme)))
    assert article_id is not None and tagged, "the relevant story should carry themes"
    removed = sorted(tagged)[0]
    editor = make_user(db, "ed", "editor")
    now = datetime.now(UTC)
    with db.write() as session:
        change = OverrideChange(remove=(removed,), relevant=False)
        OverrideStore(session).apply(article_id, change, user_id=editor, now=now)
        FlagStore(session).create(article_id, "important", "keep", user_id=editor, now=now)

    feed_server.add_file("/v.xml", rss([v2]))
    make_all_due(db)
    [second] = poll(make_test_poller)

    assert (second.new, second.updated) == (0, 1)
    assert count(db, Article) == 1 and view(db, feed_id).article_count == 1
    with db.read() as session:
        row = session.get(Article, article_id)
        assert row is not None
        assert row.title == v2.title and "Correction: the deal starts" in row.text
        assert row.relevant is False and row.relevant_override is False
        themes = set(
            session.scalars(select(ArticleTheme.theme).where(ArticleTheme.article_id == article_id))
        )
        assert removed not in themes
        assert session.scalar(select(func.count()).select_from(Flag)) == 1
    detail = client.get(f"/api/v1/articles/{article_id}").json()
    assert detail["title"] == v2.title and detail["relevant"] is False
    assert removed not in {t["key"] for t in detail["themes"]}
    assert detail["flags"] == []  # the flag survived (above); visitors see no editorial flags


# --- §2.6 PostgreSQL restarted mid-poll -----------------------------------------------------


@pytest.mark.postgres
@pytest.mark.parametrize("db_target", ["postgres"], indirect=True)
def test_a_postgresql_restart_while_fetching_loses_no_poll(
    db: Database, db_target: DbTarget, feed_server: FeedServer, loopback_policy: FetchPolicy
) -> None:
    """The poller's pooled connections die while it fetches (what a server restart does
    to them); its writes after the fetch must still land, on fresh connections."""
    name = f"newsmon-restart-{uuid.uuid4().hex[:8]}"
    admin = create_engine(db_target.url)
    killed: list[int] = []
    lock = threading.Lock()

    def restart_then_serve(request: FeedRequest) -> None:
        with lock, admin.begin() as conn:
            pids = conn.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE application_name = :name"
                ),
                {"name": name},
            ).scalars()
            killed.append(sum(1 for ok in pids if ok))
        request.reply(200, rss([story(n) for n in range(1, 4)]))

    feed_server.add_route("/restart.xml", restart_then_serve)
    feed_id = add_feed(db, feed_server.url("/restart.xml"))
    connect_args = {"options": f"-csearch_path={db_target.schema}", "application_name": name}
    poller_db = Database(make_engine(db_target.url, connect_args=connect_args))
    try:
        summary = asyncio.run(Poller(poller_db, loopback_policy, parse_workers=0).poll_due())
    finally:
        poller_db.dispose()
        admin.dispose()

    assert killed and killed[0] >= 1  # the poller's connections really were cut
    assert (summary.feeds, summary.errors, summary.new) == (1, 0, 3)
    assert count(db, Article) == 3
    health = view(db, feed_id)
    assert health.last_status == "ok" and health.consecutive_failures == 0
    assert count(db, FetchLog) == 1


def test_a_recovered_malformed_feed_shows_its_warning_in_the_api_and_on_the_feeds_page(
    db: Database, client: TestClient, feed_server: FeedServer, make_test_poller: Any
) -> None:
    feed_server.add_file("/bozo.xml", rss([story(1)]) + b"<trailing>junk</trailing>")
    feed_id = add_feed(db, feed_server.url("/bozo.xml"))
    poll(make_test_poller)

    [feed] = [f for f in client.get("/api/v1/feeds").json()["items"] if f["id"] == feed_id]
    assert feed["last_status"] == "ok" and feed["article_count"] == 1
    assert feed["parse_warning"] and "junk" in feed["parse_warning"]
    page = client.get("/feeds").text
    assert "Parser warning:" in page and str(escape(feed["parse_warning"])) in page
    german = client.get("/feeds", headers={"Accept-Language": "de"}).text
    assert "Parser-Warnung:" in german
