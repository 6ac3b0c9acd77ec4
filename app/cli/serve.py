"""``newsmon serve``: upgrade the database, then serve the dashboard (and poll in-process)."""

from __future__ import annotations

import argparse

from app.cli.common import Subparsers, open_db, safe_url
from app.config import Settings


def register(sub: Subparsers) -> None:
    serve = sub.add_parser("serve", help="upgrade the database and serve the dashboard")
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)
    serve.set_defaults(handler=cmd_serve)


def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    import uvicorn

    from app.services.setup import prepare_database
    from app.web.app import create_app

    db = open_db(settings)
    prepare_database(settings, db)
    db.dispose()
    host, port = args.host or settings.host, args.port or settings.port
    print(f"newsmon: serving http://{host}:{port}/ (database {safe_url(settings)})")
    uvicorn.run(
        lambda: create_app(settings),
        factory=True,
        host=host,
        port=port,
        log_level=settings.log_level.lower(),
    )
    return 0
