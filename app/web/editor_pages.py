"""Editor pages: flag forms, the /flags queue, theme overrides, OPML import and
"Enable again" on /feeds; the admin's /audit and /users.

Handlers parse the form, call one store, record the audit entry in the same
transaction, and redirect (POST/redirect/GET), so a reload never repeats an action.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Path, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from app.core.errors import Conflict, InvalidInput, NotFound
from app.core.timeline import FLAG_KINDS, THEMES
from app.services.subscriptions import enable_feed, import_subscriptions, subscribe_checked
from app.store.articles import ArticleStore
from app.store.audit import AuditStore
from app.store.feeds import FeedStore
from app.store.flags import FlagStore
from app.store.overrides import OverrideChange, OverrideStore
from app.store.users import ROLES, UserStore, UserView
from app.web.accounts import render, safe_next
from app.web.audit_text import GROUPS, describe
from app.web.auth import Principal, hasher, now_utc, require_admin, require_editor
from app.web.deps import Upload
from app.web.flash import set_notice
from app.web.params import parse_time
from app.web.views import feeds_view

router = APIRouter(include_in_schema=False)
Editor = Annotated[Principal, Depends(require_editor)]
Admin = Annotated[Principal, Depends(require_admin)]
IMPORT_PAGE = "/feeds/import"
AUDIT_PAGE = 200


def back(target: str | None, default: str = "/flags") -> RedirectResponse:
    return RedirectResponse(safe_next(target) if target else default, status_code=303)


@router.get("/flags", response_class=HTMLResponse)
def flags_queue(request: Request, editor: Editor) -> HTMLResponse:
    with request.app.state.db.read() as session:
        flags = FlagStore(session).open_flags()
        users = [u for u in UserStore(session).all() if u.has_role("editor")]
    return render(request, "flags.html", {"flags": flags, "editors": users, "kinds": FLAG_KINDS})


@router.post("/articles/{article_id}/flags")
def flag_article(
    request: Request,
    article_id: int,
    editor: Editor,
    kind: Annotated[str, Form()],
    note: Annotated[str, Form(max_length=2000)] = "",
    next: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    now = now_utc()
    with request.app.state.db.write() as session:
        flag = FlagStore(session).create(article_id, kind, note, user_id=editor.user.id, now=now)
        AuditStore(session).record(
            "flag.create",
            now=now,
            user_id=editor.user.id,
            target_type="article",
            target_id=article_id,
            detail={"flag": flag.id, "kind": kind},
        )
    if kind == "wrong-theme":  # the flag says the themes are wrong: go and fix them
        response = RedirectResponse(f"/articles/{article_id}/themes", status_code=303)
    else:
        response = back(next, "/")
    set_notice(response, "flagged", kind)
    return response


@router.post("/flags/{flag_id}/resolve")
def resolve_flag(
    request: Request, flag_id: int, editor: Editor, next: Annotated[str, Form()] = ""
) -> Response:
    """Close the flag as confirmed (an "irrelevant" article stays hidden)."""
    return _close_flag(request, flag_id, editor, next, dismiss=False)


@router.post("/flags/{flag_id}/dismiss")
def dismiss_flag(
    request: Request, flag_id: int, editor: Editor, next: Annotated[str, Form()] = ""
) -> Response:
    """Close the flag as mistaken ("not irrelevant after all": the article comes back)."""
    return _close_flag(request, flag_id, editor, next, dismiss=True)


def _close_flag(
    request: Request, flag_id: int, editor: Principal, next: str, *, dismiss: bool
) -> Response:
    now = now_utc()
    with request.app.state.db.write() as session:
        store = FlagStore(session)
        close = store.dismiss if dismiss else store.resolve
        flag = close(flag_id, user_id=editor.user.id, now=now)
        action = "flag.dismiss" if dismiss else "flag.resolve"
        _audit_flag(session, action, editor, flag.id, flag.article_id, now)
    response = back(next)
    set_notice(response, "dismissed" if dismiss else "resolved")
    return response


@router.post("/flags/{flag_id}/assign")
def assign_flag(
    request: Request,
    flag_id: int,
    editor: Editor,
    assignee: Annotated[str, Form(max_length=64)] = "",
) -> Response:
    now = now_utc()
    with request.app.state.db.write() as session:
        flag = FlagStore(session).assign(flag_id, assignee or None)
        _audit_flag(session, "flag.assign", editor, flag.id, flag.article_id, now, assignee)
    return back("/flags")


@router.post("/flags/{flag_id}/delete")
def delete_flag(request: Request, flag_id: int, editor: Editor) -> Response:
    now = now_utc()
    with request.app.state.db.write() as session:
        flag = FlagStore(session).delete(flag_id, by=editor.user)
        _audit_flag(session, "flag.delete", editor, flag.id, flag.article_id, now)
    return back("/flags")


def _audit_flag(
    session: Session,
    action: str,
    editor: Principal,
    flag_id: int,
    article_id: int,
    now: datetime,
    assignee: str | None = None,
) -> None:
    detail: dict[str, object] = {"flag": flag_id}
    if assignee is not None:
        detail["assignee"] = assignee
    AuditStore(session).record(
        action,
        now=now,
        user_id=editor.user.id,
        target_type="article",
        target_id=article_id,
        detail=detail,
    )


@router.get("/articles/{article_id}/themes", response_class=HTMLResponse)
def themes_form(request: Request, article_id: int, editor: Editor) -> HTMLResponse:
    with request.app.state.db.read() as session:
        article = ArticleStore(session).get(article_id)
        if article is None:
            raise NotFound(f"no article with id {article_id}")
        history = FlagStore(session).history(article_id)
        text = ArticleStore(session).detail(article_id).text
    current = {t.key for t in article.themes}
    context = {
        "article": article,
        "text": text,
        "themes": THEMES,
        "current": current,
        "history": history,
    }
    return render(request, "overrides.html", context)


@router.post("/articles/{article_id}/themes")
def save_themes(
    request: Request,
    article_id: int,
    editor: Editor,
    theme: Annotated[list[str] | None, Form()] = None,
    relevant: Annotated[str, Form()] = "",
) -> Response:
    wanted = set(theme or [])
    now = now_utc()
    with request.app.state.db.write() as session:
        article = ArticleStore(session).get(article_id)
        if article is None:
            raise NotFound(f"no article with id {article_id}")
        current = {t.key for t in article.themes}
        change = OverrideChange(
            add=tuple(sorted(wanted - current)),
            remove=tuple(sorted(current - wanted)),
            relevant={"yes": True, "no": False}.get(relevant),
        )
        OverrideStore(session).apply(article_id, change, user_id=editor.user.id, now=now)
        AuditStore(session).record(
            "article.override",
            now=now,
            user_id=editor.user.id,
            target_type="article",
            target_id=article_id,
            detail={
                "add": list(change.add),
                "remove": list(change.remove),
                "relevant": change.relevant,
            },
        )
    return RedirectResponse(f"/articles/{article_id}/themes", status_code=303)


@router.post(IMPORT_PAGE, response_class=HTMLResponse)
def import_opml(request: Request, editor: Editor, document: Upload) -> HTMLResponse:
    """Import, then show /feeds with the summary. No redirect: the summary exists only
    in this response, and a repeated post adds nothing (the feeds are subscribed)."""
    state = request.app.state
    context: dict[str, object] = {}
    status = 200
    try:
        context["report"] = import_subscriptions(
            state.settings, state.db, document, user_id=editor.user.id
        )
    except InvalidInput as exc:  # a broken or hostile document: nothing was added
        context["import_error"], status = str(exc), 400
    with state.db.read() as session:
        context["feeds"] = feeds_view(session)
    return render(request, "feeds.html", context, status)


FeedId = Annotated[int, Path(ge=1, le=2**31 - 1)]


@router.post("/feeds/add", response_class=HTMLResponse)
def add_feed(
    request: Request,
    editor: Editor,
    url: Annotated[str, Form(max_length=2000)],
    title: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    """The API's checks: form and scheme, duplicates, then the address (a host that does
    not resolve yet is added with a warning)."""
    state = request.app.state
    try:
        feed, warning = subscribe_checked(state.settings, state.db, url, title.strip() or None)
    except (InvalidInput, Conflict) as exc:
        with state.db.read() as session:
            context: dict[str, object] = {"feeds": feeds_view(session), "add_url": url}
        context["add_error"] = str(exc)
        return render(request, "feeds.html", context, 409 if isinstance(exc, Conflict) else 400)
    now = now_utc()
    with state.db.write() as session:
        AuditStore(session).record(
            "feed.add",
            now=now,
            user_id=editor.user.id,
            target_type="feed",
            target_id=feed.id,
            detail={"url": feed.url, **({"warning": warning} if warning else {})},
        )
    response = RedirectResponse("/feeds", status_code=303)
    set_notice(response, "feed-added", feed.url + (f" ({warning})" if warning else ""))
    return response


@router.post("/feeds/{feed_id}/poll")
def poll_feed_now(request: Request, feed_id: FeedId, editor: Editor) -> Response:
    with request.app.state.db.write() as session:
        feed = FeedStore(session).poll_soon(feed_id, now=now_utc())
    response = RedirectResponse("/feeds", status_code=303)
    set_notice(response, "feed-polled", feed.name)
    return response


@router.post("/feeds/{feed_id}/remove")
def remove_feed(request: Request, feed_id: FeedId, editor: Editor) -> Response:
    """Unsubscribe; the articles no other feed carries go too (the form asks first)."""
    now = now_utc()
    with request.app.state.db.write() as session:
        store = FeedStore(session)
        feed = store.get(feed_id)
        store.remove(feed_id)
        AuditStore(session).record(
            "feed.remove",
            now=now,
            user_id=editor.user.id,
            target_type="feed",
            target_id=feed_id,
            detail={"url": feed.url},
        )
    response = RedirectResponse("/feeds", status_code=303)
    set_notice(response, "feed-removed", feed.name)
    return response


@router.post("/feeds/{feed_id}/enable")
def enable_disabled_feed(
    request: Request, feed_id: Annotated[int, Path(ge=1, le=2**31 - 1)], editor: Editor
) -> Response:
    enable_feed(request.app.state.db, feed_id, user_id=editor.user.id)
    return RedirectResponse("/feeds", status_code=303)


@router.get("/audit", response_class=HTMLResponse)
def audit(
    request: Request,
    admin: Admin,
    before: int | None = None,
    actor: str = "",
    action: str = "",
    since: str = "",
    until: str = "",
) -> HTMLResponse:
    """The log for people, newest first, filtered by actor, action (or its group) and
    dates (``until`` is inclusive)."""
    now = now_utc()
    start = parse_time(since, "since", now)
    end = parse_time(until, "until", now)
    if end is not None and len(until) == 10:
        end += timedelta(days=1)
    with request.app.state.db.read() as session:
        entries = AuditStore(session).recent(
            limit=AUDIT_PAGE,
            before_id=before,
            actor=actor or None,
            action=action or None,
            since=start,
            until=end,
        )
        names = [u.name for u in UserStore(session).all()]
    context: dict[str, object] = {
        "lines": [describe(e) for e in entries],
        "names": names,
        "groups": GROUPS,
        "chosen": {"actor": actor, "action": action, "since": since, "until": until},
        "more": len(entries) == AUDIT_PAGE,
    }
    return render(request, "audit.html", context)


@router.get("/users", response_class=HTMLResponse)
def users(request: Request, admin: Admin) -> HTMLResponse:
    return _users_page(request)


def _users_page(
    request: Request, *, error: str | None = None, confirm: UserView | None = None
) -> HTMLResponse:
    with request.app.state.db.read() as session:
        found = UserStore(session).all()
    context: dict[str, object] = {"users": found, "roles": ROLES, "error": error}
    context["confirm"] = confirm
    return render(request, "users.html", context, 409 if error else 200)


@router.post("/users")
def add_user(
    request: Request,
    admin: Admin,
    name: Annotated[str, Form(max_length=64)],
    password: Annotated[str, Form(max_length=1024)],
    role: Annotated[str, Form()] = "viewer",
) -> Response:
    now = now_utc()
    with request.app.state.db.write() as session:
        user = UserStore(session, hasher(request)).create(name, password, role, now=now)
        _audit_user(session, "user.add", admin, user.id, now, name=user.name, role=role)
    return RedirectResponse("/users", status_code=303)


@router.post("/users/{user_id}/role")
def change_role(
    request: Request, user_id: int, admin: Admin, role: Annotated[str, Form()]
) -> Response:
    """The role only: never the account's state."""
    now = now_utc()
    try:
        with request.app.state.db.write() as session:
            user = UserStore(session).set_role(user_id, role)
            _audit_user(session, "user.role", admin, user_id, now, name=user.name, role=role)
    except Conflict as exc:
        return _users_page(request, error=str(exc))
    return RedirectResponse("/users", status_code=303)


