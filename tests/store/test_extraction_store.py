"""The page queue's claims on both engines: hosts taken in turn, leases respected,
results recorded idempotently."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import insert

from app.core.pages import PageOutcome
from app.feeds.extract import without_headline
from app.store.db import Database
from app.store.extraction import ExtractionStore, Failure, FullTextRules
from app.store.tables import Article, ArticleSource
from tests.support.polling import add_feed

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def seed(db: Database, urls: list[str]) -> list[int]:
    feed_id = add_feed(db, "https://feeds.example/x.xml")
    with db.write() as session:
        ids = [
            session.execute(
                insert(Article)
                .values(
                    url=url,
                    url_hash=f"{n:064d}",
                    title=f"t{n}",
                    published_at=NOW,
                    first_seen_at=NOW,
                    updated_at=NOW,
                )
                .returning(Article.id)
            ).scalar_one()
            for n, url in enumerate(urls)
        ]
        session.execute(
            insert(ArticleSource),
            [{"article_id": i, "feed_id": feed_id, "first_seen_at": NOW} for i in ids],
        )
        ExtractionStore(session).enqueue(feed_id, ids, now=NOW, rules=FullTextRules())
    return ids


def test_claims_take_hosts_in_turn(db: Database) -> None:
    seed(db, [f"https://a.example/{n}" for n in range(20)] + ["https://b.example/1"])
    with db.write() as session:
        jobs = ExtractionStore(session).claim(
            now=NOW, owner="w1", lease=timedelta(minutes=5), limit=4, per_host=2
        )
    hosts = [job.url.split("/")[2] for job in jobs]
    assert hosts[:2] == ["a.example", "b.example"] and hosts.count("a.example") == 2
    with db.write() as session:  # leased rows are not claimed again
        more = ExtractionStore(session).claim(
            now=NOW, owner="w2", lease=timedelta(minutes=5), limit=50, per_host=50
        )
    assert not {j.article_id for j in jobs} & {j.article_id for j in more}
    assert len(more) == 21 - len(jobs)


def test_a_failure_recorded_twice_counts_once_per_attempt(db: Database) -> None:
    [article_id] = seed(db, ["https://a.example/1"])
    with db.write() as session:
        store = ExtractionStore(session)
        store.claim(now=NOW, owner="w", lease=timedelta(minutes=5), limit=1)
        store.record_failures([Failure(article_id, PageOutcome.GONE, "HTTP 404", None)], now=NOW)
        status = store.status(article_id)
    assert status is not None
    assert (status.state, status.outcome, status.attempts) == ("done", "gone", 1)
    with db.write() as session:
        assert (
            ExtractionStore(session).claim(
                now=NOW + timedelta(days=1), owner="w", lease=timedelta(minutes=5), limit=5
            )
            == []
        )


def test_the_headline_is_not_counted_twice() -> None:
    text = "Lawmakers ask  questions\n\nFirst paragraph.\n\nSecond."
    assert without_headline(text, "lawmakers ask questions") == "First paragraph.\n\nSecond."
    assert without_headline(text, "Another title") == text
    assert without_headline("Only a headline", "Only a headline") == "Only a headline"
