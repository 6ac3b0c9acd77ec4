"""``create_app``: the ASGI application factory (uvicorn runs it with ``--factory``)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from pathlib import Path

import jinja2
from fastapi import Depends, FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates

from app import __version__
from app.config import Settings, load_settings
from app.metrics import Metrics
from app.services.subscriptions import MAX_OPML_BYTES
from app.store.db import Database
from app.web import (
    accounts,
    alerts_pages,
    api,
    api_alerts,
    api_docs,
    api_editor,
    api_opml,
    auth,
    csrf,
    editor_pages,
    errors,
    flash,
    fulltext,
    i18n,
    outgoing,
    pages,
    reading_pages,
    reasons,
    views,
)
from app.web.auth import require_reader
from app.web.csrf import csrf_protect
from app.web.deps import close_uploads, ids_in_range, install_lanes
from app.web.limits import BodyLimit, body_within_limits
from app.web.params import reject_unknown
from app.web.security import SecurityHeaders

log = logging.getLogger("newsmon.web")
ROOT = Path(__file__).resolve().parents[2]


def make_templates() -> Jinja2Templates:
    # autoescape=True for every template name: select_autoescape() would leave
    # *.j2/*.jinja files unescaped.
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(ROOT / "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        # Templates are loaded once per process: with Jinja's default, every
        # get_template checked the file's time, and a timeline page includes its card
        # template 50 times (and each card its actions): ~100 stat calls per page.
        # Edited templates count from the server's next start.
        auto_reload=False,
    )
    i18n.install(env)  # _(), locale-aware datetime/date/time/number filters
    reasons.install(env)  # |reason: the tagger's reason in the interface language
    env.globals["notice"] = flash.read_notice
    return Jinja2Templates(env=env, context_processors=[i18n.context])


def create_app(
    settings: Settings | None = None,
    *,
    db: Database | None = None,
    run_poller: bool | None = None,
) -> FastAPI:
    settings = settings or load_settings()
    database = db or Database.from_url(settings.database_url)
    metrics = Metrics()
    poll = settings.poll if run_poller is None else run_poller

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        install_lanes(settings.web_threads)
        stop = asyncio.Event()
        task = None
        if poll:
            from app.polling import in_process_poller

            task = asyncio.create_task(in_process_poller(settings, database, metrics, stop))
        try:
            yield
        finally:
            stop.set()
            if task is not None:
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            if db is None:
                database.dispose()

    app = FastAPI(
        title="newsmon",
        version=__version__,
        description="News monitoring: the Amazon–TikTok partnership timeline, tagged by theme.",
        lifespan=lifespan,
        # Swagger UI needs a CDN and inline script; api_editor serves a static docs page.
        docs_url=None,
        redoc_url=None,
        # Deny by default: every unsafe request on every route passes the CSRF check.
        dependencies=[
            Depends(close_uploads),
            Depends(body_within_limits),
            Depends(csrf_protect),
            Depends(ids_in_range),
        ],
    )
    app.state.settings = settings
    app.state.db = database
    app.state.metrics = metrics
    app.state.templates = make_templates()
    errors.install(app)
    auth.install(app)
    csrf.install(app)
    app.state.templates.env.globals["reading_nav"] = reading_pages.reading_nav
    app.state.templates.env.globals["view_links"] = reading_pages.view_links
    app.state.templates.env.globals["account_alerts"] = alerts_pages.account_alerts
    app.state.templates.context_processors.append(reading_pages.zone_context)
    app.state.templates.env.filters["friendly_error"] = views.friendly_error
    reader = [Depends(require_reader)]
    # The API and the outgoing feeds refuse query parameters they do not declare.
    strict = [Depends(reject_unknown), *reader]
    app.include_router(pages.router, dependencies=reader)
    app.include_router(api.router, dependencies=strict)
    app.include_router(api_editor.router, dependencies=strict)
    app.include_router(api_alerts.router, dependencies=strict)
    app.include_router(api_opml.router, dependencies=strict)
    app.include_router(outgoing.router, dependencies=strict)
    app.include_router(reading_pages.feeds_router, dependencies=reader)
    app.include_router(alerts_pages.router)  # before reading_pages: /views/{id} is ours
    app.include_router(alerts_pages.public_router)
    app.include_router(reading_pages.router)
    app.include_router(accounts.router)
    app.include_router(i18n.router)
    app.include_router(editor_pages.router)
    app.include_router(fulltext.api_router, dependencies=strict)
    app.include_router(fulltext.page_router)
    app.include_router(api_docs.router)
    api_docs.install(app, public_read=settings.public_read)
    app.include_router(api.health_router)
    app.mount("/static", StaticFiles(directory=ROOT / "static"), name="static")
    app.add_middleware(SecurityHeaders)
    uploads = {api_opml.IMPORT_PATH: MAX_OPML_BYTES, editor_pages.IMPORT_PAGE: MAX_OPML_BYTES}
    app.add_middleware(BodyLimit, limits=uploads)
    if settings.cors_origins:  # off by default: only the listed browser tools may call
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST", "PATCH", "DELETE"],
            allow_headers=["Authorization", "Content-Type", "If-None-Match", "X-CSRF-Token"],
            expose_headers=["ETag", "Last-Modified", "Location", "Retry-After"],
            max_age=600,
        )
    return app
