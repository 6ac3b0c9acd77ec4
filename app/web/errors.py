"""The one exception mapper: domain errors → status codes; problem+json under /api.

No traceback, SQL or path ever reaches a response body.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from sqlalchemy.exc import DBAPIError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import BaseRoute, Match, Route

from app.core import errors
from app.store.db import unreachable
from app.web.limits import exceeded
from app.web.security import add_security_headers

log = logging.getLogger("newsmon.web")
RETRY = {"Retry-After": "2"}

STATUS = {
    errors.TooLarge: 413,
    errors.InvalidInput: 400,
    errors.NotFound: 404,
    errors.Conflict: 409,
    errors.Unauthenticated: 401,
    errors.PermissionDenied: 403,
    errors.RateLimited: 429,
    errors.StorageBusy: 503,
}
TITLES = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    409: "Conflict",
    413: "Content Too Large",
    422: "Unprocessable Content",
    429: "Too Many Requests",
    500: "Internal Server Error",
    503: "Service Unavailable",
}


def status_of(exc: errors.NewsmonError) -> int:
    for cls in type(exc).__mro__:
        if cls in STATUS:
            return STATUS[cls]
    return 500


MACHINE_PATHS = ("/healthz", "/feed.atom", "/feed.json", "/export.csv", "/export.jsonl")


def wants_json(request: Request) -> bool:
    path = request.url.path
    return (
        path.startswith("/api/")
        or path in MACHINE_PATHS
        or (
            "application/json" in request.headers.get("accept", "")
            and "text/html" not in request.headers.get("accept", "")
        )
    )


def problem(
    request: Request, status: int, detail: str | None, headers: dict[str, str] | None = None
) -> Response:
    if wants_json(request):
        body = {
            "type": "about:blank",
            "title": TITLES.get(status, "Error"),
            "status": status,
            "detail": detail,
            "instance": request.url.path,
        }
        return JSONResponse(
            body, status_code=status, media_type="application/problem+json", headers=headers
        )
    templates = request.app.state.templates
    page: Response = templates.TemplateResponse(
        request,
        "error.html",
        {"status": status, "title": TITLES.get(status, "Error"), "detail": detail},
        status_code=status,
        headers=headers,
    )
    return page


def allowed_methods(request: Request) -> list[str]:
    """The methods some route serves at this path (several routes may share one)."""
    methods: set[str] = set()
    for route in _every_route(request.app.router.routes):
        if isinstance(route, Route) and route.methods:
            match, _ = route.matches({**request.scope, "method": "GET"})
            if match != Match.NONE:
                methods |= route.methods
    return sorted(methods)


def _every_route(routes: Iterable[BaseRoute]) -> Iterator[BaseRoute]:
    """Included routers sit behind one entry each (FastAPI 0.165): walk into them."""
    for route in routes:
        inner = getattr(route, "original_router", None)
        yield from _every_route(inner.routes) if inner is not None else (route,)


def install(app: FastAPI) -> None:
    @app.exception_handler(errors.NewsmonError)
    async def _domain(request: Request, exc: errors.NewsmonError) -> Response:
        headers = None
        if isinstance(exc, errors.RateLimited):
            headers = {"Retry-After": str(exc.retry_after)}
        elif isinstance(exc, errors.StorageBusy):
            headers = RETRY
        elif isinstance(exc, errors.Unauthenticated) and wants_json(request):
            headers = {"WWW-Authenticate": 'Bearer realm="newsmon"'}
        return problem(request, status_of(exc), str(exc), headers)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        if (too_large := exceeded(request)) is not None:  # FastAPI could not parse a cut body
            return await _domain(request, too_large)
        detail = exc.detail if isinstance(exc.detail, str) else None
        headers = dict(exc.headers or {})
        if exc.status_code == 405:  # every method of the path, not just the first route's
            headers["Allow"] = ", ".join(allowed_methods(request))
        return problem(request, exc.status_code, detail, headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> Response:
        if (too_large := exceeded(request)) is not None:
            return await _domain(request, too_large)
        parts = []
        for err in exc.errors()[:5]:
            where = ".".join(str(p) for p in err.get("loc", ()) if p not in ("query", "body"))
            parts.append(f"{where}: {err.get('msg', 'invalid')}")
        # A bad query value is a 400 as on the pages; 422 is for a body that does not fit.
        in_query = all(err.get("loc", ("body",))[0] == "query" for err in exc.errors())
        return problem(request, 400 if in_query else 422, "; ".join(parts) or "invalid request")

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> Response:
        if isinstance(exc, DBAPIError) and unreachable(exc):  # outside a store's session
            log.warning("database unreachable on %s %s", request.method, request.url.path)
            return problem(request, 503, "the database is unavailable; try again shortly", RETRY)
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        response = problem(request, 500, "An unexpected error occurred; it has been logged.")
        add_security_headers(response.headers, https=request.url.scheme == "https")
        return response
