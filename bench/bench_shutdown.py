"""SIGTERM to ``newsmon serve`` while its in-process poller works through 1,000 due feeds:
seconds until the process has exited, and how many claims it left behind.

Target (faults issue): exit within 5 s, no feed left claimed.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.corpus import corpus
from bench.feedserver import BenchFeedServer

FEEDS = 1000
NEWSMON = str(Path(sys.executable).with_name("newsmon"))


def main() -> None:
    bodies = corpus(FEEDS, 5)
    with (
        BenchFeedServer(bodies, hosts=50, latency=0.3) as server,
        tempfile.TemporaryDirectory() as tmp,
    ):
        opml = Path(tmp) / "feeds.opml"
        outlines = "".join(f'<outline type="rss" xmlUrl="{u}"/>' for u in server.urls())
        opml.write_text(f'<opml version="2.0"><head/><body>{outlines}</body></opml>')
        db_path = Path(tmp) / "newsmon.db"
        env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSMON_")}
        env.update(
            NEWSMON_DATABASE_URL=f"sqlite:///{db_path}",
            NEWSMON_DATA_DIR=str(Path(tmp) / "data"),
            NEWSMON_DEFAULT_FEEDS="false",
            NEWSMON_ALLOW_PRIVATE_NETWORKS="true",
            NEWSMON_LOG_LEVEL=os.environ.get("NEWSMON_BENCH_LOG_LEVEL", "WARNING"),
        )
        subprocess.run([NEWSMON, "db", "upgrade"], env=env, check=True, capture_output=True)
        subprocess.run(
            [NEWSMON, "feeds", "import", str(opml)], env=env, check=True, capture_output=True
        )
        port = 18500 + os.getpid() % 400
        proc = subprocess.Popen(
            [NEWSMON, "serve", "--port", str(port)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=(Path(tmp) / "serve.log").open("w"),
        )
        try:
            for _ in range(600):
                if server.requests >= 50:  # polling is under way
                    break
                time.sleep(0.1)
            started = time.perf_counter()
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=120)
            took = time.perf_counter() - started
        finally:
            if proc.poll() is None:
                proc.kill()
        if os.environ.get("NEWSMON_BENCH_VERBOSE"):
            lines = (Path(tmp) / "serve.log").read_text().splitlines()
            print("\n".join(line for line in lines if "feed=" not in line)[-4000:])
        with sqlite3.connect(db_path) as conn:
            polled = conn.execute(
                "SELECT count(*) FROM feed WHERE last_polled_at IS NOT NULL"
            ).fetchone()[0]
            held = conn.execute(
                "SELECT count(*) FROM feed WHERE lease_owner IS NOT NULL "
                "AND lease_until > strftime('%Y-%m-%d %H:%M:%f', 'now')"
            ).fetchone()[0]
    print(f"SIGTERM with {FEEDS} feeds due (300 ms per response, 50 hosts)")
    print(f"  exit after SIGTERM     {took:6.2f} s   target <= 5 s")
    print(f"  feeds polled before    {polled:6d}")
    print(f"  claims left in force   {held:6d}     target 0")
