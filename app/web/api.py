"""JSON API v1: the machine twin of every page, same filters, same view-models.

Every query parameter is declared (``web.params.api_filter``), so /openapi.json
describes what the server accepts; an undeclared one is a 400 (``reject_unknown``).
"""

from __future__ import annotations

import hashlib
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from pydantic import BaseModel, Field
from pydantic_core import to_json
from sqlalchemy import text

from app.core.errors import NotFound, StorageBusy
from app.core.timeline import TimelineFilter
from app.core.types import Article
from app.store.articles import ArticleStore
from app.store.changes import changes
from app.web.auth import template_user
from app.web.deps import DbDep, ReadSession, SettingsDep, ends_transaction
from app.web.params import api_filter, changes_filter
from app.web.schemas import (
    ArticleOut,
    ArticlePageOut,
    ChangeOut,
    ChangePageOut,
    FeedListOut,
    FeedOut,
    HealthOut,
    article_fields,
)
from app.web.views import feeds_view, volume_buckets, volume_groups

router = APIRouter(prefix="/api/v1", tags=["api"])
PROBLEM: dict[str, Any] = {"model": None, "content": {"application/problem+json": {}}}
Filter = Annotated[TimelineFilter, Depends(api_filter)]
ChangesFilter = Annotated[TimelineFilter, Depends(changes_filter)]
NOT_MODIFIED: dict[int | str, dict[str, Any]] = {
    304: {"description": "Not modified: If-None-Match matched the page's ETag"}
}


@router.get(
    "/articles",
    response_model=ArticlePageOut,
    summary="Timeline of articles, newest first",
    responses=NOT_MODIFIED,
)
@ends_transaction
def list_articles(
    request: Request, session: ReadSession, flt: Filter, settings: SettingsDep
) -> Response:
    """Articles matching the timeline filters, newest first with ties broken by id (a
    stable order); pass `next_cursor` back as `cursor` for the next page.

    With `updated_since`, the order is by last change instead, oldest first, by
    `(updated_at, id)`: a row changed while you page moves behind your cursor and comes
    again, so nothing is missed. To mirror newsmon, prefer `/api/v1/articles/changes`,
    which also reports deleted and hidden articles.

    Answers 304 when `If-None-Match` carries the page's `ETag`. The `flagged` filter
    (editorial) applies to signed-in callers only, as on the pages."""
    if flt.flagged and template_user(request) is None:
        flt = replace(flt, flagged=None)
    page = ArticleStore(session).timeline(flt)
    base = settings.public_base
    # ArticlePageOut's shape, serialised without building its models (``article_fields``)
    body = to_json(
        {
            "items": [article_fields(visible(request, a), base) for a in page.items],
            "next_cursor": page.next_cursor,
        }
    )
    return etag_response(request, body)


def etag_response(request: Request, body: bytes) -> Response:
    """A weak ETag over the body; 304 without a body when the client already has it."""
    etag = f'W/"{hashlib.sha256(body).hexdigest()[:32]}"'
    headers = {"ETag": etag, "Cache-Control": "no-cache", "Vary": "Authorization, Cookie"}
    wanted = request.headers.get("if-none-match", "")
    if etag in (tag.strip() for tag in wanted.split(",")) or wanted.strip() == "*":
        return Response(status_code=304, headers=headers)
    return Response(body, media_type="application/json", headers=headers)


@router.get(
    "/articles/changes",
    response_model=ChangePageOut,
    summary="What changed since a position: for mirrors that sync",
)
@ends_transaction
def article_changes(
    flt: ChangesFilter, session: ReadSession, settings: SettingsDep
) -> ChangePageOut:
    """Every article changed (a new source, a re-tag, a flag, an override, fetched text),
    hidden (it no longer matches the filters) or deleted after `cursor`, oldest first
    by `(changed_at, id)`. Start with no cursor (everything) or with `updated_since`;
    apply the items in order; keep `next_cursor` and pass it back as `cursor` next
    time, also when `more` is false. Changes younger than a few seconds
    (`NEWSMON_SYNC_SETTLE_SECONDS`) wait for the next call, so a write still
    committing is never skipped."""
    until = datetime.now(UTC) - timedelta(seconds=settings.sync_settle_seconds)
    page = changes(ArticleStore(session), flt, until=until)
    base = settings.public_base
    return ChangePageOut(
        items=[
            ChangeOut(
                id=c.id,
                changed_at=c.changed_at,
                change=c.kind,
                article=ArticleOut.of(c.article, base) if c.article else None,
            )
            for c in page.items
        ],
        next_cursor=page.position.encode() if page.position else None,
        more=page.more,
    )


