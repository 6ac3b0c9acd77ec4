"""JSON API v1, the editors' part: flags, theme overrides, feed changes, themes.

Writes need the editor role and, with a bearer token, the ``write`` scope; a
cookie session must also send ``X-CSRF-Token`` (see ``web.csrf``). Every write
is audited in the same transaction as the change.
"""

from __future__ import annotations

import json
from datetime import datetime
from html import escape
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Request, Response
from fastapi.responses import HTMLResponse
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.orm import Session

from app.core.errors import NotFound
from app.core.timeline import THEMES
from app.services import subscriptions
from app.store.articles import ArticleStore
from app.store.audit import AuditStore
from app.store.feeds import FeedStore
from app.store.flags import FlagStore, FlagView
from app.web.auth import Principal, now_utc, require_editor
from app.web.deps import ReadSession, WriteSession
from app.web.schemas import ArticleOut, FeedOut

router = APIRouter(prefix="/api/v1", tags=["editors"])
Editor = Annotated[Principal, Depends(require_editor)]
# Ids are 32-bit INTEGER columns on PostgreSQL: a larger value is a 422, not a driver error.
Id = Annotated[int, Path(ge=1, le=2**31 - 1)]
FlagKind = Literal["important", "irrelevant", "wrong-theme", "follow-up"]
ThemeKey = Literal["security", "regulatory", "market"]


def problems(*codes: int) -> dict[int | str, dict[str, Any]]:
    return {c: {"model": None, "content": {"application/problem+json": {}}} for c in codes}


class FlagIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"kind": "irrelevant", "note": "Sports story"}]},
    )
    kind: FlagKind
    note: str = Field("", max_length=2000)


class FlagOut(BaseModel):
    id: int
    article_id: int
    kind: str
    note: str
    user: str | None
    assignee: str | None
    created_at: datetime
    resolved_at: datetime | None

    @classmethod
    def of(cls, f: FlagView) -> FlagOut:
        return cls(
            id=f.id,
            article_id=f.article_id,
            kind=f.kind,
            note=f.note,
            user=f.user_name,
            assignee=f.assignee_name,
            created_at=f.created_at,
            resolved_at=f.resolved_at,
        )


class FlagListOut(BaseModel):
    items: list[FlagOut]


class ThemePatchIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"add": ["security"], "remove": [], "relevant": True}]},
    )
    add: list[ThemeKey] = Field(default_factory=list, max_length=len(THEMES))
    remove: list[ThemeKey] = Field(default_factory=list, max_length=len(THEMES))
    relevant: bool | None = Field(None, description="true/false overrides; null leaves it")


class FeedIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"url": "https://example.com/feed.xml", "title": "X"}]},
    )
    url: str = Field(min_length=1, max_length=2000)
    title: str | None = Field(None, max_length=200)


class ThemeListOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"items": list(THEMES)}]})
    items: list[str]


def _audit(
    session: Session, action: str, who: Principal, target_type: str, target: object, **detail: Any
) -> None:
    AuditStore(session).record(
        action,
        now=now_utc(),
        user_id=who.user.id,
        target_type=target_type,
        target_id=target,
        detail=detail,
    )


@router.get(
    "/articles/{article_id}/flags",
    response_model=FlagListOut,
    summary="Every flag of an article, open and resolved",
    responses=problems(401, 404),
)
def list_flags(article_id: Id, session: ReadSession) -> FlagListOut:
    return FlagListOut(items=[FlagOut.of(f) for f in FlagStore(session).history(article_id)])


@router.post(
    "/articles/{article_id}/flags",
    response_model=FlagOut,
    status_code=201,
    summary="Flag an article (editor)",
    responses=problems(400, 401, 403, 404),
)
def create_flag(
    article_id: Id, body: FlagIn, who: Editor, session: WriteSession, response: Response
) -> FlagOut:
    flag = FlagStore(session).create(
        article_id, body.kind, body.note, user_id=who.user.id, now=now_utc()
    )
    _audit(session, "flag.create", who, "article", article_id, flag=flag.id, kind=body.kind)
    response.headers["Location"] = f"/api/v1/articles/{article_id}/flags/{flag.id}"
    return FlagOut.of(flag)


@router.delete(
    "/articles/{article_id}/flags/{flag_id}",
    status_code=204,
    summary="Delete a flag (its author or an admin)",
    responses=problems(401, 403, 404),
)
def delete_flag(article_id: Id, flag_id: Id, who: Editor, session: WriteSession) -> Response:
    store = FlagStore(session)
    if store.get(flag_id).article_id != article_id:
        raise NotFound(f"no flag {flag_id} on article {article_id}")
    store.delete(flag_id, by=who.user)
    _audit(session, "flag.delete", who, "article", article_id, flag=flag_id)
    return Response(status_code=204)


