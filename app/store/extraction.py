"""The full-text queue and what it found: rows of ``extraction``, the page's text on
``article``, and the merge of two articles that declare one canonical URL.

Claiming works like claiming feeds: a lease, ``FOR UPDATE SKIP LOCKED`` on
PostgreSQL, an expired lease claimable again (a worker killed mid-extraction).
Every write is an UPDATE of known rows or an insert that ignores conflicts, so
recording a result twice changes nothing. The caller owns the session and
commits; the decisions (what to fetch, when to retry) come from ``core.pages``.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any, cast
from urllib.parse import urlsplit

from sqlalchemy import ColumnElement, Table, bindparam, delete, func, or_, select, update
from sqlalchemy.orm import Session

from app.core.decide import Tags
from app.core.pages import (
    POLICIES,
    PageOutcome,
    PageStatus,
    is_news_search,
    page_target,
    plain_host,
    wants_page,
)
from app.core.urls import url_hash
from app.store.article_writes import ArticleWrites
from app.store.db import insert_for, run_on_driver
from app.store.sqlite_file import marks, sqlite_stamp
from app.store.tables import (
    Article,
    ArticleSource,
    Extraction,
    Feed,
    Flag,
    UTCDateTime,
)
from app.store.touch import bury_articles

CLAIM_WINDOW = 5000  # due rows looked at per claim (the oldest), to spread over hosts


@dataclass(frozen=True, slots=True)
class PageJob:
    """A claimed queue row with what re-tagging needs."""

    article_id: int
    url: str
    attempts: int
    title: str
    summary: str  # sanitised HTML (the feed's)
    language: str | None


@dataclass(frozen=True, slots=True)
class PageResult:
    """A successful extraction, ready to store."""

    html: str
    text: str
    tags: Tags
    final_url: str
    site_name: str | None
    canonical: str | None
    author: str | None = None


@dataclass(frozen=True, slots=True)
class Failure:
    """One attempt's outcome to record (``record_failures``)."""

    article_id: int
    outcome: PageOutcome
    detail: str | None
    retry_at: datetime | None  # pending again then; None: final
    final_url: str | None = None


@dataclass(frozen=True, slots=True)
class FullTextRules:
    default_policy: str = "auto"
    threshold: int = 600


_EXTRACTION = Extraction.__table__
_RECORD_FAILURE = (
    update(_EXTRACTION)  # type: ignore[arg-type]
    .where(_EXTRACTION.c.article_id == bindparam("b_id"))
    .values(
        state=bindparam("b_state"),
        outcome=bindparam("b_outcome"),
        detail=bindparam("b_detail"),
        attempts=_EXTRACTION.c.attempts + 1,
        due_at=bindparam("b_due", type_=UTCDateTime()),
        lease_until=None,
        lease_owner=None,
        fetched_at=bindparam("b_fetched", type_=UTCDateTime()),
        final_url=bindparam("b_final"),
    )
)


_FEED = cast(Table, Feed.__table__)
_ARTICLE = cast(Table, Article.__table__)
# Prepared once: the poller queues every feed's new articles (building the statements
# per call cost more than running them).
_FEED_POLICY = select(_FEED.c.url, _FEED.c.fulltext_policy).where(_FEED.c.id == bindparam("id"))
_TEXT_LENGTHS = select(_ARTICLE.c.id, _ARTICLE.c.url, func.length(_ARTICLE.c.text)).where(
    _ARTICLE.c.id.in_(bindparam("ids", expanding=True))
)
# The same statements as the SQLite driver runs them for the poller (``queue_rows``).
_FEED_POLICY_SQL = "SELECT url, fulltext_policy FROM feed WHERE id = ?"


@lru_cache(maxsize=256)
def _text_lengths_sql(n: int) -> str:
    return f"SELECT id, url, length(text) FROM article WHERE id IN ({marks(n)})"  # noqa: S608


_PAGED = select(_ARTICLE.c.id).where(
    _ARTICLE.c.id.in_(bindparam("ids", expanding=True)), _ARTICLE.c.text_source == "page"
)


@lru_cache(maxsize=4)
def _enqueue_statement(dialect: str) -> Any:
    return insert_for(dialect)(cast(Table, _EXTRACTION)).on_conflict_do_nothing()


