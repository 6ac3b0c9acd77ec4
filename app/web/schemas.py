"""JSON shapes of the API (``*Out``), built from the core values."""

from __future__ import annotations

import dataclasses
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from app.core.types import Article
from app.store.feeds import FeedView


class EvidenceOut(BaseModel):
    term: str
    field: str
    start: int
    end: int


class ThemeOut(BaseModel):
    key: str
    score: float
    origin: str
    evidence: list[EvidenceOut]


class SourceOut(BaseModel):
    feed_id: int
    name: str


class FullTextOut(BaseModel):
    state: str = Field(description="pending (queued or retrying) or done")
    outcome: str | None = Field(
        description="ok, robots, paywall, consent, not_html, too_large, gone, unresolvable, "
        "blocked, rate_limited or error; null while the first attempt is pending"
    )
    detail: str | None
    fetched_at: datetime | None
    url: str | None = Field(description="The page asked for (null: unresolvable link)")
    final_url: str | None
    site_name: str | None


class ArticleOut(BaseModel):
    id: int
    url: str = Field(description="The original article")
    link: str = Field(description="The article's page on this newsmon (from NEWSMON_BASE_URL)")
    title: str
    author: str | None = Field(description="The byline the feed gave, if any")
    summary: str = Field(description="Sanitised HTML")
    language: str | None
    published_at: datetime
    published_estimated: bool = Field(description="True when the feed gave no date")
    first_seen_at: datetime
    updated_at: datetime = Field(
        description="Last change the API shows (source, tags, flag, override, text)"
    )
    sources: list[SourceOut]
    relevant: bool
    relevance_score: float
    relevance_reason: str
    themes: list[ThemeOut]
    flags: list[str]
    cluster_size: int
    text_source: str = Field(
        "feed", description="feed: text from the feed entry; page: from the article's page"
    )
    page_content: str = Field(
        "", description="The page's main text as sanitised HTML (single article only)"
    )
    fulltext: FullTextOut | None = Field(
        None, description="The page fetch's state and outcome (single article only)"
    )

    @classmethod
    def of(cls, a: Article, base: str) -> ArticleOut:
        return cls.model_validate(article_fields(a, base))


def article_fields(a: Article, base: str) -> dict[str, Any]:
    """``ArticleOut``'s fields as plain values, in its order. ``ArticleOut.of`` validates
    them; a timeline page serialises them as they are (``pydantic_core.to_json``, the same
    serialiser, the same bytes: a test compares), since building fifty articles' nested
    models (several hundred evidence objects) cost more than the page's queries."""
    return {
        "id": a.id,
        "url": a.url,
        "link": article_link(base, a.id),
        "title": a.title,
        "author": a.author,
        "summary": a.summary,
        "language": a.language,
        "published_at": a.published_at,
        "published_estimated": a.published_estimated,
        "first_seen_at": a.first_seen_at,
        "updated_at": a.updated_at or a.first_seen_at,
        "sources": [{"feed_id": s.feed_id, "name": s.name} for s in a.sources],
        "relevant": a.relevant,
        "relevance_score": float(a.relevance_score),
        "relevance_reason": a.relevance_reason,
        "themes": [
            {
                "key": t.key,
                "score": float(t.score),
                "origin": t.origin,
                "evidence": [
                    {"term": e.term, "field": e.field, "start": e.start, "end": e.end}
                    for e in t.evidence
                ],
            }
            for t in a.themes
        ],
        "flags": list(a.flags),
        "cluster_size": a.cluster_size,
        "text_source": a.text_source,
        "page_content": a.page_content,
        "fulltext": (FullTextOut(**dataclasses.asdict(a.page)).model_dump() if a.page else None),
    }


def article_link(base: str, article_id: int) -> str:
    return f"{base}/articles/{article_id}"


class ArticlePageOut(BaseModel):
    items: list[ArticleOut]
    next_cursor: str | None = Field(description="Pass back as cursor for the next page")


class ChangeOut(BaseModel):
    id: int = Field(description="The article's id")
    changed_at: datetime
    change: Literal["article", "hidden", "deleted"] = Field(
        description="article: its current state; hidden: it no longer matches the filter; "
        "deleted: it is gone"
    )
    article: ArticleOut | None = Field(description="Only for change=article")


class ChangePageOut(BaseModel):
    items: list[ChangeOut]
    next_cursor: str | None = Field(
        description="Where to resume: keep it and pass it as cursor next time (null only "
        "when nothing has changed yet)"
    )
    more: bool = Field(description="True when another page is ready now")


class FeedOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)  # read off FeedView, field by field

    id: int
    url: str
    title: str | None
    site_url: str | None
    last_status: str | None
    last_http_status: int | None
    last_error: str | None
    consecutive_failures: int
    last_polled_at: datetime | None
    next_poll_at: datetime
    interval_seconds: int
    disabled_reason: str | None
    article_count: int
    parse_warning: str | None = Field(
        None, description="Why the parser flagged the last body it still read entries from."
    )
    fulltext_policy: str | None = Field(
        None, description="auto, always or never; null: the server's default."
    )

    @classmethod
    def of(cls, f: FeedView) -> FeedOut:
        return cls.model_validate(f)


class FeedListOut(BaseModel):
    items: list[FeedOut]


class HealthOut(BaseModel):
    status: str
    database: str


class ProblemOut(BaseModel):
    """RFC 9457 problem details."""

    type: str = "about:blank"
    title: str
    status: int
    detail: str | None = None
    instance: str | None = None
