"""The full-text worker: claims queued pages, fetches them politely, extracts and re-tags
them in worker processes, and stores each result in one transaction.

It runs beside the poller (``in_process_poller``, ``newsmon poll``), never inside a
feed's poll: a feed's batch has committed (articles visible with their teasers)
before any of its pages is fetched. Claims carry a lease, so a worker killed
mid-extraction leaves its rows to the next run once the lease runs out; storing a
result twice changes nothing. The poller's main process never loads the tagger or
trafilatura: extraction and tagging run in a ``ParsePool`` forked from the same warm
fork server (``polling.preload``) as the parse workers.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import random
import socket
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, TypeVar

from sqlalchemy.orm import Session

from app.core.pages import PageOutcome, after_attempt
from app.core.types import FetchKind, FetchOutcome
from app.feeds.guard import UNRESOLVED, FetchPolicy
from app.feeds.hosts import HostGate
from app.feeds.http import make_guarded_client
from app.feeds.parse import ParsePool
from app.feeds.robots import RobotsCache, origin_of
from app.polling import PARSE_PRELOAD
from app.polling.pages import PageWork, extract_and_tag, failed_page
from app.polling.poller import NewArticlesHook
from app.polling.writer import GroupWriter
from app.store.article_writes import transient_error
from app.store.db import Database
from app.store.extraction import (
    ExtractionStore,
    Failure,
    FullTextRules,
    PageJob,
    PageResult,
    host_key,
)

if TYPE_CHECKING:  # built only by a page pass (--no-fulltext polls never import it)
    from app.feeds.extract import PageFetcher

log = logging.getLogger("newsmon.extraction")
_T = TypeVar("_T")
WRITE_ATTEMPTS = 4
IN_FLIGHT = 4  # claimed batches in flight at most
REFILL = 0.5  # seconds between looks at an empty queue while feeds are still polled

_KIND_OUTCOME = {
    FetchKind.GONE: PageOutcome.GONE,
    FetchKind.RATE_LIMITED: PageOutcome.RATE_LIMITED,
    FetchKind.BLOCKED: PageOutcome.BLOCKED,
    FetchKind.TOO_LARGE: PageOutcome.TOO_LARGE,
    FetchKind.WRONG_TYPE: PageOutcome.NOT_HTML,
}


def enqueue_hook(rules: FullTextRules) -> NewArticlesHook:
    """The poller's hook: queue the pages of a feed's new articles in its transaction; a
    changed entry whose text came from its page is fetched again."""

    def enqueue(
        session: Session, feed_id: int, new_ids: list[int], updated_ids: list[int], now: datetime
    ) -> None:
        store = ExtractionStore(session)
        store.enqueue(feed_id, new_ids, now=now, rules=rules)
        store.refetch(updated_ids, now=now)

    return enqueue


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class ExtractionConfig:
    rules: FullTextRules = field(default_factory=FullTextRules)
    concurrency: int = 16  # pages in flight
    per_host: int = 1
    min_delay: float = 1.0  # between two requests to one host
    max_page_bytes: int = 5 * 1024 * 1024
    workers: int | None = 1  # extraction processes (0: in-process, tests only)
    nice: int = 0  # added to the extraction processes' CPU niceness
    batch_size: int = 100
    lease: timedelta = timedelta(minutes=10)
    budget_seconds: float = 20.0  # CPU time one page may take


@dataclass(slots=True)
class ExtractionSummary:
    outcomes: Counter[str] = field(default_factory=Counter)

    def line(self) -> str:
        done = ", ".join(f"{n} {k}" for k, n in sorted(self.outcomes.items()))
        return f"{sum(self.outcomes.values())} pages: {done or 'none due'}"


def page_policy(policy: FetchPolicy, config: ExtractionConfig) -> FetchPolicy:
    """The feeds' fetch policy with the page limits (cap, per-host, concurrency)."""
    return replace(
        policy,
        max_bytes=config.max_page_bytes,
        max_per_host=config.per_host,
        max_connections=config.concurrency,
    )


