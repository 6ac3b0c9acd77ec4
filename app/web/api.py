"""JSON API v1: the machine twin of every page, same filters, same view-models."""

from __future__ import annotations

import hashlib
from dataclasses import replace
from datetime import UTC, date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Request, Response
from pydantic import BaseModel, Field
from sqlalchemy import text

from app.core.errors import NotFound, StorageBusy
from app.core.types import Article
from app.store.articles import ArticleStore
from app.web.auth import template_user
from app.web.deps import DbDep, ReadSession
from app.web.params import parse_filter, parse_interval
from app.web.schemas import ArticleOut, ArticlePageOut, FeedListOut, FeedOut, HealthOut
from app.web.views import feeds_view, timeline_view, volume_buckets

router = APIRouter(prefix="/api/v1", tags=["api"])
PROBLEM: dict[str, Any] = {"model": None, "content": {"application/problem+json": {}}}


@router.get(
    "/articles",
    response_model=ArticlePageOut,
    summary="Timeline of articles, newest first",
    responses={400: PROBLEM, 304: {"description": "Not modified (If-None-Match matched)"}},
)
def list_articles(request: Request, session: ReadSession) -> Response:
    """Articles matching the timeline filters (``theme``, ``themes_mode``, ``source``,
    ``lang``, ``since``, ``until``, ``q``, ``flagged``, ``relevance``, ``limit``,
    ``cursor``, ``updated_since``), newest first with ties broken by id (a stable
    order); pass ``next_cursor`` back as ``cursor`` for the next page. Answers 304
    when ``If-None-Match`` carries the page's ``ETag``."""
    view = timeline_view(session, parse_filter(request), list(request.query_params.multi_items()))
    page = ArticlePageOut(
        items=[ArticleOut.of(visible(request, a)) for a in view.page.items],
        next_cursor=view.page.next_cursor,
    )
    return etag_response(request, page.model_dump_json().encode())


def etag_response(request: Request, body: bytes) -> Response:
    """A weak ETag over the body; 304 without a body when the client already has it."""
    etag = f'W/"{hashlib.sha256(body).hexdigest()[:32]}"'
    headers = {"ETag": etag, "Cache-Control": "no-cache", "Vary": "Authorization, Cookie"}
    wanted = request.headers.get("if-none-match", "")
    if etag in (tag.strip() for tag in wanted.split(",")) or wanted.strip() == "*":
        return Response(status_code=304, headers=headers)
    return Response(body, media_type="application/json", headers=headers)


@router.get("/articles/{article_id}", response_model=ArticleOut, responses={404: PROBLEM})
def get_article(
    request: Request, article_id: Annotated[int, Path(ge=1, le=2**31 - 1)], session: ReadSession
) -> ArticleOut:
    article = ArticleStore(session).get(article_id)
    if article is None:
        raise NotFound(f"no article with id {article_id}")
    return ArticleOut.of(visible(request, article))


def visible(request: Request, article: Article) -> Article:
    """Editorial flags are for signed-in users: a visitor gets none."""
    return article if template_user(request) else replace(article, flags=())


class VolumeBucketOut(BaseModel):
    start: date = Field(description="First day of the bucket (a Monday for weeks)")
    total: int = Field(description="Articles in the bucket, each counted once")
    themes: dict[str, int] = Field(description="Articles per theme; 'none' for unthemed")


class VolumeOut(BaseModel):
    interval: str
    buckets: list[VolumeBucketOut]


@router.get(
    "/stats/volume",
    response_model=VolumeOut,
    summary="Articles per day or week, per theme",
    responses={400: PROBLEM},
)
def volume(request: Request, session: ReadSession) -> VolumeOut:
    """The volume chart's data: the timeline filters, plus ``interval=day|week``
    (default: weeks for ranges over 90 days). Without ``since``, the last 30 days."""
    interval, buckets = volume_buckets(
        session, parse_filter(request), parse_interval(request), datetime.now(UTC)
    )
    return VolumeOut(
        interval=interval,
        buckets=[
            VolumeBucketOut(start=b.start, total=b.total, themes=dict(b.counts)) for b in buckets
        ],
    )


@router.get("/feeds", response_model=FeedListOut, summary="Feeds and their health")
def list_feeds(session: ReadSession) -> FeedListOut:
    return FeedListOut(items=[FeedOut.of(f) for f in feeds_view(session)])


health_router = APIRouter(tags=["health"])


@health_router.get("/healthz", response_model=HealthOut, responses={503: PROBLEM})
def healthz(db: DbDep) -> HealthOut:
    """Reports whether the database answers."""
    try:
        with db.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as exc:
        raise StorageBusy("database unreachable") from exc
    return HealthOut(status="ok", database=db.dialect)
