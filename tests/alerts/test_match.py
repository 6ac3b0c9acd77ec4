"""The alert predicate agrees with the timeline: for each view query, the articles the
compiled rules match in memory are exactly those ``ArticleStore`` selects in SQL, on
both engines, over real tagged articles (the benchmark corpus and the test stories)."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from app.alerts.hook import load_facts
from app.alerts.match import RuleIndex, compile_rule, filter_from_query
from app.core.errors import InvalidInput
from app.polling.ingest import prepare_feed
from app.store.articles import ArticleStore
from app.store.db import Database
from app.store.feeds import FeedStore
from app.store.tables import Article
from bench.corpus import corpus
from tests.alerts.feeds import mixed_feed

QUERIES = [
    "",
    "relevance=all",
    "theme=security",
    "theme=security&theme=market",
    "theme=security&theme=regulatory&themes_mode=all",
    "theme=market&relevance=all",
    "lang=de",
    "lang=en&theme=market",
    "lang=fr&lang=es&relevance=all",
    "relevance=all&q=bakery",
    "q=retailers -logistics&relevance=all",
    'q="shopping partnership"&relevance=all',
    "q=händler OR regulierer&relevance=all",
    "q=sicherheit",
    "q=senators",
    "source=1",
    "source=2&relevance=all",
    "source=1&source=2&lang=en",
    "since=7d&relevance=all",
    "until=2026-01-01&relevance=all",
    "flagged=important",
]


@pytest.fixture
def articles(db: Database) -> list[int]:
    now = datetime.now(UTC)
    with db.write() as session:
        feeds = FeedStore(session)
        store = ArticleStore(session)
        for index, (path, body) in enumerate(list(corpus(12, 15).items())):
            feed = feeds.add(f"https://bench.example{path}", now=now).id
            drafts = prepare_feed(body, f"https://bench.example{path}", {}, now).drafts
            # half of them this week, half long ago
            aged = [
                dataclasses.replace(d, published_at=now - timedelta(days=(i % 2) * 20, hours=i))
                for i, d in enumerate(drafts)
            ]
            store.upsert_batch(feed, aged, now=now)
            if index == 0:
                mixed = prepare_feed(mixed_feed(), "https://one.example/", {}, now).drafts
                store.upsert_batch(feed, list(mixed), now=now)
        return list(session.scalars(select(Article.id)))


@pytest.mark.parametrize("query", QUERIES)
def test_the_compiled_rule_matches_what_the_timeline_selects(
    db: Database, articles: list[int], query: str
) -> None:
    now = datetime.now(UTC)
    index = RuleIndex.from_queries([(1, query)])
    with db.read() as session:
        flt = filter_from_query(query)
        compiled = compile_rule(1, query)
        flt = dataclasses.replace(
            flt,
            since=compiled.since or (now - compiled.since_age if compiled.since_age else None),
            until=compiled.until,
        )
        expected = set(session.scalars(ArticleStore(session).filtered(select(Article.id), flt)))
        facts = load_facts(session, articles, feed_id=None, with_doc=True)
    got = {a.id for a in facts if index.match(a, now)}
    assert got == expected
    assert query.startswith("flagged") or query.startswith("until") or expected  # not vacuous


def test_many_rules_each_get_their_own_matches() -> None:
    """The index files rules under languages, themes and sources; every rule still sees
    every article it matches (against evaluating each rule on its own)."""
    import random

    from app.alerts.match import ArticleFacts

    rng = random.Random(7)
    queries = [
        "&".join(
            part
            for part in (
                rng.choice(["", "theme=security", "theme=market", "theme=security&theme=market"]),
                rng.choice(["", "lang=de", "lang=en"]),
                rng.choice(["", "relevance=all"]),
                rng.choice(["", "source=3", "q=amazon", "q=zoll -china"]),
                rng.choice(["", "themes_mode=all"]),
            )
            if part
        )
        for _ in range(300)
    ]
    index = RuleIndex.from_queries(enumerate(queries))
    rules = [compile_rule(i, q) for i, q in enumerate(queries)]
    now = datetime.now(UTC)
    for n in range(300):
        a = ArticleFacts(
            id=n,
            relevant=rng.random() < 0.5,
            theme_mask=rng.randrange(8),
            language=rng.choice(["de", "en", "fr", None]),
            published_at=now,
            feed_ids=frozenset({rng.randrange(1, 5)}),
            doc=rng.choice(["amazon und zoll", "zoll china", "nothing", "amazon"]),
        )
        assert sorted(index.match(a, now)) == [r.rule_id for r in rules if r.matches(a, now)]


def test_a_view_that_no_longer_parses_matches_nothing() -> None:
    assert compile_rule(1, "theme=weather").never
    with pytest.raises(InvalidInput):
        filter_from_query("source=abc")
