"""Story clusters at ingest (issue 3 §5, issue 13 §4, issue 16 §3): republished copies
under other URLs (a changed headline, a shortened lead, an added byline line) join
one cluster and show their outlets as sources; other stories, template look-alikes,
stories outside the time window and a flood of look-alikes behave, on both engines."""

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

WIRE_TITLE = "Amazon and TikTok widen their shopping partnership"
WIRE = (
    "Amazon and TikTok expanded their shopping partnership on Tuesday, letting "
    "TikTok users buy Amazon products without leaving the app.\n\nLawmakers in "
    "Washington questioned how shopper data would flow between the companies, and "
    "merchants said the checkout could lift their holiday sales."
)
# A news story's length: the paragraphs both versions carry.
BODY = (
    "\n\nThe arrangement links a shopper's TikTok account to an Amazon account, so "
    "delivery, payment and returns run through Amazon while the video stays in the "
    "app. Analysts expect the tie-up to add several billion dollars a year in sales, "
    "most of it from beauty, fashion and home goods sold by small brands.\n\nA senator "
    "on the Commerce Committee asked both companies to explain which purchase records "
    "TikTok can see and whether any of them leave the United States, and said a hearing "
    "on the question could follow early next year if the answers fall short.\n\n"
    "Agencies that manage advertising for direct-to-consumer brands said clients were "
    "waiting for the legal picture to clear before they commit budgets for the spring."
)
WIRE += BODY
# Republished: a changed headline with the outlet's name, a byline line added and
# the lead shortened.
COPY_TITLE = "Amazon, TikTok widen shopping partnership - The Evening Paper"
COPY = (
    "By Robin Vale, Wire Service\n\nAmazon and TikTok expanded their shopping "
    "partnership on Tuesday.\n\nLawmakers in "
    "Washington questioned how shopper data would flow between the companies, and "
    "merchants said the checkout could lift their holiday sales."
) + BODY
OTHER_TITLE = "Bakeries sell record numbers of stollen"
OTHER = (
    "Regional bakeries reported record sales of Christmas stollen this year, and the "
    "flour price fell for the third month in a row according to the trade association."
)


def draft(url: str, text: str, *, hours: float = 0, title: str = "") -> ArticleDraft:
    title = title or text[:60]
    return ArticleDraft(
        key=hashlib.sha256(url.encode()).hexdigest(),
        key_kind="url",
        url=url,
        guid=None,
        title=title,
        author=None,
        summary="",
        content="",
        text=text,
        language="en",
        published_at=NOW + timedelta(hours=hours),
        published_estimated=False,
        bands=story_bands(title),
    )


def ingest(db: Database, feed: str, drafts: list[ArticleDraft]) -> list[int]:
    with db.write() as session:
        feed_id = FeedStore(session).add(feed, now=NOW).id
        return ArticleStore(session).upsert_batch(feed_id, drafts, now=NOW).new_ids


def clusters(db: Database, ids: list[int]) -> list[int | None]:
    with db.read() as session:
        found = {a: c for a, c in session.execute(select(Article.id, Article.cluster_id))}
    return [found[i] for i in ids]


def wire_then_copy(db: Database, copy_title: str) -> list[int | None]:
    """The wire's report, then the paper's copy under ``copy_title``: their clusters."""
    [wire] = ingest(
        db, "https://wire.example/feed", [draft("https://wire.example/1", WIRE, title=WIRE_TITLE)]
    )
    [copy] = ingest(
        db, "https://paper.example/feed", [draft("https://paper.example/a", COPY, title=copy_title)]
    )
    return clusters(db, [wire, copy])


def test_a_rewrite_from_another_outlet_joins_the_story_and_lists_both_outlets(
    db: Database,
) -> None:
    [wire] = ingest(
        db, "https://wire.example/feed", [draft("https://wire.example/1", WIRE, title=WIRE_TITLE)]
    )
    [copy] = ingest(
        db, "https://paper.example/feed", [draft("https://paper.example/a", COPY, title=COPY_TITLE)]
    )
    [other] = ingest(
        db, "https://food.example/feed", [draft("https://food.example/b", OTHER, title=OTHER_TITLE)]
    )

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


def test_a_copy_whose_headline_changed_a_word_joins_the_story(db: Database) -> None:
    """A republisher's edit that changes a headline word ("widen" -> "extend") gives
    another set of headline terms, so the whole-headline key differs: the copy is
    found through the min-hash keys of the words the headlines share."""
    edited = "Amazon and TikTok extend their shopping partnership"
    assert story_bands(edited)[3] != story_bands(WIRE_TITLE)[3]
    wire_cluster, copy_cluster = wire_then_copy(db, edited)
    assert wire_cluster is not None and wire_cluster == copy_cluster


