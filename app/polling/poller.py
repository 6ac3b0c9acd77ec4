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
from sqlalchemy.orm import Session

from app.core.schedule import SchedulePolicy, decide_schedule
from app.core.types import FetchKind, FetchOutcome
from app.feeds.http import FetchPolicy, GuardedClient, make_guarded_client
from app.feeds.parse import ParsePool
from app.metrics import Metrics
from app.polling.ingest import PreparedFeed, failed, prepare_feed
from app.polling.writer import GroupWriter
from app.store.db import Database
from app.store.feeds import SAMPLE_SCHEME, DueFeed, FeedStore
from app.store.tables import Feed

log = logging.getLogger("newsmon.poller")
LEASE = timedelta(minutes=10)
FETCH_LOG_DAYS = 30
WRITE_ATTEMPTS = 4  # a deadlock or a busy database is retried, then recorded as an error


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
        parse_budget: float = 20.0,
        batch_size: int = 100,
        lease: timedelta = LEASE,
        metrics: Metrics | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.db = db
        self.fetch_policy = fetch_policy
        self.schedule = schedule or SchedulePolicy()
        self.parse_workers = parse_workers
        self.parse_budget = parse_budget
        self.batch_size = batch_size
        self.lease = lease
        self.metrics = metrics or Metrics()
        self.clock = clock
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{id(self):x}"
        self._writer = GroupWriter(db, preload=_load_feeds)

    async def poll_due(
        self, *, on_result: Callable[[FeedResult], None] | None = None
    ) -> PollSummary:
        """Poll every feed that is due now, in claimed batches, until none is left."""
        summary = PollSummary()
        await asyncio.to_thread(self._count_due)
        async with (
            make_guarded_client(self.fetch_policy) as client,
            ParsePool(self.parse_workers, preload=("app.polling.preload",)) as pool,
        ):
            pending: set[asyncio.Task[FeedResult]] = set()
            exhausted = False
            while True:
                # Claim the next batch while this one is still in flight, so
                # one slow feed never leaves the fetch slots idle.
                if not exhausted and len(pending) <= self.batch_size:
                    due = await self._claim()
                    exhausted = not due
                    pending |= {
                        asyncio.create_task(self._poll_one(client, pool, feed)) for feed in due
                    }
                if not pending:
                    break
                try:
                    done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
                except asyncio.CancelledError:
                    for task in pending:  # shutting down: their leases expire
                        task.cancel()
                    raise
                for task in done:
                    result = task.result()
                    summary.results.append(result)
                    if on_result:
                        on_result(result)
        await asyncio.to_thread(self._prune)
        return summary

    async def _claim(self) -> list[DueFeed]:
        def claim(session: Session) -> list[DueFeed]:
            return FeedStore(session).claim_due(
                now=self.clock(), owner=self.owner, lease=self.lease, limit=self.batch_size
            )

        return await self._writer.run(claim)

    async def _poll_one(self, client: GuardedClient, pool: ParsePool, feed: DueFeed) -> FeedResult:
        started = self.clock()
        t0 = time.perf_counter()
        try:
            outcome = await self._fetch(client, feed)
            digest = (
                hashlib.sha256(outcome.body).hexdigest() if outcome.ok and outcome.body else None
            )
            # A server that ignores validators sends the same bytes again: nothing to parse.
            unchanged = digest is not None and digest == feed.body_hash
            prepared = None if unchanged else await self._prepare(pool, feed, outcome, started)
            result = await self._store(
                feed, outcome, prepared, started, t0, digest=digest, unchanged=unchanged
            )
        except Exception as exc:  # one feed's bug must not end the run
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
                stored = ArticleStore(session).upsert_batch(feed.id, drafts, now=now)
                result.new, result.updated = stored.new, stored.updated
                result.skipped = len(stored.skipped)
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
                # Remember the body only if all of it is stored: a skipped entry is retried.
                body_hash=digest if prepared and not result.skipped else None,
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
                return await self._writer.run(write, small=not drafts, key=feed.id)
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
        except Exception:
            log.exception("feed %s: could not record the failure", feed.url)
            return FeedResult(feed.id, feed.url, "internal_error", error=outcome.error)

    def _count_due(self) -> None:
        with self.db.read() as session:
            self.metrics.feeds_due.set(FeedStore(session).due_count(self.clock()))

    def _prune(self) -> None:
        with self.db.write() as session:
            FeedStore(session).prune_fetch_log(before=self.clock() - timedelta(days=FETCH_LOG_DAYS))


def _load_feeds(session: Session, feed_ids: list[int]) -> list[Feed]:
    """A group's feed rows in one query (``record_poll`` then finds them in the session)."""
    return list(session.scalars(select(Feed).where(Feed.id.in_(feed_ids))))


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
    """Poll due feeds every ``interval`` seconds until ``stop`` is set (in-process poller)."""
    while not stop.is_set():
        try:
            summary = await poller.poll_due()
            if summary.feeds:
                log.info(summary.line())
        except Exception:
            log.exception("poll cycle failed; retrying next cycle")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=interval)