@router.post("/users/{user_id}/disable")
def disable_user(
    request: Request, user_id: int, admin: Admin, confirm: Annotated[str, Form()] = ""
) -> Response:
    """Without ``confirm=yes`` this only asks; with it, the account is disabled (its
    sessions and tokens end)."""
    if confirm != "yes":
        with request.app.state.db.read() as session:
            target = UserStore(session).get(user_id)
        return _users_page(request, confirm=target)
    now = now_utc()
    try:
        with request.app.state.db.write() as session:
            user = UserStore(session).set_disabled(user_id, True, now=now)
            _audit_user(session, "user.disable", admin, user_id, now, name=user.name)
    except Conflict as exc:
        return _users_page(request, error=str(exc))
    return RedirectResponse("/users", status_code=303)


@router.post("/users/{user_id}/enable")
def enable_user(request: Request, user_id: int, admin: Admin) -> Response:
    now = now_utc()
    with request.app.state.db.write() as session:
        user = UserStore(session).set_disabled(user_id, False, now=now)
        _audit_user(session, "user.enable", admin, user_id, now, name=user.name)
    return RedirectResponse("/users", status_code=303)


def _audit_user(
    session: Session, action: str, admin: Principal, user_id: int, now: datetime, **detail: str
) -> None:
    AuditStore(session).record(
        action, now=now, user_id=admin.user.id, target_type="user", target_id=user_id, detail=detail
    )
