"""OPML import's URL checks run side by side (unit test: the DNS check is faked), and
the report keeps the document's order whatever order the checks finish in."""

from __future__ import annotations

import threading
import time

import pytest

from app.config import Settings
from app.core.errors import BlockedURL
from app.feeds.guard import validate_url
from app.services.subscriptions import import_subscriptions
from app.store.db import Database


def opml(urls: list[str]) -> bytes:
    outlines = "".join(f'<outline text="f{i}" xmlUrl="{u}"/>' for i, u in enumerate(urls))
    return f'<opml version="2.0"><head/><body>{outlines}</body></opml>'.encode()


def test_checks_run_in_parallel_and_the_report_keeps_document_order(
    settings: Settings, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    lock, running, peak = threading.Lock(), [0], [0]

    def slow_check(url: str, policy: object) -> str:
        with lock:
            running[0] += 1
            peak[0] = max(peak[0], running[0])
        time.sleep(0.05 if url.endswith("/0") else 0.01)  # the first one finishes last
        with lock:
            running[0] -= 1
        if "blocked" in url:
            raise BlockedURL("10.0.0.1 is a private address")
        return str(validate_url(url))

    monkeypatch.setattr("app.services.subscriptions.check_url", slow_check)
    urls = [f"https://site{i}.example/feed/{i}" for i in range(10)]
    urls[3] = "https://blocked.example/feed/3"
    report = import_subscriptions(settings, db, opml(urls))

    assert peak[0] > 1  # look-ups overlapped
    assert [f.url for f in report.added] == [u for u in urls if "blocked" not in u]
    assert [(r.url, r.reason) for r in report.rejected] == [
        ("https://blocked.example/feed/3", "10.0.0.1 is a private address")
    ]


def test_duplicates_come_before_dns_and_an_unresolvable_host_is_only_a_warning(
    settings: Settings, db: Database
) -> None:
    from app.core.errors import Conflict
    from app.services.subscriptions import export_subscriptions, subscribe_checked

    # .invalid never resolves (RFC 2606): before, this was "cannot resolve host", refused
    feed, warning = subscribe_checked(settings, db, "https://news.invalid/feed.xml")
    assert feed.url == "https://news.invalid/feed.xml"
    assert warning and "cannot resolve host" in warning and "try again" in warning
    with pytest.raises(Conflict, match="already subscribed"):
        subscribe_checked(settings, db, "https://news.invalid/feed.xml")
    with pytest.raises(BlockedURL):
        subscribe_checked(settings, db, "ftp://news.invalid/feed.xml")  # schemes still refused
    again = import_subscriptions(settings, db, export_subscriptions(db))  # our own export
    assert (len(again.added), len(again.skipped), len(again.rejected)) == (0, 1, 0)
    fresh = import_subscriptions(settings, db, opml(["https://other.invalid/rss"]))
    assert [f.url for f in fresh.added] == ["https://other.invalid/rss"]
    assert [w.url for w in fresh.warnings] == ["https://other.invalid/rss"] and not fresh.rejected


def test_an_import_is_one_transaction_and_skips_subscribed_and_repeated_feeds(
    settings: Settings, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("app.services.subscriptions.check_url", lambda url, _: url)
    first = import_subscriptions(settings, db, opml(["https://a.example/rss"]))
    assert [f.url for f in first.added] == ["https://a.example/rss"]
    commits: list[int] = []
    from sqlalchemy import event

    event.listen(db.engine, "commit", lambda _: commits.append(1))
    urls = [f"https://s{i}.example/rss" for i in range(30)]
    # One subscribed; one named twice (after the checks, as a redirect's target would be).
    monkeypatch.setattr(
        "app.services.subscriptions.check_url",
        lambda url, _: urls[4] if url.endswith("/moved") else url,
    )
    doc = ["https://a.example/rss", *urls, "https://s99.example/moved"]
    report = import_subscriptions(settings, db, opml(doc))
    assert [f.url for f in report.added] == urls  # in the document's order
    assert report.skipped == ("https://a.example/rss", "https://s99.example/moved")
    assert len(commits) == 3  # the duplicate check (a read), the feeds, the audit: not per feed
    with db.read() as session:
        from app.store.feeds import FeedStore

        assert FeedStore(session).count() == 31
