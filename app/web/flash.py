"""One-shot notices after a POST/redirect/GET ("Flagged as important."): a short-lived
cookie holding a notice key and one value, shown once by the next page and cleared.

Only keys of ``NOTICES`` are shown and the value is escaped by the template, so a
forged cookie can print nothing but one of these sentences.
"""

from __future__ import annotations

from urllib.parse import quote, unquote

from starlette.requests import Request
from starlette.responses import Response

COOKIE = "notice"
NOTICES = {
    "flagged": "Flagged as {value}. It is in the flags queue.",
    "resolved": "Flag closed.",
    "dismissed": "Flag dismissed: the article is back in the timeline.",
    "marked-read": "{value} articles marked as read.",
    "view-saved": "Saved the view “{value}”.",
    "view-deleted": "Deleted the view “{value}”.",
    "feed-added": "Subscribed to {value}.",
    "feed-polled": "{value} will be polled in a moment.",
    "feed-removed": "Removed {value}.",
    "alert-created": "Alert created on “{value}”.",
    "alert-deleted": "Deleted an alert on “{value}”.",
    "alert-paused": "Paused an alert on “{value}”.",
    "alert-resumed": "Resumed an alert on “{value}”.",
    "alert-test-sent": "Test sent to {value}.",
    "alert-test-failed": "The test failed: {value}",
    "digest-saved": "Digest saved.",
    "digest-off": "Digest turned off.",
}


def set_notice(response: Response, key: str, value: object = "") -> None:
    assert key in NOTICES, key
    text = quote(f"{key}|{str(value)[:200]}", safe="")
    response.set_cookie(COOKIE, text, max_age=60, path="/", httponly=True, samesite="lax")


def read_notice(request: Request) -> tuple[str, str] | None:
    """``(English sentence, value)`` from the cookie, or None."""
    raw = request.cookies.get(COOKIE)
    if not raw:
        return None
    key, _, value = unquote(raw).partition("|")
    return (NOTICES[key], value) if key in NOTICES else None


def clear_notice(request: Request, response: Response) -> None:
    if COOKIE in request.cookies and COOKIE not in response.headers.get("set-cookie", ""):
        response.delete_cookie(COOKIE, path="/")
