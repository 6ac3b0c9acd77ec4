"""``newsmon serve``: upgrade the database, then serve the dashboard (and poll in-process)."""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import os
import signal
import subprocess
import sys

from sqlalchemy.engine import make_url

from app.cli.common import Subparsers, database_location, open_db
from app.config import Settings, with_secret

APP_FACTORY = "app.web.app:create_app"  # each worker builds its app from the environment
PR_SET_PDEATHSIG = 1  # prctl option: a signal for the child when its parent dies


def register(sub: Subparsers) -> None:
    serve = sub.add_parser("serve", help="upgrade the database and serve the dashboard")
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)
    serve.add_argument(
        "--workers", type=int, help="web worker processes (NEWSMON_WEB_WORKERS; >1: PostgreSQL)"
    )
    serve.set_defaults(handler=cmd_serve)


def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    from app.services.setup import prepare_database

    workers = args.workers or settings.web_workers
    if workers > 1 and make_url(settings.database_url).get_backend_name() == "sqlite":
        print(
            "error: several web workers need PostgreSQL (SQLite has one writer); "
            "use --workers 1, or set NEWSMON_DATABASE_URL to a PostgreSQL database",
            file=sys.stderr,
        )
        return 2
    db = open_db(settings, create=True)
    prepare_database(settings, db)
    settings = with_secret(settings)
    db.dispose()
    host, port = args.host or settings.host, args.port or settings.port
    print(
        f"newsmon: serving http://{host}:{port}/ with {workers} worker(s) "
        f"(database {database_location(settings)})"
    )
    poller = start_poller() if settings.poll else None
    # The web process never polls: the poller's CPU (writes, clustering) would hold the
    # GIL and starve the event loop that answers requests. Workers read the environment.
    os.environ["NEWSMON_POLL"] = "false"
    web_settings = settings.replace(poll=False)
    # uvicorn re-raises the SIGTERM it handled once it has shut down; ending with
    # SystemExit instead lets the finally below stop the poller before we exit.
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    try:
        _run_uvicorn(settings, web_settings, host, port, workers)
    finally:
        if poller is not None:
            stop_poller(poller)
    return 0


def _run_uvicorn(
    settings: Settings, web_settings: Settings, host: str, port: int, workers: int
) -> None:
    import gc

    import uvicorn

    from app.cli.main import DEFAULT_GC
    from app.web.app import create_app

    gc.set_threshold(*DEFAULT_GC)  # a long-lived server: the start-up's thresholds end here

    # Forwarded headers are believed only from the proxies the administrator named;
    # uvicorn's own default would trust any client on 127.0.0.1.
    trusted = ",".join(settings.trusted_proxies) or None
    # Several workers are separate processes: each builds its app from the environment
    # (the secret key is already in the data directory, shared by all of them).
    uvicorn.run(
        APP_FACTORY if workers > 1 else lambda: create_app(web_settings),
        factory=True,
        workers=workers if workers > 1 else None,
        host=host,
        port=port,
        log_level=settings.log_level.lower(),
        proxy_headers=trusted is not None,
        forwarded_allow_ips=trusted,
    )


def _exit_on_sigterm(signum: int, frame: object) -> None:
    raise SystemExit(0)


def start_poller() -> subprocess.Popen[bytes]:
    """``newsmon poll`` as a child process with the same settings (environment, .env).

    It gets SIGTERM when this process dies, however it dies (Linux PR_SET_PDEATHSIG),
    so no orphan poller keeps the SQLite poller lock."""

    def die_with_parent() -> None:
        with contextlib.suppress(OSError, AttributeError):
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)

    return subprocess.Popen(
        [sys.executable, "-m", "app.cli", "poll"],
        preexec_fn=die_with_parent,
    )


def stop_poller(poller: subprocess.Popen[bytes]) -> None:
    """SIGTERM: the poller stops claiming, gives in-flight feeds 3 s and returns the rest."""
    if poller.poll() is None:
        poller.send_signal(signal.SIGTERM)
        try:
            poller.wait(timeout=15)
        except subprocess.TimeoutExpired:
            poller.kill()
            poller.wait()
