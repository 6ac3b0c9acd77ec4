"""A poller killed mid-extraction (``newsmon poll --once`` in a subprocess, SIGKILL
while its page requests are in flight): the feed's batch is already committed, the
claimed pages wait for their lease, and the next run extracts each of them once."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from app.store.db import Database
from app.store.tables import Article, Extraction
from tests.e2e.test_poller_concurrency import NEWSMON, cli_env, subprocess_url
from tests.support.db import DbTarget
from tests.support.newssite import NewsSite
from tests.support.polling import add_feed

LEASE_SECONDS = 2
PAGES = 3


@pytest.fixture
def site() -> Iterator[NewsSite]:
    with NewsSite() as server:
        yield server


def rows(db: Database) -> tuple[list[Article], list[Extraction]]:
    with db.read() as session:
        found = list(session.scalars(select(Article))), list(session.scalars(select(Extraction)))
        session.expunge_all()
    return found


def test_a_poller_killed_mid_extraction_leaves_its_pages_to_the_next_run(
    db: Database, db_target: DbTarget, site: NewsSite, tmp_path: Path
) -> None:
    links = [(f"slow {n}", site.url(f"/slow?seconds=60&n={n}")) for n in range(PAGES)]
    add_feed(db, site.add_feed("slow", links, "Teaser."))
    env = cli_env(
        subprocess_url(db_target),
        tmp_path,
        NEWSMON_POLL_LEASE_SECONDS=str(LEASE_SECONDS),
        NEWSMON_PAGE_HOST_DELAY_SECONDS="0",
        NEWSMON_PAGE_PER_HOST=str(PAGES),
    )
    proc = subprocess.Popen(
        [NEWSMON, "poll", "--once"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # its own group: the workers die with it
    )
    deadline = time.monotonic() + 90  # a bound, not a timing assertion
    while site.paths().count("/slow") < PAGES:
        assert proc.poll() is None, "the poller finished before the test could kill it"
        assert time.monotonic() < deadline, "the page requests never arrived"
        time.sleep(0.02)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)

    articles, queue = rows(db)
    assert len(articles) == PAGES and {a.text_source for a in articles} == {"feed"}
    assert {(r.state, r.outcome) for r in queue} == {("pending", None)}
    assert all(r.lease_owner for r in queue)  # claimed by the dead process

    site.release.set()  # the site answers now
    time.sleep(LEASE_SECONDS + 0.5)  # let the dead process's lease run out
    again = subprocess.run(
        [NEWSMON, "poll", "--once"], env=env, capture_output=True, text=True, timeout=120
    )
    assert again.returncode == 0, again.stderr
    articles, queue = rows(db)
    assert {(r.state, r.outcome) for r in queue} == {("done", "ok")}, [r.detail for r in queue]
    assert {a.text_source for a in articles} == {"page"}
    assert site.paths().count("/slow") == 2 * PAGES  # once killed, once done; never more
