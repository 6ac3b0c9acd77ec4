"""JSON API v1, the editors' part: flags, theme overrides, feed changes, themes.

Writes need the editor role and, with a bearer token, the ``write`` scope; a
cookie session must also send ``X-CSRF-Token`` (see ``web.csrf``). Every write
is audited in the same transaction as the change.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field, StrictBool
from sqlalchemy.orm import Session
from starlette.convertors import Convertor, register_url_convertor

from app.core.errors import NotFound
from app.core.timeline import THEMES
from app.services import subscriptions
from app.store.articles import ArticleStore
from app.store.audit import AuditStore
from app.store.feeds import FeedStore
from app.store.flags import MAX_NOTE, FlagQuery, FlagStore, FlagView
from app.web.auth import Principal, now_utc, require_editor
from app.web.deps import ReadSession, SettingsDep, WriteSession, ends_transaction
from app.web.schemas import ArticleOut, FeedOut

router = APIRouter(prefix="/api/v1", tags=["editors"])
Editor = Annotated[Principal, Depends(require_editor)]
# Ids are 32-bit INTEGER columns on PostgreSQL: a larger value is a 422, not a driver error.
Id = Annotated[int, Path(ge=1, le=2**31 - 1)]
FlagKind = Literal["important", "irrelevant", "wrong-theme", "follow-up"]
ThemeKey = Literal["security", "regulatory", "market"]


class Digits(Convertor[str]):
    """A path segment of digits, kept as text (``deps.ids_in_range`` still sees it)."""

    regex = "[0-9]+"

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


register_url_convertor("digits", Digits())


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


class FlagQueueOut(BaseModel):
    items: list[FlagOut]
    next_cursor: str | None = Field(description="Pass back as cursor for the next page")


class FlagPatchIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"status": "resolved"}, {"assignee": None, "note": "Checked"}]
        },
    )
    status: Literal["open", "resolved"] | None = Field(None, description="Resolve or reopen")
    assignee: str | None = Field(
        None,
        max_length=64,
        description="An existing user's name (else a 400); null or empty: unassigned",
    )
    note: str | None = Field(None, max_length=MAX_NOTE, description="Replaces the note")


class ThemePatchIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"add": ["security"], "remove": [], "relevant": True}],
            # A theme cannot be added and removed at once (else a 400).
            "not": {
                "anyOf": [
                    {
                        "required": ["add", "remove"],
                        "properties": {
                            "add": {"contains": {"const": key}},
                            "remove": {"contains": {"const": key}},
                        },
                    }
                    for key in THEMES
                ]
            },
        },
    )
    add: list[ThemeKey] = Field(default_factory=list, max_length=len(THEMES))
    remove: list[ThemeKey] = Field(default_factory=list, max_length=len(THEMES))
    # Strict: 0, 1, "yes" or "true" (a string) are refused, not read as booleans.
    relevant: StrictBool | None = Field(None, description="true/false overrides; null leaves it")


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
    "/flags",
    response_model=FlagQueueOut,
    summary="The editors' queue: flags, oldest first",
    responses=problems(400, 401, 422),
)
@ends_transaction
def flag_queue(
    session: ReadSession,
    kind: Annotated[FlagKind | None, Query(description="Only flags of this kind")] = None,
    status: Annotated[
        Literal["open", "resolved"] | None, Query(description="Open or resolved; both if absent")
    ] = None,
    assignee: Annotated[
        str | None,
        Query(max_length=64, description="Assigned to this user name; empty: unassigned"),
    ] = None,
    article: Annotated[int | None, Query(ge=1, le=2**31 - 1, description="Article id")] = None,
    limit: Annotated[int, Query(ge=1, le=200, description="Flags per page")] = 50,
    cursor: Annotated[
        str | None,
        Query(
            pattern=r"^[1-9][0-9]{0,9}$",
            description="The previous page's next_cursor",
            json_schema_extra={"format": "newsmon-flag-cursor"},
        ),
    ] = None,
) -> FlagQueueOut:
    after = int(cursor) if cursor else 0
    query = FlagQuery(kind, status, assignee, article, after_id=after, limit=limit)
    views, last = FlagStore(session).page(query)
    return FlagQueueOut(items=[FlagOut.of(f) for f in views], next_cursor=_str(last))


def _str(value: int | None) -> str | None:
    return None if value is None else str(value)


@router.patch(
    "/flags/{flag_id}",
    response_model=FlagOut,
    summary="Resolve, reopen, assign or annotate a flag (editor)",
    responses=problems(400, 401, 403, 404, 422),
)
@ends_transaction
def patch_flag(flag_id: Id, body: FlagPatchIn, who: Editor, session: WriteSession) -> FlagOut:
    """Any of `status`, `assignee`, `note`; the fields left out stay as they are. Each
    change is audited like the same action on the flags page."""
    store, now = FlagStore(session), now_utc()
    flag = store.get(flag_id)
    done: list[tuple[str, dict[str, Any]]] = []
    if body.status == "resolved":
        flag = store.resolve(flag_id, user_id=who.user.id, now=now)
        done.append(("flag.resolve", {}))
    elif body.status == "open":
        flag = store.reopen(flag_id, now=now)
        done.append(("flag.reopen", {}))
    if "assignee" in body.model_fields_set:
        flag = store.assign(flag_id, body.assignee or None, now=now)
        done.append(("flag.assign", {"assignee": body.assignee or ""}))
    if body.note is not None:
        flag = store.annotate(flag_id, body.note, now=now)
        done.append(("flag.note", {}))
    for action, detail in done:  # the same entries as the flags page writes
        _audit(session, action, who, "article", flag.article_id, flag=flag_id, **detail)
    return FlagOut.of(flag)


@router.get(
    "/articles/{article_id}/flags",
    response_model=FlagListOut,
    summary="Every flag of an article, open and resolved",
    responses=problems(401, 404),
)
@ends_transaction
def list_flags(article_id: Id, session: ReadSession) -> FlagListOut:
    return FlagListOut(items=[FlagOut.of(f) for f in FlagStore(session).history(article_id)])


@router.post(
    "/articles/{article_id}/flags",
    response_model=FlagOut,
    status_code=201,
    summary="Flag an article (editor)",
    responses=problems(400, 401, 403, 404),
)
@ends_transaction
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
@ends_transaction
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
@ends_transaction
def patch_themes(
    article_id: Id, body: ThemePatchIn, who: Editor, session: WriteSession, settings: SettingsDep
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
    return ArticleOut.of(article, settings.public_base)


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
    "/feeds/{feed_id:digits}",  # only digits: DELETE /feeds/import is a 405, not a 422
    status_code=204,
    summary="Unsubscribe a feed and drop the articles only it carried (editor)",
    responses=problems(401, 403, 404),
)
@ends_transaction
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
