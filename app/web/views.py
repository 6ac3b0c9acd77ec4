"""View-models: one context per screen, rendered as HTML or as JSON."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlencode

from sqlalchemy.orm import Session

from app.core.timeline import TimelineFilter
from app.core.types import Article, Page
from app.store.articles import ArticleStore
from app.store.feeds import FeedStore, FeedView
from app.web.params import FILTER_KEYS


@dataclass(frozen=True, slots=True)
class TimelineView:
    filter: TimelineFilter
    page: Page[Article]
    query: tuple[tuple[str, str], ...]  # the request's filter parameters, cursor excluded

    def link(self, **changes: str | None) -> str:
        """The current query string with ``changes`` applied (None removes a key)."""
        params = [(k, v) for k, v in self.query if k not in changes]
        params += [(k, v) for k, v in changes.items() if v is not None]
        return "?" + urlencode(params) if params else "?"

    @property
    def older_link(self) -> str | None:
        return self.link(cursor=self.page.next_cursor) if self.page.next_cursor else None


def timeline_view(
    session: Session, flt: TimelineFilter, query: list[tuple[str, str]]
) -> TimelineView:
    page = ArticleStore(session).timeline(flt)
    kept = tuple((k, v) for k, v in query if k in FILTER_KEYS and k != "cursor")
    return TimelineView(filter=flt, page=page, query=kept)


def feeds_view(session: Session) -> list[FeedView]:
    return FeedStore(session).all()