@router.get("/articles/{article_id}", response_model=ArticleOut)
@ends_transaction
def get_article(
    request: Request,
    article_id: Annotated[int, Path(ge=1, le=2**31 - 1)],
    session: ReadSession,
    settings: SettingsDep,
) -> ArticleOut:
    article = ArticleStore(session).get(article_id)
    if article is None:
        raise NotFound(f"no article with id {article_id}")
    return ArticleOut.of(visible(request, article), settings.public_base)


def visible(request: Request, article: Article) -> Article:
    """Editorial flags are for signed-in users: a visitor gets none."""
    return article if template_user(request) else replace(article, flags=())


class VolumeBucketOut(BaseModel):
    start: date = Field(description="First day of the bucket (a Monday for weeks)")
    total: int = Field(description="Articles in the bucket, each counted once")
    themes: dict[str, int] = Field(
        description="Articles per theme; 'none' for unthemed (empty when split by `group`)"
    )
    groups: dict[str, int] | None = Field(
        None,
        description="With `group`: articles per series key (each article in exactly one, "
        "so they add up to `total`)",
    )


class VolumeSeriesOut(BaseModel):
    key: str = Field(
        description="A feed id (group=source), a language code (group=lang), 'unknown', "
        "or 'other' for every group after the largest five"
    )
    name: str = Field(description="The outlet's title, or the key")
    total: int = Field(description="Articles of this series in the whole range")


class VolumeOut(BaseModel):
    interval: Literal["day", "week"]
    group: Literal["source", "lang"] | None = Field(None, description="The split, if any")
    series: list[VolumeSeriesOut] = Field(
        default_factory=list, description="With `group`: the series, largest first"
    )
    buckets: list[VolumeBucketOut]


@router.get("/stats/volume", response_model=VolumeOut, summary="Articles per day or week")
@ends_transaction
def volume(
    session: ReadSession,
    flt: Filter,
    interval: Annotated[
        Literal["day", "week"] | None,
        Query(description="Bucket size; default: weeks for ranges over 90 days, else days."),
    ] = None,
    group: Annotated[
        Literal["source", "lang"] | None,
        Query(
            description="Share of voice: split each bucket by outlet (`source`: the feed "
            "that carried the article first) or by language (`lang`). Each article counts "
            "once, in one group; the five largest groups over the range are series of "
            "their own, the rest is `other`.",
            examples=["source"],
        ),
    ] = None,
) -> VolumeOut:
    """The volume chart's data, counted per theme (or split by `group`), for the
    timeline filters (the cursor is ignored). Without `since`, the last 30 days."""
    now = datetime.now(UTC)
    if group is None:
        chosen, buckets = volume_buckets(session, flt, interval, now)
        return VolumeOut(
            interval=chosen,
            buckets=[
                VolumeBucketOut(start=b.start, total=b.total, themes=dict(b.counts))
                for b in buckets
            ],
        )
    chosen, series, buckets, names = volume_groups(session, flt, interval, group, now)
    return VolumeOut(
        interval=chosen,
        group=group,
        series=[
            VolumeSeriesOut(key=k, name=names.get(k, k), total=sum(b.count(k) for b in buckets))
            for k in series
        ],
        buckets=[
            VolumeBucketOut(start=b.start, total=b.total, themes={}, groups=dict(b.counts))
            for b in buckets
        ],
    )


@router.get("/feeds", response_model=FeedListOut, summary="Feeds and their health")
@ends_transaction
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