@router.patch(
    "/articles/{article_id}/themes",
    response_model=ArticleOut,
    summary="Override an article's themes and relevance (editor); survives re-tagging",
    responses=problems(400, 401, 403, 404),
)
def patch_themes(
    article_id: Id, body: ThemePatchIn, who: Editor, session: WriteSession
) -> ArticleOut:
    from app.store.overrides import OverrideChange, OverrideStore

    change = OverrideChange(tuple(body.add), tuple(body.remove), body.relevant)
    OverrideStore(session).apply(article_id, change, user_id=who.user.id, now=now_utc())
    _audit(
        session,
        "article.override",
        who,
        "article",
        article_id,
        add=body.add,
        remove=body.remove,
        relevant=body.relevant,
    )
    article = ArticleStore(session).get(article_id)
    if article is None:  # deleted concurrently
        raise NotFound(f"no article with id {article_id}")
    return ArticleOut.of(article)


@router.post(
    "/feeds",
    response_model=FeedOut,
    status_code=201,
    summary="Subscribe to a feed (editor); the URL passes the SSRF and scheme checks",
    responses=problems(400, 401, 403, 409),
)
def add_feed(body: FeedIn, who: Editor, request: Request, response: Response) -> FeedOut:
    feed = subscriptions.subscribe(
        request.app.state.settings, request.app.state.db, body.url, body.title
    )
    with request.app.state.db.write() as session:
        _audit(session, "feed.add", who, "feed", feed.id, url=feed.url)
    response.headers["Location"] = f"/api/v1/feeds/{feed.id}"
    return FeedOut.of(feed)


@router.delete(
    "/feeds/{feed_id}",
    status_code=204,
    summary="Unsubscribe a feed and drop the articles only it carried (editor)",
    responses=problems(401, 403, 404),
)
def remove_feed(feed_id: Id, who: Editor, session: WriteSession) -> Response:
    store = FeedStore(session)
    url = store.get(feed_id).url
    store.remove(feed_id)
    _audit(session, "feed.remove", who, "feed", feed_id, url=url)
    return Response(status_code=204)


@router.post(
    "/feeds/{feed_id}/enable",
    response_model=FeedOut,
    summary="Poll a disabled feed again, now, with a clean health record (editor)",
    responses=problems(401, 403, 404),
)
def enable_feed(feed_id: Id, who: Editor, request: Request) -> FeedOut:
    return FeedOut.of(subscriptions.enable_feed(request.app.state.db, feed_id, user_id=who.user.id))


@router.get("/themes", response_model=ThemeListOut, summary="Theme keys used in filters")
def list_themes() -> ThemeListOut:
    return ThemeListOut(items=list(THEMES))


# -- /docs --------------------------------------------------------------------
# Swagger UI loads its JavaScript from a CDN and boots with an inline script: both
# break under our CSP (and offline). This page renders the same OpenAPI schema as
# plain HTML, no script at all; /openapi.json stays the machine-readable source.
docs_router = APIRouter(include_in_schema=False)


@docs_router.get("/docs", response_class=HTMLResponse)
def api_docs(request: Request) -> HTMLResponse:
    spec = request.app.openapi()
    parts = [
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>{escape(spec['info']['title'])} API</title>",
        "<link rel='stylesheet' href='/static/newsmon.css'>"
        "<link rel='icon' href='/static/favicon.svg' type='image/svg+xml'>"
        "</head><body><main id='main'>",
        f"<h1>{escape(spec['info']['title'])} API {escape(spec['info']['version'])}</h1>",
        "<p>Machine-readable schema: <a href='/openapi.json'>/openapi.json</a>. "
        "Authenticate with <code>Authorization: Bearer &lt;token&gt;</code>; errors are "
        "<code>application/problem+json</code> (RFC 9457).</p>",
    ]
    for path, operations in spec.get("paths", {}).items():
        for method, op in operations.items():
            parts.append(_operation_html(path, method, op))
    parts.append("</main></body></html>")
    return HTMLResponse("".join(parts))


def _operation_html(path: str, method: str, op: dict[str, Any]) -> str:
    html = [
        f"<section class='op'><h2><code>{escape(method.upper())} {escape(path)}</code></h2>",
        f"<p>{escape(op.get('summary', ''))}</p>",
    ]
    if op.get("description"):
        html.append(f"<p>{escape(op['description'])}</p>")
    params = op.get("parameters", [])
    if params:
        html.append("<ul>")
        html.extend(
            f"<li><code>{escape(p['name'])}</code> ({escape(p.get('in', ''))})"
            f"{' required' if p.get('required') else ''}</li>"
            for p in params
        )
        html.append("</ul>")
    body = op.get("requestBody", {}).get("content", {}).get("application/json", {})
    if body:
        html.append(
            f"<p>Body schema: <code>{escape(json.dumps(body.get('schema', {})))}</code></p>"
        )
    codes = ", ".join(escape(str(c)) for c in op.get("responses", {}))
    html.append(f"<p>Responses: {codes}</p></section>")
    return "".join(html)
