"""Peak memory of hostile fetches, measured in a fresh subprocess by its ``VmHWM``.

Not ``ru_maxrss``: that survives fork and exec, so a child of a large pytest process
(the tagger loaded, hundreds of MB) starts with the parent's peak and hides growth.

Stock httpx grows by ~300 MB on these routes (RELIABILITY.md findings 6 and 2.1); the
guarded client must stay near its 1 MiB cap. The bound is generous on purpose: it tells
"bounded" from "inflated the bomb", not one allocator from another.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import feedsrv
from tests.support.feedsrv import FeedServer

ROOT = Path(__file__).resolve().parents[2]
BOUND_KIB = 32 * 1024  # guarded fetches grow < 3 MB; stock httpx grew 55-600 MB here

HWM = """
def peak_kib() -> int:
    with open("/proc/self/status") as status:
        return int(status.read().split("VmHWM:")[1].split()[0])
"""

CLIENT = (
    HWM
    + """
import json, sys
import anyio
from app.feeds.http import FetchPolicy, make_guarded_client

async def main(url: str, port: int) -> None:
    policy = FetchPolicy(allowlist=(f"127.0.0.1:{port}",), max_bytes=1 << 20, deadline=60)
    async with make_guarded_client(policy) as client:
        await client.fetch(f"http://127.0.0.1:{port}/feed.xml")  # warm up imports and pool
        before = peak_kib()
        outcome = await client.fetch(url)
        after = peak_kib()
    print(json.dumps({"kind": outcome.kind.value, "error": outcome.error, "kib": after - before}))

anyio.run(main, sys.argv[1], int(sys.argv[2]))
"""
)


def peak_growth(server: FeedServer, path: str) -> dict[str, object]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-c", CLIENT, server.url(path), str(server.port)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=120,
        check=True,
    )
    result: dict[str, object] = json.loads(done.stdout)
    return result


@pytest.mark.parametrize(
    ("path", "kind"),
    [
        ("/bomb", "too_large"),
        ("/bomb2", "too_large"),
        ("/bomb-redirect?to=/feed.xml", "ok"),
        ("/huge", "too_large"),
    ],
)
def test_hostile_bodies_keep_memory_bounded(path: str, kind: str, feed_server: FeedServer) -> None:
    feedsrv.gzip_bomb()
    feedsrv.stacked_bomb()
    result = peak_growth(feed_server, path)
    assert result["kind"] == kind, result
    assert isinstance(result["kib"], int)
    assert result["kib"] < BOUND_KIB, result


STOCK_HTTPX = (
    HWM
    + """
import sys, httpx
before = peak_kib()
httpx.get(sys.argv[1], follow_redirects=True)
print(peak_kib() - before)
"""
)


@pytest.mark.slow
def test_control_stock_httpx_inflates_the_redirect_bomb(feed_server: FeedServer) -> None:
    """Proves the route and the bound can catch the bug: httpx decodes 3xx bodies."""
    feedsrv.gzip_bomb()
    done = subprocess.run(
        [sys.executable, "-c", STOCK_HTTPX, feed_server.url("/bomb-redirect?to=/feed.xml")],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
        check=True,
    )
    assert int(done.stdout) > BOUND_KIB
