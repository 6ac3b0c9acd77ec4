"""View-models: one context per screen, rendered as HTML or as JSON."""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from itertools import groupby
from urllib.parse import urlencode, urlsplit
from zoneinfo import ZoneInfo

from markupsafe import Markup
from sqlalchemy.orm import Session

from app.core.errors import NotFound
from app.core.text import html_to_text
from app.core.timeline import (
    FLAG_KINDS,
    THEMES,
    ArticleDetail,
    TimelineFilter,
    VolumeBucket,
    choose_interval,
)
from app.core.types import Article, Page, Source
from app.store.articles import ArticleStore
from app.store.db import Database
from app.store.feeds import FeedStore, FeedView
from app.store.flags import FlagStore, FlagView
from app.store.reading import ReadingStore
from app.store.search import parse_query
from app.web.chart import Chart, build_chart
from app.web.highlight import highlight, mark_paragraphs, mark_spans, snippet
from app.web.params import FILTER_KEYS

DEFAULT_CHART_DAYS = 30  # the chart's range when the filter gives no start
MAX_CHART_DAYS = 3 * 366
LANGUAGES = ("en", "de", "fr", "es", "it", "nl")


@dataclass(frozen=True, slots=True)
class Card:
    article: Article
    title: Markup  # escaped, with search matches marked
    excerpt: Markup | None  # only when searching: where the words were found
    folded: tuple[int, ...] = ()  # its story's other articles on this page (no cards)


@dataclass(frozen=True, slots=True)
class Reading:
    read: frozenset[int]  # ids on this page the user has read
    new_since: datetime | None  # first seen after this: new since the last visit
    unread: int  # unread articles of the filter (capped, see ReadingStore)


@dataclass(frozen=True, slots=True)
class TimelineView:
    filter: TimelineFilter
    page: Page[Article]
    query: tuple[tuple[str, str], ...]  # the request's filter parameters, cursor excluded
    cards: tuple[Card, ...] = ()
    chart: Chart | None = None
    outlets: tuple[Source, ...] = ()
    reader: Reading | None = None  # a signed-in user's read state, None for visitors
    zone: str = "UTC"  # the reader's time zone: days are grouped in it

    def is_read(self, article: Article) -> bool:
        return self.reader is not None and article.id in self.reader.read

    def card_read(self, card: Card) -> bool:
        """A story's card is read when its article and the copies folded into it are."""
        ids = (card.article.id, *card.folded)
        return self.reader is not None and all(i in self.reader.read for i in ids)

    def is_new(self, article: Article) -> bool:
        since = self.reader.new_since if self.reader else None
        return since is not None and article.first_seen_at > since and not self.is_read(article)

    def link(self, **changes: str | None) -> str:
        """The current query string with ``changes`` applied (None removes a key)."""
        params = [(k, v) for k, v in self.query if k not in changes]
        params += [(k, v) for k, v in changes.items() if v is not None]
        return "?" + urlencode(params) if params else "?"

    @property
    def older_link(self) -> str | None:
        return self.link(cursor=self.page.next_cursor) if self.page.next_cursor else None

    @property
    def days(self) -> list[tuple[date, list[Card]]]:
        """Cards grouped by their publication day in the reader's zone, newest first."""
        zone = ZoneInfo(self.zone)
        return [
            (day, list(cards))
            for day, cards in groupby(
                self.cards, key=lambda c: c.article.published_at.astimezone(zone).date()
            )
        ]

    def value(self, key: str) -> str:
        return next((v for k, v in self.query if k == key), "")

    @property
    def active_filters(self) -> int:
        """How many filters narrow the timeline (shown on the collapsed filter panel)."""
        ignored = ("cursor", "limit", "themes_mode", "group")
        return sum(1 for k, v in self.query if v and k not in ignored)

    def values(self, key: str) -> list[str]:
        return [v for k, v in self.query if k == key]

    themes = THEMES
    flag_kinds = FLAG_KINDS
    languages = LANGUAGES


def timeline_view(
    session: Session,
    flt: TimelineFilter,
    query: list[tuple[str, str]],
    *,
    with_chart: bool = False,
    now: datetime | None = None,
    group: str | None = None,
) -> TimelineView:
    store = ArticleStore(session)
    page = store.timeline(flt)
    kept = tuple(
        (k, v) for k, v in query if (k in FILTER_KEYS and k != "cursor") or (k == "group" and v)
    )
    terms = parse_query(flt.q).terms if flt.q else ()
    cards = tuple(
        replace(_card(a, terms), folded=folded) for a, folded in one_card_per_story(page.items)
    )
    view = TimelineView(filter=flt, page=page, query=kept, cards=cards)
    if not with_chart:
        return view
    oldest = page.items[-1].published_at.date() if page.items and not flt.since else None
    start, end = chart_range(flt, now or datetime.now(UTC), oldest=oldest)
    interval = choose_interval(start, end)
    outlets = tuple(store.outlets())

    def link(a: date, b: date) -> str:
        return view.link(since=a.isoformat(), until=b.isoformat(), cursor=None)

    if group:
        series, buckets = store.volume_groups(flt, interval, group, start=start, end=end)
        names = group_names(group, outlets)
        chart = build_chart(buckets, interval, start, end, link, series, group=group, names=names)
    else:
        buckets = store.volume(flt, interval, start=start, end=end)
        chart = build_chart(buckets, interval, start, end, link)
    return replace(view, chart=chart, outlets=outlets)


