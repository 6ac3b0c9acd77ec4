"""A poller's claim (``FeedStore.claim_due``) on both engines: which feeds it takes, in
what order, what it leaves alone, the interrupted poll it logs, and the lease it writes,
seen by a feed object the same session already holds."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select, update

from app.store.db import Database
from app.store.feeds import FeedStore
from app.store.tables import Feed, FetchLog

NOW = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)
LEASE = timedelta(minutes=5)


def _feeds(db: Database, states: dict[str, dict[str, object]]) -> dict[str, int]:
    """One feed per name, then each feed's columns set as given."""
    with db.write() as session:
        store = FeedStore(session)
        ids = {name: store.add(f"https://{name}.example/rss", now=NOW).id for name in states}
        for name, values in states.items():
            session.execute(update(Feed).where(Feed.id == ids[name]).values(**values))
    return ids


def test_a_claim_takes_the_due_feeds_oldest_first_and_leases_them(db: Database) -> None:
    ids = _feeds(
        db,
        {
            "later": {"next_poll_at": NOW - timedelta(minutes=10), "etag": '"e1"'},
            "oldest": {"next_poll_at": NOW - timedelta(hours=2), "last_modified": "Mon, x"},
            "future": {"next_poll_at": NOW + timedelta(minutes=1)},
            "off": {"next_poll_at": NOW - timedelta(hours=3), "disabled_reason": "gone"},
            "held": {
                "next_poll_at": NOW - timedelta(hours=4),
                "lease_until": NOW + timedelta(minutes=1),
                "lease_owner": "other",
            },
            "dead": {
                "next_poll_at": NOW - timedelta(hours=1),
                "lease_until": NOW - timedelta(seconds=1),
                "lease_owner": "killed-poller",
                "body_hash": "abc",
                "last_error": "HTTP 500",
                "consecutive_failures": 2,
            },
        },
    )
    with db.write() as session:
        first = FeedStore(session).claim_due(now=NOW, owner="me", lease=LEASE, limit=1)
    assert [f.id for f in first] == [ids["oldest"]]
    with db.write() as session:
        rest = FeedStore(session).claim_due(now=NOW, owner="me", lease=LEASE, limit=10)
    assert [f.id for f in rest] == [ids["dead"], ids["later"]]
    oldest, dead, later = first[0], rest[0], rest[1]
    assert (oldest.url, oldest.etag, oldest.last_modified) == (
        "https://oldest.example/rss",
        None,
        "Mon, x",
    )
    assert later.etag == '"e1"'
    assert (dead.body_hash, dead.last_error, dead.state.consecutive_failures) == (
        "abc",
        "HTTP 500",
        2,
    )
    with db.read() as session:
        leases = {
            row.id: (row.lease_until, row.lease_owner)
            for row in session.execute(select(Feed.id, Feed.lease_until, Feed.lease_owner))
        }
        logged = session.execute(select(FetchLog.feed_id, FetchLog.outcome, FetchLog.error)).all()
    for name in ("oldest", "dead", "later"):
        assert leases[ids[name]] == (NOW + LEASE, "me"), name
    assert leases[ids["held"]] == (NOW + timedelta(minutes=1), "other")
    assert leases[ids["future"]] == (None, None)
    assert leases[ids["off"]] == (None, None)
    # The dead poller's claim is logged once, as the poll it did not finish.
    assert [(feed_id, outcome) for feed_id, outcome, _ in logged] == [(ids["dead"], "interrupted")]
    assert "killed-poller" in (logged[0][2] or "")
    with db.write() as session:  # everything due is leased now
        assert FeedStore(session).claim_due(now=NOW, owner="me", lease=LEASE, limit=10) == []


def test_a_feed_object_the_session_holds_sees_its_claim(db: Database) -> None:
    """The claim writes its leases in one statement, not through loaded objects; a feed
    object loaded earlier in the same transaction must still see them, or a later write
    through it that clears the lease would compare against the stale value, find no
    change, and leave the feed leased."""
    ids = _feeds(db, {"one": {"next_poll_at": NOW - timedelta(minutes=1)}})
    with db.write() as session:
        feed = session.get(Feed, ids["one"])
        assert feed is not None and feed.lease_owner is None
        FeedStore(session).claim_due(now=NOW, owner="me", lease=LEASE, limit=10)
        assert feed.lease_owner == "me"
        feed.lease_owner = None
        feed.lease_until = None
    with db.read() as session:
        row = session.execute(
            select(Feed.lease_until, Feed.lease_owner).where(Feed.id == ids["one"])
        ).one()
    assert tuple(row) == (None, None)
