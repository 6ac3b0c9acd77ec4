"""Every route of the app, also those of included routers (FastAPI keeps an included
router as one entry of ``app.routes``; its own routes sit behind it)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from fastapi import FastAPI


def all_routes(app: FastAPI) -> list[Any]:
    return list(_walk(app.routes, ""))


def _walk(routes: Iterable[Any], prefix: str) -> Iterator[Any]:
    for route in routes:
        included = getattr(route, "original_router", None)
        if included is not None:
            context = getattr(route, "include_context", None)
            yield from _walk(included.routes, prefix + (getattr(context, "prefix", "") or ""))
        elif prefix and hasattr(route, "path"):
            raise AssertionError(f"route {route.path} under an include prefix {prefix!r}")
        else:
            yield route
