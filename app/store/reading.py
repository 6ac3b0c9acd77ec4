"""ReadingStore: what each user has read, their visits and their time zone.

"Unread" covers the articles published in the last ``READ_WINDOW`` (older ones
count as read), so counting and "mark all as read" stay bounded however large the
archive grows. "New" means first seen since the user's previous visit; a visit
starts after ``VISIT_GAP`` without a page view.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, available_timezones

from sqlalchemy import delete, exists, func, select
from sqlalchemy.orm import Session

from app.core.errors import InvalidInput
from app.core.timeline import TimelineFilter
from app.store.articles import ArticleStore
from app.store.db import insert_for
from app.store.tables import Article, ArticleRead, UserPref

READ_WINDOW = timedelta(days=14)
VISIT_GAP = timedelta(minutes=30)
TOUCH_EVERY = timedelta(minutes=1)  # page views closer than this write nothing
COUNT_CAP = 1000  # unread counts stop here ("999+")
MARK_CAP = 10_000  # "mark all as read" marks at most this many at once


@dataclass(frozen=True, slots=True)
class Visit:
    new_since: datetime | None  # articles first seen after this are new to the user
    time_zone: str | None


@functools.cache
def zone_names() -> frozenset[str]:
    """The IANA zone names of this system, read once per process.

    ``available_timezones()`` walks the whole time zone database on every call (~600
    files: ~13 ms here), and every HTML page checks the visitor's zone cookie against
    it (``reader_zone``): it was ~10 % of the timeline page's time. A zone added to
    the system's database counts from the next start."""
    return frozenset(available_timezones())


def check_time_zone(name: str) -> str:
    """An IANA zone name like ``Europe/Berlin``; anything else is refused."""
    if not name or len(name) > 64 or name not in zone_names():
        raise InvalidInput("time zone must be an IANA name like Europe/Berlin", field="time_zone")
    ZoneInfo(name)
    return name


class ReadingStore:
    def __init__(self, session: Session) -> None:
        self.session = session

    # -- visits and preferences --------------------------------------------------

    def visit(self, user_id: int, *, now: datetime) -> Visit:
        """Record a page view; returns the horizon for "new" and the time zone."""
        pref = self._pref(user_id)
        if pref.visited_at is None or now - pref.visited_at > VISIT_GAP:
            pref.previous_visit_at = pref.visited_at
            pref.visited_at = now
        elif now - pref.visited_at > TOUCH_EVERY:
            pref.visited_at = now
        self.session.flush()
        return Visit(pref.previous_visit_at, pref.time_zone)

    def preferences(self, user_id: int) -> Visit:
        pref = self.session.get(UserPref, user_id)
        return Visit(pref.previous_visit_at, pref.time_zone) if pref else Visit(None, None)

    def set_time_zone(self, user_id: int, name: str | None) -> None:
        self._pref(user_id).time_zone = check_time_zone(name) if name else None
        self.session.flush()

    def _pref(self, user_id: int) -> UserPref:
        pref = self.session.get(UserPref, user_id)
        if pref is None:
            pref = UserPref(user_id=user_id)
            self.session.add(pref)
        return pref

    # -- read state ------------------------------------------------------------

    def read_ids(self, user_id: int, article_ids: Iterable[int]) -> set[int]:
        ids = list(article_ids)
        if not ids:
            return set()
        return set(
            self.session.scalars(
                select(ArticleRead.article_id).where(
                    ArticleRead.user_id == user_id, ArticleRead.article_id.in_(ids)
                )
            )
        )

    def mark_read(self, user_id: int, article_ids: Iterable[int], *, now: datetime) -> int:
        rows = [{"user_id": user_id, "article_id": i, "read_at": now} for i in set(article_ids)]
        if not rows:
            return 0
        known = set(
            self.session.scalars(
                select(Article.id).where(Article.id.in_([r["article_id"] for r in rows]))
            )
        )
        rows = [r for r in rows if r["article_id"] in known]
        if rows:
            self.session.execute(self._insert().on_conflict_do_nothing(), rows)
        return len(rows)

    def mark_unread(self, user_id: int, article_id: int) -> None:
        self.session.execute(
            delete(ArticleRead).where(
                ArticleRead.user_id == user_id, ArticleRead.article_id == article_id
            )
        )

    def mark_all_read(self, user_id: int, flt: TimelineFilter, *, now: datetime) -> int:
        """Every unread article of ``flt`` within the window (at most ``MARK_CAP`` at a
        time) becomes read; returns how many."""
        unread = self._unread(select(Article.id), user_id, flt, now, limit=MARK_CAP)
        return self.mark_read(user_id, self.session.scalars(select(unread.c.id)), now=now)

    def unread_count(self, user_id: int, flt: TimelineFilter, *, now: datetime) -> int:
        """Unread articles of ``flt`` within the window, counted up to ``COUNT_CAP``."""
        ids = self._unread(select(Article.id), user_id, flt, now, limit=COUNT_CAP)
        return int(self.session.scalar(select(func.count()).select_from(ids)) or 0)

    def _unread(
        self,
        stmt: Any,
        user_id: int,
        flt: TimelineFilter,
        now: datetime,
        *,
        limit: int | None = None,
    ) -> Any:
        since = now - READ_WINDOW
        if flt.since is None or flt.since < since:
            flt = replace(flt, since=since)
        query = ArticleStore(self.session).filtered(stmt, replace(flt, cursor=None))
        query = query.where(
            ~exists().where(ArticleRead.user_id == user_id, ArticleRead.article_id == Article.id)
        )
        if limit is not None:
            query = query.limit(limit)
        return query.subquery()

    def _insert(self) -> Any:
        return insert_for(self.session.get_bind().dialect.name)(ArticleRead)
