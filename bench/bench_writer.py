"""The poller's writes replayed in one thread: CPU per step, with little noise.

Run: ``python -m bench writer``. The feeds of the peer harness's corpus
(``/tmp/newsbench/corpus``, see ``../shared/bench``) or, without it, our own 200 × 50
corpus (``bench.corpus``) are parsed, planned and tagged first, untimed, as the parse
workers would. Then, on a new SQLite file with every feed subscribed, each feed's batch is
written as the poller's writer writes it: one write transaction on the bulk engine,
``upsert_batch(search_later=True)`` (articles, sources, themes, story clusters), the
poller's hook (the full-text queue and alert matching), the commit; the search index's
batches follow (``index_pending`` until none wait). The feed's health and fetch-log rows
are left out. Two ways, alternated: each feed in a transaction of its own (``alone``, the
poller before stop 33 and on PostgreSQL) and feeds ``held`` in one transaction, without
savepoints (each feed had one before stop 42), until ``HELD_ARTICLES`` articles wait in it
(the poller on SQLite holds its transaction ~0.2 s, ~400 articles of the peer corpus's cold
poll: app.polling.writer).

Whole-tree runs on this 2-core machine drift by 25 % or more from one run to the next
(docs/decisions.md, "Ingest, stop 30"), which hides a change worth a few per cent of the
poll process. The replay's CPU time (``time.process_time``) moves far less; it is what
stops 28-30 measured writer changes with. ``BENCH_REPEAT`` rounds (default 3) each use a
new file; the minimum and median of each step are printed, with the per-entry figure
beside issue 16's target for the whole main process (0.25 ms per entry, of which the
writer is the largest part). Nothing is asserted.

One more held round runs with every sqlite3 call timed (``SQLiteMeter``): the share of
the writer's CPU spent inside SQLite's own calls (statements, fetches, commits). That
share is the floor of any rewrite of the writer's Python that stores, indexes and
clusters the same rows: a figure to weigh a change against before making it.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import statistics
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.bench_poller import TARGET_MAIN_MS, peer_corpus
from bench.corpus import corpus
from bench.machine import state_line

STEPS = ("upsert", "hook", "commit", "index")
HELD_ARTICLES = 400  # articles per held transaction, as a cold poll of the peer corpus holds


def prepared_feeds(bodies: dict[str, bytes], now: datetime) -> list[tuple[str, Any]]:
    """(url, PreparedFeed) per feed with articles, as the parse workers return them."""
    from app.polling.ingest import prepare_feed

    out = []
    for path, body in bodies.items():
        url = f"http://bench.example{path}"
        prepared = prepare_feed(body, url, {}, now)
        if prepared.drafts:
            out.append((url, prepared))
    return out


class SQLiteMeter:
    """CPU seconds this thread spent inside sqlite3's calls on the connections opened while
    ``installed``: ``execute``, ``executemany``, the fetches and ``commit``."""

    def __init__(self) -> None:
        self.seconds = 0.0
        meter = self
        clock = time.thread_time

        def timed(method: Any) -> Any:
            def run(self: Any, *args: Any) -> Any:
                started = clock()
                try:
                    return method(self, *args)
                finally:
                    meter.seconds += clock() - started

            return run

        class Cursor(sqlite3.Cursor):
            execute = timed(sqlite3.Cursor.execute)
            executemany = timed(sqlite3.Cursor.executemany)
            fetchall = timed(sqlite3.Cursor.fetchall)
            fetchone = timed(sqlite3.Cursor.fetchone)
            fetchmany = timed(sqlite3.Cursor.fetchmany)

        class Connection(sqlite3.Connection):
            commit = timed(sqlite3.Connection.commit)

            def cursor(self, factory: Any = Cursor) -> Any:
                return super().cursor(factory)

            def execute(self, *args: Any) -> Any:  # through a timed cursor
                return self.cursor().execute(*args)

        self._connection = Connection

    @contextlib.contextmanager
    def installed(self) -> Iterator[SQLiteMeter]:
        """SQLAlchemy's SQLite dialect opens its connections through ``sqlite3.dbapi2``."""
        import sqlite3.dbapi2 as dbapi

        connect = dbapi.connect

        def timed_connect(*args: Any, **kwargs: Any) -> sqlite3.Connection:
            kwargs["factory"] = self._connection
            return connect(*args, **kwargs)

        dbapi.connect = timed_connect  # type: ignore[assignment]
        try:
            yield self
        finally:
            dbapi.connect = connect


