"""Full-text benchmark: extraction throughput beside trafilatura alone, and a cold run of
1,000 teaser entries over 50 loopback hosts with 100 ms latency until every article has
its page's text, with the peak RSS of the poller and its workers.

``python -m bench extract``. SQLite always; PostgreSQL too when
NEWSMON_TEST_POSTGRES_URL is set. The cold run is ``newsmon poll --once`` in a
subprocess (poll, then the page queue), so its RSS is its own. Pages come from the
test suite's loopback news site (``tests/support/newssite.py``). Nothing is asserted.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from app.store.db import Database
from app.store.tables import Article, Extraction
from bench.bench_poller import database, mb, prepare
from tests.support.newssite import NewsSite, teaser_page

PAGES = 300
ROUNDS = 3
HOSTS, PER_HOST, LATENCY = 50, 20, 0.1
MIN_DELAY = 1.0
TARGET_RATIO = 0.80
TARGET_RSS_MB = 250

RUNNER = """
import asyncio, json, os, threading, time
from app.config import load_settings
from app.polling import make_extraction_runner, make_poller
from app.store.db import Database
from bench.bench_extract import descendants_rss

settings = load_settings()
db = Database.from_url(settings.database_url)
peaks, stop = {}, threading.Event()
threading.Thread(target=descendants_rss, args=(peaks, stop), daemon=True).start()
started = time.perf_counter()
polled = asyncio.run(make_poller(settings, db).poll_due())
feeds_done = time.perf_counter() - started
pages = asyncio.run(make_extraction_runner(settings, db).run_once())
stop.set()
print(json.dumps({
    "elapsed": time.perf_counter() - started, "feeds_done": feeds_done,
    "new": polled.new, "outcomes": dict(pages.outcomes),
    "rss_kb": int(open("/proc/self/status").read().split("VmHWM:")[1].split()[0]),
    "workers_rss_kb": max(peaks.values(), default=0),
}))
"""


def descendants_rss(peaks: dict[int, int], stop: Any) -> None:
    """Peak VmRSS of this process's descendants (the fork server's workers too)."""
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


def throughput() -> dict[str, float]:
    """Pages per second on one core, best of ROUNDS interleaved rounds (the machine is
    shared): trafilatura alone (the floor), ``extract_page`` (trafilatura plus HTML,
    nh3, plain text and the wall checks), the whole job with re-tagging, and the job
    through one pool worker (pickling, the process hop)."""
    import trafilatura

    from app.feeds.extract import extract_page
    from app.feeds.parse import ParsePool
    from app.polling.pages import extract_and_tag, failed_page
    from app.tagging import load_tagger

    # Fresh pages for every round and job: no cache inside any of them may help.
    rounds = [
        [(f"https://news.example/teaser/{n}", teaser_page(n, "")) for n in range(r, r + PAGES)]
        for r in range(0, PAGES * (ROUNDS * 4 + 1), PAGES)
    ]
    pages = rounds[0]
    load_tagger()
    extract_and_tag(pages[0][1], pages[0][0], "text/html", "t", "", None)  # warm both
    kind = "text/html; charset=utf-8"
    jobs: dict[str, Any] = {
        "floor": lambda url, body: trafilatura.bare_extraction(
            body,
            url=url,
            with_metadata=True,
            include_comments=False,
            include_tables=False,
            favor_precision=True,
        ),
        "extract": lambda url, body: extract_page(body, url=url, content_type=kind),
        "job": lambda url, body: extract_and_tag(body, url, kind, "Report", "", None),
    }
    best = dict.fromkeys(jobs, 0.0)
    fresh = iter(rounds[1:])
    for _ in range(ROUNDS):
        for name, job in jobs.items():
            batch = next(fresh)
            started = time.perf_counter()
            for url, body in batch:
                job(url, body)
            best[name] = max(best[name], PAGES / (time.perf_counter() - started))

    async def pooled() -> float:
        async with ParsePool(1, preload=("app.polling.preload",)) as pool:
            rate = 0.0
            for _ in range(ROUNDS):
                started = time.perf_counter()
                for url, body in next(fresh):
                    await pool.run(
                        extract_and_tag,
                        *(body, url, kind, "Report", "", None),
                        budget_seconds=20,
                        on_failure=failed_page,
                    )
                rate = max(rate, PAGES / (time.perf_counter() - started))
            return rate

    best["pooled"] = asyncio.run(pooled())
    return best


def cold_run(kind: str, tmp: Path, **settings: str) -> dict[str, Any]:
    with ExitStack() as stack, database(kind, tmp) as url:
        sites = [
            stack.enter_context(NewsSite(f"127.0.0.{n}", latency=LATENCY))
            for n in range(1, HOSTS + 1)
        ]
        feeds = [
            site.add_feed(
                "teasers",
                [
                    (f"Report {h * PER_HOST + i}", site.url(f"/teaser/{h * PER_HOST + i}"))
                    for i in range(PER_HOST)
                ],
                "A one-line teaser.",
            )
            for h, site in enumerate(sites)
        ]
        prepare(url, feeds)
        env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSMON_")}
        env.update(
            NEWSMON_DATABASE_URL=url,
            NEWSMON_DATA_DIR=str(tmp / "data"),
            NEWSMON_DEFAULT_FEEDS="false",
            NEWSMON_ALLOW_PRIVATE_NETWORKS="true",
            NEWSMON_LOG_LEVEL="WARNING",
            NEWSMON_PAGE_HOST_DELAY_SECONDS=str(MIN_DELAY),
            **{f"NEWSMON_{k.upper()}": v for k, v in settings.items()},
        )
        done = subprocess.run(
            [sys.executable, "-c", RUNNER], env=env, capture_output=True, text=True, check=False
        )
        if done.returncode:
            raise RuntimeError(done.stderr[-2000:])
        result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
        db = Database.from_url(url)
        with db.read() as session:
            result["with_text"] = session.scalar(
                select(func.count()).where(Article.text_source == "page")
            )
            result["queued"] = session.scalar(select(func.count()).select_from(Extraction))
        db.dispose()
        first = min(t for s in sites for _, t in s.log)
        last = max(t for s in sites for _, t in s.log)
        result["span"] = last - first
        result["min_gap"] = min(min(s.gaps(skip=("/feed/teasers.xml",)), default=9) for s in sites)
        return result


def main() -> None:
    rates = throughput()
    floor = rates["floor"]
    print(
        f"extraction, one core, {PAGES} pages, best of {ROUNDS}: trafilatura alone "
        f"{floor:.0f} pages/s; extract_page {rates['extract']:.0f} pages/s = "
        f"{rates['extract'] / floor:.0%} of it (target >= {TARGET_RATIO:.0%}); with "
        f"re-tagging {rates['job']:.0f} pages/s = {rates['job'] / floor:.0%}; the job "
        f"through one pool worker {rates['pooled']:.0f} pages/s = {rates['pooled'] / floor:.0%}"
    )
    # robots.txt, then 20 pages, each a full delay after the previous answer.
    floor_s = PER_HOST * (MIN_DELAY + LATENCY) + LATENCY
    kinds = ["sqlite"] + (["postgresql"] if os.environ.get("NEWSMON_TEST_POSTGRES_URL") else [])
    with tempfile.TemporaryDirectory() as tmp:
        for kind, workers in [(k, w) for k in kinds for w in ("1", "2")]:
            r = cold_run(kind, Path(tmp), extract_workers=workers)
            print(
                f"[{kind}, {workers} extraction worker(s)] cold run, "
                f"{HOSTS * PER_HOST} teasers over {HOSTS} hosts, "
                f"{LATENCY * 1000:.0f} ms latency, {MIN_DELAY:g} s per-host delay: "
                f"{r['with_text']}/{r['queued']} articles with their page's text in "
                f"{r['elapsed']:.1f} s (feeds done after {r['feeds_done']:.1f} s; politeness "
                f"floor {floor_s:.1f} s, target <= {2 * floor_s:.0f} s); "
                f"first to last request {r['span']:.1f} s; smallest gap between two requests "
                f"to one host {r['min_gap']:.2f} s; outcomes {r['outcomes']}; peak RSS poller "
                f"{mb(r['rss_kb']):.0f} MB (target <= {TARGET_RSS_MB} MB), largest worker "
                f"{mb(r['workers_rss_kb']):.0f} MB"
            )


if __name__ == "__main__":
    main()
