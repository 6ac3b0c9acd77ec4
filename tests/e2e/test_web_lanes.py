"""A web worker runs requests' database work on a few threads (``NEWSMON_WEB_THREADS``),
and routes that write on a lane of their own: editors waiting for the database's write
lock never hold the threads that answer readers (issue 15, SQLite under load).

Real ``newsmon serve`` on a SQLite file; the write lock is held from outside, as a
poller's long transaction would hold it."""

from __future__ import annotations

import sqlite3
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

from tests.support.served import serve
from tests.web.test_auth_kit import seed_article


def _threads(pid: int) -> int:
    return len(list(Path(f"/proc/{pid}/task").iterdir()))


def test_readers_are_answered_while_writers_wait_for_the_write_lock(tmp_path: Path) -> None:
    with serve("sqlite", tmp_path, web_threads="2") as served:
        token = served.write_token("ed")
        ids = [seed_article(served.db, f"Story {i}", minutes_ago=i) for i in range(3)]
        auth = {"Authorization": f"Bearer {token}"}
        api = f"{served.base}/api/v1"
        with httpx.Client(headers=auth, timeout=60) as client:
            assert client.get(f"{api}/articles").status_code == 200  # the token's first use

            database = served.env["NEWSMON_DATABASE_URL"].removeprefix("sqlite:///")
            holder = sqlite3.connect(database, isolation_level=None)
            holder.execute("BEGIN IMMEDIATE")  # the write lock, held from outside
            with ThreadPoolExecutor(8) as pool:
                try:
                    posts = [
                        pool.submit(
                            client.post,
                            f"{api}/articles/{ids[n % 3]}/flags",
                            json={"kind": "follow-up", "note": f"n{n}"},
                        )
                        for n in range(6)  # more writers than threads of either kind
                    ]
                    reads = [client.get(f"{api}/articles?relevance=all") for _ in range(4)]
                    # every reader was answered while all six writers still waited
                    waiting = sum(not p.done() for p in posts)
                finally:
                    holder.execute("ROLLBACK")
                    holder.close()
                created = [p.result().status_code for p in posts]
        assert [r.status_code for r in reads] == [200] * 4
        assert [len(r.json()["items"]) for r in reads] == [3] * 4
        assert waiting == 6
        assert created == [201] * 6  # and none was lost once the lock was free
        with httpx.Client(headers=auth, timeout=30) as client:
            notes = sorted(
                f["note"]
                for i in ids
                for f in client.get(f"{api}/articles/{i}/flags").json()["items"]
            )
        assert notes == [f"n{n}" for n in range(6)]


def test_a_burst_of_requests_runs_on_the_configured_threads(tmp_path: Path) -> None:
    with serve("sqlite", tmp_path, web_threads="2") as served:
        seed_article(served.db, "Story", minutes_ago=1)
        url = f"{served.base}/api/v1/articles"
        before = _threads(served.proc.pid)
        with ThreadPoolExecutor(24) as pool:
            codes = list(pool.map(lambda _: httpx.get(url, timeout=60).status_code, range(48)))
        assert codes == [200] * 48
        # 24 requests at once; two threads ran them (the old pool started one each)
        assert _threads(served.proc.pid) - before <= 2
