"""Caps on request bodies: 1 MiB for every request (``DEFAULT_LIMIT``), another size per
path where a route takes a file (the OPML import routes).

FastAPI reads a route's form or JSON body before any dependency runs, the CSRF check
included, and Starlette spools a multipart file to disk however large it is. So the cap
sits in front of everything, in ``receive``: a body declared larger than the cap is
never read at all, and one without a declared length is cut where it passes the cap.
Either way the request is marked (``exceeded``) and the app sees an empty or cut body;
the first code that looks (the app-wide ``refuse_oversized`` dependency, the upload
reader, or the error mapper when FastAPI could not parse the cut body) raises
``TooLarge``, which the one exception mapper answers with 413 (problem+json under /api,
the error page elsewhere). Requests that never read their body are not touched.
"""

from __future__ import annotations

from collections.abc import Mapping

from starlette.datastructures import Headers
from starlette.requests import HTTPConnection
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.core.errors import TooLarge

DEFAULT_LIMIT = 1024 * 1024
_MARK = "body_limit_exceeded"


class BodyLimit:
    def __init__(
        self, app: ASGIApp, *, limits: Mapping[str, int], default: int = DEFAULT_LIMIT
    ) -> None:
        self.app = app
        self.limits = dict(limits)
        self.default = default

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limits.get(scope["path"], self.default)
        declared = Headers(scope=scope).get("content-length", "")
        received = 0

        def refuse() -> Message:
            scope.setdefault("state", {})[_MARK] = (limit, scope["path"] in self.limits)
            return {"type": "http.request", "body": b"", "more_body": False}

        async def capped() -> Message:
            nonlocal received
            if declared.isdigit() and int(declared) > limit:  # refused before a byte is read
                return refuse()
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    return refuse()
            return message

        await self.app(scope, capped, send)


def exceeded(conn: HTTPConnection) -> TooLarge | None:
    """The error for a request whose body went past its cap, else None."""
    mark = conn.scope.get("state", {}).get(_MARK)
    if mark is None:
        return None
    limit, upload = mark
    what = "the upload" if upload else "the request body"
    return TooLarge(f"{what} is larger than {limit // 1024} KiB", field="file" if upload else None)


def refuse_oversized(conn: HTTPConnection) -> None:
    """A body cut at its cap never reaches a route."""
    error = exceeded(conn)
    if error is not None:
        raise error


async def body_within_limits(conn: HTTPConnection) -> None:
    """App-wide, before CSRF: ``refuse_oversized`` on the event loop (a sync dependency
    would cost every request a thread-pool hop for a dictionary look-up)."""
    refuse_oversized(conn)
