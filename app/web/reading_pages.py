"""The reading workflow: read state (one article, or all of a filter), saved views
with their own feeds, and the user's time zone.

Handlers parse the form, call one store and redirect (POST/redirect/GET) with a
notice. ``reading_nav`` is the template global behind the header's unread count
and the saved views listed in the navigation.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Path, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from app.core.errors import InvalidInput, NotFound
from app.core.timeline import TimelineFilter
from app.store.audit import AuditStore
from app.store.reading import COUNT_CAP, ReadingStore, check_time_zone
from app.store.saved_views import SavedViewInfo, SavedViewStore, normalise_query
from app.store.users import UserView
from app.web.accounts import render, safe_next
from app.web.auth import Principal, now_utc, require_user, template_user
from app.web.flash import set_notice
from app.web.outgoing import atom_response, csv_response, json_feed_response
from app.web.params import parse_filter

router = APIRouter(include_in_schema=False)
feeds_router = APIRouter(include_in_schema=False)  # under the reader rule, like /feed.atom
UserDep = Annotated[Principal, Depends(require_user)]
ViewId = Annotated[int, Path(ge=1, le=2**31 - 1)]
NAV_VIEWS = 10  # saved views listed (with unread counts) in the header


@dataclass(frozen=True, slots=True)
class NavView:
    view: SavedViewInfo
    unread: int | None  # None when the view's filter no longer parses

    @property
    def href(self) -> str:
        return "/?" + self.view.query if self.view.query else "/"


@dataclass(frozen=True, slots=True)
class Nav:
    unread: int
    views: tuple[NavView, ...]
    cap: int = COUNT_CAP


def reading_nav(request: Request) -> Nav | None:
    """The header's unread count and saved views, for a signed-in user."""
    user = template_user(request)
    if user is None:
        return None
    now = now_utc()
    with request.app.state.db.read() as session:
        store = ReadingStore(session)
        views = SavedViewStore(session).visible_to(user.id)[:NAV_VIEWS]
        listed = []
        for v in views:
            flt = _view_filter(request, v)
            count = store.unread_count(user.id, flt, now=now) if flt else None
            listed.append(NavView(v, count))
        return Nav(store.unread_count(user.id, TimelineFilter(), now=now), tuple(listed))


def _view_filter(request: Request, view: SavedViewInfo) -> TimelineFilter | None:
    try:
        return parse_filter(request, query=view.query)
    except InvalidInput:
        return None


# -- read state ------------------------------------------------------------------


@router.post("/articles/{article_id}/read")
def mark_read(
    request: Request,
    article_id: int,
    user: UserDep,
    read: Annotated[str, Form()] = "yes",
    next: Annotated[str, Form(max_length=2000)] = "/",
    also: Annotated[list[int] | None, Form()] = None,
) -> Response:
    """One card's read state: its article and the copies of its story folded into it."""
    ids = [article_id, *(also or [])[:50]]
    with request.app.state.db.write() as session:
        store = ReadingStore(session)
        if read == "no":
            for one in ids:
                store.mark_unread(user.user.id, one)
        else:
            store.mark_read(user.user.id, ids, now=now_utc())
    return RedirectResponse(safe_next(next), status_code=303)


