"""Poller benchmark: cold ingest, warm (all 304) poll, peak RSS, and the parse floor.

``python -m bench poller`` (or ``make bench``). SQLite always; PostgreSQL too when
NEWSMON_TEST_POSTGRES_URL is set (in a schema of its own, dropped afterwards). The
poller runs in a subprocess, as ``newsmon poll`` would, so its peak RSS is its own.
Figures are printed next to the targets of issue 3; nothing is asserted.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote

from sqlalchemy import create_engine, text, update

from app.store import migrate
from app.store.db import Database
from app.store.feeds import FeedStore
from app.store.tables import Feed
from bench.corpus import corpus
from bench.feedserver import BenchFeedServer

COLD_FEEDS, COLD_ENTRIES = 200, 50
WARM_FEEDS, WARM_HOSTS, WARM_LATENCY = 1000, 50, 0.1
TARGET_COLD = {"sqlite": 2500, "postgresql": 2000}
TARGET_WARM_S = 2.0
TARGET_RSS_MB = 150

RUNNER = """
import asyncio, json, resource, time
from app.config import load_settings
from app.store.db import Database
from app.wiring import make_poller
settings = load_settings()
db = Database.from_url(settings.database_url)
poller = make_poller(settings, db)
started = time.perf_counter()
summary = asyncio.run(poller.poll_due())
elapsed = time.perf_counter() - started
print(json.dumps({
    "elapsed": elapsed, "feeds": summary.feeds, "new": summary.new, "errors": summary.errors,
    "rss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
    "workers_rss_kb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss,
}))
"""


@contextmanager
def database(kind: str, tmp: Path) -> Iterator[str]:
    if kind == "sqlite":
        yield f"sqlite:///{tmp / f'bench-{uuid.uuid4().hex[:6]}.db'}"
        return
    url = os.environ["NEWSMON_TEST_POSTGRES_URL"]
    schema = f"bench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(url)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        sep = "&" if "?" in url else "?"
        yield f"{url}{sep}options={quote(f'-csearch_path={schema}')}"
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()


def prepare(url: str, feeds: list[str], etags: list[str | None] | None = None) -> None:
    db = Database.from_url(url)
    migrate.upgrade(db.engine)
    now = datetime.now(UTC)
    with db.write() as session:
        store = FeedStore(session)
        for feed_url in feeds:
            store.add(feed_url, now=now)
    if etags:
        with db.write() as session:
            for feed_id, tag in enumerate(etags, start=1):
                session.execute(update(Feed).where(Feed.id == feed_id).values(etag=tag))
    db.dispose()


def run_poller(url: str, tmp: Path, **settings: str) -> dict[str, float]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSMON_")}
    env.update(
        NEWSMON_DATABASE_URL=url,
        NEWSMON_DATA_DIR=str(tmp / "data"),
        NEWSMON_DEFAULT_FEEDS="false",
        NEWSMON_ALLOW_PRIVATE_NETWORKS="true",
        NEWSMON_LOG_LEVEL="WARNING",
        **{f"NEWSMON_{k.upper()}": v for k, v in settings.items()},
    )
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", RUNNER], env=env, capture_output=True, text=True, check=False
    )
    wall = time.perf_counter() - started
    if done.returncode:
        raise RuntimeError(done.stderr[-2000:])
    result: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    result["wall"] = wall
    return result


def parse_floor(tmp: Path, bodies: dict[str, bytes]) -> float:
    """feedparser alone over the same files, from disk, one core: entries per second."""
    import feedparser

    folder = tmp / "corpus"
    folder.mkdir(exist_ok=True)
    files = []
    for n, body in enumerate(bodies.values()):
        path = folder / f"{n}.xml"
        path.write_bytes(body)
        files.append(path)
    started = time.perf_counter()
    entries = sum(len(feedparser.parse(io.BytesIO(p.read_bytes())).entries) for p in files)
    return entries / (time.perf_counter() - started)


def mb(kb: float) -> float:
    return kb / 1024


def main() -> None:
    engines = ["sqlite"] + (["postgresql"] if os.environ.get("NEWSMON_TEST_POSTGRES_URL") else [])
    cold = corpus(COLD_FEEDS, COLD_ENTRIES)
    served = sum(body.count(b"<item>") for body in cold.values())
    warm = corpus(WARM_FEEDS, 1, seed=1)
    print(f"cores: {os.cpu_count()}; cold corpus {COLD_FEEDS} feeds, {served} entries")
    with tempfile.TemporaryDirectory(prefix="newsmon-bench-") as name:
        tmp = Path(name)
        floor = parse_floor(tmp, cold)
        print(f"feedparser floor (one core, from disk): {floor:,.0f} entries/s")
        for kind in engines:
            with BenchFeedServer(cold, hosts=10) as server, database(kind, tmp) as url:
                prepare(url, server.urls())
                r = run_poller(url, tmp)
            rate = served / r["elapsed"]
            print(
                f"[{kind}] cold ingest: {r['feeds']:.0f} feeds, {r['new']:.0f} new articles, "
                f"{r['errors']:.0f} errors in {r['elapsed']:.2f} s (process {r['wall']:.2f} s) "
                f"= {rate:,.0f} entries/s (target >= {TARGET_COLD[kind]:,}); "
                f"peak RSS poller {mb(r['rss_kb']):.0f} MB, "
                f"largest parse worker {mb(r['workers_rss_kb']):.0f} MB"
            )
            with (
                BenchFeedServer(warm, hosts=WARM_HOSTS, latency=WARM_LATENCY) as server,
                database(kind, tmp) as url,
            ):
                prepare(url, server.urls(), [server.etags[p] for p in warm])
                r = run_poller(url, tmp)
                not_modified = server.not_modified
            print(
                f"[{kind}] warm poll: {r['feeds']:.0f} feeds over {WARM_HOSTS} addresses, "
                f"{not_modified} x 304, {WARM_LATENCY * 1000:.0f} ms latency: "
                f"{r['elapsed']:.2f} s (target <= {TARGET_WARM_S} s); "
                f"peak RSS {mb(r['rss_kb']):.0f} MB (target <= {TARGET_RSS_MB} MB)"
            )


if __name__ == "__main__":
    main()
