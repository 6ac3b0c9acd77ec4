"""Annotated dependency aliases shared by pages and the API."""

from __future__ import annotations

import functools
import inspect
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Annotated, ParamSpec, TypeVar

import anyio.to_thread
from anyio import CapacityLimiter
from anyio.lowlevel import RunVar
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


async def read_session(db: Annotated[Database, Depends(get_db)]) -> AsyncIterator[Session]:
    """A read transaction for one route (see ``ends_transaction``)."""
    with db.read() as session:
        yield session


async def write_session(db: Annotated[Database, Depends(get_db)]) -> AsyncIterator[Session]:
    """A write transaction for one route (see ``ends_transaction``)."""
    with db.write() as session:
        session.info[_WRITES] = True
        yield session


_WRITES = "newsmon.writes"
# Routes that write run on a lane of their own, one per event loop (per web worker).
_WRITE_LANE: RunVar[CapacityLimiter] = RunVar("newsmon_write_lane")
WRITE_THREADS = 2


def install_lanes(threads: int) -> None:
    """Size this event loop's shared thread pool (the app's lifespan calls it):
    ``threads`` at once for reads and every other synchronous step of a request
    (anyio's default limiter, which FastAPI uses). Routes that write have a lane of
    their own (``_write_lane``).

    Python runs one thread at a time: sixteen request threads sharing the GIL each
    took about twice the CPU of the same work done by a few (a `GET /api/v1/articles`
    page: 14 ms against 6 ms), and every one of them finished late. A few threads,
    with the rest of the requests waiting their turn in the event loop, finish each
    request sooner. Writes get their own lane so requests waiting for the database's
    write lock (SQLite has one writer at a time) never hold the threads reads need.
    """
    anyio.to_thread.current_default_thread_limiter().total_tokens = threads


def _write_lane() -> CapacityLimiter:
    """This event loop's write lane, made on first use."""
    try:
        return _WRITE_LANE.get()
    except LookupError:
        lane = CapacityLimiter(WRITE_THREADS)
        _WRITE_LANE.set(lane)
        return lane


P = ParamSpec("P")
R = TypeVar("R")


def ends_transaction(route: Callable[P, R]) -> Callable[P, Awaitable[R]]:
    """The route runs in one worker thread and ends its sessions' transactions inside
    that call: commit when it returns, roll back when it raises. Every route that takes
    a ``ReadSession`` or a ``WriteSession`` has it (a test walks the routes).

    FastAPI would run a sync route in a thread-pool call of its own, and a sync
    generator dependency's two halves in two more. So the session dependencies are async
    and do no I/O (a session connects at its first statement, in the route's thread),
    and with this the transaction ends in that same thread: a request makes one hop
    instead of three, and a write's transaction (and, on SQLite, the writers' turnstile
    it holds from its first statement) never stays open across a hand-back to the event
    loop, which under load took tens of milliseconds while every other write waited. A
    failed commit raises here and reaches the dependency's exit (``translate_busy``) and
    the error handlers as before. The thread comes from the write lane when the route
    takes a ``WriteSession``, else from the shared pool (``install_lanes``).
    """

    if inspect.iscoroutinefunction(route):
        raise TypeError(f"{route.__name__}: a route with a session is a sync function")

    def body(sessions: list[Session], *args: P.args, **kwargs: P.kwargs) -> R:
        try:
            result = route(*args, **kwargs)
            for session in sessions:
                if session.in_transaction():
                    session.commit()
        except BaseException:
            for session in sessions:
                session.rollback()
            raise
        return result

    @functools.wraps(route)
    async def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        sessions = [v for v in kwargs.values() if isinstance(v, Session)]
        lane = _write_lane() if any(s.info.get(_WRITES) for s in sessions) else None
        call = functools.partial(body, sessions, *args, **kwargs)
        return await anyio.to_thread.run_sync(call, limiter=lane)

    wrapper.__ends_transaction__ = True  # type: ignore[attr-defined]
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


async def ids_in_range(request: Request) -> None:
    """App-wide: a path id no database can hold is simply not found (404), on every route
    present and future, instead of an overflow inside the driver (a 500). Async: pure
    computation, no thread-pool hop."""
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