def replay(
    feeds: list[tuple[str, Any]],
    now: datetime,
    folder: Path,
    held: int = 0,
    meter: SQLiteMeter | None = None,
) -> dict[str, float]:
    """One round on a new database: CPU seconds per step; ``held``: feeds share a
    transaction (no savepoints, as the poller's since stop 42) until this many articles
    wait in it. With ``meter``, ``"sqlite"`` is the part of the steps' CPU spent inside
    sqlite3's calls."""
    from app.alerts.hook import NewMatchHook, combine
    from app.polling.extraction import enqueue_hook
    from app.store import migrate
    from app.store.articles import ArticleStore
    from app.store.db import Database, begin_held
    from app.store.extraction import FullTextRules
    from app.store.feeds import FeedStore
    from app.store.search import INDEX_BATCH, index_pending

    url = f"sqlite:///{folder / 'writer.db'}"
    setup = Database.from_url(url)
    migrate.upgrade(setup.engine)
    with setup.write() as session:
        store = FeedStore(session)
        ids = {feed_url: store.add(feed_url, now=now).id for feed_url, _ in feeds}
    setup.dispose()
    db = Database.from_url(url, background=True)  # the poller's engine (bulk pragmas)
    hook = combine(enqueue_hook(FullTextRules()), NewMatchHook())
    clock = time.process_time
    spent = dict.fromkeys(STEPS, 0.0)
    before = meter.seconds if meter else 0.0
    transactions: list[list[tuple[str, Any]]] = []
    for feed in feeds:
        if not transactions or not held or sum(len(p.drafts) for _, p in transactions[-1]) >= held:
            transactions.append([])
        transactions[-1].append(feed)
    try:
        for transaction in transactions:
            with db.write() as session:
                if held:  # as the poller's held transactions are
                    begin_held(session)
                for feed_url, prepared in transaction:
                    feed_id = ids[feed_url]
                    started = clock()
                    stored = ArticleStore(session).upsert_batch(
                        feed_id, prepared.drafts, now=now, search_later=True
                    )
                    upserted = clock()
                    if stored.new_ids or stored.updated_ids:
                        hook(session, feed_id, stored.new_ids, stored.updated_ids, now)
                    hooked = clock()
                    spent["upsert"] += upserted - started
                    spent["hook"] += hooked - upserted
            spent["commit"] += clock() - hooked
        started = clock()
        while True:
            with db.write() as session:
                if index_pending(session) < INDEX_BATCH:
                    break
        spent["index"] = clock() - started
    finally:
        db.dispose()
    if meter:
        spent["sqlite"] = meter.seconds - before
    return spent


def main() -> None:
    peer = peer_corpus()
    label = f"peer corpus, {len(peer)} feeds" if peer else "ours 200x50 (peer corpus not found)"
    now = datetime.now(UTC)
    print(state_line())
    feeds = prepared_feeds(peer or corpus(200, 50), now)
    entries = sum(len(prepared.drafts) for _, prepared in feeds)
    rounds: dict[str, list[dict[str, float]]] = {"alone": [], "held": []}
    for _ in range(int(os.environ.get("BENCH_REPEAT", "3"))):
        for way, held in (("alone", 0), ("held", HELD_ARTICLES)):
            with tempfile.TemporaryDirectory(prefix="newsmon-bench-writer-") as name:
                rounds[way].append(replay(feeds, now, Path(name), held))
    for way, done in rounds.items():
        totals = [sum(r.values()) for r in done]
        per_step = {step: [r[step] for r in done] for step in STEPS}
        steps = ", ".join(
            f"{step} {min(xs):.2f}/{statistics.median(xs):.2f}" for step, xs in per_step.items()
        )
        best = min(totals)
        how = (
            "each feed its own transaction"
            if way == "alone"
            else f"feeds held in one transaction up to {HELD_ARTICLES} articles (SQLite poller)"
        )
        print(
            f"[{label}] writer replayed in one thread, {how}: {len(feeds)} feeds, "
            f"{entries:,} entries, {len(done)} rounds: CPU {best:.2f} s min, "
            f"{statistics.median(totals):.2f} s median = {best / entries * 1000:.3f} ms per "
            f"entry (the whole main process's target: <= {TARGET_MAIN_MS} ms); per step, "
            f"min/median s: {steps}"
        )
    meter = SQLiteMeter()
    with (
        meter.installed(),
        tempfile.TemporaryDirectory(prefix="newsmon-bench-writer-") as name,
    ):
        metered = replay(feeds, now, Path(name), HELD_ARTICLES, meter)
    inside = metered.pop("sqlite")
    total = sum(metered.values())
    print(
        f"[{label}] held, one more round with sqlite3's calls timed: CPU {total:.2f} s, of it "
        f"{inside:.2f} s ({inside / total:.0%}) inside SQLite's calls = "
        f"{inside / entries * 1000:.3f} ms per entry, the floor for the same rows, index and "
        f"clusters; the writer's Python {total - inside:.2f} s = "
        f"{(total - inside) / entries * 1000:.3f} ms per entry"
    )
