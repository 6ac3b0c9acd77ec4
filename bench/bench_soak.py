"""Soak: newsmon scaled out on PostgreSQL, under load, through a poller crash and an outage.

    python -m bench soak                # 10 minutes (NEWSMON_SOAK_MINUTES to change)

Not part of ``make bench``'s default run (``bench/__main__.py`` skips it unless named):
it needs NEWSMON_TEST_POSTGRES_URL and ten minutes.

What runs, all on this machine:
- a feed server: 2,000 feeds on 50 loopback addresses, 100 ms per response, each feed
  gaining one entry per minute (ETag by content, so unchanged feeds answer 304); it
  records every fetch, so it knows every entry it ever served and when each feed was
  fetched;
- PostgreSQL reached through a TCP proxy the bench can cut;
- ``newsmon serve --workers 2`` and two ``newsmon poll`` processes;
- 16 API readers and 4 editors posting flags, as fast as the server answers.

Half-way, one poller is SIGKILLed; 30 s later the proxy is cut for 15 s. At the end the
server's entries stop changing, one ``newsmon poll --once --all`` catches up, and the
database is compared with what the server served.

Printed: requests and errors by status, p50/p95/p99 latency, feeds fetched twice within
their interval, articles lost or duplicated, time to recover after the outage.
Targets: 0 lost, 0 duplicated, 0 fetched twice, 0 × 5xx other than 503 during the
outage, recovery within 10 s.
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from bench.tcpproxy import TcpProxy

FEEDS = 2000
HOSTS = 50
LATENCY = 0.1
BASE_ENTRIES = 5
READERS = 16
EDITORS = 4
NEWSMON = str(Path(sys.executable).with_name("newsmon"))


# -- the feed server ----------------------------------------------------------------


class SoakFeeds:
    """Feed ``i`` has ``BASE_ENTRIES`` entries plus one per minute since the start."""

    def __init__(self) -> None:
        self.started = time.time()
        self.frozen_at: float | None = None
        self.lock = threading.Lock()
        self.served: set[str] = set()  # guids of every entry sent in a 200
        self.fetches: dict[int, list[float]] = defaultdict(list)
        self.requests = Counter[int]()

    def minute(self) -> int:
        now = self.frozen_at or time.time()
        return int((now - self.started) // 60)

    def body(self, feed: int) -> tuple[bytes, list[str], str]:
        count = BASE_ENTRIES + self.minute()
        guids = [f"soak-{feed}-{n}" for n in range(count)]
        items = []
        for n in reversed(range(count)):
            at = datetime.fromtimestamp(self.started + n * 60 - 3600, UTC)
            items.append(
                f"<item><title>Feed {feed} story {n}: Amazon and TikTok shopping update</title>"
                f"<link>https://soak{feed % 97}.example/{feed}/{n}</link>"
                f"<guid isPermaLink='false'>soak-{feed}-{n}</guid>"
                f"<pubDate>{format_datetime(at)}</pubDate>"
                f"<description>Story {n} of feed {feed}, written for the soak test about "
                f"merchants selling through TikTok with Amazon checkout.</description></item>"
            )
        xml = (
            "<?xml version='1.0' encoding='utf-8'?><rss version='2.0'><channel>"
            f"<title>Soak feed {feed}</title><link>https://soak.example/{feed}</link>"
            f"{''.join(items)}</channel></rss>"
        )
        return xml.encode(), guids, f'"{feed}-{count}"'


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def do_GET(self) -> None:
        feeds = self.server.feeds
        time.sleep(LATENCY)
        try:
            feed = int(self.path.strip("/").removesuffix(".xml"))
        except ValueError:
            self._reply(404, b"", {})
            return
        body, guids, etag = feeds.body(feed)
        with feeds.lock:
            feeds.fetches[feed].append(time.time())
        if self.headers.get("If-None-Match") == etag:
            with feeds.lock:
                feeds.requests[304] += 1
            self._reply(304, b"", {"ETag": etag})
            return
        with feeds.lock:
            feeds.requests[200] += 1
            feeds.served.update(guids)
        self._reply(200, body, {"ETag": etag, "Content-Type": "application/rss+xml"})

    def _reply(self, status: int, body: bytes, headers: dict[str, str]) -> None:
        self.send_response(status)
        for name, value in {**headers, "Content-Length": str(len(body))}.items():
            self.send_header(name, value)
        self.end_headers()
        if body:
            self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 1024
    feeds: SoakFeeds

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a poller killed mid-response resets its connections: expected here


@contextmanager
def feed_server(feeds: SoakFeeds) -> Iterator[list[str]]:
    first = _Server(("127.0.0.1", 0), _Handler)
    port = first.server_address[1]
    servers = [first] + [_Server((f"127.0.0.{n}", port), _Handler) for n in range(2, HOSTS + 1)]
    for server in servers:
        server.feeds = feeds
        threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield [f"http://127.0.0.{i % HOSTS + 1}:{port}/{i}.xml" for i in range(FEEDS)]
    finally:
        for server in servers:
            server.shutdown()
            server.server_close()


# -- the clients --------------------------------------------------------------------


@dataclass
class Calls:
    by_status: Counter[str] = field(default_factory=Counter)
    latencies: list[float] = field(default_factory=list)
    log: list[tuple[float, int]] = field(default_factory=list)  # (time, status)


async def clients(base: str, token: str, stop: asyncio.Event, calls: Calls) -> None:
    headers = {"Authorization": f"Bearer {token}"}
    seen: list[int] = []  # article ids the readers saw, for the editors to flag

    async def one(kind: str, rng: random.Random, http: httpx.AsyncClient) -> None:
        while not stop.is_set():
            started = time.perf_counter()
            try:
                if kind == "reader":
                    response = await http.get("/api/v1/articles?limit=50", headers=headers)
                    if response.status_code == 200:
                        seen[:] = [a["id"] for a in response.json().get("items", [])] or seen
                    status = response.status_code
                else:
                    if not seen:
                        await asyncio.sleep(0.5)
                        continue
                    response = await http.post(
                        f"/api/v1/articles/{rng.choice(seen)}/flags",
                        json={"kind": "follow-up", "note": "soak"},
                        headers=headers,
                    )
                    status = response.status_code
                    await asyncio.sleep(0.2)  # editors are slower than scripts
            except httpx.HTTPError as exc:
                status = 0
                calls.by_status[type(exc).__name__] += 1
            calls.by_status[str(status)] += 1
            calls.latencies.append(time.perf_counter() - started)
            calls.log.append((time.time(), status))

    limits = httpx.Limits(max_connections=READERS + EDITORS)
    async with httpx.AsyncClient(base_url=base, timeout=30, limits=limits) as http:
        await asyncio.gather(
            *(one("reader", random.Random(n), http) for n in range(READERS)),
            *(one("editor", random.Random(100 + n), http) for n in range(EDITORS)),
        )


# -- orchestration ------------------------------------------------------------------


def newsmon_env(db_url: str, data: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSMON_")}
    env.update(
        NEWSMON_DATABASE_URL=db_url,
        NEWSMON_DATA_DIR=str(data),
        NEWSMON_SECRET_KEY="soak-" + "k" * 40,
        NEWSMON_DEFAULT_FEEDS="false",
        NEWSMON_POLL="false",
        NEWSMON_ALLOW_PRIVATE_NETWORKS="true",
        NEWSMON_MIN_INTERVAL_MINUTES="1",
        NEWSMON_POLL_INTERVAL_SECONDS="5",
        NEWSMON_FETCH_PER_HOST="8",
        NEWSMON_LOG_LEVEL="WARNING",
    )
    return env


def start(env: dict[str, str], log: Path, *args: str) -> subprocess.Popen[bytes]:
    out = log.open("ab")
    return subprocess.Popen([NEWSMON, *args], env=env, stdout=out, stderr=out)


def write_opml(urls: list[str], path: Path) -> None:
    outlines = "".join(
        f'<outline type="rss" text="f{i}" xmlUrl="{u}"/>' for i, u in enumerate(urls)
    )
    path.write_text(f'<opml version="2.0"><head/><body>{outlines}</body></opml>')


def make_token(env: dict[str, str]) -> str:
    subprocess.run(
        [NEWSMON, "users", "add", "soak", "--role", "editor", "--password-stdin"],
        env=env,
        input=b"soak password long\n",
        check=True,
        capture_output=True,
    )
    out = subprocess.run(
        [NEWSMON, "tokens", "create", "--user", "soak", "--scope", "write"],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    return out.stdout.strip().splitlines()[-1]


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def run(pg_url: str, minutes: float) -> None:
    name = f"nm_soak_{uuid.uuid4().hex[:8]}"
    admin = create_engine(pg_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    parsed = make_url(pg_url)
    proxy = TcpProxy(parsed.host or "127.0.0.1", parsed.port or 5432)
    proxy.start()
    db_url = parsed.set(database=name, host="127.0.0.1", port=proxy.port).render_as_string(
        hide_password=False
    )
    direct_url = parsed.set(database=name).render_as_string(hide_password=False)
    work = Path(f"/tmp/newsmon-soak-{name}")
    work.mkdir(parents=True)
    env = newsmon_env(db_url, work / "data")
    feeds = SoakFeeds()
    procs: list[subprocess.Popen[bytes]] = []
    try:
        with feed_server(feeds) as urls:
            subprocess.run([NEWSMON, "db", "upgrade"], env=env, check=True, capture_output=True)
            write_opml(urls, work / "feeds.opml")
            subprocess.run(
                [NEWSMON, "feeds", "import", str(work / "feeds.opml")],
                env=env,
                check=True,
                capture_output=True,
            )
            token = make_token(env)
            port = 18000 + random.randrange(1000)
            procs.append(
                start(env, work / "web.log", "serve", "--port", str(port), "--workers", "2")
            )
            pollers = [start(env, work / f"poller{n}.log", "poll") for n in (1, 2)]
            procs += pollers
            base = f"http://127.0.0.1:{port}"
            for _ in range(300):
                try:
                    if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                time.sleep(0.1)
            calls = Calls()
            events: dict[str, float] = {}
            asyncio.run(_drive(base, token, calls, events, pollers, proxy, minutes))
            feeds.frozen_at = time.time()
            for proc in procs:
                proc.send_signal(signal.SIGTERM)
            for proc in procs:
                try:
                    proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    proc.kill()
            catch_up = subprocess.run(
                [NEWSMON, "poll", "--once", "--all"], env=env, capture_output=True, text=True
            )
            _report(feeds, calls, events, direct_url, catch_up, minutes)
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
        proxy.stop()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


async def _drive(
    base: str,
    token: str,
    calls: Calls,
    events: dict[str, float],
    pollers: list[subprocess.Popen[bytes]],
    proxy: TcpProxy,
    minutes: float,
) -> None:
    stop = asyncio.Event()
    load = asyncio.create_task(clients(base, token, stop, calls))
    total = minutes * 60
    await asyncio.sleep(total / 2)
    pollers[0].send_signal(signal.SIGKILL)
    events["poller killed"] = time.time()
    await asyncio.sleep(30)
    proxy.stop()
    events["outage start"] = time.time()
    await asyncio.sleep(15)
    proxy.start()
    events["outage end"] = time.time()
    await asyncio.sleep(max(0.0, total / 2 - 45))
    stop.set()
    await load


def _report(
    feeds: SoakFeeds,
    calls: Calls,
    events: dict[str, float],
    db_url: str,
    catch_up: subprocess.CompletedProcess[str],
    minutes: float,
) -> None:
    engine = create_engine(db_url)
    with engine.connect() as conn:
        stored = Counter(
            row[0]
            for row in conn.execute(text("SELECT guid FROM article WHERE guid LIKE 'soak-%'"))
        )
    engine.dispose()
    lost = feeds.served - set(stored)
    duplicated = sum(1 for count in stored.values() if count > 1)
    twice = sum(
        1
        for times in feeds.fetches.values()
        if any(b - a < 30 for a, b in zip(sorted(times), sorted(times)[1:], strict=False))
    )
    outage = (events["outage start"], events["outage end"])
    bad_5xx = sum(
        1
        for at, status in calls.log
        if status >= 500 and not (status == 503 and outage[0] - 1 <= at <= outage[1] + 10)
    )
    after = [at for at, status in calls.log if at > outage[1] and 200 <= status < 300]
    recovery = (min(after) - outage[1]) if after else float("inf")
    print(f"soak: {minutes:g} min, {FEEDS} feeds on {HOSTS} addresses, {LATENCY * 1000:.0f} ms")
    print(f"  feed server: {dict(feeds.requests)} responses; {len(feeds.served)} entries served")
    print(f"  requests by status: {dict(sorted(calls.by_status.items()))}")
    print(
        f"  latency p50 / p95 / p99: {percentile(calls.latencies, 0.5) * 1000:.0f} / "
        f"{percentile(calls.latencies, 0.95) * 1000:.0f} / "
        f"{percentile(calls.latencies, 0.99) * 1000:.0f} ms"
    )
    print(f"  catch-up poll: {catch_up.stdout.strip().splitlines()[-1:] or catch_up.stderr[-200:]}")
    rows = [
        ("articles lost", len(lost), "0"),
        ("articles duplicated", duplicated, "0"),
        ("feeds fetched twice within 30 s", twice, "0"),
        ("5xx other than 503 during the outage", bad_5xx, "0"),
        ("recovery after the outage (s)", f"{recovery:.1f}", "<= 10"),
    ]
    for label, value, target in rows:
        print(f"  {label:<40} {value!s:>8}   target {target}")


def main() -> None:
    pg_url = os.environ.get("NEWSMON_TEST_POSTGRES_URL")
    if not pg_url:
        print(
            "soak needs NEWSMON_TEST_POSTGRES_URL (a PostgreSQL server it may create a database on)"
        )
        return
    minutes = float(os.environ.get("NEWSMON_SOAK_MINUTES", "10"))
    run(pg_url, minutes)