class ExtractionRunner:
    def __init__(
        self,
        db: Database,
        fetch_policy: FetchPolicy,
        config: ExtractionConfig | None = None,
        *,
        clock: Callable[[], datetime] = utcnow,
        on_page: NewArticlesHook | None = None,
    ) -> None:
        self.db = db
        # Called in the page's write transaction with its article as new (the alert
        # hook: an article its page made relevant, or moved into a view, alerts then).
        self.on_page = on_page
        self.config = config or ExtractionConfig()
        self.policy = page_policy(fetch_policy, self.config)
        self.clock = clock
        self.owner = f"{socket.gethostname()}:{os.getpid()}:x{id(self):x}"
        self._writer = GroupWriter(db)
        self._alike: Counter[str] = Counter()  # rows recorded beside a failed origin's page
        # Origins found unreachable in this run (their due pages were recorded beside the
        # first failure), with the outcome their pages get.
        self._down: dict[str, _Down] = {}
        self.gate = HostGate(per_host=self.config.per_host, min_delay=self.config.min_delay)

    async def run_once(self, *, feeding: asyncio.Event | None = None) -> ExtractionSummary:
        """Extract every page that is due now, in claimed batches, until none is left.

        ``feeding``: the feeds are still being polled beside this run (``poll --once``),
        so an empty queue may fill again: claim anew every ``REFILL`` seconds until the
        event is set, then drain what is left. The pages of the first feeds are fetched
        while later feeds are parsed, instead of after the last one."""
        summary = ExtractionSummary()
        self._alike.clear()
        self._down.clear()
        async with (
            make_guarded_client(self.policy) as client,
            ParsePool(self.config.workers, preload=PARSE_PRELOAD, nice=self.config.nice) as pool,
        ):
            from app.feeds.extract import PageFetcher

            fetcher = PageFetcher(client, self.gate, RobotsCache(client, self.gate))
            # No semaphore here: tasks wait for their host's turn (HostGate), then the
            # client's global limit; a busy host never holds slots other hosts could use.
            pending: set[asyncio.Task[tuple[int, str]]] = set()
            inflight: set[int] = set()
            exhausted = False
            loop = asyncio.get_running_loop()
            recheck = 0.0  # while feeds are polled: when to look at an empty queue again
            while True:
                due = not exhausted or (
                    feeding is not None and (feeding.is_set() or loop.time() >= recheck)
                )
                # Claims hold few rows per host, so keep several batches in flight: a host
                # whose rows are done must not sit idle while other hosts drain theirs.
                if due and len(pending) <= self.config.batch_size * IN_FLIGHT:
                    # Read before the claim: every feed's pages were queued (committed)
                    # before the event was set, so an empty claim after it is the end.
                    fed = feeding is not None and feeding.is_set()
                    jobs = await self._writer.run(self._claim)
                    exhausted = not jobs
                    if exhausted and fed:
                        feeding = None
                    recheck = loop.time() + REFILL
                    # A row whose lease ran out while we still work on it comes back to
                    # us: it is in flight already, never started twice.
                    fresh = [j for j in jobs if j.article_id not in inflight]
                    inflight.update(j.article_id for j in fresh)
                    pending |= {asyncio.create_task(self._one(fetcher, pool, j)) for j in fresh}
                waiting = exhausted and feeding is not None
                if not pending and not waiting:
                    break
                try:
                    done, pending = await _settled(
                        pending, feeding if waiting else None, max(0.0, recheck - loop.time())
                    )
                except asyncio.CancelledError:
                    for task in pending:  # shutting down: their leases expire
                        task.cancel()
                    raise
                for task in done:
                    article_id, outcome = task.result()
                    inflight.discard(article_id)
                    summary.outcomes[outcome] += 1
        await self._sweep_down()
        summary.outcomes.update(self._alike)
        return summary

    async def _sweep_down(self) -> None:
        """Record the pages queued for hosts whose names did not resolve after their
        first failure (later feeds of this run brought them; no claim took them): one
        write per host, each row with the outcome and retry time of its own attempts."""
        for down in self._unresolved():
            write = functools.partial(_record_down, down=down, now=self.clock())
            swept = await self._write(write, small=True)
            if swept:
                self._alike[down.outcome.value] += swept

    def _unresolved(self) -> list[_Down]:
        """One per host whose name did not resolve in this run."""
        return list({d.host: d for d in self._down.values() if d.unresolved}.values())

    def _claim(self, session: Session) -> list[PageJob]:
        return ExtractionStore(session).claim(
            now=self.clock(),
            owner=self.owner,
            lease=self.config.lease,
            limit=self.config.batch_size,
            # Enough per host to keep it busy until the next claim, not a batch's worth.
            per_host=self.config.per_host * 4,
            # A name that does not resolve fails every page of its host the same way: its
            # rows are left to ``_sweep_down`` instead of being claimed and failed one by one.
            skip_hosts={down.host for down in self._unresolved()},
        )

    async def _one(self, fetcher: PageFetcher, pool: ParsePool, job: PageJob) -> tuple[int, str]:
        try:
            return job.article_id, await self._attempt(fetcher, pool, job)
        except Exception as exc:  # one page's bug must not end the run
            log.exception("article %s: extraction failed", job.article_id)
            await self._fail(job, PageOutcome.ERROR, f"internal error: {type(exc).__name__}")
            return job.article_id, PageOutcome.ERROR.value

    async def _attempt(self, fetcher: PageFetcher, pool: ParsePool, job: PageJob) -> str:
        fetched = await fetcher.fetch(job.url)
        if fetched.blocked_for:  # the host asked us to wait (Retry-After): not an attempt
            until = self.clock() + timedelta(seconds=fetched.blocked_for)
            await self._write(lambda s: ExtractionStore(s).postpone(job.article_id, until))
            return "postponed"
        if fetched.outcome is None:
            outcome = PageOutcome.ERROR if fetched.robots_temporary else PageOutcome.ROBOTS
            # An unreadable robots.txt is cached for the origin: its other pages would
            # each meet the same refusal (``alike``).
            await self._fail(job, outcome, fetched.robots_refusal, alike=fetched.robots_temporary)
            return outcome.value
        got = fetched.outcome
        if not got.ok:
            outcome, transient = _failure(got)
            await self._fail(
                job,
                outcome,
                got.error,
                retry_after=got.retry_after_seconds,
                transient=transient,
                final_url=got.final_url,
                alike=unreachable(got, job.url),
            )
            return outcome.value
        work = await pool.run(
            extract_and_tag,
            got.body or b"",
            got.final_url,
            got.header("content-type"),
            job.title,
            job.summary,
            job.language,
            budget_seconds=self.config.budget_seconds,
            on_failure=failed_page,
        )
        return await self._store(job, got, work)

    async def _store(self, job: PageJob, got: FetchOutcome, work: PageWork) -> str:
        page = work.page
        if page.outcome is not PageOutcome.OK or work.tags is None:
            await self._fail(job, page.outcome, page.reason, final_url=got.final_url)
            return page.outcome.value
        result = PageResult(
            page.html,
            page.text,
            work.tags,
            got.final_url,
            page.site_name,
            page.canonical,
            author=page.author,
        )
        now = self.clock()

        def write(session: Session) -> None:
            ExtractionStore(session).record_page(job.article_id, result, now=now)
            if self.on_page is not None:
                self.on_page(session, 0, [job.article_id], [], now)

        await self._write(write)
        return PageOutcome.OK.value

    async def _fail(
        self,
        job: PageJob,
        outcome: PageOutcome,
        detail: str | None,
        *,
        retry_after: float | None = None,
        transient: bool = True,
        final_url: str | None = None,
        alike: bool = False,
    ) -> None:
        """Record a failed attempt. ``alike``: the page's origin cannot be reached, so
        the origin's other due pages that nobody holds are recorded with the same
        outcome in the same statement, instead of being claimed and failed one by one
        (each with its own retry time, from its own attempts)."""
        now = self.clock()
        origin = origin_of(job.url)
        failed = _Down(host_key(job.url), outcome, detail, retry_after, transient)
        # Once per origin and run: the origin's pages claimed before its first failure
        # was written are in flight and record themselves; a new scan would find none.
        alike = alike and origin not in self._down
        if alike:
            self._down[origin] = failed
        retry_at = functools.partial(failed.retry_at, now=now)

        def write(session: Session) -> int:
            store = ExtractionStore(session)
            failures = [
                Failure(job.article_id, outcome, detail, retry_at(job.attempts + 1), final_url)
            ]
            if alike:
                failures += [
                    # A page that failed to connect ended where it began (no redirect).
                    Failure(article_id, outcome, detail, retry_at(attempts + 1), final_url and url)
                    for article_id, url, attempts in store.due_of_host(failed.host, now=now)
                    if article_id != job.article_id and origin_of(url) == origin
                ]
            store.record_failures(failures, now=now)
            return len(failures) - 1  # the origin's other pages

        others = await self._write(write, small=True)
        if others:
            self._alike[outcome.value] += others

    async def _write(self, fn: Callable[[Session], _T], *, small: bool = False) -> _T:
        """``fn``'s result; a transient failure (a busy database) is retried."""
        for attempt in range(1, WRITE_ATTEMPTS):
            try:
                return await self._writer.run(fn, small=small)
            except Exception as exc:
                if not transient_error(exc):
                    raise
                await asyncio.sleep(0.05 * attempt * (1 + random.random()))
        return await self._writer.run(fn, small=small)  # the last attempt: its error stands

    async def run_forever(self, interval: float, stop: asyncio.Event) -> None:
        """Drain the due pages every ``interval`` seconds until ``stop`` is set."""
        while not stop.is_set():
            try:
                summary = await self.run_once()
                if summary.outcomes:
                    log.info(summary.line())
            except Exception:
                log.exception("extraction cycle failed; retrying next cycle")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=interval)


