"""Claims that outlive nothing: a working poller renews its leases (so they can be
short), a stopping poller gives back what it did not finish, and SIGTERM ends
``newsmon poll`` at once instead of after every due feed."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import select

from app.feeds.http import FetchPolicy
from app.polling.poller import Poller
from app.store.db import Database
from app.store.tables import Feed, FetchLog
from tests.e2e.test_poller_concurrency import NEWSMON, cli_env, subprocess_url
from tests.support.db import DbTarget
from tests.support.feedsrv import FeedRequest, FeedServer
from tests.support.polling import add_feed
from tests.support.rss import Item, rss


def slow_feed(release: threading.Event, seconds: float) -> Callable[[FeedRequest], None]:
    def handler(request: FeedRequest) -> None:
        release.wait(seconds)
        request.reply(200, rss([Item(title="Amazon and TikTok", link="https://x.example/1")]))

    return handler


def leases(db: Database) -> dict[int, tuple[datetime | None, str | None]]:
    with db.read() as session:
        rows = session.execute(select(Feed.id, Feed.lease_until, Feed.lease_owner)).all()
    return {row[0]: (row[1], row[2]) for row in rows}


def test_a_working_poller_keeps_its_claim_past_the_lease(
    db: Database, feed_server: FeedServer, make_test_poller: Callable[..., Poller]
) -> None:
    """The lease is 1 s, the feed takes 3 s: without renewal a second poller would
    claim the feed after a second and fetch it again."""
    release = threading.Event()
    feed_server.add_route("/slow.xml", slow_feed(release, 3.0))
    add_feed(db, feed_server.url("/slow.xml"))
    first = make_test_poller(lease=timedelta(seconds=1))
    second = make_test_poller(lease=timedelta(seconds=1))

    async def run() -> tuple[int, int]:
        working = asyncio.create_task(first.poll_due())
        await asyncio.sleep(2.0)  # twice the lease: only the heartbeat keeps the claim
        meanwhile = await second.poll_due()
        release.set()
        return (await working).feeds, meanwhile.feeds

    by_first, by_second = asyncio.run(run())
    assert (by_first, by_second) == (1, 0)
    assert feed_server.hits("/slow.xml") == 1
    assert all(owner is None for _, owner in leases(db).values())  # recorded, released


def test_a_stopping_poller_gives_back_what_it_did_not_finish(
    db: Database,
    feed_server: FeedServer,
    make_test_poller: Callable[..., Poller],
    loopback_policy: FetchPolicy,
) -> None:
    release = threading.Event()
    feed_server.add_route("/slow/", slow_feed(release, 30.0))
    ids = [add_feed(db, feed_server.url(f"/slow/{n}.xml")) for n in range(6)]
    patient = replace(loopback_policy, read_timeout=60.0, deadline=60.0)
    poller = make_test_poller(policy=patient)  # the default lease: a minute

    async def run() -> int:
        stop = asyncio.Event()
        working = asyncio.create_task(poller.poll_due(stop=stop))
        await asyncio.sleep(1.0)
        stop.set()
        summary = await working
        return summary.feeds

    finished = asyncio.run(run())
    release.set()
    now = datetime.now(UTC)
    given_back = []
    for feed_id, (until, owner) in leases(db).items():
        if owner is None:
            continue  # it finished (here: an error) inside the grace period and was recorded
        assert owner == poller.owner
        assert until is not None and until.replace(tzinfo=UTC) <= now  # claimable now
        given_back.append(feed_id)
    assert finished <= len(ids) - len(given_back)  # the rest were recorded, none lost
    assert len(given_back) >= 4  # the 30 s fetches could not finish in the grace
    # The next poller takes them at once and the fetch log says what happened.
    again = make_test_poller()
    asyncio.run(again.poll_due())
    with db.read() as session:
        interrupted = session.scalars(
            select(FetchLog.feed_id).where(FetchLog.outcome == "interrupted")
        ).all()
    assert sorted(interrupted) == sorted(given_back)


def test_sigterm_ends_a_poll_at_once_and_gives_back_the_claims(
    db: Database, db_target: DbTarget, feed_server: FeedServer, tmp_path: Path
) -> None:
    release = threading.Event()
    feed_server.add_route("/slow/", slow_feed(release, 60.0))
    for n in range(40):
        add_feed(db, feed_server.url(f"/slow/{n}.xml"))
    env = cli_env(subprocess_url(db_target), tmp_path)
    proc = subprocess.Popen(
        [NEWSMON, "poll", "--once"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        for _ in range(300):  # until the poller holds claims
            if any(owner for _, owner in leases(db).values()):
                break
            time.sleep(0.1)
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=60)
    finally:
        release.set()
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert "Traceback" not in err
    assert out.strip().splitlines()[-1].startswith("0 feeds polled")
    now = datetime.now(UTC)
    held = [u for u, owner in leases(db).values() if owner and u and u.replace(tzinfo=UTC) > now]
    assert held == []  # nothing stays reserved for a process that is gone
    assert feed_server.hits() <= 40