def test_on_a_busy_day_a_copy_with_an_edited_headline_still_joins_the_story(
    db: Database,
) -> None:
    """Thirty newer reports of the story, all naming Amazon and TikTok, arrive between
    the wire's report and a copy that changed a headline word ("shopping" -> "retail").
    The copy's whole-headline key differs; min-hash keys on the names would be shared by
    all thirty and crowd the wire out of the capped look-up (with every word min-hashed,
    two of these headlines' three keys fell on "amazon"). The keys leave the names out,
    so the copy still finds the wire through the words they share."""
    verbs = ("face", "weigh", "court", "probe", "test", "expand")
    subjects = ("senators", "merchants", "regulators", "creators", "brands")
    busy = [
        draft(
            f"https://news.example/{n}",
            f"{OTHER} Report {n} on {subject}.",
            hours=0.1 + n / 100,
            title=f"Amazon and TikTok {verbs[n % 6]} {subjects[n % 5]} over deal {100 + n}",
        )
        for n, subject in enumerate(subjects * 6)
    ]
    [wire] = ingest(
        db, "https://wire.example/feed", [draft("https://wire.example/1", WIRE, title=WIRE_TITLE)]
    )
    ingest(db, "https://news.example/feed", busy)
    edited = "Amazon and TikTok widen their retail partnership"
    assert story_bands(edited)[3] != story_bands(WIRE_TITLE)[3]
    [copy] = ingest(
        db,
        "https://paper.example/feed",
        [draft("https://paper.example/a", COPY, title=edited, hours=1)],
    )
    wire_cluster, copy_cluster = clusters(db, [wire, copy])
    assert wire_cluster is not None and wire_cluster == copy_cluster


def test_copies_inside_one_batch_cluster_together(db: Database) -> None:
    ids = ingest(
        db,
        "https://wire.example/feed",
        [
            draft("https://wire.example/1", WIRE, title=WIRE_TITLE),
            draft("https://wire.example/2", COPY, title=COPY_TITLE),
        ],
    )
    first, second = clusters(db, ids)
    assert first is not None and first == second


def test_a_copy_weeks_later_is_a_new_story(db: Database) -> None:
    [first] = ingest(
        db, "https://wire.example/feed", [draft("https://wire.example/1", WIRE, title=WIRE_TITLE)]
    )
    [later] = ingest(
        db,
        "https://paper.example/feed",
        [draft("https://paper.example/a", COPY, title=COPY_TITLE, hours=24 * 30)],
    )
    assert clusters(db, [first, later]) == [None, None]


def test_a_flood_of_look_alikes_still_finds_the_story(db: Database) -> None:
    """Fifty unrelated items under the wire's very headline share its look-up keys;
    the candidate look-up is capped per key, and the real copy is still found."""
    boiler = [
        draft(f"https://spam.example/{n}", f"{OTHER} Item number {n}.", hours=-1, title=WIRE_TITLE)
        for n in range(50)
    ]
    ingest(db, "https://spam.example/feed", boiler)
    wire_cluster, copy_cluster = wire_then_copy(db, COPY_TITLE)
    assert wire_cluster is not None and wire_cluster == copy_cluster
    with db.read() as session:
        joined = set(
            session.scalars(select(Article.cluster_id).where(Article.url.like("https://spam%")))
        )
    assert wire_cluster not in joined


def test_template_look_alikes_are_different_stories(db: Database) -> None:
    """Wire-style templates: the same headline and the same sentences about another
    company, or the same headline over a different second paragraph."""
    base = (
        "A group of developers has filed a complaint against Aurora Telecom over the fees "
        "it charges on in-app payments.\n\nCompetition lawyers said the case could take "
        "years to resolve."
    )
    ids = ingest(
        db,
        "https://wire.example/feed",
        [
            draft("https://wire.example/1", base, title="Aurora Telecom faces antitrust complaint"),
            draft(
                "https://wire.example/2",
                base.replace("Aurora Telecom", "Helix Semiconductor"),
                title="Helix Semiconductor faces antitrust complaint",
            ),
            draft(
                "https://wire.example/3",
                base.replace(
                    "Competition lawyers said the case could take years to resolve.",
                    "Aurora Telecom said its fees were in line with industry norms.",
                ),
                title="Aurora Telecom faces antitrust complaint",
            ),
        ],
    )
    assert clusters(db, ids) == [None, None, None]


