"""API under load: ``GET /api/v1/articles`` and ``POST …/flags`` with 16 clients while a
poller writes, on SQLite and (with NEWSMON_TEST_POSTGRES_URL) on PostgreSQL.

A real uvicorn server on 127.0.0.1 in a thread; the clients are asyncio + httpx in
the main thread; the "poller" is a thread ingesting synthetic batches through
``ArticleStore.upsert_batch``. Prints requests/s, p50/p95 and the error count
(target: 0 errors). PostgreSQL runs in a schema of its own, dropped afterwards.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import random
import socket
import statistics
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import uvicorn
from argon2 import PasswordHasher
from sqlalchemy import create_engine, text

from app.config import Settings
from app.core.decide import ArticleDraft
from app.store import migrate
from app.store.articles import ArticleStore
from app.store.db import Database, make_engine
from app.store.feeds import FeedStore
from app.store.users import UserStore
from app.web.app import create_app

CLIENTS = 16
SECONDS = 5.0
SEED_ARTICLES = 500
BATCH = 50
NOW = datetime.now(UTC)


def draft(tag: str, i: int) -> ArticleDraft:
    url = f"https://bench.example/{tag}/{i}"
    return ArticleDraft(
        key=hashlib.sha256(url.encode()).hexdigest(),
        key_kind="url",
        url=url,
        guid=None,
        title=f"Amazon and TikTok story {tag} {i}",
        author=None,
        summary="<p>Synthetic</p>",
        content="<p>Synthetic</p>",
        text=f"Amazon TikTok partnership {tag} {i}",
        language="en",
        published_at=NOW - timedelta(minutes=i),
        published_estimated=False,
        bands=(),
    )


def seed(db: Database) -> tuple[str, list[int], int]:
    """Articles, a second feed for the poller, and an editor's write token."""
    with db.write() as session:
        feeds = FeedStore(session)
        first = feeds.add("https://bench.example/a.xml", now=NOW, title="A").id
        poller_feed = feeds.add("https://bench.example/b.xml", now=NOW, title="B").id
        drafts = [draft("seed", i) for i in range(SEED_ARTICLES)]
        ids = ArticleStore(session).upsert_batch(first, drafts, now=NOW).new_ids
        users = UserStore(session, PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))
        user = users.create("bench", "bench password", "editor", now=NOW)
        _, token = users.create_token(user.id, "write", now=NOW)
    return token, ids, poller_feed


def poll_forever(db: Database, feed_id: int, stop: threading.Event, counts: dict[str, int]) -> None:
    n = 0
    while not stop.is_set():
        batch = [draft("poll", n + i) for i in range(BATCH)]
        try:
            with db.write() as session:
                ArticleStore(session).upsert_batch(feed_id, batch, now=datetime.now(UTC))
            counts["batches"] += 1
        except Exception:
            counts["errors"] += 1
        n += BATCH
        time.sleep(0.02)


@contextmanager
def serve(db: Database, settings: Settings) -> Iterator[str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    app = create_app(settings, db=db, run_poller=False)
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


async def load(base: str, token: str, ids: list[int], kind: str) -> tuple[list[float], int]:
    latencies: list[float] = []
    errors = 0
    deadline = time.perf_counter() + SECONDS
    headers = {"Authorization": f"Bearer {token}"}
    limits = httpx.Limits(max_connections=CLIENTS)

    async def client(rng: random.Random, http: httpx.AsyncClient) -> None:
        nonlocal errors
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            try:
                if kind == "get":
                    r = await http.get("/api/v1/articles?limit=50", headers=headers)
                    ok = r.status_code == 200
                else:
                    url = f"/api/v1/articles/{rng.choice(ids)}/flags"
                    r = await http.post(
                        url, json={"kind": "follow-up", "note": "b"}, headers=headers
                    )
                    ok = r.status_code == 201
            except httpx.HTTPError:
                ok = False
            latencies.append(time.perf_counter() - started)
            errors += not ok

    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=30) as http:
        await asyncio.gather(*(client(random.Random(i), http) for i in range(CLIENTS)))
    return latencies, errors


def run_engine(name: str, url: str, engine_kwargs: dict[str, object], data_dir: Path) -> None:
    db = Database(make_engine(url, **engine_kwargs))
    migrate.upgrade(db.engine)
    token, ids, poller_feed = seed(db)
    settings = Settings(
        database_url=url,
        data_dir=data_dir,
        secret_key="bench-" + "x" * 40,
        poll=False,
        default_feeds=False,
    )
    stop, counts = threading.Event(), {"batches": 0, "errors": 0}
    poller = threading.Thread(target=poll_forever, args=(db, poller_feed, stop, counts))
    try:
        with serve(db, settings) as base:
            poller.start()
            for kind, label in (("get", "GET /api/v1/articles"), ("post", "POST …/flags")):
                latencies, errors = asyncio.run(load(base, token, ids, kind))
                report(name, label, latencies, errors)
    finally:
        stop.set()
        if poller.is_alive():
            poller.join()
        db.dispose()
    print(
        f"  {name}: poller wrote {counts['batches']} batches of {BATCH}, "
        f"{counts['errors']} poller errors"
    )


def report(engine: str, label: str, latencies: list[float], errors: int) -> None:
    p50 = statistics.median(latencies) * 1000
    p95 = statistics.quantiles(latencies, n=20)[18] * 1000 if len(latencies) > 20 else p50
    rps = len(latencies) / SECONDS
    print(
        f"  {engine:<10} {label:<22} {rps:8.0f} req/s  p50 {p50:6.1f} ms  "
        f"p95 {p95:6.1f} ms  errors {errors}  ({CLIENTS} clients, {SECONDS:.0f} s)"
    )


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        run_engine("sqlite", f"sqlite:///{root / 'bench.db'}", {}, root / "data")
        pg = os.environ.get("NEWSMON_TEST_POSTGRES_URL")
        if not pg:
            print("  postgresql: skipped (set NEWSMON_TEST_POSTGRES_URL)")
            return
        schema = f"bench_{uuid.uuid4().hex[:10]}"
        admin = create_engine(pg)
        with admin.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        try:
            options = {"connect_args": {"options": f"-csearch_path={schema}"}}
            run_engine("postgresql", pg, options, root / "data")
        finally:
            with admin.begin() as conn:
                conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
            admin.dispose()


if __name__ == "__main__":
    main()
