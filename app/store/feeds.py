"""FeedStore: feeds, their health, claims for polling, and the fetch log.

Stores make no decisions: the schedule comes from ``core.schedule``; this module
only writes what it is given. The caller owns the session and the transaction.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any

from sqlalchemy import and_, delete, func, or_, select, update
from sqlalchemy.orm import Session

from app.core.errors import Conflict, NotFound
from app.core.schedule import FeedState, PollDecision
from app.core.types import FetchOutcome
from app.store.db import run_on_driver
from app.store.feed_view import (
    NEW_FEED_INTERVAL,
    SAMPLE_SCHEME,
    SAMPLE_URL,
    SUBSCRIBED_PER_QUERY,
    FeedView,
    feed_key,
)
from app.store.sqlite_file import sqlite_stamp
from app.store.tables import ArticleSource, Feed, FetchLog

__all__ = ["SAMPLE_SCHEME", "SAMPLE_URL", "DueFeed", "FeedStore", "FeedView", "feed_key"]

# What ``claim_due`` reads of each claimed feed.
_CLAIMED = (
    Feed.id,
    Feed.url,
    Feed.etag,
    Feed.last_modified,
    Feed.interval_seconds,
    Feed.consecutive_failures,
    Feed.redirect_url,
    Feed.redirect_count,
    Feed.last_http_status,
    Feed.body_hash,
    Feed.last_error,
    Feed.lease_owner,
)


@dataclass(frozen=True, slots=True)
class DueFeed:
    id: int
    url: str
    etag: str | None
    last_modified: str | None
    state: FeedState
    body_hash: str | None = None
    last_error: str | None = None


class FeedStore:
    def __init__(self, session: Session) -> None:
        self.session = session

    def add(self, url: str, *, now: datetime, title: str | None = None) -> FeedView:
        [feed] = self.add_many([(url, title)], now=now)
        if feed is None:
            raise Conflict(f"feed already subscribed: {url}")
        return feed

    def add_many(
        self, feeds: Sequence[tuple[str, str | None]], *, now: datetime
    ) -> list[FeedView | None]:
        """Subscribe to each (url, title) in one flush; per item, the new feed, or None
        for a URL already subscribed (or named earlier in ``feeds``)."""
        keys = [feed_key(url) for url, _ in feeds]
        taken = self.subscribed(keys)
        rows: list[Feed | None] = []
        for (url, title), key in zip(feeds, keys, strict=True):
            if key in taken:
                rows.append(None)
                continue
            taken.add(key)
            rows.append(
                Feed(
                    url=url,
                    url_hash=key,
                    title=title,
                    created_at=now,
                    next_poll_at=now,
                    interval_seconds=NEW_FEED_INTERVAL,
                    consecutive_failures=0,
                    redirect_count=0,
                )
            )
        self.session.add_all([row for row in rows if row is not None])
        self.session.flush()
        return [None if row is None else _view(row) for row in rows]

    def subscribed(self, keys: Collection[str]) -> set[str]:
        """Which of these ``feed_key`` values are subscribed already."""
        found: set[str] = set()
        ordered = list(keys)
        for start in range(0, len(ordered), SUBSCRIBED_PER_QUERY):  # bound the IN list
            part = ordered[start : start + SUBSCRIBED_PER_QUERY]
            found.update(self.session.scalars(select(Feed.url_hash).where(Feed.url_hash.in_(part))))
        return found

    def _id_of(self, url: str) -> int | None:
        return self.session.scalar(select(Feed.id).where(Feed.url_hash == feed_key(url)))

    def count(self) -> int:
        return self.session.scalar(select(func.count()).select_from(Feed)) or 0

    def get(self, feed_id: int) -> FeedView:
        feed = self.session.get(Feed, feed_id)
        if feed is None:
            raise NotFound(f"no feed with id {feed_id}")
        return _view(feed, self._article_counts([feed_id]).get(feed_id, 0))

    def find(self, id_or_url: str) -> FeedView:
        if id_or_url.isdigit():
            return self.get(int(id_or_url))
        feed_id = self._id_of(id_or_url)
        if feed_id is None:
            raise NotFound(f"no feed with URL {id_or_url}")
        return self.get(feed_id)

    def all(self) -> list[FeedView]:
        feeds = self.session.scalars(select(Feed).order_by(Feed.id)).all()
        counts = self._article_counts([f.id for f in feeds])
        return [_view(f, counts.get(f.id, 0)) for f in feeds]

    def remove(self, feed_id: int) -> None:
        """Drop the feed, its sources and the articles no other feed carries."""
        from app.store.articles import delete_orphans

        result = self.session.execute(delete(Feed).where(Feed.id == feed_id))
        if not result.rowcount:  # type: ignore[attr-defined]
            raise NotFound(f"no feed with id {feed_id}")
        delete_orphans(self.session)

    def poll_soon(self, feed_id: int, *, now: datetime) -> FeedView:
        """Make an enabled feed due now (the poller takes it on its next round)."""
        feed = self.session.get(Feed, feed_id)
        if feed is None:
            raise NotFound(f"no feed with id {feed_id}")
        feed.next_poll_at = now
        self.session.flush()
        return self.get(feed_id)

    def enable(self, feed_id: int, *, now: datetime) -> FeedView:
        """Poll a disabled (or failing) feed again now, with a clean health record.

        The reason it was disabled stays in the fetch log; its validators and content
        hash are dropped so the next poll fetches and parses the feed whole.
        """
        feed = self.session.get(Feed, feed_id)
        if feed is None:
            raise NotFound(f"no feed with id {feed_id}")
        feed.disabled_reason = None
        feed.consecutive_failures = 0
        # A fresh record: an old 410 must not count as the first of two, and the page
        # must not show the old status until the next poll.
        feed.last_status = feed.last_http_status = feed.last_error = None
        feed.next_poll_at = now
        feed.redirect_url, feed.redirect_count = None, 0
        feed.etag = feed.last_modified = feed.body_hash = None
        feed.lease_until = feed.lease_owner = None
        self.session.flush()
        return self.get(feed_id)

    def renew_leases(self, owner: str, feed_ids: Collection[int], *, until: datetime) -> None:
        """Extend ``owner``'s claims on feeds it is still working on (its heartbeat)."""
        if feed_ids:
            self.session.execute(
                update(Feed)
                .where(Feed.id.in_(list(feed_ids)), Feed.lease_owner == owner)
                .values(lease_until=until)
            )

    def release(self, owner: str, feed_ids: Collection[int], *, now: datetime) -> None:
        """Give back claims ``owner`` will not finish: the feeds are claimable at once, and
        the next claim logs the interrupted poll (the owner stays until then)."""
        if feed_ids:
            self.session.execute(
                update(Feed)
                .where(Feed.id.in_(list(feed_ids)), Feed.lease_owner == owner)
                .values(lease_until=now)
            )

    def claim_due(
        self, *, now: datetime, owner: str, lease: timedelta, limit: int
    ) -> list[DueFeed]:
        """Claim up to ``limit`` due feeds for ``owner`` until ``now + lease``.

        On PostgreSQL the rows are locked with SKIP LOCKED, so several pollers
        share the work without polling one feed twice; an expired lease (a
        poller killed mid-run) makes the feed claimable again.
        """
        # Columns, not mapped objects: a poll claims up to ``limit`` feeds (a thousand in
        # a warm round), and loading, tracking and flushing an object per feed cost ~60 µs
        # each where a row and one UPDATE for all of them cost a few.
        stmt = (
            select(*_CLAIMED)
            .where(
                Feed.disabled_reason.is_(None),
                Feed.next_poll_at <= now,
                or_(Feed.lease_until.is_(None), Feed.lease_until < now),
            )
            .order_by(Feed.next_poll_at, Feed.id)
            .limit(limit)
        )
        if self.dialect == "postgresql":
            stmt = stmt.with_for_update(skip_locked=True)
        rows = self.session.execute(stmt).all()
        for row in rows:
            if row.lease_owner is not None:  # its last poller died before recording a result
                self.log_fetch(
                    row.id,
                    started_at=now,
                    duration_ms=0,
                    outcome="interrupted",
                    http_status=None,
                    error=f"the previous poll ({row.lease_owner}) stopped before it finished",
                )
        if rows:  # ORM-enabled, as renew_leases: a feed object this session holds sees it
            self.session.execute(
                update(Feed)
                .where(Feed.id.in_([row.id for row in rows]))
                .values(lease_until=now + lease, lease_owner=owner)
            )
        return [
            DueFeed(
                row.id,
                row.url,
                row.etag,
                row.last_modified,
                FeedState(
                    row.url,
                    row.interval_seconds,
                    row.consecutive_failures,
                    row.redirect_url,
                    row.redirect_count,
                    row.last_http_status,
                ),
                row.body_hash,
                row.last_error,
            )
            for row in rows
        ]

    @property
    def dialect(self) -> str:
        return self.session.get_bind().dialect.name

    def record_poll(
        self,
        feed_id: int,
        *,
        outcome: FetchOutcome,
        decision: PollDecision,
        now: datetime,
        title: str | None = None,
        site_url: str | None = None,
        language: str | None = None,
        ttl_seconds: int | None = None,
        body_hash: str | None = None,
        warning: str | None = None,
    ) -> None:
        """Write one poll's outcome. On a parsed 200, ``body_hash`` is the body's hash
        (None when its entries did not all store) and ``warning`` the parser's; on a
        body that failed to parse, the poller's mark of that failure (kept as well).

        Which columns change, and to what, is ``poll_changes``; on SQLite they are one
        ``UPDATE`` on the driver, elsewhere (and for a feed that moves to a new URL,
        which must look up the other feeds) the ORM writes them."""
        changes = poll_changes(
            outcome, decision, now, title=title, site_url=site_url, language=language,
            ttl_seconds=ttl_seconds, body_hash=body_hash, warning=warning,
        )  # fmt: skip
        if self.dialect == "sqlite" and not decision.move_to_url:
            run_on_driver(self.session, *_update_statement(feed_id, changes))
        else:
            self.apply_poll_orm(feed_id, changes, move_to=decision.move_to_url)

    def apply_poll_orm(
        self, feed_id: int, changes: dict[str, Any], *, move_to: str | None = None
    ) -> None:
        """``poll_changes`` written through the ORM (any engine)."""
        feed = self.session.get(Feed, feed_id)
        if feed is None:  # removed while it was being polled
            return
        for column, value in changes.items():
            if column == "title":
                feed.title = feed.title or value  # a title given at subscribe time wins
            else:
                setattr(feed, column, value)
        if move_to:
            self._move(feed, move_to)

    def _move(self, feed: Feed, url: str) -> None:
        """Follow a confirmed permanent redirect; onto a feed we already poll, this
        one is retired (its articles keep it as a source) instead of polling twice."""
        other = self._id_of(url)
        if other is None:
            feed.url, feed.url_hash = url, feed_key(url)
        elif other != feed.id:
            feed.disabled_reason = (
                f"moved permanently to {url}, which is already subscribed as feed {other}; "
                "merged into it"
            )[:500]

    def log_fetch(
        self,
        feed_id: int,
        *,
        started_at: datetime,
        duration_ms: int,
        outcome: str,
        http_status: int | None,
        error: str | None,
        new: int = 0,
        updated: int = 0,
        skipped: int = 0,
    ) -> None:
        if self.dialect == "sqlite":  # the row the ORM writes, on the driver
            row = (feed_id, sqlite_stamp(started_at), duration_ms, outcome, http_status, error)
            run_on_driver(self.session, _FETCH_LOG_SQL, (*row, new, updated, skipped))
            return
        self.session.add(
            FetchLog(
                feed_id=feed_id,
                started_at=started_at,
                duration_ms=duration_ms,
                outcome=outcome,
                http_status=http_status,
                error=error,
                new_count=new,
                updated_count=updated,
                skipped_count=skipped,
            )
        )

    def prune_fetch_log(self, *, before: datetime) -> int:
        result = self.session.execute(delete(FetchLog).where(FetchLog.started_at < before))
        return int(result.rowcount or 0)  # type: ignore[attr-defined]

    def fetch_log(self, feed_id: int, limit: int = 20) -> list[FetchLog]:
        return list(
            self.session.scalars(
                select(FetchLog)
                .where(FetchLog.feed_id == feed_id)
                .order_by(FetchLog.started_at.desc(), FetchLog.id.desc())
                .limit(limit)
            )
        )

    def due_count(self, now: datetime) -> int:
        stmt = select(func.count()).where(
            and_(Feed.disabled_reason.is_(None), Feed.next_poll_at <= now)
        )
        return self.session.scalar(stmt) or 0

    def _article_counts(self, feed_ids: Sequence[int]) -> dict[int, int]:
        if not feed_ids:
            return {}
        rows = self.session.execute(
            select(ArticleSource.feed_id, func.count())
            .where(ArticleSource.feed_id.in_(feed_ids))
            .group_by(ArticleSource.feed_id)
        )
        return {feed_id: count for feed_id, count in rows}


