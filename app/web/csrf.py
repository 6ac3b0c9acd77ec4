"""CSRF: a synchroniser token on every unsafe request, plus an Origin check.

Logged in, the token lives in the server-side session row. Before login (the
login form itself) it is a signed double-submit cookie: a random value and its
HMAC under ``secret_key``, echoed in the form. The token travels as the form field
``csrf_token`` or the ``X-CSRF-Token`` header. Requests with an ``Authorization``
header carry no ambient credential (cookies are ignored for them), so they are
exempt, and so are API requests without a session cookie (they get a 401).
``csrf_protect`` is an app-wide dependency: a new POST route is covered
without anyone remembering to add it.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets

from fastapi import FastAPI, Request, Response

from app.core.errors import PermissionDenied, Unauthenticated
from app.web.auth import SAFE_METHODS, current_principal, is_https, raw_session_id
from app.web.limits import refuse_oversized

PRE_COOKIE = "newsmon_csrf"
SECURE_PRE_COOKIE = "__Host-newsmon_csrf"
FIELD = "csrf_token"
HEADER = "x-csrf-token"
FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


# RFC 8058 one-click unsubscribe: the mail provider POSTs to the link from the e-mail's
# List-Unsubscribe header, with no cookie, Origin or form token. These handlers act on
# the HMAC-signed token in the URL alone and never read the session, so a cross-site
# request gains nothing a cookie would give it: only someone holding the e-mail's link
# can stop that one alert or digest, which is exactly what the link is for.
# Matched on the path only; the handlers refuse (404) any token that does not verify.
SIGNED_LINKS = re.compile(r"/unsubscribe/[^/]{1,100}")


async def csrf_protect(request: Request) -> None:
    if request.method in SAFE_METHODS or "authorization" in request.headers:
        return
    if request.method == "POST" and SIGNED_LINKS.fullmatch(request.url.path):
        return
    if request.url.path.startswith("/api/") and raw_session_id(request) is None:
        return  # no cookie, no ambient authority: the API answers 401 itself
    check_origin(request)
    expected = expected_token(request)
    supplied = request.headers.get(HEADER) or await _form_token(request)
    if not expected or not supplied or not hmac.compare_digest(expected, supplied):
        raise PermissionDenied("missing or wrong CSRF token; reload the page and try again")


def check_origin(request: Request) -> None:
    """Refuse cross-site requests the browser labels as such (Origin, Sec-Fetch-Site)."""
    origin = request.headers.get("origin")
    own = f"{request.url.scheme}://{request.url.netloc}"
    site = request.headers.get("sec-fetch-site")
    # With Referrer-Policy: no-referrer, Chromium sends "Origin: null" even on
    # same-origin form posts; then Sec-Fetch-Site must vouch for the request.
    if origin == "null" and site != "same-origin":
        raise PermissionDenied("opaque-origin request refused")
    if origin not in (None, "null", own):
        raise PermissionDenied("cross-origin request refused")
    if site is not None and site not in ("same-origin", "none"):
        raise PermissionDenied("cross-site request refused")


def expected_token(request: Request) -> str | None:
    principal = current_principal(request)
    if principal is not None and principal.csrf_token:
        return principal.csrf_token
    return _pre_session_value(request)


async def _form_token(request: Request) -> str | None:
    if not request.headers.get("content-type", "").startswith(FORM_TYPES):
        return None
    form = await request.form()
    refuse_oversized(request)  # a cut body has no token to find: say what really happened
    value = form.get(FIELD)
    return value if isinstance(value, str) else None


def _sign(secret: str, value: str) -> str:
    return hmac.new(secret.encode(), b"csrf:" + value.encode(), hashlib.sha256).hexdigest()


def _pre_session_value(request: Request) -> str | None:
    cookie = request.cookies.get(SECURE_PRE_COOKIE) or request.cookies.get(PRE_COOKIE)
    if not cookie or "." not in cookie:
        return None
    value, _, signature = cookie.rpartition(".")
    secret = request.app.state.settings.secret_key
    return value if hmac.compare_digest(_sign(secret, value), signature) else None


def csrf_token_for(request: Request) -> str:
    """The token a form on this page must carry (template global ``csrf_token``)."""
    try:
        principal = current_principal(request)
    except Unauthenticated:  # a bad bearer token: no form will be accepted anyway
        principal = None
    if principal is not None and principal.csrf_token:
        token: str = principal.csrf_token
        return token
    existing = getattr(request.state, "pre_csrf", None) or _pre_session_value(request)
    if existing:
        return str(existing)
    request.state.pre_csrf = secrets.token_urlsafe(32)
    request.state.pre_csrf_new = True
    return str(request.state.pre_csrf)


def attach_pre_session_cookie(request: Request, response: Response) -> None:
    """Set the pre-session cookie if ``csrf_token_for`` minted a new value."""
    if not getattr(request.state, "pre_csrf_new", False):
        return
    value = request.state.pre_csrf
    secret = request.app.state.settings.secret_key
    https = is_https(request)
    response.set_cookie(
        SECURE_PRE_COOKIE if https else PRE_COOKIE,
        f"{value}.{_sign(secret, value)}",
        httponly=True,
        samesite="lax",
        secure=https,
        path="/",
    )


def install(app: FastAPI) -> None:
    """The ``csrf_token`` template global: every form renders its token with it."""
    app.state.templates.env.globals["csrf_token"] = csrf_token_for
