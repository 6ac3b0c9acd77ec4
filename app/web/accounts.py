"""Login, logout and the account page (password change, own API tokens)."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import unquote, urlsplit

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from app.core.errors import InvalidInput, PermissionDenied
from app.store.audit import AuditStore
from app.store.db import Database
from app.store.users import SESSION_IDLE, UserStore, sha256
from app.web.auth import (
    COOKIE,
    SECURE_COOKIE,
    Principal,
    SlidingWindow,
    client_address,
    hasher,
    is_https,
    now_utc,
    raw_session_id,
    require_user,
    session_cookie_name,
)
from app.web.csrf import PRE_COOKIE, SECURE_PRE_COOKIE, attach_pre_session_cookie
from app.web.flash import clear_notice

router = APIRouter(include_in_schema=False)
UserDep = Annotated[Principal, Depends(require_user)]


def render(
    request: Request, name: str, context: dict[str, object], status: int = 200
) -> HTMLResponse:
    response: HTMLResponse = request.app.state.templates.TemplateResponse(
        request, name, context, status_code=status, headers={"Cache-Control": "no-store"}
    )
    attach_pre_session_cookie(request, response)
    clear_notice(request, response)
    return response


def safe_next(target: str | None) -> str:
    """Only a same-origin path; anything that could leave the site becomes ``/``."""
    if not target or not target.startswith("/") or "\\" in target:
        return "/"
    if any(ord(c) < 32 or ord(c) == 127 for c in target):
        return "/"
    decoded = unquote(target)
    if decoded.startswith(("//", "/\\")) or "\\" in decoded:
        return "/"
    parts = urlsplit(target)
    return "/" if parts.scheme or parts.netloc else target


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request, next: str = "/") -> HTMLResponse:
    return render(request, "login.html", {"next": safe_next(next), "error": None})


@router.post("/login", response_class=HTMLResponse)
def login(
    request: Request,
    username: Annotated[str, Form(max_length=64)],
    password: Annotated[str, Form(max_length=1024)],
    next: Annotated[str, Form(max_length=2000)] = "/",
) -> Response:
    db: Database = request.app.state.db
    now = now_utc()
    by_account: SlidingWindow = request.app.state.login_limiter_account
    by_address: SlidingWindow = request.app.state.login_limiter_address
    account, address = username.strip().casefold(), client_address(request)
    # Both limits are checked before any password work, so a locked account costs nothing.
    by_account.check(account, now=now.timestamp())
    by_address.check(address, now=now.timestamp())
    with db.write() as session:
        store = UserStore(session, hasher(request))
        user = store.authenticate(username.strip(), password)
        audit = AuditStore(session)
        if user is None:
            audit.record("login.failed", now=now, detail={"name": username[:64], "from": address})
        else:
            old = raw_session_id(request)
            if old:  # rotate: the pre-login session id never survives login
                store.end_session(sha256(old))
            raw, _ = store.start_session(user.id, now=now)
            audit.record("login", now=now, user_id=user.id, target_type="user", target_id=user.id)
    if user is None:
        by_account.hit(account, now=now.timestamp())
        by_address.hit(address, now=now.timestamp())
        context: dict[str, object] = {
            "next": safe_next(next),
            "error": "Wrong user name or password.",
        }
        return render(request, "login.html", context, status=401)
    response = RedirectResponse(safe_next(next), status_code=303)
    set_session_cookie(request, response, raw)
    response.delete_cookie(SECURE_PRE_COOKIE if is_https(request) else PRE_COOKIE, path="/")
    return response


def set_session_cookie(request: Request, response: Response, raw: str) -> None:
    response.set_cookie(
        session_cookie_name(request),
        raw,
        max_age=int(SESSION_IDLE.total_seconds()),
        path="/",
        httponly=True,
        samesite="lax",
        secure=is_https(request),
    )


@router.post("/logout")
def logout(request: Request, user: UserDep) -> Response:
    db: Database = request.app.state.db
    with db.write() as session:
        if user.session_hash:
            UserStore(session).end_session(user.session_hash)
        AuditStore(session).record("logout", now=now_utc(), user_id=user.user.id)
    response = RedirectResponse("/", status_code=303)
    for name in (COOKIE, SECURE_COOKIE):
        response.delete_cookie(name, path="/", secure=name == SECURE_COOKIE, httponly=True)
    return response


# The raw token, carried from the POST to the one GET that shows it.
NEW_TOKEN_COOKIE = "new_token"  # noqa: S105 (a cookie name, not a secret)


@router.get("/account", response_class=HTMLResponse)
def account(request: Request, user: UserDep) -> HTMLResponse:
    """Shows a token created just before (POST/redirect/GET) once, then forgets it."""
    raw = request.cookies.get(NEW_TOKEN_COOKIE)
    new_token = None
    if raw:
        with request.app.state.db.read() as session:
            owner = UserStore(session).resolve_token(raw, now=now_utc())
        new_token = raw if owner and owner[0].id == user.user.id else None
    message = "Copy the token now." if new_token else None
    response = _account_page(request, user, new_token=new_token, message=message)
    if raw:
        response.delete_cookie(NEW_TOKEN_COOKIE, path="/account", secure=is_https(request))
    return response


def _account_page(
    request: Request,
    user: Principal,
    *,
    new_token: str | None = None,
    message: str | None = None,
    status: int = 200,
) -> HTMLResponse:
    with request.app.state.db.read() as session:
        tokens = UserStore(session).tokens(user.user.id)
    context = {"user": user.user, "tokens": tokens, "new_token": new_token, "message": message}
    return render(request, "account.html", context, status)


@router.post("/account/password", response_class=HTMLResponse)
def change_password(
    request: Request,
    user: UserDep,
    old_password: Annotated[str, Form(max_length=1024)],
    new_password: Annotated[str, Form(max_length=1024)],
) -> Response:
    if user.via != "session":
        raise PermissionDenied("change the password from a browser session")
    db: Database = request.app.state.db
    now = now_utc()
    try:
        with db.write() as session:
            store = UserStore(session, hasher(request))
            store.change_password(user.user.id, old_password, new_password, now=now)
            raw, info = store.start_session(user.user.id, now=now)
            AuditStore(session).record("user.password", now=now, user_id=user.user.id)
    except InvalidInput as exc:
        return _account_page(request, user, message=str(exc), status=400)
    request.state.principal = Principal(
        info.user, "session", "write", info.id_hash, info.csrf_token
    )
    response = _account_page(request, request.state.principal, message="Password changed.")
    set_session_cookie(request, response, raw)
    return response


@router.post("/account/tokens")
def create_token(
    request: Request,
    user: UserDep,
    scope: Annotated[str, Form()] = "read",
    name: Annotated[str, Form(max_length=100)] = "",
) -> Response:
    if scope == "write" and not user.user.has_role("editor"):
        raise PermissionDenied("write tokens need the editor role")
    now = now_utc()
    with request.app.state.db.write() as session:
        token, raw = UserStore(session).create_token(user.user.id, scope, name=name, now=now)
        AuditStore(session).record(
            "token.create", now=now, user_id=user.user.id, target_type="token", target_id=token.id
        )
    # POST/redirect/GET: a reload of /account never makes a second token. The raw token
    # rides in a short-lived cookie for /account only, shown and deleted by that GET.
    response = RedirectResponse("/account", status_code=303)
    response.set_cookie(
        NEW_TOKEN_COOKIE,
        raw,
        max_age=120,
        path="/account",
        httponly=True,
        samesite="strict",
        secure=is_https(request),
    )
    return response


@router.post("/account/tokens/{token_id}/revoke")
def revoke_token(request: Request, token_id: int, user: UserDep) -> Response:
    now = now_utc()
    with request.app.state.db.write() as session:
        UserStore(session).revoke_token(token_id, now=now, owner_id=user.user.id)
        AuditStore(session).record(
            "token.revoke", now=now, user_id=user.user.id, target_type="token", target_id=token_id
        )
    return RedirectResponse("/account", status_code=303)


__all__ = ["router", "safe_next"]