@dataclass(frozen=True, slots=True)
class _Down:
    """A failed page's origin as this run records it: its host (as the queue stores it),
    the outcome and the retry policy; kept per origin found unreachable."""

    host: str
    outcome: PageOutcome
    detail: str | None
    retry_after: float | None
    transient: bool

    @property
    def unresolved(self) -> bool:
        """The host's name did not resolve: every origin of it is down."""
        return UNRESOLVED in (self.detail or "")

    def retry_at(self, attempts: int, now: datetime) -> datetime | None:
        return after_attempt(
            self.outcome,
            attempts=attempts,
            now=now,
            retry_after=self.retry_after,
            transient=self.transient,
        ).at


def _record_down(session: Session, *, down: _Down, now: datetime) -> int:
    """The host's due rows nobody holds, recorded as ``down`` says; how many."""
    store = ExtractionStore(session)
    failures = [
        Failure(article_id, down.outcome, down.detail, down.retry_at(attempts + 1, now), url)
        for article_id, url, attempts in store.due_of_host(down.host, now=now)
    ]
    store.record_failures(failures, now=now)
    return len(failures)


_Tasks = set[asyncio.Task[tuple[int, str]]]


async def _settled(
    pending: _Tasks, feeding: asyncio.Event | None, seconds: float
) -> tuple[_Tasks, _Tasks]:
    """The finished and unfinished page tasks, once one finishes; with ``feeding`` (the
    queue was empty while feeds are still polled), also once the feeds are done or
    ``seconds`` have passed, whichever comes first."""
    if feeding is None:
        return await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
    ended = asyncio.ensure_future(feeding.wait())
    try:
        await asyncio.wait({*pending, ended}, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
    finally:
        ended.cancel()
    done = {task for task in pending if task.done()}
    return done, pending - done


def unreachable(got: FetchOutcome, url: str) -> bool:
    """The fetch of ``url`` failed before any answer (DNS, refused, connect timeout) at
    ``url``'s own origin (not at a redirect's): the origin's other pages would too."""
    error = got.error or ""
    connect = (got.kind is FetchKind.NETWORK_ERROR and error.startswith("could not connect")) or (
        got.kind is FetchKind.TIMEOUT and error.startswith("connect timed out")
    )
    return connect and origin_of(got.final_url) == origin_of(url)


def _failure(got: FetchOutcome) -> tuple[PageOutcome, bool]:
    """A failed fetch as an outcome, and whether trying again later may help."""
    if got.kind is FetchKind.HTTP_ERROR and got.status in (404, 410):
        return PageOutcome.GONE, False
    if got.kind is FetchKind.HTTP_ERROR and got.status and 400 <= got.status < 500:
        return PageOutcome.ERROR, got.status == 408
    return _KIND_OUTCOME.get(got.kind, PageOutcome.ERROR), True
