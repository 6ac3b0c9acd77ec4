"""Full text on the web: a feed's policy through the API (``PATCH /api/v1/feeds/{id}``)
and the /feeds form for editors. Reading the page's text is part of the article
views (``ArticleOut``, ``templates/_fulltext.html``)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Form, Path, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from app.services.fulltext import set_feed_policy
from app.web.api_editor import problems
from app.web.auth import Principal, require_editor
from app.web.schemas import FeedOut

api_router = APIRouter(prefix="/api/v1", tags=["editors"])
page_router = APIRouter(include_in_schema=False)
Editor = Annotated[Principal, Depends(require_editor)]
Id = Annotated[int, Path(ge=1, le=2**31 - 1)]
Policy = Literal["auto", "always", "never"]


class FeedPatchIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"fulltext_policy": "always"}]}
    )
    fulltext_policy: Policy | None = Field(
        description="Fetch the article pages: auto (short entries and news searches), "
        "always, never; null: the server's default (NEWSMON_FULLTEXT_POLICY)."
    )


@api_router.patch(
    "/feeds/{feed_id:digits}",  # only digits: PATCH /feeds/import is a 405, not a 422
    response_model=FeedOut,
    summary="Change a feed's full-text policy (editor)",
    responses=problems(400, 401, 403, 404),
)
def patch_feed(feed_id: Id, change: FeedPatchIn, who: Editor, request: Request) -> FeedOut:
    feed = set_feed_policy(
        request.app.state.db, feed_id, change.fulltext_policy, user_id=who.user.id
    )
    return FeedOut.of(feed)


@page_router.post("/feeds/{feed_id}/fulltext")
def feed_policy_form(
    request: Request,
    feed_id: Id,
    editor: Editor,
    policy: Annotated[Literal["auto", "always", "never", "default"], Form()],
) -> Response:
    chosen = None if policy == "default" else policy
    set_feed_policy(request.app.state.db, feed_id, chosen, user_id=editor.user.id)
    return RedirectResponse("/feeds", status_code=303)
