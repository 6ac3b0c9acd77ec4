"""The poller: due feeds → fetch → parse, decide, tag (workers) → store → schedule.

Each feed's batch, its health and its fetch-log row are written in one
transaction, so a poller killed mid-run leaves either the whole batch or none of
it; the feed's claim lease then expires and the next run polls it again. A
failure on one feed is data on that feed's row, never a crash of the run.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
import random
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from importlib import resources

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.core.errors import StorageBusy
from app.core.schedule import SchedulePolicy, decide_schedule
from app.core.types import FetchKind, FetchOutcome
from app.feeds.http import FetchPolicy, GuardedClient, make_guarded_client
from app.feeds.parse import ParsePool
from app.metrics import Metrics
from app.polling import PARSE_PRELOAD
from app.polling.ingest import PreparedFeed, failed, prepare_feed
from app.polling.writer import GroupWriter
from app.store.db import Database
from app.store.feeds import SAMPLE_SCHEME, DueFeed, FeedStore
from app.store.tables import Feed

log = logging.getLogger("newsmon.poller")
# (session, feed id, new article ids, updated article ids, now), run in the feed's
# write transaction (the full-text queue).
NewArticlesHook = Callable[[Session, int, list[int], list[int], datetime], object]
LEASE = timedelta(seconds=60)  # renewed by a heartbeat while the poller works on the feed
STOP_GRACE = 3.0  # seconds in-flight feeds get to finish once a stop is asked for
FETCH_LOG_DAYS = 30
BACKLOG_PER_WORKER = 3  # parsed or parsing feeds waiting for the writer, per parse worker
WRITE_ATTEMPTS = 4  # a deadlock or a busy database is retried, then recorded as an error
# Small writes (304s, errors) wait this long for company before their shared transaction:
# a warm poll's 200 results then commit in ~20 transactions instead of ~100 (writer CPU
# about halved). Writes with articles never wait.
WRITE_LINGER = 0.01
# On SQLite, feeds' writes share a transaction held open up to this long (app.polling.writer,
# "Held transactions"): a commit per feed wrote each page it changed to the log again.
WRITE_HOLD = 0.25
# New articles reach SQLite's full-text index in batches (migration 0011): at most this
# many seconds after they are stored, sooner once this many wait, and at the end of every
# round. One batch per feed cost the writer about twice the CPU.
SEARCH_BATCH_SECONDS = 2.0
SEARCH_BATCH_ROWS = 2000


def _index_search(session: Session) -> int:
    from app.store.search import index_pending

    return index_pending(session)


async def _index_all(writer: GroupWriter) -> None:
    """Everything pending, one bounded batch per write transaction."""
    from app.store.search import INDEX_BATCH

    while await writer.run(_index_search, urgent=True) >= INDEX_BATCH:
        pass


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(slots=True)
class FeedResult:
    feed_id: int
    url: str
    outcome: str
    new: int = 0
    updated: int = 0
    skipped: int = 0
    error: str | None = None


@dataclass(slots=True)
class PollSummary:
    results: list[FeedResult] = field(default_factory=list)

    @property
    def feeds(self) -> int:
        return len(self.results)

    @property
    def new(self) -> int:
        return sum(r.new for r in self.results)

    @property
    def updated(self) -> int:
        return sum(r.updated for r in self.results)

    @property
    def errors(self) -> int:
        return sum(1 for r in self.results if r.error)

    def line(self) -> str:
        return (
            f"{self.feeds} feeds polled: {self.new} new, {self.updated} updated articles, "
            f"{self.errors} errors"
        )


class Poller:
    def __init__(
        self,
        db: Database,
        fetch_policy: FetchPolicy,
        *,
        schedule: SchedulePolicy | None = None,
        parse_workers: int | None = None,
        parse_nice: int = 0,
        parse_budget: float = 20.0,
        batch_size: int = 100,
        lease: timedelta = LEASE,
        metrics: Metrics | None = None,
        clock: Callable[[], datetime] = utcnow,
        on_new: NewArticlesHook | None = None,
    ) -> None:
        self.db = db
        self.fetch_policy = fetch_policy
        self.schedule = schedule or SchedulePolicy()
        self.parse_workers = parse_workers
        self.parse_nice = parse_nice
        self.parse_budget = parse_budget
        self.batch_size = batch_size
        self.lease = lease
        self.metrics = metrics or Metrics()
        self.clock = clock
        # Called inside a feed's write transaction with its new and changed articles.
        self.on_new = on_new
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{id(self):x}"
        # On SQLite ``record_poll`` updates feed rows without loading them: no preload.
        preload = None if db.dialect == "sqlite" else _load_feeds
        # The parse workers encode SQLite's stored values with each draft (app.store.stored);
        # PostgreSQL binds the tags through SQLAlchemy and has no use for them.
        self._stored_form = db.dialect == "sqlite"
        turnstile = db.turnstile
        self._writer = GroupWriter(
            db,
            preload=preload,
            linger=WRITE_LINGER,
            hold=WRITE_HOLD if db.dialect == "sqlite" else 0.0,
            yield_to=turnstile.interactive_waiting if turnstile is not None else None,
        )
        self._inflight: set[int] = set()  # claimed, result not yet recorded
        self._unreleased: set[int] = set()  # given up, claim not yet given back
        self._stopping = False  # in-flight feeds are being cancelled: record nothing more
        self._unindexed = 0  # articles stored since the last search batch
        self._indexer: asyncio.Task[None] | None = None  # the next batch, on its timer
        self._round_stored = False  # this round stored articles (its end indexes them)

    async def poll_due(
        self,
        *,
        on_result: Callable[[FeedResult], None] | None = None,
        stop: asyncio.Event | None = None,
    ) -> PollSummary:
        """Poll every feed that is due now, in claimed batches, until none is left.

        While it works, a heartbeat renews the claims of the feeds in flight, so the
        lease can be short and a dead poller's feeds come back quickly. Once ``stop``
        is set it claims nothing more, gives the feeds in flight ``STOP_GRACE``
        seconds, and gives back the claims of those it could not finish.
        """
        summary = PollSummary()
        await asyncio.to_thread(self._give_back)  # claims a failed round could not return
        self._round_stored = False
        await self._index_pending()  # what a killed poller stored and did not index
        await asyncio.to_thread(self._count_due)
        heartbeat = asyncio.create_task(self._heartbeat())
        pending: set[asyncio.Task[FeedResult]] = set()
        try:
            async with (
                make_guarded_client(self.fetch_policy) as client,
                ParsePool(self.parse_workers, preload=PARSE_PRELOAD, nice=self.parse_nice) as pool,
            ):
                # Feeds between parse and store at once: enough to keep every parse worker
                # and the writer busy (one feed's write at a time), not a claimed batch.
                backlog = asyncio.Semaphore(BACKLOG_PER_WORKER * max(1, pool.size))
                exhausted, finished_one = False, True
                while not (stop and stop.is_set()):
                    # Claim the next batch while this one is still in flight, so
                    # one slow feed never leaves the fetch slots idle.
                    if finished_one and not exhausted and len(pending) <= self.batch_size:
                        due = await self._claim()
                        exhausted = not due
                        if any(_never_fetched(feed) for feed in due):
                            pool.start_soon()  # a body to parse is coming: start the workers
                        pending |= {
                            asyncio.create_task(self._poll_one(client, pool, backlog, feed))
                            for feed in due
                        }
                    if not pending:
                        break
                    # (the timeout only lets a stop be noticed while every feed is slow)
                    done, pending = await asyncio.wait(
                        pending, timeout=0.5, return_when=asyncio.FIRST_COMPLETED
                    )
                    finished_one = bool(done)
                    self._collect(done, summary, on_result)
                if pending:  # stopping: a short grace, then the rest is given back
                    done, pending = await asyncio.wait(pending, timeout=STOP_GRACE)
                    self._collect(done, summary, on_result)
                    await self._cancel(pending)
                    await pool.aclose(force=True)
        finally:
            await self._cancel(pending)
            heartbeat.cancel()
            await asyncio.gather(heartbeat, return_exceptions=True)
            self._unreleased |= self._inflight
            self._inflight.clear()
            self._stopping = False
            await asyncio.to_thread(self._give_back)
            await self._index_pending(at_end=True)  # all the round stored is searchable
        if not (stop and stop.is_set()):
            await asyncio.to_thread(self._prune)
        return summary

    def _stored(self, new: int) -> None:
        """Count ``new`` articles waiting for the search index; schedule their batch."""
        if not new or self.db.dialect != "sqlite":  # PostgreSQL indexes as it inserts
            return
        self._round_stored = True
        self._unindexed += new
        if self._unindexed >= SEARCH_BATCH_ROWS:
            self._indexer, timer = None, self._indexer
            if timer is not None:
                timer.cancel()
            self._indexer = asyncio.create_task(self._index_after(0))
        elif self._indexer is None:
            self._indexer = asyncio.create_task(self._index_after(SEARCH_BATCH_SECONDS))

    async def _index_after(self, delay: float) -> None:
        await asyncio.sleep(delay)
        self._indexer = None
        self._unindexed = 0
        try:
            await _index_all(self._writer)
        except Exception as exc:  # the round's end (or the next round) tries again
            log.warning("could not index new articles for search yet: %s", exc)

    async def _index_pending(self, *, at_end: bool = False) -> None:
        """Index everything pending now (a timer's batch is folded into this one)."""
        if self.db.dialect != "sqlite" or (at_end and not self._round_stored):
            return  # (PostgreSQL indexes as it inserts; a round that stored nothing)
        timer, self._indexer = self._indexer, None
        if timer is not None:
            timer.cancel()
            await asyncio.gather(timer, return_exceptions=True)
        self._unindexed = 0
        try:
            await _index_all(self._writer)
        except Exception as exc:
            log.warning("could not index new articles for search yet: %s", exc)

    async def _cancel(self, tasks: set[asyncio.Task[FeedResult]]) -> None:
        """Cancel feeds in flight without recording anything for them (their claims are
        given back): a fetch or parse cut short by our own stop is not the feed's fault."""
        self._stopping = True
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        tasks.clear()

    def _collect(
        self,
        done: set[asyncio.Task[FeedResult]],
        summary: PollSummary,
        on_result: Callable[[FeedResult], None] | None,
    ) -> None:
        for task in done:
            result = task.result()
            self._inflight.discard(result.feed_id)
            summary.results.append(result)
            if on_result:
                on_result(result)

    async def _heartbeat(self) -> None:
        period = max(0.2, self.lease.total_seconds() / 3)
        while True:
            await asyncio.sleep(period)
            await asyncio.to_thread(self._renew)

    def _renew(self) -> None:
        """Extend the claims in flight; give back the ones given up (best effort: with the
        database away this fails, and the short lease ends the claims anyway)."""
        inflight, given_up = set(self._inflight), set(self._unreleased)
        try:
            with self.db.write() as session:
                store = FeedStore(session)
                store.renew_leases(self.owner, inflight, until=self.clock() + self.lease)
                store.release(self.owner, given_up, now=self.clock())
        except Exception as exc:
            log.warning("could not renew or release feed claims: %s", exc)
            return
        self._unreleased -= given_up

    def _give_back(self) -> None:
        if self._unreleased:
            self._renew()

    async def _claim(self) -> list[DueFeed]:
        def claim(session: Session) -> list[DueFeed]:
            return FeedStore(session).claim_due(
                now=self.clock(), owner=self.owner, lease=self.lease, limit=self.batch_size
            )

        due = await self._writer.run(claim)
        self._inflight.update(feed.id for feed in due)
        return due

    async def _poll_one(
        self, client: GuardedClient, pool: ParsePool, backlog: asyncio.Semaphore, feed: DueFeed
    ) -> FeedResult:
        started = self.clock()
        t0 = time.perf_counter()
        try:
            outcome = await self._fetch(client, feed)
            if self._stopping:  # the fetch was cut by our own shutdown: not the feed's fault
                raise asyncio.CancelledError
            digest = (
                hashlib.sha256(outcome.body).hexdigest() if outcome.ok and outcome.body else None
            )
            # A server that ignores validators sends the same bytes again: nothing to parse.
            unchanged = digest is not None and digest == feed.body_hash
            prepared: PreparedFeed | None = None
            if digest is not None and failed_mark(digest) == feed.body_hash:
                # The same bytes that failed to parse last time fail the same way.
                prepared = failed(feed.last_error or "not a feed (unchanged since the last poll)")
            parse = prepared is None and not unchanged and outcome.ok and bool(outcome.body)
            # Parsed feeds wait for the single writer; the backlog's permits keep a fast
            # network from piling up parsed batches in this process's memory. A permit is
            # given back once the feed's write is in the writer's transaction, before the
            # commit (``GroupWriter`` may hold it open for more feeds).
            permit = _Permit(backlog if parse else None)
            async with permit:
                if parse:
                    prepared = await self._prepare(pool, feed, outcome, started)
                result = await self._store(
                    feed,
                    outcome,
                    prepared,
                    started,
                    t0,
                    digest=digest,
                    unchanged=unchanged,
                    written=permit.release,
                )
            self._stored(result.new)
        except Exception as exc:  # one feed's bug must not end the run
            if self._stopping:  # a parse pool closed under it by our own stop
                raise asyncio.CancelledError from exc
            if isinstance(exc, IntegrityError) and not await asyncio.to_thread(
                self._exists, feed.id
            ):
                # Removed (by an editor, or a confirmed move onto another feed) while it
                # was fetched or parsed: its write failed on the missing row and rolled
                # back whole. Nothing is stored for a feed that no longer exists.
                log.info("feed %s was removed while it was polled; nothing stored", feed.id)
                result = FeedResult(feed.id, feed.url, "removed")
            else:
                log.exception("feed %s: unexpected failure", feed.url)
                result = await self._store_crash(feed, exc, started, t0)
        self.metrics.observe_feed(result.outcome, result.new, time.perf_counter() - t0)
        log.info(
            "feed=%s outcome=%s new=%d updated=%d skipped=%d error=%s url=%s",
            feed.id,
            result.outcome,
            result.new,
            result.updated,
            result.skipped,
            (result.error or "-").replace("\n", " ")[:200],
            feed.url,
        )
        return result

    async def _fetch(self, client: GuardedClient, feed: DueFeed) -> FetchOutcome:
        if feed.url.startswith(SAMPLE_SCHEME):
            return sample_outcome(feed.url)
        t0 = time.perf_counter()
        outcome = await client.fetch(feed.url, etag=feed.etag, last_modified=feed.last_modified)
        self.metrics.fetch_seconds.observe(time.perf_counter() - t0)
        return outcome

    async def _prepare(
        self, pool: ParsePool, feed: DueFeed, outcome: FetchOutcome, now: datetime
    ) -> PreparedFeed | None:
        if not outcome.ok or outcome.body is None:
            return None
        t0 = time.perf_counter()
        prepared = await pool.run(
            prepare_feed,
            outcome.body,
            outcome.final_url,
            dict(outcome.headers),
            now,
            self._stored_form,
            budget_seconds=self.parse_budget,
            on_failure=failed,
        )
        self.metrics.parse_seconds.observe(time.perf_counter() - t0)
        return prepared

    async def _store(
        self,
        feed: DueFeed,
        outcome: FetchOutcome,
        prepared: PreparedFeed | None,
        started: datetime,
        t0: float,
        *,
        digest: str | None = None,
        unchanged: bool = False,
        written: Callable[[], None] | None = None,
    ) -> FeedResult:
        from app.store.articles import ArticleStore, transient_error

        drafts = prepared.drafts if prepared else ()

        def write(session: Session) -> FeedResult:
            now = self.clock()
            result = FeedResult(feed.id, feed.url, outcome.kind.value, error=outcome.error)
            feeds = FeedStore(session)
            if prepared and prepared.error:
                result.outcome, result.error = "parse_error", prepared.error
            elif drafts:
                stored = ArticleStore(session).upsert_batch(
                    feed.id, drafts, now=now, search_later=True
                )
                result.new, result.updated = stored.new, stored.updated
                result.skipped = len(stored.skipped)
                if self.on_new and (stored.new_ids or stored.updated_ids):
                    self.on_new(session, feed.id, stored.new_ids, stored.updated_ids, now)
            effective = outcome
            if result.outcome == "parse_error":
                effective = FetchOutcome(
                    FetchKind.HTTP_ERROR,
                    outcome.url,
                    outcome.final_url,
                    status=outcome.status,
                    error=result.error,
                )
            elif unchanged:  # scheduled and recorded like a 304, logged as what it was
                result.outcome = "unchanged"
                effective = replace(outcome, kind=FetchKind.NOT_MODIFIED, body=None)
            decision = decide_schedule(
                feed.state,
                effective,
                now=now,
                rand=random.random(),
                published=[d.published_at for d in drafts if not d.published_estimated],
                ttl_seconds=prepared.ttl_seconds if prepared else None,
                policy=self.schedule,
            )
            # The schedule's words for a failure (e.g. "…; disabled if the next poll
            # confirms it"); None for a success.
            result.error = decision.error
            feeds.record_poll(
                feed.id,
                outcome=effective,
                decision=decision,
                now=now,
                title=prepared.title if prepared else None,
                site_url=prepared.site_url if prepared else None,
                language=prepared.language if prepared else None,
                ttl_seconds=prepared.ttl_seconds if prepared else None,
                # Remember the body only if all of it is stored: a skipped entry is retried;
                # a body that failed to parse is remembered as a failure.
                body_hash=(
                    failed_mark(digest)
                    if digest and prepared and prepared.error
                    else digest
                    if prepared and not result.skipped
                    else None
                ),
                warning=prepared.bozo_reason if prepared else None,
            )
            feeds.log_fetch(
                feed.id,
                started_at=started,
                duration_ms=int((time.perf_counter() - t0) * 1000),
                outcome=result.outcome,
                http_status=outcome.status,
                error=result.error,
                new=result.new,
                updated=result.updated,
                skipped=result.skipped,
            )
            return result

        for attempt in range(1, WRITE_ATTEMPTS + 1):
            try:
                # A write without articles (a 304, an error) may share a transaction.
                return await self._writer.run(
                    write, small=not drafts, key=feed.id, weight=len(drafts), written=written
                )
            except Exception as exc:
                if attempt == WRITE_ATTEMPTS or not transient_error(exc):
                    raise
                log.warning(
                    "feed %s: write attempt %d failed (%s); retrying", feed.id, attempt, exc
                )
                await asyncio.sleep(0.05 * attempt * (1 + random.random()))
        raise AssertionError("unreachable")

    async def _store_crash(
        self, feed: DueFeed, exc: Exception, started: datetime, t0: float
    ) -> FeedResult:
        outcome = FetchOutcome(
            FetchKind.NETWORK_ERROR,
            feed.url,
            feed.url,
            error=f"internal error: {type(exc).__name__}: {exc}"[:500],
        )
        try:
            return await self._store(feed, outcome, None, started, t0)
        except Exception as write_error:
            if isinstance(write_error, StorageBusy):  # the database is away: no traceback
                log.warning("feed %s: could not record the failure: %s", feed.url, write_error)
            else:
                log.exception("feed %s: could not record the failure", feed.url)
            self._unreleased.add(feed.id)  # the heartbeat gives the claim back
            return FeedResult(feed.id, feed.url, "internal_error", error=outcome.error)

    def _exists(self, feed_id: int) -> bool:
        with self.db.read() as session:
            return session.get(Feed, feed_id) is not None

    def _count_due(self) -> None:
        with self.db.read() as session:
            self.metrics.feeds_due.set(FeedStore(session).due_count(self.clock()))

    def _prune(self) -> None:
        with self.db.write() as session:
            FeedStore(session).prune_fetch_log(before=self.clock() - timedelta(days=FETCH_LOG_DAYS))


class _Permit:
    """A backlog permit held for a block, or given back earlier with ``release``."""

    __slots__ = ("_held", "_semaphore")

    def __init__(self, semaphore: asyncio.Semaphore | None) -> None:
        self._semaphore = semaphore
        self._held = False

    async def __aenter__(self) -> _Permit:
        if self._semaphore is not None:
            await self._semaphore.acquire()
            self._held = True
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.release()

    def release(self) -> None:
        if self._held and self._semaphore is not None:
            self._held = False
            self._semaphore.release()


def _never_fetched(feed: DueFeed) -> bool:
    """No validators and no body seen: its first fetch brings a body to parse."""
    return feed.etag is None and feed.last_modified is None and feed.body_hash is None


def _load_feeds(session: Session, feed_ids: list[int]) -> list[Feed]:
    """A group's feed rows in one query (``record_poll`` then finds them in the session)."""
    return list(session.scalars(select(Feed).where(Feed.id.in_(feed_ids))))


def failed_mark(digest: str) -> str:
    """What ``feed.body_hash`` holds after a body with hash ``digest`` failed to parse."""
    return hashlib.sha256(f"parse failed\n{digest}".encode()).hexdigest()


def sample_outcome(url: str) -> FetchOutcome:
    """The bundled sample feed, read from the package instead of the network."""
    body = resources.files("app.data").joinpath("sample.xml").read_bytes()
    return FetchOutcome(
        FetchKind.OK,
        url,
        url,
        status=200,
        body=body,
        headers=(("content-type", "application/rss+xml; charset=utf-8"),),
    )


async def run_forever(poller: Poller, interval: float, stop: asyncio.Event) -> None:
    """Poll due feeds every ``interval`` seconds until ``stop`` is set (in-process poller).

    A database that is away (busy, unreachable) is a warning and a retry within seconds,
    not a traceback and a full interval's wait."""
    while not stop.is_set():
        wait = interval
        try:
            summary = await poller.poll_due(stop=stop)
            if summary.feeds:
                log.info(summary.line())
        except StorageBusy as exc:
            log.warning("poll cycle stopped: %s; retrying", exc)
            wait = min(interval, 5.0)
        except Exception:
            log.exception("poll cycle failed; retrying next cycle")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=wait)
