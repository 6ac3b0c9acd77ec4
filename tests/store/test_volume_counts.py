"""The volume chart's counts, unsplit and split by outlet or language (share of voice),
against counts made by hand from the seeded articles, on both engines: by day and by
week (a week cut to the chart's range), with filters, and with a search, which SQLite
checks two ways (the full-text index's matches when they are few, the terms on each
article's document when they are many): both must count the same articles."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import text

import app.store.articles as articles_module
from app.core.timeline import THEME_BITS, TimelineFilter
from app.store.articles import ArticleStore
from app.store.db import Database
from app.store.tables import Article, ArticleSource
from tests.support.db import add_outlets

# Wednesday 2026-09-02 .. Sunday 2026-09-27: the first and last weeks are cut.
START, END = date(2026, 9, 2), date(2026, 9, 27)
LANGS = ("en", "de", None, "fr", "de", "en", "es")
MASKS = (0, THEME_BITS["security"], THEME_BITS["market"] | THEME_BITS["regulatory"], 7)
TERM = "zebrafinch"  # in every third article's text, and in some other titles


def seed(db: Database) -> list[tuple[datetime, int, str | None, int, bool]]:
    """Articles from three outlets, two a day from the Monday before START to the
    Tuesday after END (the days outside the range must not count); returns
    (published, the outlet's feed id, language, theme mask, mentions TERM) for each."""
    made = []
    with db.write() as session:
        feeds = add_outlets(session, 3, now=datetime(2026, 8, 1, tzinfo=UTC))
        first = datetime(2026, 8, 31, 0, 30, tzinfo=UTC)  # the Monday before START
        n = 0
        for day in range((END - first.date()).days + 3):
            for hour in (0, 23):  # just after midnight and just before the next one
                when = first + timedelta(days=day, hours=hour)
                outlet = (n * 7) % 3 if n % 5 else 0
                language = LANGS[n % len(LANGS)]
                mask = MASKS[n % len(MASKS)]
                match = n % 3 == 0
                in_title = n % 7 == 1  # capitalised, and in texts that do not have it
                title = f"Zebrafinch story {n}" if in_title else f"Story {n}"
                article = Article(
                    url=f"https://news.example/{n}",
                    url_hash=f"a{n:063d}",
                    title=title,
                    text=f"Amazon and TikTok {TERM if match else 'partnership'} report {n}",
                    language=language,
                    published_at=when,
                    first_seen_at=when,
                    updated_at=when,
                    relevant=n % 4 != 3,
                    tagger_relevant=n % 4 != 3,
                    theme_mask=mask,
                )
                session.add(article)
                session.flush()
                session.add(
                    ArticleSource(
                        article_id=article.id, feed_id=feeds[outlet].id, first_seen_at=when
                    )
                )
                made.append((when, feeds[outlet].id, language, mask, match or in_title))
                n += 1
    return made


def expected(
    made: list[tuple[datetime, int, str | None, int, bool]],
    interval: str,
    group: str,
    *,
    term: bool = False,
) -> dict[date, Counter[str]]:
    """Articles per bucket start and group key, counted by hand: relevant ones only, as
    the default filter; ``term``: only those that mention TERM."""
    out: dict[date, Counter[str]] = {}
    for index, (when, feed_id, language, _mask, hit) in enumerate(made):
        day = when.date()
        if not START <= day <= END or index % 4 == 3:  # out of range, or not relevant
            continue
        if term and not hit:
            continue
        start = day - timedelta(days=day.weekday()) if interval == "week" else day
        key = str(feed_id) if group == "source" else (language or "unknown")
        out.setdefault(start, Counter())[key] += 1
    return out


def counted(buckets: list) -> dict[date, Counter[str]]:  # type: ignore[type-arg]
    return {b.start: Counter({k: n for k, n in b.counts if n}) for b in buckets if b.total}


@pytest.fixture(params=["few matches", "many matches"])
def search_path(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """SQLite's two ways of checking a search in the chart: with RARE_MATCHES at 0
    every term counts as common, and the terms are tested on each document."""
    if request.param == "many matches":
        monkeypatch.setattr(articles_module, "RARE_MATCHES", 0)
    return str(request.param)


@pytest.mark.parametrize("interval", ["day", "week"])
@pytest.mark.parametrize("group", ["source", "lang"])
def test_share_of_voice_counts_each_article_in_range_once(
    db: Database, interval: str, group: str
) -> None:
    made = seed(db)
    with db.read() as session:
        series, buckets = ArticleStore(session).volume_groups(
            TimelineFilter(), interval, group, start=START, end=END
        )
    assert counted(buckets) == expected(made, interval, group)
    assert len(series) <= 6
    if interval == "week":
        # the first bucket is the week of START, counted from START on
        assert buckets[0].start == START - timedelta(days=START.weekday())
        assert buckets[0].total == sum(expected(made, interval, group)[buckets[0].start].values())


@pytest.mark.parametrize("interval", ["day", "week"])
@pytest.mark.parametrize("group", ["source", "lang"])
def test_the_split_bars_add_up_to_the_unsplit_ones_with_filters(
    db: Database, interval: str, group: str
) -> None:
    """Each split counts what the plain chart counts, filters applied (on PostgreSQL the
    splits read one range of the cover index per bucket, without the theme masks the
    plain chart's ranges are read by)."""
    made = seed(db)
    flt = TimelineFilter(themes=("security",), languages=("de", "en"), relevance="all")
    with db.read() as session:
        store = ArticleStore(session)
        plain = store.volume(flt, interval, start=START, end=END)
        _, split = store.volume_groups(flt, interval, group, start=START, end=END)
    assert [b.total for b in split] == [b.total for b in plain]
    wanted = sum(
        1
        for when, _, language, mask, _ in made
        if START <= when.date() <= END and language in ("de", "en") and mask & 1
    )
    assert sum(b.total for b in plain) == wanted > 0


@pytest.mark.parametrize("interval", ["day", "week"])
def test_a_searched_chart_counts_the_matching_articles(
    db: Database, interval: str, search_path: str
) -> None:
    made = seed(db)
    flt = TimelineFilter(q=TERM)
    with db.read() as session:
        store = ArticleStore(session)
        _, by_lang = store.volume_groups(flt, interval, "lang", start=START, end=END)
        plain = store.volume(flt, interval, start=START, end=END)
        excluded = store.volume(TimelineFilter(q=f"report -{TERM}"), interval, start=START, end=END)
    want = expected(made, interval, "lang", term=True)
    assert counted(by_lang) == want
    assert {b.start: b.total for b in plain if b.total} == {
        s: sum(c.values()) for s, c in want.items()
    }
    everything = expected(made, interval, "lang")
    assert sum(b.total for b in excluded) == sum(
        sum(c.values()) for c in everything.values()
    ) - sum(sum(c.values()) for c in want.values())


def roll_back_a_transaction(db: Database) -> None:
    """A write transaction that fails: its pooled connection is handed out again."""

    def rolled_back() -> None:
        with db.write() as session:
            session.execute(text("SELECT 1"))
            raise RuntimeError("rolled back")

    with pytest.raises(RuntimeError):
        rolled_back()


def test_a_connection_keeps_planning_the_searched_chart_with_its_values(db: Database) -> None:
    """PostgreSQL: psycopg prepares a statement after 5 runs on a connection, and the
    server then switched the searched chart to a generic plan, made without the search's
    patterns (100k articles: 50 s instead of 35 ms, from the 11th search on). Every run
    of it, however many, is planned with its own values, and a rolled-back transaction
    does not undo that."""
    if db.engine.dialect.name != "postgresql":
        pytest.skip("PostgreSQL's plan cache")
    made = seed(db)
    roll_back_a_transaction(db)
    with db.read() as session:
        store = ArticleStore(session)
        for _ in range(15):
            plain = store.volume(TimelineFilter(q=TERM), "day", start=START, end=END)
        generic = session.execute(
            text("SELECT count(*) FROM pg_prepared_statements WHERE generic_plans > 0")
        ).scalar_one()
        prepared = session.execute(text("SELECT count(*) FROM pg_prepared_statements")).scalar_one()
    assert prepared > 0  # the driver did prepare the chart's statement
    assert generic == 0
    want = expected(made, "day", "lang", term=True)
    assert sum(b.total for b in plain) == sum(sum(c.values()) for c in want.values())


def test_no_statement_is_jit_compiled_however_costly_its_plan(db: Database) -> None:
    """PostgreSQL: JIT compilation took a third of a searched chart's time at 1M articles
    (256 of 794 ms). A pooled connection, after a rolled-back transaction, compiles nothing
    even when the planner's thresholds are lowered to zero for the statement."""
    if db.engine.dialect.name != "postgresql":
        pytest.skip("PostgreSQL's JIT")
    seed(db)
    roll_back_a_transaction(db)
    with db.read() as session:
        for setting in ("jit_above_cost", "jit_inline_above_cost", "jit_optimize_above_cost"):
            session.execute(text(f"SET LOCAL {setting} = 0"))
        plan = session.execute(
            text("EXPLAIN (ANALYZE, FORMAT JSON) SELECT count(*), max(title) FROM article")
        ).scalar_one()
    assert plan[0]["Plan"]["Node Type"] == "Aggregate"  # the statement did run
    assert "JIT" not in plan[0]


@pytest.mark.parametrize("interval", ["day", "week"])
def test_a_chart_of_some_outlets_counts_their_articles(db: Database, interval: str) -> None:
    made = seed(db)
    feeds = sorted({feed_id for _, feed_id, *_ in made})
    chosen = (feeds[0], feeds[2])
    with db.read() as session:
        store = ArticleStore(session)
        flt = TimelineFilter(sources=chosen)
        _, by_lang = store.volume_groups(flt, interval, "lang", start=START, end=END)
        plain = store.volume(flt, interval, start=START, end=END)
    want: Counter[str] = Counter()
    for index, (when, feed_id, language, _, _) in enumerate(made):
        if START <= when.date() <= END and index % 4 != 3 and feed_id in chosen:
            want[language or "unknown"] += 1
    got: Counter[str] = Counter()
    for bucket in by_lang:
        got.update({k: n for k, n in bucket.counts if n})
    assert got == want and sum(want.values()) > 0
    assert sum(b.total for b in plain) == sum(want.values())