def test_the_samples_republished_copy_joins_its_original(db: Database) -> None:
    """Issue 13 §4: the bundled sample's items 012 and 013 are one story."""
    from importlib import resources

    from app.core.decide import plan_articles
    from app.feeds.parse import parse_feed

    body = resources.files("app.data").joinpath("sample.xml").read_bytes()
    drafts = plan_articles(parse_feed(body, url="sample:", now=NOW), feed_url="sample:", now=NOW)
    ingest(db, "https://sample.example/feed", drafts)
    with db.read() as session:
        found = {g: c for g, c in session.execute(select(Article.guid, Article.cluster_id))}
    assert found["sample-012"] is not None and found["sample-012"] == found["sample-013"]
    assert sum(1 for c in found.values() if c is not None) == 2


def test_one_aggregator_carrying_two_publishers_copies_lists_two_outlets(db: Database) -> None:
    """A news search names each item's publisher: two publishers' copies of one story
    found through one feed are two sources; without publishers they are one source and
    the card lists the other article as a copy (issue 13 §4)."""
    from dataclasses import replace

    wire = replace(draft("https://wire.example/1", WIRE, title=WIRE_TITLE), outlet="Wire")
    copy = replace(
        draft("https://paper.example/a", COPY, title=COPY_TITLE, hours=2), outlet="Evening Paper"
    )
    first, second = ingest(db, "https://news.search.example/rss?q=amazon+tiktok", [wire, copy])
    same_feed = ingest(
        db,
        "https://one-outlet.example/feed",
        [
            draft("https://one-outlet.example/1", WIRE, title=WIRE_TITLE, hours=-30),
            draft("https://one-outlet.example/2", COPY, title=COPY_TITLE, hours=-29),
        ],
    )
    with db.read() as session:
        items = {
            a.id: a for a in ArticleStore(session).timeline(TimelineFilter(relevance="all")).items
        }
    assert clusters(db, [first])[0] == clusters(db, [second])[0] is not None
    assert sorted(s.name for s in items[second].sources) == ["Evening Paper", "Wire"]
    assert [c.id for c in items[second].copies] == [first]
    assert items[second].copies[0].outlet == "Wire"
    older, newer = same_feed
    assert clusters(db, [older])[0] == clusters(db, [newer])[0] != clusters(db, [first])[0]
    assert [s.name for s in items[newer].sources] == ["https://one-outlet.example/feed"]
    assert [c.id for c in items[newer].copies] == [older]


def test_the_key_look_up_gives_each_keys_newest_rows_newest_first(db: Database) -> None:
    """Issue 16 §3: per wanted key, the newest ``PER_KEY + 1`` rows published in the window,
    newest first (ties by id), whatever order they were stored in; rows outside the window
    and other keys' rows are left out. The clusters' candidate order rests on it."""
    from app.store.article_writes import PER_KEY, ArticleWrites

    # Seven articles share the headline's keys, stored oldest last; one is outside the
    # window, two share a time (the later id comes first).
    hours = [5, 1, 3, 3, 2, 4, -40]
    drafts = [
        draft(f"https://wire.example/{n}", f"{WIRE} ({n})", hours=h, title=WIRE_TITLE)
        for n, h in enumerate(hours)
    ]
    ids = ingest(db, "https://wire.example/feed", drafts)
    other = ingest(db, "https://bakery.example/feed", [draft("https://b.example/1", OTHER)])
    bands = story_bands(WIRE_TITLE)
    with db.write() as session:
        writes = ArticleWrites(session)
        keyed, known = writes._band_candidates(
            [[b] for b in bands], NOW - timedelta(hours=10), NOW + timedelta(hours=10)
        )
    in_window = sorted((h, i) for h, i in zip(hours, ids, strict=True) if h > -10)  # oldest first
    newest = [i for _, i in reversed(in_window)][: PER_KEY + 1]
    assert set(keyed) == {(k, b) for k, b in enumerate(bands)}
    for key, rows in keyed.items():
        assert [i for i, _ in rows] == newest, key
        assert other[0] not in [i for i, _ in rows]
    # SQLite reads the keys' index only; PostgreSQL's look-up brings the rows' titles.
    if db.engine.dialect.name == "postgresql":
        assert {i: t for i, (_, t) in known.items()} == dict.fromkeys(newest, WIRE_TITLE)
    else:
        assert known == {}
