"""JSON API v1: the machine twin of every page, same filters, same view-models."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from sqlalchemy import text

from app.core.errors import NotFound, StorageBusy
from app.store.articles import ArticleStore
from app.web.deps import DbDep, ReadSession
from app.web.params import parse_filter
from app.web.schemas import ArticleOut, ArticlePageOut, FeedListOut, FeedOut, HealthOut
from app.web.views import feeds_view, timeline_view

router = APIRouter(prefix="/api/v1", tags=["api"])
PROBLEM: dict[str, Any] = {"model": None, "content": {"application/problem+json": {}}}


@router.get(
    "/articles",
    response_model=ArticlePageOut,
    summary="Timeline of articles, newest first",
    responses={400: PROBLEM},
)
def list_articles(request: Request, session: ReadSession) -> ArticlePageOut:
    """Articles matching the timeline filters (``theme``, ``themes_mode``, ``source``,
    ``lang``, ``since``, ``until``, ``q``, ``flagged``, ``relevance``, ``limit``,
    ``cursor``); pass ``next_cursor`` back as ``cursor`` for the next page."""
    view = timeline_view(session, parse_filter(request), list(request.query_params.multi_items()))
    return ArticlePageOut(
        items=[ArticleOut.of(a) for a in view.page.items], next_cursor=view.page.next_cursor
    )


@router.get("/articles/{article_id}", response_model=ArticleOut, responses={404: PROBLEM})
def get_article(article_id: int, session: ReadSession) -> ArticleOut:
    article = ArticleStore(session).get(article_id)
    if article is None:
        raise NotFound(f"no article with id {article_id}")
    return ArticleOut.of(article)


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
