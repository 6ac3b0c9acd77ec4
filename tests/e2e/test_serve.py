"""``newsmon serve`` as an operator runs it: a real process on 127.0.0.1.

Rate limits cannot be dodged with ``X-Forwarded-For`` unless the request really
comes from a proxy the administrator trusts, and the failure counts live in the
database, so several web workers (PostgreSQL) share one limit.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine, text

from tests.support.browser import free_port
from tests.support.db import postgres_url
from tests.support.feedsrv import FeedServer
from tests.support.rss import Item, rss

NEWSMON = str(Path(sys.executable).with_name("newsmon"))
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def base_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSMON_")}
    env.update(
        NEWSMON_DATABASE_URL=f"sqlite:///{tmp_path / 'newsmon.db'}",
        NEWSMON_DATA_DIR=str(tmp_path / "data"),
        NEWSMON_DEFAULT_FEEDS="false",
        NEWSMON_POLL="false",
        NEWSMON_LOG_LEVEL="WARNING",
    )
    env.update(extra)
    return env


@contextlib.contextmanager
def serving(env: dict[str, str], *args: str) -> Iterator[str]:
    port = free_port()
    log = Path(env["NEWSMON_DATA_DIR"]).with_name(f"serve-{port}.log")
    with log.open("w") as out:
        proc = subprocess.Popen(
            [NEWSMON, "serve", "--port", str(port), *args], env=env, stdout=out, stderr=out
        )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            if proc.poll() is not None:
                raise AssertionError(log.read_text())
            time.sleep(0.1)
        else:
            raise AssertionError("newsmon serve did not answer /healthz")
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def failed_logins(base: str, attempts: int, *, spoof: bool, vary_account: bool) -> list[int]:
    codes = []
    with httpx.Client(base_url=base, timeout=30) as client:
        for n in range(attempts):
            token = CSRF.search(client.get("/login").text)
            assert token is not None
            headers = {"X-Forwarded-For": f"203.0.113.{n + 1}"} if spoof else {}
            response = client.post(
                "/login",
                data={
                    "username": f"nobody{n}" if vary_account else "nobody",
                    "password": "wrong",
                    "csrf_token": token.group(1),
                },
                headers=headers,
            )
            codes.append(response.status_code)
    return codes


def test_a_spoofed_forwarded_for_does_not_reset_the_address_limit(tmp_path: Path) -> None:
    with serving(base_env(tmp_path)) as base:
        codes = failed_logins(base, 22, spoof=True, vary_account=True)
    assert codes[:20] == [401] * 20
    assert codes[20:] == [429, 429]  # every attempt counted against 127.0.0.1, the real peer


def test_a_spoofed_forwarded_for_does_not_reset_the_token_limit(tmp_path: Path) -> None:
    with serving(base_env(tmp_path)) as base, httpx.Client(base_url=base) as client:
        codes = [
            client.get(
                "/api/v1/articles",
                headers={
                    "Authorization": f"Bearer nm_bad{n}",
                    "X-Forwarded-For": f"198.51.100.{n + 1}",
                },
            ).status_code
            for n in range(32)
        ]
    assert codes[:30] == [401] * 30 and codes[30:] == [429, 429]


def test_a_trusted_proxy_is_believed(tmp_path: Path) -> None:
    env = base_env(tmp_path, NEWSMON_TRUSTED_PROXIES='["127.0.0.1"]')
    with serving(env) as base:
        codes = failed_logins(base, 22, spoof=True, vary_account=True)
    assert codes == [401] * 22  # 22 different clients behind the proxy, each under its limit


def test_several_workers_on_sqlite_are_refused_with_the_reason(tmp_path: Path) -> None:
    done = subprocess.run(
        [NEWSMON, "serve", "--workers", "2", "--port", str(free_port())],
        env=base_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "several web workers need PostgreSQL" in done.stderr


@pytest.mark.postgres
def test_two_workers_on_postgresql_share_one_login_limit(tmp_path: Path) -> None:
    url = postgres_url()
    assert url is not None
    name = f"nm_serve_{uuid.uuid4().hex[:10]}"
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        db_url = url.rsplit("/", 1)[0] + f"/{name}"
        with serving(base_env(tmp_path, NEWSMON_DATABASE_URL=db_url), "--workers", "2") as base:
            codes = failed_logins(base, 8, spoof=False, vary_account=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
    # One shared count: the 6th attempt is refused whichever worker takes it (two
    # per-process counts would have let up to ten through).
    assert codes[:5] == [401] * 5 and codes[5:] == [429] * 3


def test_serve_polls_in_a_child_process_and_stops_it_on_sigterm(
    tmp_path: Path, feed_server: FeedServer
) -> None:
    feed_server.add_file(
        "/news.xml",
        rss([Item(title="Amazon and TikTok extend checkout", link="https://n.example/1")]),
    )
    env = base_env(
        tmp_path,
        NEWSMON_POLL="true",
        NEWSMON_POLL_INTERVAL_SECONDS="5",
        NEWSMON_ALLOW_PRIVATE_NETWORKS="true",
    )
    # a new database is made by `db upgrade` (or `serve`); `feeds add` alone refuses
    subprocess.run([NEWSMON, "db", "upgrade"], env=env, check=True, timeout=60)
    subprocess.run(
        [NEWSMON, "feeds", "add", feed_server.url("/news.xml")], env=env, check=True, timeout=60
    )
    port = free_port()
    log = tmp_path / "serve.log"
    with log.open("w") as out:
        proc = subprocess.Popen(
            [NEWSMON, "serve", "--port", str(port)], env=env, stdout=out, stderr=out
        )
    try:
        titles: list[str] = []
        for _ in range(600):  # the child polls; the web shows what it stored
            with contextlib.suppress(httpx.HTTPError):
                got = httpx.get(f"http://127.0.0.1:{port}/api/v1/articles?relevance=all", timeout=2)
                titles = [a["title"] for a in got.json().get("items", [])]
                if titles:
                    break
            time.sleep(0.2)
        assert titles == ["Amazon and TikTok extend checkout"], log.read_text()[-2000:]
        children = subprocess.run(
            ["pgrep", "-P", str(proc.pid)], capture_output=True, text=True
        ).stdout.split()
        assert children, "serve runs its poller as a child process"
        web_nice = os.getpriority(os.PRIO_PROCESS, proc.pid)
        # The poller's own process holds the write lock while it stores: it keeps the
        # web's priority (a starved lock holder makes every editor's write wait); its
        # parse workers run below it (tests/feeds: NEWSMON_POLL_NICE, 10).
        assert [os.getpriority(os.PRIO_PROCESS, int(pid)) for pid in children] == [web_nice] * len(
            children
        )
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    for pid in children:  # the poller went with it
        assert (
            not Path(f"/proc/{pid}").exists() or "zombie" in Path(f"/proc/{pid}/status").read_text()
        )
    assert "Traceback" not in log.read_text()
