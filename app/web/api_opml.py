"""JSON API v1, OPML: export every subscription, import a document's feeds (editor).

Export reads like ``GET /api/v1/feeds``. Import takes the OPML document as the
request body (any XML content type) or as the multipart field ``file``, at most
``MAX_OPML_BYTES``; auth, CSRF and audit follow ``POST /api/v1/feeds``, and every
URL takes the same subscribe path (``app.services.subscriptions``).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, ConfigDict

from app.services.subscriptions import ImportReport, export_subscriptions, import_subscriptions
from app.web.api_editor import Editor, problems
from app.web.deps import DbDep, Upload
from app.web.schemas import FeedOut

OPML_TYPE = "text/x-opml"
PREFIX = "/api/v1"
IMPORT_PATH = f"{PREFIX}/feeds/import"
router = APIRouter(prefix=PREFIX, tags=["feeds"])
_TEXT: dict[str, Any] = {"schema": {"type": "string"}}


class ImportCountsOut(BaseModel):
    added: int
    skipped: int
    rejected: int


class RejectedOut(BaseModel):
    url: str
    reason: str


class ImportOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "counts": {"added": 0, "skipped": 1, "rejected": 1},
                    "added": [],
                    "skipped": ["https://example.com/feed.xml"],
                    "rejected": [
                        {
                            "url": "javascript:alert(1)",
                            "reason": "only http and https URLs are allowed, got scheme "
                            "'javascript'",
                        }
                    ],
                }
            ]
        }
    )
    counts: ImportCountsOut
    added: list[FeedOut]
    skipped: list[str]  # already subscribed
    rejected: list[RejectedOut]

    @classmethod
    def of(cls, report: ImportReport) -> ImportOut:
        return cls(
            counts=ImportCountsOut(
                added=len(report.added),
                skipped=len(report.skipped),
                rejected=len(report.rejected),
            ),
            added=[FeedOut.of(f) for f in report.added],
            skipped=list(report.skipped),
            rejected=[RejectedOut(url=r.url, reason=r.reason) for r in report.rejected],
        )


@router.get(
    "/feeds/export.opml",
    response_class=Response,
    summary="Every subscription as an OPML 2.0 download",
    responses={200: {"content": {OPML_TYPE: _TEXT}}, **problems(401)},
)
def export_feeds(db: DbDep) -> Response:
    return Response(
        export_subscriptions(db),
        media_type=f"{OPML_TYPE}; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="newsmon-feeds.opml"'},
    )


@router.post(
    IMPORT_PATH.removeprefix(PREFIX),
    response_model=ImportOut,
    summary="Subscribe to every feed of an OPML document (editor)",
    description="The body is the OPML document (or the multipart field `file`), at most 1 MiB. "
    "Each URL passes the scheme and SSRF checks of `POST /api/v1/feeds`; the answer lists "
    "the feeds added, those already subscribed and those refused, with the reason.",
    responses=problems(400, 401, 403, 413),
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                OPML_TYPE: _TEXT,
                "application/xml": _TEXT,
                "text/xml": _TEXT,
                "multipart/form-data": {
                    "schema": {
                        "type": "object",
                        "properties": {"file": {"type": "string", "format": "binary"}},
                        "required": ["file"],
                    }
                },
            },
        }
    },
)
def import_feeds(who: Editor, document: Upload, request: Request) -> ImportOut:
    state = request.app.state
    return ImportOut.of(
        import_subscriptions(state.settings, state.db, document, user_id=who.user.id)
    )
