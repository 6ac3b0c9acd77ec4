"""A PostgreSQL outage seen from the web: every route answers 503 problem+json (or the
error page) with Retry-After while the server is cut off, and the app recovers by itself
when it is back. The outage is real: the app reaches PostgreSQL through a TCP proxy
that the test stops and starts."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from app.config import Settings
from app.store import migrate
from app.store.db import Database, make_engine
from app.web.app import create_app
from tests.support.db import postgres_url
from tests.support.tcpproxy import TcpProxy

pytestmark = pytest.mark.postgres


@pytest.fixture
def proxied(tmp_path) -> Iterator[tuple[TcpProxy, Database, Settings]]:  # type: ignore[no-untyped-def]
    url = postgres_url()
    assert url is not None
    parsed = make_url(url)
    proxy = TcpProxy(parsed.host or "127.0.0.1", parsed.port or 5432)
    proxy.start()
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(url)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    via_proxy = parsed.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
    db = Database(
        make_engine(
            via_proxy, connect_args={"options": f"-csearch_path={schema}", "connect_timeout": 2}
        )
    )
    migrate.upgrade(db.engine)
    settings = Settings(
        database_url=via_proxy,
        data_dir=tmp_path / "data",
        secret_key="test-secret-key-" + "x" * 32,
        poll=False,
        default_feeds=False,
    )
    try:
        yield proxy, db, settings
    finally:
        proxy.stop()
        db.dispose()
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()


READ_ROUTES = ["/", "/api/v1/articles", "/api/v1/feeds", "/feeds", "/feed.atom", "/healthz"]


def test_an_outage_is_503_with_retry_after_everywhere_and_heals_itself(proxied) -> None:  # type: ignore[no-untyped-def]
    proxy, db, settings = proxied
    app = create_app(settings, db=db, run_poller=False)
    with TestClient(app, base_url="http://127.0.0.1", raise_server_exceptions=False) as client:
        for path in READ_ROUTES:
            assert client.get(path).status_code == 200, path

        proxy.stop()
        for path in READ_ROUTES:
            response = client.get(path)
            assert response.status_code == 503, (path, response.status_code, response.text[:300])
            assert response.headers["retry-after"].isdigit(), path
            if path.startswith("/api/") or path == "/healthz":
                assert response.headers["content-type"].startswith("application/problem+json")
                assert response.json()["status"] == 503
            else:
                assert "Traceback" not in response.text
        login = client.post("/login", data={"username": "x", "password": "y"})
        assert login.status_code in (403, 503)  # refused by CSRF or the outage, never a 500

        proxy.start()
        for path in READ_ROUTES:
            assert client.get(path).status_code == 200, path
