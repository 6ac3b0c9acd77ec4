"""Annotated dependency aliases shared by pages and the API."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Annotated

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
    with db.write() as session:
        yield session


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
ReadSession = Annotated[Session, Depends(read_session)]
WriteSession = Annotated[Session, Depends(write_session)]
Upload = Annotated[bytes, Depends(read_upload)]
