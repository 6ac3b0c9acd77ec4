"""HTML pages, rendered from the same view-models as the API."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from app.store.reading import ReadingStore
from app.web.auth import now_utc, template_user
from app.web.deps import ReadSession, ends_transaction
from app.web.flash import clear_notice
from app.web.params import parse_filter, parse_group
from app.web.reading_pages import reader_zone
from app.web.views import article_view, feeds_view, timeline_view, with_reading

router = APIRouter(include_in_schema=False)


def render(request: Request, name: str, context: Mapping[str, object]) -> HTMLResponse:
    response: HTMLResponse = request.app.state.templates.TemplateResponse(
        request, name, dict(context)
    )
    clear_notice(request, response)
    return response


@router.get("/", response_class=HTMLResponse)
@ends_transaction
def timeline(request: Request, session: ReadSession) -> HTMLResponse:
    query = list(request.query_params.multi_items())
    view = timeline_view(
        session, parse_filter(request), query, with_chart=True, group=parse_group(request)
    )
    view = replace(view, zone=reader_zone(request))
    user = template_user(request)
    if user is not None:
        view = with_reading(request.app.state.db, view, user.id, now_utc())
    return render(request, "timeline.html", {"view": view})


@router.get("/articles/{article_id}", response_class=HTMLResponse)
@ends_transaction
def article(request: Request, article_id: int, session: ReadSession) -> HTMLResponse:
    view = article_view(session, article_id)
    user = template_user(request)
    if user is not None:  # opening an article reads it
        with request.app.state.db.write() as writing:
            ReadingStore(writing).mark_read(user.id, [article_id], now=now_utc())
    return render(request, "article.html", {"view": view})


@router.get("/feeds", response_class=HTMLResponse)
@ends_transaction
def feeds(request: Request, session: ReadSession) -> HTMLResponse:
    return render(request, "feeds.html", {"feeds": feeds_view(session)})


@router.get("/metrics")
def metrics(request: Request) -> Response:
    return Response(request.app.state.metrics.render(), media_type="text/plain; version=0.0.4")
