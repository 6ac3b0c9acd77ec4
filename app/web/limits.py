"""Caps on request bodies, per path: the upload routes (OPML import) take one file.

Starlette spools a multipart file to disk however large it is, and the CSRF check
reads the form before any route code runs, so the cap sits in front of everything:
``receive`` raises ``TooLarge`` once the declared or received length passes the
cap. The exception surfaces where the body is being read, inside the app, so the
one exception mapper answers 413 (problem+json under /api, the error page elsewhere).
FastAPI's own ``max_body_size`` answers a declared oversize body in plain text,
hence this small middleware. Requests that never read their body are not touched.
"""

from __future__ import annotations

from collections.abc import Mapping

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.core.errors import TooLarge


class BodyLimit:
    def __init__(self, app: ASGIApp, *, limits: Mapping[str, int]) -> None:
        self.app = app
        self.limits = dict(limits)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        limit = self.limits.get(scope["path"]) if scope["type"] == "http" else None
        if limit is None:
            await self.app(scope, receive, send)
            return
        declared = Headers(scope=scope).get("content-length", "")
        received = 0

        async def capped() -> Message:
            nonlocal received
            if declared.isdigit() and int(declared) > limit:  # refused before a byte is read
                raise _too_large(limit)
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise _too_large(limit)
            return message

        await self.app(scope, capped, send)


def _too_large(limit: int) -> TooLarge:
    return TooLarge(f"the upload is larger than {limit // 1024} KiB", field="file")