def group_names(group: str, outlets: tuple[Source, ...]) -> dict[str, str]:
    """What a group key means to people: an outlet's title (its feed id is the key)."""
    return {str(o.feed_id): o.name for o in outlets} if group == "source" else {}


def with_reading(db: Database, view: TimelineView, user_id: int, now: datetime) -> TimelineView:
    """Record the visit and add the user's read state to ``view``."""
    with db.write() as session:
        store = ReadingStore(session)
        visit = store.visit(user_id, now=now)
        read = store.read_ids(user_id, (a.id for a in view.page.items))
        unread = store.unread_count(user_id, view.filter, now=now)
    return replace(view, reader=Reading(frozenset(read), visit.new_since, unread))


def one_card_per_story(articles: tuple[Article, ...]) -> list[tuple[Article, tuple[int, ...]]]:
    """The page's articles with each story cluster shown once, at its newest member,
    with the ids of the others on the page (listed on that card as its copies)."""
    kept: list[tuple[Article, list[int]]] = []
    by_cluster: dict[int, list[int]] = {}
    for article in articles:
        if article.cluster_id is not None:
            if article.cluster_id in by_cluster:
                by_cluster[article.cluster_id].append(article.id)
                continue
            by_cluster[article.cluster_id] = []
        kept.append((article, by_cluster.get(article.cluster_id or -1, [])))
    return [(article, tuple(folded)) for article, folded in kept]


def _card(article: Article, terms: tuple[str, ...]) -> Card:
    excerpt = snippet(html_to_text(article.summary), terms) if terms else None
    return Card(article, highlight(article.title, terms), excerpt)


def chart_range(
    flt: TimelineFilter, now: datetime, *, oldest: date | None = None
) -> tuple[date, date]:
    """The dates the chart covers: the filter's range; without a start, the last 30
    days or back to ``oldest`` (the oldest article listed), whichever is longer, so
    the chart always shows the articles the timeline shows."""
    end = (flt.until - timedelta(microseconds=1)).date() if flt.until else now.date()
    start = flt.since.date() if flt.since else end - timedelta(days=DEFAULT_CHART_DAYS - 1)
    if oldest is not None:
        start = min(start, oldest)
    start = max(start, end - timedelta(days=MAX_CHART_DAYS))
    return min(start, end), end


def volume_buckets(
    session: Session, flt: TimelineFilter, interval: str | None, now: datetime
) -> tuple[str, list[VolumeBucket]]:
    start, end = chart_range(flt, now)
    interval = interval or choose_interval(start, end)
    return interval, ArticleStore(session).volume(flt, interval, start=start, end=end)


def volume_groups(
    session: Session, flt: TimelineFilter, interval: str | None, group: str, now: datetime
) -> tuple[str, tuple[str, ...], list[VolumeBucket], dict[str, str]]:
    """Share of voice for the API: interval, series, buckets and the series' names."""
    start, end = chart_range(flt, now)
    interval = interval or choose_interval(start, end)
    store = ArticleStore(session)
    series, buckets = store.volume_groups(flt, interval, group, start=start, end=end)
    return interval, series, buckets, group_names(group, tuple(store.outlets()))


@dataclass(frozen=True, slots=True)
class ArticlePageView:
    article: Article
    detail: ArticleDetail
    why: tuple[tuple[str, Markup], ...]  # (field, text with the evidence marked)
    page_text: tuple[Markup, ...] = ()  # the page's paragraphs, evidence marked (full text)
    page_site: str = ""  # the host the full text came from
    flags: tuple[FlagView, ...] = ()  # open and closed, oldest first (signed-in users see them)


def article_view(session: Session, article_id: int) -> ArticlePageView:
    store = ArticleStore(session)
    article = store.get(article_id)
    if article is None:
        raise NotFound(f"no article with id {article_id}")
    detail = store.detail(article_id)
    fields = {
        "title": article.title,
        "summary": html_to_text(article.summary) if article.summary else "",
        "text": detail.text,
    }
    why = []
    for name, text in fields.items():
        spans = [(e.start, e.end) for t in article.themes for e in t.evidence if e.field == name]
        spans += [(s, e) for _, f, s, e in detail.relevance_evidence if f == name]
        if text and (spans or name == "title"):
            why.append((name, mark_spans(text, spans)))
    page_text: tuple[Markup, ...] = ()
    if article.text_source == "page":
        spans = [(e.start, e.end) for t in article.themes for e in t.evidence if e.field == "text"]
        spans += [(s, e) for _, f, s, e in detail.relevance_evidence if f == "text"]
        page_text = mark_paragraphs(detail.text, spans)
    page = article.page
    site = urlsplit((page.final_url or page.url if page else None) or article.url).hostname
    flags = tuple(FlagStore(session).history(article_id))
    return ArticlePageView(article, detail, tuple(why), page_text, site or "", flags)


def feeds_view(session: Session) -> list[FeedView]:
    return FeedStore(session).all()


ERRNO_TEXT = {
    "-2": "the host name does not resolve",
    "-3": "the name server did not answer",
    "-5": "the host name has no address",
    "110": "the connection timed out",
    "111": "the server refused the connection",
    "113": "no route to the server",
}
_ERRNO = re.compile(r"\[Errno (-?\d+)\] ([^;:\]]*)")


def friendly_error(text: str | None) -> str:
    """A poll error for people: ``[Errno -2] Name or service not known`` becomes "the
    host name does not resolve"; other errno prefixes are dropped."""
    if not text:
        return ""
    return _ERRNO.sub(lambda m: ERRNO_TEXT.get(m.group(1), m.group(2).strip()), text)