def _view(feed: Feed, article_count: int = 0) -> FeedView:
    return FeedView(
        id=feed.id,
        url=feed.url,
        title=feed.title,
        site_url=feed.site_url,
        last_status=feed.last_status,
        last_http_status=feed.last_http_status,
        last_error=feed.last_error,
        consecutive_failures=feed.consecutive_failures,
        last_polled_at=feed.last_polled_at,
        last_success_at=feed.last_success_at,
        next_poll_at=feed.next_poll_at,
        interval_seconds=feed.interval_seconds,
        disabled_reason=feed.disabled_reason,
        article_count=article_count,
        parse_warning=feed.parse_warning,
        fulltext_policy=feed.fulltext_policy,
    )


_FETCH_LOG_SQL = (
    "INSERT INTO fetch_log (feed_id, started_at, duration_ms, outcome, http_status, error, "
    "new_count, updated_count, skipped_count) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
# A title given at subscribe time wins over the feed's own (``feed.title or title``).
_KEEP_TITLE = "CASE WHEN title IS NULL OR title = '' THEN ? ELSE title END"


@lru_cache(maxsize=64)
def _update_sql(columns: tuple[str, ...]) -> str:
    sets = ", ".join(f"{c} = {_KEEP_TITLE if c == 'title' else '?'}" for c in columns)
    return f"UPDATE feed SET {sets} WHERE id = ?"  # noqa: S608 - column names are ours


def _update_statement(feed_id: int, changes: dict[str, Any]) -> tuple[str, list[Any]]:
    """``changes`` as one SQLite statement and its parameters (times as SQLite stores them)."""
    values = [sqlite_stamp(v) if isinstance(v, datetime) else v for v in changes.values()]
    return _update_sql(tuple(changes)), [*values, feed_id]


def poll_changes(
    outcome: FetchOutcome,
    decision: PollDecision,
    now: datetime,
    *,
    title: str | None = None,
    site_url: str | None = None,
    language: str | None = None,
    ttl_seconds: int | None = None,
    body_hash: str | None = None,
    warning: str | None = None,
) -> dict[str, Any]:
    """The feed columns one poll sets (``record_poll``), in one place for both paths.

    ``title`` only fills an empty title (the writers apply that rule); a site URL,
    language, disabled reason or validator left out is the stored one kept."""
    changes: dict[str, Any] = {
        "last_polled_at": now,
        "last_status": decision.status,
        "last_http_status": outcome.status,
        "last_error": decision.error,
        "consecutive_failures": decision.consecutive_failures,
        "next_poll_at": decision.next_poll_at,
        "interval_seconds": decision.interval_seconds,
        "redirect_url": decision.redirect_url,
        "redirect_count": decision.redirect_count,
        "lease_until": None,
        "lease_owner": None,
    }
    if decision.disabled_reason:
        changes["disabled_reason"] = decision.disabled_reason
    if outcome.ok:
        changes.update(
            last_success_at=now,
            etag=outcome.etag,
            last_modified=outcome.last_modified,
            title=title,
            ttl_seconds=ttl_seconds,
            body_hash=body_hash,
            parse_warning=warning[:500] if warning else None,
        )
        if site_url:
            changes["site_url"] = site_url
        if language:
            changes["language"] = language
    elif body_hash is not None:  # a body that failed to parse: not parsed again
        changes["body_hash"] = body_hash
    if outcome.kind.value == "not_modified":  # a 304 may omit validators: the old ones stay
        changes["last_success_at"] = now
        if outcome.etag:
            changes["etag"] = outcome.etag
        if outcome.last_modified:
            changes["last_modified"] = outcome.last_modified
    return changes
