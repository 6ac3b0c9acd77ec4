"""API under load while the in-process poller ingests: 8 clients reading
``GET /api/v1/articles`` and 8 posting flags at the same time, on SQLite and (with
NEWSMON_TEST_POSTGRES_URL) on PostgreSQL.

``newsmon serve`` runs as a user runs it, a process of its own on 127.0.0.1 with its
poller child, while that poller ingests 1,500 loopback feeds of 20 entries each, all due
at the start; the clients (asyncio + httpx, in this process) start once the poller
has stored its first feed, so the load meets the ingest, not the poller's start-up.
Prints requests/s, p50/p95/max per kind and the 503s next to the targets (SQLite,
faults issue: 0 × 503, flag POST p95 <= 300 ms, API GET p95 <= 300 ms).
PostgreSQL runs in a schema of its own, dropped afterwards.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import quote

import httpx
from argon2 import PasswordHasher
from sqlalchemy import create_engine, func, select, text

from app.core.decide import ArticleDraft
from app.store import migrate
from app.store.articles import ArticleStore
from app.store.db import Database, make_engine
from app.store.feeds import FeedStore
from app.store.tables import Feed
from app.store.users import UserStore
from bench.corpus import corpus
from bench.feedserver import BenchFeedServer

CLIENTS = 16
SECONDS = 20.0
# More than the poller can store in the window, so it ingests for the whole of the load
# (with 500 it finished within the window once it got faster, which flattered the p95).
FEEDS = 1500
ENTRIES = 20
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
    """Articles to flag and an editor's write token."""
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


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def serve(url: str, engine_kwargs: dict[str, object], data_dir: Path) -> Iterator[str]:
    """``newsmon serve`` (web process + its poller child) on a free port; its base URL."""
    port = free_port()
    env = child_env(url, engine_kwargs, data_dir)
    newsmon = str(Path(sys.executable).with_name("newsmon"))
    proc = subprocess.Popen([newsmon, "serve", "--host", "127.0.0.1", "--port", str(port)], env=env)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"newsmon serve exited with {proc.returncode}")
            try:
                if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("newsmon serve did not answer within 120 s")
            time.sleep(0.1)
        yield base
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def polled_feeds(db: Database) -> int:
    with db.read() as session:
        return int(
            session.scalar(
                select(func.count()).select_from(Feed).where(Feed.last_polled_at.is_not(None))
            )
            or 0
        )


async def load(base: str, token: str, ids: list[int]) -> dict[str, Calls]:
    """8 readers and 8 flag posters at once, for ``SECONDS``."""
    calls = {"get": Calls(), "post": Calls()}
    deadline = time.perf_counter() + SECONDS
    headers = {"Authorization": f"Bearer {token}"}
    limits = httpx.Limits(max_connections=CLIENTS)

    async def client(kind: str, rng: random.Random, http: httpx.AsyncClient) -> None:
        mine = calls[kind]
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
                mine.busy += r.status_code == 503
            except httpx.HTTPError:
                ok = False
            mine.latencies.append(time.perf_counter() - started)
            mine.errors += not ok

    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=30) as http:
        await asyncio.gather(
            *(client("get", random.Random(i), http) for i in range(CLIENTS // 2)),
            *(client("post", random.Random(100 + i), http) for i in range(CLIENTS // 2)),
        )
    return calls


@dataclass
class Calls:
    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    busy: int = 0  # 503 "database is busy"


def run_engine(name: str, url: str, engine_kwargs: dict[str, object], data_dir: Path) -> None:
    db = Database(make_engine(url, **engine_kwargs))
    migrate.upgrade(db.engine)
    token, ids, _ = seed(db)
    with BenchFeedServer(corpus(FEEDS, ENTRIES), hosts=10) as server:
        with db.write() as session:
            feeds = FeedStore(session)
            for feed_url in server.urls():
                feeds.add(feed_url, now=datetime.now(UTC))
        with serve(url, engine_kwargs, data_dir) as base:
            deadline = time.monotonic() + 180
            while polled_feeds(db) == 0 and time.monotonic() < deadline:
                time.sleep(0.1)  # the poller's first stored feed
            before = polled_feeds(db)
            calls = asyncio.run(load(base, token, ids))
            polled = polled_feeds(db) - before
    try:
        for kind, label, target in (
            ("get", "GET /api/v1/articles", 300),
            ("post", "POST …/flags", 300),
        ):
            report(name, label, calls[kind], target)
        busy = "busy to the end" if before + polled < FEEDS else "it ran out of feeds"
        print(
            f"  {name}: the poller polled {polled} of {FEEDS} feeds during the load "
            f"({before} before it began; {busy})"
        )
    finally:
        db.dispose()


def child_env(url: str, engine_kwargs: dict[str, object], data_dir: Path) -> dict[str, str]:
    options = engine_kwargs.get("connect_args", {}).get("options")  # type: ignore[attr-defined]
    if options:  # PostgreSQL schema of this run, carried in the URL for the child
        url = f"{url}{'&' if '?' in url else '?'}options={quote(str(options))}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSMON_")}
    env.update(
        NEWSMON_DATABASE_URL=url,
        NEWSMON_DATA_DIR=str(data_dir),
        NEWSMON_SECRET_KEY="bench-" + "x" * 40,
        NEWSMON_DEFAULT_FEEDS="false",
        NEWSMON_ALLOW_PRIVATE_NETWORKS="true",
        NEWSMON_LOG_LEVEL="WARNING",
        NEWSMON_POLL="true",
    )
    return env


def report(engine: str, label: str, calls: Calls, target_ms: int) -> None:
    latencies = calls.latencies
    p50 = statistics.median(latencies) * 1000
    p95 = statistics.quantiles(latencies, n=20)[18] * 1000 if len(latencies) > 20 else p50
    rps = len(latencies) / SECONDS
    print(
        f"  {engine:<10} {label:<22} {rps:6.0f} req/s  p50 {p50:6.1f} ms  p95 {p95:6.1f} ms "
        f"(target <= {target_ms})  max {max(latencies) * 1000:7.1f} ms  "
        f"503 {calls.busy} (target 0)  other errors {calls.errors - calls.busy}"
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
