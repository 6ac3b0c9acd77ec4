"""Story clusters at ingest (issue 3 §5): syndicated rewrites under other URLs join
one cluster and show their outlets as sources; other stories, stories outside the
time window and a flood of look-alikes behave, on both engines."""

from __future__ import annotations

import hashlib
from datetime import timedelta

from sqlalchemy import select

from app.core.decide import ArticleDraft, story_bands
from app.core.timeline import TimelineFilter
from app.store.articles import ArticleStore
from app.store.db import Database
from app.store.feeds import FeedStore
from app.store.tables import Article
from tests.store.test_ingest import NOW

WIRE = (
    "Amazon and TikTok expanded their shopping partnership on Tuesday, letting "
    "TikTok users buy Amazon products without leaving the app. Lawmakers in "
    "Washington questioned how shopper data would flow between the companies."
)
REWRITE = (
    "On Tuesday Amazon and TikTok expanded their shopping partnership: TikTok users "
    "can now buy Amazon products without leaving the app, while lawmakers in "
    "Washington asked how shopper data flows between the two companies."
)
OTHER = (
    "Regional bakeries reported record sales of Christmas stollen this year, and the "
    "flour price fell for the third month in a row according to the trade association."
)


def draft(url: str, text: str, *, hours: float = 0) -> ArticleDraft:
    return ArticleDraft(
        key=hashlib.sha256(url.encode()).hexdigest(),
        key_kind="url",
        url=url,
        guid=None,
        title=text[:60],
        author=None,
        summary="",
        content="",
        text=text,
        language="en",
        published_at=NOW + timedelta(hours=hours),
        published_estimated=False,
        bands=story_bands(text),
    )


def ingest(db: Database, feed: str, drafts: list[ArticleDraft]) -> list[int]:
    with db.write() as session:
        feed_id = FeedStore(session).add(feed, now=NOW).id
        return ArticleStore(session).upsert_batch(feed_id, drafts, now=NOW).new_ids


def clusters(db: Database, ids: list[int]) -> list[int | None]:
    with db.read() as session:
        found = {a: c for a, c in session.execute(select(Article.id, Article.cluster_id))}
    return [found[i] for i in ids]


def test_a_rewrite_from_another_outlet_joins_the_story_and_lists_both_outlets(
    db: Database,
) -> None:
    [wire] = ingest(db, "https://wire.example/feed", [draft("https://wire.example/1", WIRE)])
    [copy] = ingest(db, "https://paper.example/feed", [draft("https://paper.example/a", REWRITE)])
    [other] = ingest(db, "https://food.example/feed", [draft("https://food.example/b", OTHER)])

    wire_cluster, copy_cluster, other_cluster = clusters(db, [wire, copy, other])
    assert wire_cluster is not None and wire_cluster == copy_cluster
    assert other_cluster is None
    with db.read() as session:
        items = {
            a.id: a for a in ArticleStore(session).timeline(TimelineFilter(relevance="all")).items
        }
    assert items[copy].cluster_size == 2
    assert len({s.feed_id for s in items[copy].sources}) == 2  # both outlets listed
    assert items[other].cluster_size == 1


def test_copies_inside_one_batch_cluster_together(db: Database) -> None:
    ids = ingest(
        db,
        "https://wire.example/feed",
        [draft("https://wire.example/1", WIRE), draft("https://wire.example/2", REWRITE)],
    )
    first, second = clusters(db, ids)
    assert first is not None and first == second


def test_a_copy_weeks_later_is_a_new_story(db: Database) -> None:
    [first] = ingest(db, "https://wire.example/feed", [draft("https://wire.example/1", WIRE)])
    [later] = ingest(
        db, "https://paper.example/feed", [draft("https://paper.example/a", REWRITE, hours=24 * 30)]
    )
    assert clusters(db, [first, later]) == [None, None]


def test_a_flood_of_look_alikes_still_finds_the_story(db: Database) -> None:
    """Fifty unrelated boilerplate items share band values with each other; the
    candidate lookup is capped per band value, and the real copy is still found."""
    boiler = [
        draft(f"https://spam.example/{n}", f"{OTHER} Item number {n}.", hours=-1) for n in range(50)
    ]
    ingest(db, "https://spam.example/feed", boiler)
    [wire] = ingest(db, "https://wire.example/feed", [draft("https://wire.example/1", WIRE)])
    [copy] = ingest(db, "https://paper.example/feed", [draft("https://paper.example/a", REWRITE)])
    wire_cluster, copy_cluster = clusters(db, [wire, copy])
    assert wire_cluster is not None and wire_cluster == copy_cluster
    with db.read() as session:
        boiler_clusters = set(
            session.scalars(select(Article.cluster_id).where(Article.url.like("https://spam%")))
        )
    # Every look-alike is grouped (greedy single-pass clustering may leave a few groups).
    assert None not in boiler_clusters and len(boiler_clusters) <= 3
