"""``newsmon serve``: upgrade the database, then serve the dashboard (and poll in-process)."""

from __future__ import annotations

import argparse
import sys

from sqlalchemy.engine import make_url

from app.cli.common import Subparsers, open_db, safe_url
from app.config import Settings

APP_FACTORY = "app.web.app:create_app"  # each worker builds its app from the environment


def register(sub: Subparsers) -> None:
    serve = sub.add_parser("serve", help="upgrade the database and serve the dashboard")
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)
    serve.add_argument(
        "--workers", type=int, help="web worker processes (NEWSMON_WEB_WORKERS; >1: PostgreSQL)"
    )
    serve.set_defaults(handler=cmd_serve)


def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    import uvicorn

    from app.services.setup import prepare_database
    from app.web.app import create_app

    workers = args.workers or settings.web_workers
    if workers > 1 and make_url(settings.database_url).get_backend_name() == "sqlite":
        print(
            "error: several web workers need PostgreSQL (SQLite has one writer); "
            "use --workers 1, or set NEWSMON_DATABASE_URL to a PostgreSQL database",
            file=sys.stderr,
        )
        return 2
    db = open_db(settings)
    prepare_database(settings, db)
    db.dispose()
    host, port = args.host or settings.host, args.port or settings.port
    print(
        f"newsmon: serving http://{host}:{port}/ with {workers} worker(s) "
        f"(database {safe_url(settings)})"
    )
    # Forwarded headers are believed only from the proxies the administrator named;
    # uvicorn's own default would trust any client on 127.0.0.1.
    trusted = ",".join(settings.trusted_proxies) or None
    # Several workers are separate processes: each builds its app from the environment
    # (the secret key is already in the data directory, shared by all of them).
    uvicorn.run(
        APP_FACTORY if workers > 1 else lambda: create_app(settings),
        factory=True,
        workers=workers if workers > 1 else None,
        host=host,
        port=port,
        log_level=settings.log_level.lower(),
        proxy_headers=trusted is not None,
        forwarded_allow_ips=trusted,
    )
    return 0
