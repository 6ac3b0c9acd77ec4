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
from typing import Any
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
WARM_ROUNDS = 3  # the same poller polls all feeds again: RSS must not grow
TARGET_COLD = {"sqlite": 2500, "postgresql": 2000}
TARGET_WARM_S = 2.0
TARGET_RSS_MB = 150

RUNNER = """
import asyncio, json, os, threading, time
from datetime import UTC, datetime
from sqlalchemy import update
from app.config import load_settings
from app.store.db import Database
from app.store.tables import Feed
from app.wiring import make_poller

def descendants_rss(peaks, stop):
    # The parse workers are children of the fork server, not of this process, so
    # RUSAGE_CHILDREN never sees them: sample /proc instead.
    me = os.getpid()
    while not stop.is_set():
        parents = {}
        for pid in filter(str.isdigit, os.listdir("/proc")):
            try:
                with open(f"/proc/{pid}/stat") as f:
                    parents[int(pid)] = int(f.read().rsplit(")", 1)[1].split()[1])
            except OSError:
                pass
        family = {me}
        for _ in range(3):
            family |= {p for p, parent in parents.items() if parent in family}
        for pid in family - {me}:
            try:
                with open(f"/proc/{pid}/status") as f:
                    kb = int(f.read().split("VmRSS:")[1].split()[0])
                peaks[pid] = max(peaks.get(pid, 0), kb)
            except (OSError, IndexError):
                pass
        stop.wait(0.2)

settings = load_settings()
db = Database.from_url(settings.database_url)
poller = make_poller(settings, db)
peaks, stop = {}, threading.Event()
threading.Thread(target=descendants_rss, args=(peaks, stop), daemon=True).start()
rounds = []
for n in range(int(os.environ.get("BENCH_ROUNDS", "1"))):
    if n:
        with db.write() as session:
            session.execute(update(Feed).values(next_poll_at=datetime.now(UTC)))
    started = time.perf_counter()
    summary = asyncio.run(poller.poll_due())
    rounds.append({
        "elapsed": time.perf_counter() - started, "feeds": summary.feeds, "new": summary.new,
        "errors": summary.errors,
        # VmHWM, not ru_maxrss: the latter keeps the peak of the bench process this
        # one was forked from.
        "rss_kb": int(open("/proc/self/status").read().split("VmHWM:")[1].split()[0]),
    })
stop.set()
print(json.dumps({**rounds[0], "rounds": rounds,
                  "workers_rss_kb": max(peaks.values(), default=0)}))
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


def run_poller(url: str, tmp: Path, rounds: int = 1, **settings: str) -> dict[str, Any]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSMON_")}
    env.update(
        NEWSMON_DATABASE_URL=url,
        NEWSMON_DATA_DIR=str(tmp / "data"),
        NEWSMON_DEFAULT_FEEDS="false",
        NEWSMON_ALLOW_PRIVATE_NETWORKS="true",
        NEWSMON_LOG_LEVEL="WARNING",
        BENCH_ROUNDS=str(rounds),
        **{f"NEWSMON_{k.upper()}": v for k, v in settings.items()},
    )
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", RUNNER], env=env, capture_output=True, text=True, check=False
    )
    wall = time.perf_counter() - started
    if done.returncode:
        raise RuntimeError(done.stderr[-2000:])
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
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


def prepare_rate(bodies: dict[str, bytes]) -> float:
    """parse + normalise + sanitise + tag (a worker's whole job) on one core, tagger
    already loaded: entries per second. Twice this is the most two workers can do."""
    import app.polling.preload  # noqa: F401  (loads and warms the tagger, as workers do)
    from app.polling.ingest import prepare_feed

    now = datetime.now(UTC)
    headers = {"content-type": "application/rss+xml"}
    started = time.process_time()
    entries = sum(
        len(prepare_feed(body, f"http://bench.example{path}", headers, now).drafts)
        for path, body in bodies.items()
    )
    return entries / (time.process_time() - started)


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
        worker = prepare_rate(cold)
        print(
            f"a parse worker's whole job (parse, normalise, sanitise, tag; one core): "
            f"{worker:,.0f} entries/s, so two workers top out at {2 * worker:,.0f}/s "
            "before fetching, storing and the one-time tagger load take their share "
            "of the two cores"
        )
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
                f"largest parse worker {mb(r['workers_rss_kb']):.0f} MB "
                "(its tagger pages are shared with the fork server and the other worker)"
            )
            with (
                BenchFeedServer(warm, hosts=WARM_HOSTS, latency=WARM_LATENCY) as server,
                database(kind, tmp) as url,
            ):
                prepare(url, server.urls(), [server.etags[p] for p in warm])
                r = run_poller(url, tmp, rounds=WARM_ROUNDS)
                not_modified = server.not_modified
            print(
                f"[{kind}] warm poll: {r['feeds']:.0f} feeds over {WARM_HOSTS} addresses, "
                f"{not_modified} x 304 in {WARM_ROUNDS} rounds, "
                f"{WARM_LATENCY * 1000:.0f} ms latency: "
                f"{r['elapsed']:.2f} s (target <= {TARGET_WARM_S} s; later rounds "
                + ", ".join(f"{x['elapsed']:.2f}" for x in r["rounds"][1:])
                + f" s); peak RSS {mb(r['rss_kb']):.0f} MB (target <= {TARGET_RSS_MB} MB), "
                "after each round "
                + " / ".join(f"{mb(x['rss_kb']):.0f}" for x in r["rounds"])
                + " MB"
            )


if __name__ == "__main__":
    main()
