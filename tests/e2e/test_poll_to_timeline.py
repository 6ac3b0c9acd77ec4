"""Poll → store → timeline, through a real loopback feed server, a real database
file (or PostgreSQL) and the real ASGI app."""

from __future__ import annotations

import asyncio

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from app.store.db import Database
from app.store.feeds import FeedStore
from app.store.tables import Article, ArticleSource, FetchLog
from tests.support.feedsrv import FeedServer
from tests.support.rss import Item, rss, story


def add_feed(db: Database, url: str) -> int:
    from datetime import UTC, datetime

    with db.write() as session:
        return FeedStore(session).add(url, now=datetime.now(UTC)).id


def poll(make_test_poller, **kwargs):  # type: ignore[no-untyped-def]
    return asyncio.run(make_test_poller(**kwargs).poll_due())


def count(db: Database, table: type) -> int:
    with db.read() as session:
        return session.scalar(select(func.count()).select_from(table)) or 0


def test_polled_articles_appear_on_the_timeline_and_in_the_api(
    db: Database, client: TestClient, feed_server: FeedServer, make_test_poller
) -> None:
    feed_server.add_file("/news.xml", rss([story(1), story(2), story(3)]))
    add_feed(db, feed_server.url("/news.xml"))

    summary = poll(make_test_poller)

    assert summary.new == 3 and summary.errors == 0
    page = client.get("/")
    assert page.status_code == 200
    html = page.text
    # Newest first, each title linking to the original, with the outlet's name.
    assert html.index("part 1") < html.index("part 2") < html.index("part 3")
    assert 'href="https://outlet.example/news/1"' in html
    assert "Test outlet" in html
    api = client.get("/api/v1/articles").json()
    assert [a["url"] for a in api["items"]] == [
        f"https://outlet.example/news/{n}" for n in (1, 2, 3)
    ]
    first = api["items"][0]
    assert set(first) >= {
        "id",
        "url",
        "title",
        "summary",
        "language",
        "published_at",
        "sources",
        "relevant",
        "themes",
    }
    assert first["relevant"] is True
    assert first["sources"][0]["name"] == "Test outlet"
    assert api["next_cursor"] is None


def test_polling_the_same_feed_twice_stores_no_duplicates(
    db: Database, feed_server: FeedServer, make_test_poller
) -> None:
    feed_server.add_file("/news.xml", rss([story(1), story(2)]))
    feed_id = add_feed(db, feed_server.url("/news.xml"))
    poll(make_test_poller)
    with db.write() as session:  # make it due again
        from datetime import UTC, datetime

        from app.store.tables import Feed

        session.get(Feed, feed_id).next_poll_at = datetime.now(UTC)  # type: ignore[union-attr]
    second = poll(make_test_poller)

    assert second.feeds == 1 and second.new == 0
    assert count(db, Article) == 2
    assert count(db, ArticleSource) == 2
    assert count(db, FetchLog) == 2


def test_the_same_article_from_two_feeds_is_one_article_with_two_sources(
    db: Database, client: TestClient, feed_server: FeedServer, make_test_poller
) -> None:
    shared = story(7)
    tracked = Item(shared.title, shared.link + "?utm_source=rss&utm_medium=feed", shared.body)
    feed_server.add_file("/a.xml", rss([shared], title="Outlet A"))
    feed_server.add_file("/b.xml", rss([tracked], title="Outlet B"))
    add_feed(db, feed_server.url("/a.xml"))
    add_feed(db, feed_server.url("/b.xml"))

    poll(make_test_poller)

    assert count(db, Article) == 1
    item = client.get("/api/v1/articles").json()["items"][0]
    assert sorted(s["name"] for s in item["sources"]) == ["Outlet A", "Outlet B"]
    assert "+1 sources" in client.get("/").text


def test_a_broken_feed_leaves_the_others_working_and_records_its_error(
    db: Database, client: TestClient, feed_server: FeedServer, make_test_poller
) -> None:
    feed_server.add_file("/good.xml", rss([story(1)]))
    feed_server.add_file("/garbage.xml", b"\x00\x01 this is not a feed <<<", "text/html")
    good = add_feed(db, feed_server.url("/good.xml"))
    missing = add_feed(db, feed_server.url("/status/404"))
    garbage = add_feed(db, feed_server.url("/garbage.xml"))

    summary = poll(make_test_poller)

    assert summary.new == 1 and summary.errors == 2
    feeds = {f["id"]: f for f in client.get("/api/v1/feeds").json()["items"]}
    assert feeds[good]["last_status"] == "ok" and feeds[good]["last_error"] is None
    assert feeds[missing]["consecutive_failures"] == 1
    assert "404" in feeds[missing]["last_error"]
    assert "not a feed" in feeds[garbage]["last_error"]
    assert feeds[garbage]["consecutive_failures"] == 1
    page = client.get("/feeds").text
    assert "404" in page and "not a feed" in page


def test_irrelevant_articles_are_stored_but_hidden_by_default(
    db: Database, client: TestClient, feed_server: FeedServer, make_test_poller
) -> None:
    unrelated = Item(
        "Local council approves new bike lanes",
        "https://outlet.example/bikes",
        "<p>The council voted for three new bike lanes downtown.</p>",
    )
    feed_server.add_file("/mixed.xml", rss([story(1), unrelated]))
    add_feed(db, feed_server.url("/mixed.xml"))
    poll(make_test_poller)

    default = client.get("/api/v1/articles").json()["items"]
    everything = client.get("/api/v1/articles?relevance=all").json()["items"]
    assert [a["title"] for a in default] == ["Amazon and TikTok shopping deal, part 1"]
    assert len(everything) == 2
    assert "bike lanes" not in client.get("/").text
    assert "bike lanes" in client.get("/?relevance=all").text


def test_the_timeline_pages_with_a_cursor(
    db: Database, client: TestClient, feed_server: FeedServer, make_test_poller
) -> None:
    feed_server.add_file("/many.xml", rss([story(n) for n in range(1, 8)]))
    add_feed(db, feed_server.url("/many.xml"))
    poll(make_test_poller)

    seen: list[str] = []
    url = "/api/v1/articles?limit=3"
    while url:
        body = client.get(url).json()
        seen += [a["url"] for a in body["items"]]
        url = (
            f"/api/v1/articles?limit=3&cursor={body['next_cursor']}" if body["next_cursor"] else ""
        )
    assert seen == [f"https://outlet.example/news/{n}" for n in range(1, 8)]
    assert client.get("/api/v1/articles?cursor=garbage").status_code == 400


def test_healthz_reports_the_database(client: TestClient) -> None:
    body = client.get("/healthz").json()
    assert body["status"] == "ok"
    assert body["database"] in ("sqlite", "postgresql")


def test_metrics_report_polls_articles_and_due_feeds(
    db: Database, client: TestClient, feed_server: FeedServer, make_test_poller
) -> None:
    feed_server.add_file("/news.xml", rss([story(1), story(2)]))
    add_feed(db, feed_server.url("/news.xml"))
    add_feed(db, feed_server.url("/status/404"))

    poll(make_test_poller, metrics=client.app.state.metrics)  # type: ignore[attr-defined]

    text = client.get("/metrics").text
    assert 'newsmon_feed_polls_total{outcome="ok"} 1.0' in text
    assert 'newsmon_feed_polls_total{outcome="http_error"} 1.0' in text
    assert "newsmon_articles_ingested_total 2.0" in text
    assert "newsmon_feeds_due 2.0" in text  # counted when the cycle started
    assert "newsmon_fetch_seconds_count 2.0" in text
