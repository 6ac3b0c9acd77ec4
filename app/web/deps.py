"""Annotated dependency aliases shared by pages and the API."""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Annotated, ParamSpec, TypeVar

from fastapi import Depends, Request
from sqlalchemy.orm import Session
from starlette.datastructures import UploadFile

from app.config import Settings
from app.core.errors import InvalidInput, NotFound
from app.store.db import Database
from app.web.limits import refuse_oversized


def get_db(request: Request) -> Database:
    db: Database = request.app.state.db
    return db


def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def read_session(db: Annotated[Database, Depends(get_db)]) -> Iterator[Session]:
    with db.read() as session:
        yield session


def write_session(db: Annotated[Database, Depends(get_db)]) -> Iterator[Session]:
    """A write transaction for one route; the route commits it itself (``commits``)."""
    with db.write() as session:
        yield session


P = ParamSpec("P")
R = TypeVar("R")


def commits(route: Callable[P, R]) -> Callable[P, R]:
    """Commit a route's ``WriteSession`` inside the route's own call.

    FastAPI runs a sync route and each half of a generator dependency in separate
    thread-pool calls. Without this, a write's transaction (and, on SQLite, the writers'
    turnstile it holds from its first statement) would stay open from the route's call
    across the hand-back to the event loop until the dependency's exit is scheduled in
    another thread, tens of milliseconds under load, while every other write waits. With
    it the critical section is one synchronous block. A failed commit raises here, inside
    the route, and reaches the dependency's exit and the error handlers as before.
    """

    @functools.wraps(route)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        result = route(*args, **kwargs)
        for value in kwargs.values():
            if isinstance(value, Session) and value.in_transaction():
                value.commit()
        return result

    wrapper.__commits__ = True  # type: ignore[attr-defined]
    return wrapper


async def read_upload(request: Request) -> bytes:
    """An uploaded document: the multipart field ``file`` (forms) or the raw body (API).

    The size cap is ``web.limits.BodyLimit``'s, applied while the body is read.
    """
    if not request.headers.get("content-type", "").startswith("multipart/form-data"):
        body = await request.body()
        refuse_oversized(request)
        return body
    form = await request.form()
    refuse_oversized(request)
    upload = form.get("file")
    if not isinstance(upload, UploadFile) or not upload.filename:
        raise InvalidInput("choose a file to upload", field="file")
    return await upload.read()


async def close_uploads(request: Request) -> AsyncIterator[None]:
    """App-wide, first: whoever parsed a multipart form (the CSRF check, ``read_upload``),
    its spooled files are closed when the request ends, also when it was refused."""
    try:
        yield
    finally:
        await request.close()


MAX_ID = 2**63 - 1  # the largest id either engine stores (a signed 64-bit integer)


def ids_in_range(request: Request) -> None:
    """App-wide: a path id no database can hold is simply not found (404), on every route
    present and future, instead of an overflow inside the driver (a 500)."""
    for name, value in request.path_params.items():
        digits = isinstance(value, str) and value.isdigit()
        if name.endswith("_id") and digits and int(value) > MAX_ID:
            raise NotFound(f"no such {name.removesuffix('_id')}")


DbDep = Annotated[Database, Depends(get_db)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
# scope="function": the transaction ends (commits) when the route function returns, before
# the response is sent, so a failed commit (a lost connection, a conflict) is an error
# response instead of a success followed by a broken connection.
ReadSession = Annotated[Session, Depends(read_session, scope="function")]
WriteSession = Annotated[Session, Depends(write_session, scope="function")]
Upload = Annotated[bytes, Depends(read_upload)]