_ENQUEUE_COLUMNS = (
    "article_id",
    "url",
    "host",
    "state",
    "outcome",
    "detail",
    "attempts",
    "created_at",
    "due_at",
)
_ENQUEUE_SQLITE = (
    f"INSERT INTO extraction ({', '.join(_ENQUEUE_COLUMNS)}) "  # noqa: S608 (fixed names)
    f"VALUES ({', '.join('?' * len(_ENQUEUE_COLUMNS))}) ON CONFLICT (article_id) DO NOTHING"
)


def _enqueue_sqlite(session: Session, rows: list[dict[str, Any]]) -> None:
    """``_enqueue_statement`` on SQLite through the driver: the same rows and stored
    values without SQLAlchemy's per-row bind processing (every new article of every
    poll passes here). ``tests/store/test_raw_insert.py`` holds the two paths equal."""
    stamps: dict[datetime, str] = {}  # a poll's rows share one or two instants

    def stamp(value: datetime) -> str:
        found = stamps.get(value)
        if found is None:
            found = stamps[value] = sqlite_stamp(value)
        return found

    values = [
        (
            *(row[c] for c in _ENQUEUE_COLUMNS[:7]),
            stamp(row["created_at"]),
            stamp(row["due_at"]),
        )
        for row in rows
    ]
    run_on_driver(session, _ENQUEUE_SQLITE, values, many=True)


def _claimable(now: datetime) -> tuple[ColumnElement[bool], ...]:
    """Due rows nobody holds a live lease on (what ``claim`` and ``due_of_host`` take)."""
    return (
        Extraction.state == "pending",
        Extraction.due_at <= now,
        or_(Extraction.lease_until.is_(None), Extraction.lease_until < now),
    )


def host_key(url: str) -> str:
    """A page's host as the queue stores it (lower-cased, at most 255 characters)."""
    host = plain_host(url)
    if host is None:
        host = urlsplit(url).hostname or ""
    return host[:255]


