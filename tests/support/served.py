"""A real ``newsmon serve`` on 127.0.0.1 over a fresh database of either engine, for
tests that talk to newsmon as another tool would (schemathesis, a sync client, feed
readers, big exports)."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine, text

from app.store import migrate
from app.store.db import Database
from tests.support.browser import free_port
from tests.support.db import postgres_url

NEWSMON = str(Path(sys.executable).with_name("newsmon"))


@dataclass
class Served:
    base: str  # http://127.0.0.1:PORT
    db: Database  # the same database, for seeding and comparing
    env: dict[str, str]
    proc: subprocess.Popen[bytes]

    def cli(self, *args: str, stdin: str = "") -> str:
        done = subprocess.run(
            [NEWSMON, *args], env=self.env, input=stdin.encode(), capture_output=True, check=True
        )
        return done.stdout.decode()

    def write_token(self, user: str = "bot") -> str:
        self.cli("users", "add", user, "--role", "admin", "--password-stdin", stdin="pw-" * 6)
        return self.cli("tokens", "create", "--user", user, "--scope", "write").split()[-1]


@contextlib.contextmanager
def database_url(kind: str, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty database: a SQLite file, or a PostgreSQL database of its own."""
    if kind == "sqlite":
        yield f"sqlite:///{tmp_path / 'newsmon.db'}"
        return
    url = postgres_url()
    assert url is not None
    name = f"nm_api_{uuid.uuid4().hex[:10]}"
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield url.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@contextlib.contextmanager
def serve(kind: str, tmp_path: Path, **settings: str) -> Iterator[Served]:
    with database_url(kind, tmp_path) as url:
        env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSMON_")}
        env.update(
            NEWSMON_DATABASE_URL=url,
            NEWSMON_DATA_DIR=str(tmp_path / "data"),
            NEWSMON_DEFAULT_FEEDS="false",
            NEWSMON_POLL="false",
            NEWSMON_LOG_LEVEL="WARNING",
            **{f"NEWSMON_{k.upper()}": v for k, v in settings.items()},
        )
        db = Database.from_url(url)
        migrate.upgrade(db.engine)
        port = free_port()
        log = tmp_path / f"serve-{port}.log"
        with log.open("w") as out:
            proc = subprocess.Popen(
                [NEWSMON, "serve", "--port", str(port)], env=env, stdout=out, stderr=out
            )
        served = Served(f"http://127.0.0.1:{port}", db, env, proc)
        try:
            _wait(served, log)
            yield served
        finally:
            proc.terminate()
            proc.wait(timeout=30)
            db.dispose()


def _wait(served: Served, log: Path) -> None:
    for _ in range(300):
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{served.base}/healthz", timeout=1).status_code == 200:
                return
        if served.proc.poll() is not None:
            raise AssertionError(log.read_text())
        time.sleep(0.1)
    raise AssertionError("newsmon serve did not answer /healthz")


ENGINES = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