@router.post("/read/all")
def mark_all_read(
    request: Request,
    user: UserDep,
    query: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    """Every unread article of the filter in ``query`` (the timeline's query string)."""
    flt = parse_filter(request, query=normalise_query(query))
    with request.app.state.db.write() as session:
        marked = ReadingStore(session).mark_all_read(user.user.id, flt, now=now_utc())
    response = RedirectResponse(_timeline(query), status_code=303)
    set_notice(response, "marked-read", marked)
    return response


def _timeline(query: str) -> str:
    clean = normalise_query(query)
    return "/?" + clean if clean else "/"


# -- saved views -------------------------------------------------------------------


@router.get("/views", response_class=HTMLResponse)
def list_views(request: Request, user: UserDep) -> HTMLResponse:
    with request.app.state.db.read() as session:
        views = SavedViewStore(session).visible_to(user.user.id)
    return render(request, "views.html", {"views": views})


@router.post("/views")
def save_view(
    request: Request,
    user: UserDep,
    name: Annotated[str, Form(max_length=200)],
    query: Annotated[str, Form(max_length=2000)] = "",
    shared: Annotated[str, Form()] = "",
) -> Response:
    parse_filter(request, query=normalise_query(query))  # the timeline's own checks
    now = now_utc()
    with request.app.state.db.write() as session:
        view = SavedViewStore(session).create(
            name, query, by=user.user, shared=shared == "yes", now=now
        )
        _audit(session, "view.create", user.user, view, now)
    response = RedirectResponse(_timeline(view.query), status_code=303)
    set_notice(response, "view-saved", view.name)
    return response


@router.post("/views/{view_id}/delete")
def delete_view(request: Request, view_id: ViewId, user: UserDep) -> Response:
    now = now_utc()
    with request.app.state.db.write() as session:
        view = SavedViewStore(session).delete(view_id, by=user.user)
        _audit(session, "view.delete", user.user, view, now)
    response = RedirectResponse("/views", status_code=303)
    set_notice(response, "view-deleted", view.name)
    return response


def _audit(session: Any, action: str, user: UserView, view: SavedViewInfo, now: Any) -> None:
    detail = {"name": view.name, "query": view.query, "shared": view.shared}
    AuditStore(session).record(
        action, now=now, user_id=user.id, target_type="view", target_id=view.id, detail=detail
    )


# -- a view's own feeds (reader rule: team views are public when reading is) --------


def _feed_view(request: Request, view_id: int) -> tuple[SavedViewInfo, TimelineFilter]:
    user = template_user(request)
    with request.app.state.db.read() as session:
        store = SavedViewStore(session)
        if user is None:
            view = next((v for v in store.team_views() if v.id == view_id), None)
            if view is None:  # personal views are not revealed to visitors
                raise NotFound(f"no team view with id {view_id}; log in for your own views")
        else:
            view = store.get(view_id, by=user)
    return view, parse_filter(request, query=view.query)


@feeds_router.get("/views/{view_id}/feed.atom")
def view_atom(request: Request, view_id: ViewId) -> Response:
    view, flt = _feed_view(request, view_id)
    return atom_response(request, flt, title=f"newsmon: {view.name}")


@feeds_router.get("/views/{view_id}/feed.json")
def view_json(request: Request, view_id: ViewId) -> Response:
    view, flt = _feed_view(request, view_id)
    return json_feed_response(request, flt, title=f"newsmon: {view.name}")


@feeds_router.get("/views/{view_id}/export.csv")
def view_csv(request: Request, view_id: ViewId) -> Response:
    _, flt = _feed_view(request, view_id)
    return csv_response(request, flt)


# -- time zone -----------------------------------------------------------------------

ZONE_COOKIE = "tz"  # set by newsmon.js from the browser's Intl time zone


def reader_zone(request: Request) -> str:
    """The signed-in user's chosen zone, else the browser's (the ``tz`` cookie), else UTC."""
    cached: str | None = getattr(request.state, "reader_zone", None)
    if cached:
        return cached
    zone = None
    user = template_user(request)
    if user is not None:
        with request.app.state.db.read() as session:
            zone = ReadingStore(session).preferences(user.id).time_zone
    if zone is None:
        try:
            zone = check_time_zone(request.cookies.get(ZONE_COOKIE, ""))
        except InvalidInput:
            zone = "UTC"
    request.state.reader_zone = zone
    return zone


def zone_context(request: Request) -> dict[str, object]:
    """Added to every template: ``tz``, the zone the date filters use."""
    return {"tz": reader_zone(request), "zones": COMMON_ZONES}


COMMON_ZONES = (
    "UTC",
    "Europe/London",
    "Europe/Berlin",
    "Europe/Paris",
    "Europe/Madrid",
    "Europe/Rome",
    "Europe/Amsterdam",
    "America/New_York",
    "America/Chicago",
    "America/Los_Angeles",
    "Asia/Singapore",
    "Asia/Tokyo",
    "Australia/Sydney",
)


@router.post("/account/time-zone")
def set_time_zone(
    request: Request, user: UserDep, time_zone: Annotated[str, Form(max_length=64)] = ""
) -> Response:
    with request.app.state.db.write() as session:
        ReadingStore(session).set_time_zone(user.user.id, time_zone.strip() or None)
    return RedirectResponse("/account", status_code=303)


def view_links(view: SavedViewInfo) -> dict[str, str]:
    """The view's timeline and feed addresses, for templates."""
    base = f"/views/{view.id}"
    return {
        "timeline": _timeline(view.query),
        "atom": base + "/feed.atom",
        "json": base + "/feed.json",
        "csv": base + "/export.csv",
    }