class ExtractionStore:
    def __init__(self, session: Session) -> None:
        self.session = session

    @property
    def dialect(self) -> str:
        return self.session.get_bind().dialect.name

    # -- queue ------------------------------------------------------------------------

    def enqueue(
        self, feed_id: int, article_ids: Sequence[int], *, now: datetime, rules: FullTextRules
    ) -> int:
        """Queue the pages of a feed's new articles that its policy wants; returns how many."""
        rows = self.queue_rows(feed_id, article_ids, now=now, rules=rules)
        if not rows:
            return 0
        if self.dialect == "sqlite":
            _enqueue_sqlite(self.session, rows)
        else:
            self.session.execute(_enqueue_statement(self.dialect), rows)
        return len(rows)

    def queue_rows(
        self, feed_id: int, article_ids: Sequence[int], *, now: datetime, rules: FullTextRules
    ) -> list[dict[str, Any]]:
        """The queue rows ``enqueue`` inserts (conflicts ignored): one per article whose
        page the feed's policy wants."""
        if not article_ids:
            return []
        ids = list(article_ids)
        found: Iterable[Any]
        if self.dialect == "sqlite":  # the driver: SQLAlchemy's handling cost more (ingest)
            feeds = run_on_driver(self.session, _FEED_POLICY_SQL, (feed_id,))
            feed = feeds[0] if feeds else None
            found = run_on_driver(self.session, _text_lengths_sql(len(ids)), ids) if feed else ()
        else:
            feed = self.session.execute(_FEED_POLICY, {"id": feed_id}).one_or_none()
            found = self.session.execute(_TEXT_LENGTHS, {"ids": ids}) if feed else ()
        if feed is None:
            return []
        feed_url, feed_policy = feed
        policy = feed_policy or rules.default_policy
        news = is_news_search(feed_url)
        rows = []
        for article_id, url, length in found:
            if not wants_page(
                policy, text_length=length or 0, threshold=rules.threshold, news_search=news
            ):
                continue
            target = page_target(url or "")
            rows.append(
                {
                    "article_id": article_id,
                    "url": target.url,
                    "host": host_key(target.url) if target.url else None,
                    "state": "pending" if target.url else "done",
                    "outcome": None if target.url else PageOutcome.UNRESOLVABLE.value,
                    "detail": target.reason,
                    "attempts": 0,
                    "created_at": now,
                    "due_at": now,
                }
            )
        return rows

    def refetch(self, article_ids: Sequence[int], *, now: datetime) -> None:
        """Articles whose feed entry changed: the ingest just put the feed's text back
        into ``text``, so they are feed text again until their page is fetched anew."""
        if not article_ids:
            return
        paged = list(self.session.scalars(_PAGED, {"ids": list(article_ids)}))
        if not paged:
            return
        self.session.execute(
            update(Article).where(Article.id.in_(paged)).values(text_source="feed", page_content="")
        )
        self.session.execute(
            update(Extraction)
            .where(Extraction.article_id.in_(paged))
            .values(state="pending", outcome=None, detail=None, attempts=0, due_at=now)
        )

    def claim(
        self,
        *,
        now: datetime,
        owner: str,
        lease: timedelta,
        limit: int,
        per_host: int = 4,
        skip_hosts: Collection[str] = (),
    ) -> list[PageJob]:
        """Claim up to ``limit`` due rows for ``owner`` until ``now + lease``, at most
        ``per_host`` of one host, hosts taken in turn: a feed's twenty articles from one
        site must not fill a batch that then waits out that site's delay twenty times.
        ``skip_hosts`` (as ``host_key`` gives them): hosts whose rows are left alone (the
        caller found that their names do not resolve and records their rows together)."""
        skipped = (Extraction.host.not_in(list(skip_hosts)),) if skip_hosts else ()
        due = (
            select(Extraction.article_id, Extraction.host, Extraction.due_at)
            .where(*_claimable(now), *skipped)
            .order_by(Extraction.due_at, Extraction.article_id)
            .limit(CLAIM_WINDOW)
            .subquery()
        )
        turn = func.row_number().over(
            partition_by=due.c.host, order_by=(due.c.due_at, due.c.article_id)
        )
        ranked = select(due.c.article_id, turn.label("turn")).subquery()
        stmt = (
            select(Extraction)
            .join(ranked, ranked.c.article_id == Extraction.article_id)
            .where(ranked.c.turn <= per_host)
            .order_by(ranked.c.turn, Extraction.due_at, Extraction.article_id)
            .limit(limit)
        )
        if self.dialect == "postgresql":
            stmt = stmt.with_for_update(skip_locked=True, of=Extraction)
        claimed = self.session.scalars(stmt).all()
        for row in claimed:
            row.lease_until, row.lease_owner = now + lease, owner
        self.session.flush()
        if not claimed:
            return []
        articles = {
            row.id: row
            for row in self.session.execute(
                select(Article.id, Article.title, Article.summary, Article.language).where(
                    Article.id.in_([c.article_id for c in claimed])
                )
            )
        }
        return [
            PageJob(
                c.article_id,
                c.url or "",
                c.attempts,
                articles[c.article_id].title,
                articles[c.article_id].summary,
                articles[c.article_id].language,
            )
            for c in claimed
            if c.article_id in articles
        ]

    def due_count(self, now: datetime) -> int:
        return (
            self.session.scalar(
                select(func.count())
                .select_from(Extraction)
                .where(Extraction.state == "pending", Extraction.due_at <= now)
            )
            or 0
        )

    def postpone(self, article_id: int, until: datetime) -> None:
        """Release a claimed row untried (its host asked us to wait) until ``until``."""
        self.session.execute(
            update(Extraction)
            .where(Extraction.article_id == article_id)
            .values(due_at=until, lease_until=None, lease_owner=None)
        )

    # -- results ----------------------------------------------------------------------

    def due_of_host(self, host: str, *, now: datetime) -> list[tuple[int, str, int]]:
        """(article id, url, attempts) of the host's due rows nobody holds a lease on
        (locked on PostgreSQL, skipping rows another worker is claiming)."""
        stmt = select(Extraction.article_id, Extraction.url, Extraction.attempts).where(
            *_claimable(now), Extraction.host == host
        )
        if self.dialect == "postgresql":
            stmt = stmt.with_for_update(skip_locked=True, of=Extraction)
        return [(a, url or "", n) for a, url, n in self.session.execute(stmt)]

    def record_failures(self, failures: Sequence[Failure], *, now: datetime) -> None:
        """Each attempt's outcome, in one executemany: pending again at its ``retry_at``,
        else final."""
        if not failures:
            return
        # One prepared Core statement: the poller records thousands of these per round,
        # and the ORM's bulk-update path cost ~0.1 ms of the main process each.
        self.session.execute(
            _RECORD_FAILURE,
            [
                {
                    "b_id": f.article_id,
                    "b_state": "pending" if f.retry_at else "done",
                    "b_outcome": f.outcome.value,
                    "b_detail": (f.detail or "")[:500] or None,
                    "b_due": f.retry_at or now,
                    "b_fetched": now,
                    "b_final": f.final_url,
                }
                for f in failures
            ],
        )

    def record_page(self, article_id: int, page: PageResult, *, now: datetime) -> int:
        """Store the page's text on the article, re-tagged (editors' overrides still win),
        its search text updated by the same transaction's trigger. An article whose page
        declares the canonical URL of another becomes one with it (the older one stays,
        with both sources). Returns the id of the article that holds the text."""
        keep = article_id
        canonical = url_hash(page.canonical) if page.canonical else None
        if canonical is not None:
            twin = self.session.scalar(
                select(func.min(Article.id)).where(
                    or_(Article.url_hash == canonical, Article.canonical_hash == canonical),
                    Article.id != article_id,
                )
            )
            if twin is not None:
                keep, gone = min(twin, article_id), max(twin, article_id)
                self._merge(into=keep, gone=gone)
                bury_articles(self.session, [gone], now)  # mirrors drop the merged copy
        self.session.execute(
            update(Article)
            .where(Article.id == keep)
            .values(
                page_content=page.html,
                text=page.text,
                text_source="page",
                canonical_hash=canonical,
                # The feed's byline wins; the page's fills a gap.
                author=func.coalesce(Article.author, (page.author or "")[:200] or None),
                updated_at=now,
            )
        )
        ArticleWrites(self.session).apply_tags({keep: page.tags}, now=now)
        done = {
            "state": "done",
            "outcome": PageOutcome.OK.value,
            "detail": None,
            "lease_until": None,
            "lease_owner": None,
            "fetched_at": now,
            "final_url": page.final_url,
            "site_name": page.site_name,
        }
        stmt = insert_for(self.dialect)(Extraction.__table__).on_conflict_do_nothing()
        self.session.execute(
            stmt, [{"article_id": keep, "attempts": 0, "created_at": now, "due_at": now, **done}]
        )
        self.session.execute(
            update(Extraction)
            .where(Extraction.article_id == keep)
            .values(attempts=Extraction.attempts + 1, **done)
        )
        return keep

    def _merge(self, *, into: int, gone: int) -> None:
        """``gone``'s sources and flags move to ``into``; then ``gone`` is deleted."""
        sources = [
            {"article_id": into, "feed_id": feed_id, "first_seen_at": seen}
            for feed_id, seen in self.session.execute(
                select(ArticleSource.feed_id, ArticleSource.first_seen_at).where(
                    ArticleSource.article_id == gone
                )
            )
        ]
        if sources:
            stmt = insert_for(self.dialect)(ArticleSource.__table__).on_conflict_do_nothing()
            self.session.execute(stmt, sources)
        self.session.execute(update(Flag).where(Flag.article_id == gone).values(article_id=into))
        self.session.execute(delete(Article).where(Article.id == gone))

    # -- reading and policy ------------------------------------------------------------

    def statuses(self, article_ids: Sequence[int]) -> dict[int, PageStatus]:
        rows = self.session.scalars(
            select(Extraction).where(Extraction.article_id.in_(list(article_ids)))
        )
        return {
            r.article_id: PageStatus(
                r.state,
                r.outcome,
                r.detail,
                r.attempts,
                r.fetched_at,
                r.url,
                r.final_url,
                r.site_name,
            )
            for r in rows
        }

    def status(self, article_id: int) -> PageStatus | None:
        return self.statuses([article_id]).get(article_id)

    def set_policy(self, feed_id: int, policy: str | None) -> bool:
        """Set a feed's policy (None: back to the default); False for an unknown feed."""
        if policy is not None and policy not in POLICIES:
            raise ValueError(f"policy must be one of {', '.join(POLICIES)}")
        result = self.session.execute(
            update(Feed).where(Feed.id == feed_id).values(fulltext_policy=policy)
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]

    def policies(self) -> dict[int, str | None]:
        return dict(self.session.execute(select(Feed.id, Feed.fulltext_policy)).tuples())
