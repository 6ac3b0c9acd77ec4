"""Who is asking: session cookie or ``Authorization: Bearer``, and the role rules.

Deny by default: every route gets one of ``require_reader`` (reading; open when
``public_read`` is on), ``require_role("editor")`` or ``require_role("admin")``.
A bearer token wins over cookies, and a bad bearer token is a 401, never a fall
back to the cookie. The principal lands on ``request.state.user`` for templates.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from argon2 import PasswordHasher
from fastapi import FastAPI, Request
from sqlalchemy.orm import Session

from app.core.errors import PermissionDenied, Unauthenticated
from app.store.db import Database
from app.store.limits import RateLimit, RateLimitStore
from app.store.users import UserStore, UserView

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
COOKIE = "newsmon_session"
SECURE_COOKIE = "__Host-newsmon_session"  # __Host-: Secure, Path=/, no Domain (HTTPS only)


class SlidingWindow:
    """At most ``limit`` failures per key in the last ``window`` seconds.

    The count lives in the database (``RateLimitStore``), so every web worker on every
    host of one database enforces the same limit: N workers do not allow N × limit.
    """

    def __init__(self, db: Database, bucket: str, *, limit: int, window: float) -> None:
        self.db = db
        self.rule = RateLimit(bucket, limit, timedelta(seconds=window))

    def check(self, key: str, *, now: float) -> None:
        with self.db.read() as session:
            self.check_in(session, key, now=now)

    def check_in(self, session: Session, key: str, *, now: float) -> None:
        """``check`` inside a read the caller has open (one transaction, not two)."""
        RateLimitStore(session).check(self.rule, key, now=_at(now))

    def hit(self, key: str, *, now: float) -> None:
        with self.db.write() as session:
            RateLimitStore(session).hit(self.rule, key, now=_at(now))


def _at(timestamp: float) -> datetime:
    return datetime.fromtimestamp(timestamp, UTC)


@dataclass(frozen=True, slots=True)
class Principal:
    user: UserView
    via: str  # session | token
    scope: str = "write"  # a token's scope; sessions may do what the role allows
    session_hash: str | None = None
    csrf_token: str | None = None


def now_utc() -> datetime:
    return datetime.now(UTC)


def hasher(request: Request) -> PasswordHasher:
    found: PasswordHasher = request.app.state.password_hasher
    return found


def is_https(request: Request) -> bool:
    return request.url.scheme == "https"


def session_cookie_name(request: Request) -> str:
    return SECURE_COOKIE if is_https(request) else COOKIE


def raw_session_id(request: Request) -> str | None:
    return request.cookies.get(SECURE_COOKIE) or request.cookies.get(COOKIE)


def bearer_token(request: Request) -> str | None:
    header = request.headers.get("authorization")
    if header is None:
        return None
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        raise Unauthenticated("malformed Authorization header; use 'Bearer <token>'")
    return value.strip()


def current_principal(request: Request) -> Principal | None:
    """The caller, resolved once per request; None for anonymous."""
    if hasattr(request.state, "principal"):
        cached: Principal | None = request.state.principal
        return cached
    principal = _resolve(request)
    request.state.principal = principal
    request.state.user = principal.user if principal else None
    return principal


def _resolve(request: Request) -> Principal | None:
    db: Database = request.app.state.db
    token = bearer_token(request)
    now = now_utc()
    if token is not None:
        return _from_token(request, db, token, now)
    raw = raw_session_id(request)
    if raw is None:
        return None
    with db.read() as session:
        store = UserStore(session)
        info = store.resolve_session(raw, now=now)
        slide = info is not None and store.needs_slide(info.id_hash, now=now)
    if info is None:
        request.state.stale_session = True
        return None
    if slide:
        with db.write() as session:
            UserStore(session).slide_session(info.id_hash, now=now)
    return Principal(info.user, "session", "write", info.id_hash, info.csrf_token)


def _from_token(request: Request, db: Database, token: str, now: datetime) -> Principal:
    limiter: SlidingWindow = request.app.state.token_limiter
    address = client_address(request)
    with db.read() as session:
        found = UserStore(session).token_use(token, now=now)
        if found is None:
            # The limit stops guessing, so it weighs on failures only: a live token (256
            # random bits: never guessed) is not refused because a scanner behind the same
            # address failed, and every good request is spared a second query.
            limiter.check_in(session, address, now=now.timestamp())
    if found is None:
        limiter.hit(address, now=now.timestamp())
        raise Unauthenticated("invalid or revoked API token")
    if found.needs_touch:
        with db.write() as session:
            UserStore(session).touch_token(token, now=now)
    return Principal(found.user, "token", found.scope)


def client_address(request: Request) -> str:
    # X-Forwarded-For is never read here: anyone can send it. Behind a proxy listed in
    # NEWSMON_TRUSTED_PROXIES, uvicorn sets request.client from that proxy's header;
    # from anyone else the header is ignored (``newsmon serve``).
    return request.client.host if request.client else "unknown"


def require_reader(request: Request) -> None:
    principal = current_principal(request)
    if principal is None and not request.app.state.settings.public_read:
        raise Unauthenticated("log in to read")


def require_user(request: Request) -> Principal:
    principal = current_principal(request)
    if principal is None:
        raise Unauthenticated("log in first")
    return principal


def require_role(role: str) -> Callable[[Request], Principal]:
    """Dependency: the caller has ``role`` or higher; a read-scope token may only read."""

    def dependency(request: Request) -> Principal:
        principal = require_user(request)
        if not principal.user.has_role(role):
            raise PermissionDenied(f"this needs the {role} role")
        if request.method not in SAFE_METHODS and principal.scope != "write":
            raise PermissionDenied("this token has the read scope only")
        return principal

    dependency.__name__ = f"require_{role}"
    return dependency


require_viewer = require_role("viewer")
require_editor = require_role("editor")
require_admin = require_role("admin")


def template_user(request: Request) -> UserView | None:
    user: UserView | None = getattr(request.state, "user", None)
    if user is None and not hasattr(request.state, "principal"):
        try:
            principal = current_principal(request)
        except Unauthenticated:
            return None
        user = principal.user if principal else None
    return user


def install(app: FastAPI, password_hasher: PasswordHasher | None = None) -> None:
    """Per-app state (hasher, rate limits) and the ``current_user`` template global.

    The ``csrf_token`` global is ``csrf.install``'s: csrf builds on auth, not the reverse."""
    app.state.password_hasher = password_hasher or PasswordHasher()
    db: Database = app.state.db
    app.state.login_limiter_account = SlidingWindow(db, "login-account", limit=5, window=900)
    app.state.login_limiter_address = SlidingWindow(db, "login-address", limit=20, window=900)
    app.state.token_limiter = SlidingWindow(db, "token", limit=30, window=60)
    env = app.state.templates.env
    env.globals["current_user"] = template_user
