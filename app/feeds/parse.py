"""Feed bytes -> ``ParsedFeed``: feedparser for the XML, nh3 for the HTML.

``parse_feed`` never raises and never touches the file system or the network:
feedparser only ever receives ``io.BytesIO(body)`` (given a str or bytes it would
first try ``open()`` on it, given a URL it would fetch it). ``ParsePool`` runs it in
worker processes with a time budget, because feedparser has a quadratic
author-email regex (feedparser#562) and has been reported to hang.
This module does not decide identity, duplicates or relevance (``core`` does).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import html
import io
import multiprocessing
import os
import signal
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from datetime import datetime
from types import TracebackType
from typing import Any, TypeVar
from xml.parsers import expat

from app.core.normalize import (
    AUTHOR_MAX,
    CONTENT_MAX,
    GUID_MAX,
    SUMMARY_MAX,
    TITLE_MAX,
    cap,
    clean_text,
    from_time_tuple,
    normalise_date,
    parse_date,
    strip_controls,
)
from app.core.text import html_to_text, is_lead_of
from app.core.types import ParsedEntry, ParsedFeed
from app.feeds.forkserver import main_hidden, stop_fork_server
from app.feeds.sanitize import safe_link, sanitize_html

_T = TypeVar("_T")

MAX_ENTRIES = 1_000
DEPTH = 2  # jobs a parse worker holds at once: one running, one queued (``ParsePool``)
_HTML_TYPES = ("text/html", "application/xhtml+xml", "html", "xhtml")
_PERIOD_SECONDS = {
    "hourly": 3_600,
    "daily": 86_400,
    "weekly": 604_800,
    "monthly": 2_592_000,
    "yearly": 31_536_000,
}
_MAX_TTL = 30 * 86_400
_LANGUAGE_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789-")


def parse_feed(
    body: bytes,
    *,
    url: str,
    headers: Mapping[str, str] | None = None,
    now: datetime,
    max_entries: int = MAX_ENTRIES,
    fast: bool = True,
) -> ParsedFeed:
    """Parse, sanitise and normalise one feed document. Never raises.

    ``fast=False`` always uses feedparser (the equivalence tests and the bench
    compare the two paths)."""
    if not body.strip():
        return _failed("not a feed: empty body")
    try:
        return _parse(
            body, url=url, headers=headers or {}, now=now, max_entries=max_entries, fast=fast
        )
    except Exception as exc:  # one hostile document must not crash the poller
        return _failed(f"parse failed: {type(exc).__name__}: {exc}"[:500])


def _failed(error: str) -> ParsedFeed:
    return ParsedFeed(title=None, site_url=None, entries=(), error=error)


def _parse(
    body: bytes,
    *,
    url: str,
    headers: Mapping[str, str],
    now: datetime,
    max_entries: int,
    fast: bool = True,
) -> ParsedFeed:
    # Here, not at the top: the poller's main process imports this module for the pool
    # and never parses, so it does not load feedparser (~10 MB).
    from app.feeds.fastparse import NotFast, fast_parse

    response_headers = {key.lower(): value for key, value in headers.items()}
    # Without a type feedparser flags every document; application/xml (unlike
    # text/xml) lets the XML prolog name the encoding. No content-location: that
    # would make feedparser resolve bare GUIDs into fake links.
    response_headers.setdefault("content-type", "application/xml")
    body, cut = _cut_to_newest(body, max_entries)
    bozo: str | None = None
    try:
        if not fast:
            raise NotFast("fast path off")
        feed, raw_entries = fast_parse(body, response_headers)
    except Exception:  # NotFast, or a shape the fast path mishandles: feedparser decides
        import feedparser

        result = feedparser.parse(
            io.BytesIO(body),
            response_headers=response_headers,
            sanitize_html=False,  # nh3 does it: faster, and feedparser's leaks
            resolve_relative_uris=False,  # sanitize_html resolves against the entry's base
        )
        bozo = _bozo_reason(result)
        if not result.get("version") and not result.entries:
            return _failed(f"not a feed: {bozo or 'no RSS or Atom root element'}")
        feed, raw_entries = result.feed, list(result.entries)
    site_url = safe_link(feed.get("link"), url)
    language = _language(feed.get("language"))
    entries = [_entry(raw, site_url or url, language, now) for raw in raw_entries]
    dropped = max(0, len(entries) - max_entries)
    if dropped:
        entries = _newest(entries, max_entries)
    dropped += cut
    return ParsedFeed(
        title=_plain(feed.get("title"), TITLE_MAX) or None,
        site_url=site_url,
        entries=tuple(entries),
        language=language,
        ttl_seconds=_ttl_seconds(feed),
        bozo_reason=bozo,
        entries_dropped=dropped,
    )


class _NotCut(Exception):
    """The document cannot be cut safely; feedparser gets it whole."""


_ENTRY_TAGS = frozenset({"item", "entry"})
_DATE_TAGS = frozenset({"pubdate", "published", "updated", "date", "issued", "modified"})


def _cut_to_newest(body: bytes, limit: int) -> tuple[bytes, int]:
    """A document with more than ``limit`` entries, cut to its ``limit`` newest (by date,
    undated ones last, else in document order) before feedparser and the sanitiser
    see it: both cost per entry, and a 100,000-entry feed would not parse in its
    budget. One pass of expat (C) finds each entry's bytes and date. Returns the body
    and how many entries were cut; the body unchanged if it has few entries or
    anything about it is unusual (it is then parsed whole, as before)."""
    if body.count(b"<item") + body.count(b"<entry") <= limit:
        return body, 0
    try:
        spans = _entry_spans(body)
    except (_NotCut, expat.ExpatError, ValueError, LookupError):
        return body, 0
    if len(spans) <= limit:
        return body, 0
    ranked = sorted(
        range(len(spans)),
        key=lambda i: (spans[i][2] is None, -(spans[i][2] or 0.0), i),
    )
    keep = sorted(ranked[:limit])
    head, tail = body[: spans[0][0]], body[spans[-1][1] :]
    kept = b"\n".join(body[spans[i][0] : spans[i][1]] for i in keep)
    return head + kept + tail, len(spans) - limit


def _entry_spans(body: bytes) -> list[tuple[int, int, float | None]]:
    """(start, end, timestamp) of every top-level ``item``/``entry`` element."""
    parser = expat.ParserCreate()
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
    spans: list[tuple[int, int, float | None]] = []
    depth = 0
    entry: list[Any] = []  # [start, entry depth, date text parts, in a date element]

    def refuse(*_: Any) -> None:  # no DTD entities: nothing to expand
        raise _NotCut

    def start(name: str, _attrs: Any) -> None:
        nonlocal depth
        depth += 1
        local = name.rsplit(":", 1)[-1].lower()
        if not entry and local in _ENTRY_TAGS:
            entry[:] = [parser.CurrentByteIndex, depth, [], False]
        elif entry and depth == entry[1] + 1 and local in _DATE_TAGS and not entry[2]:
            entry[3] = True

    def end(_name: str) -> None:
        nonlocal depth
        if entry and depth == entry[1]:
            close = body.index(b">", parser.CurrentByteIndex) + 1
            stamp = parse_date("".join(entry[2]))
            spans.append((entry[0], close, stamp.timestamp() if stamp else None))
            entry.clear()
        elif entry and entry[3] and depth == entry[1] + 1:
            entry[3] = False
        depth -= 1

    def text(data: str) -> None:
        if entry and entry[3]:
            entry[2].append(data)

    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.CharacterDataHandler = text
    parser.EntityDeclHandler = refuse
    parser.ExternalEntityRefHandler = refuse  # type: ignore[assignment]
    parser.Parse(body, True)
    return spans


def _bozo_reason(result: Any) -> str | None:
    if not result.get("bozo"):
        return None
    exc = result.get("bozo_exception")
    return clean_text(f"{type(exc).__name__}: {exc}", 500) if exc else "ill-formed document"


def _newest(entries: list[ParsedEntry], limit: int) -> list[ParsedEntry]:
    """The ``limit`` newest entries, undated ones last, otherwise in document order."""
    ranked = sorted(
        range(len(entries)),
        key=lambda i: (entries[i].published_at is None, _timestamp(entries[i]), i),
    )
    keep = sorted(ranked[:limit])
    return [entries[i] for i in keep]


def _timestamp(entry: ParsedEntry) -> float:
    return -entry.published_at.timestamp() if entry.published_at else 0.0


def _entry(raw: Any, feed_base: str, feed_language: str | None, now: datetime) -> ParsedEntry:
    url = _entry_link(raw, feed_base)
    base = url or feed_base
    title = _plain(raw.get("title"), TITLE_MAX)
    summary_html = _html(raw.get("summary_detail"), raw.get("summary"), base, SUMMARY_MAX)
    content_detail = _main_content(raw.get("content") or [])
    content_html = _html(content_detail, None, base, CONTENT_MAX)
    published, clamped, raw_date = _entry_date(raw, now)
    summary_text = html_to_text(summary_html) if summary_html else ""
    return ParsedEntry(
        guid=cap(clean_text(str(raw.get("id") or ""), GUID_MAX), GUID_MAX) or None,
        url=url,
        title=title,
        summary_html=summary_html,
        content_html=content_html,
        text=cap(_entry_text(title, summary_text, content_html), CONTENT_MAX),
        author=_author(raw),
        published_at=published,
        updated_at=normalise_date(from_time_tuple(dict.get(raw, "updated_parsed")), now=now).value,
        language=_entry_language(raw, content_detail) or feed_language,
        date_clamped=clamped,
        published_raw=raw_date,
        outlet=_outlet(raw.get("source")),
        summary_text=summary_text,
    )


def _outlet(source: Any) -> str | None:
    """RSS ``<source>``'s name: the publisher a news search names per entry."""
    return _plain(source.get("title"), TITLE_MAX) or None if isinstance(source, dict) else None


def _entry_link(raw: Any, base: str) -> str | None:
    link = raw.get("link")
    if raw.get("guidislink") and link == raw.get("id"):
        # feedparser copies a permalink GUID into ``link``; a bare token like
        # "item-1" is no address, so do not resolve it against the feed.
        return safe_link(link, None)
    return safe_link(link, base)


def _main_content(contents: list[Any]) -> Any:
    """The longest HTML content (some feeds send a plain-text twin too)."""
    if not contents:
        return None
    return max(contents, key=lambda c: (_is_html(c), len(c.get("value") or "")))


def _is_html(detail: Any) -> bool:
    return bool(detail) and str(detail.get("type") or "").lower() in _HTML_TYPES


def _html(detail: Any, fallback: str | None, base: str, limit: int) -> str:
    value = (detail.get("value") if detail else fallback) or ""
    if not value:
        return ""
    # Cap before sanitising: nh3 closes whatever the cut leaves open.
    value = value[:limit]
    if detail is not None and not _is_html(detail):
        value = html.escape(value).replace("\n\n", "<br><br>")
    detail_base = detail.get("base") if detail else None
    clean = sanitize_html(value, base_url=safe_link(detail_base, base) or base)
    return cap(clean, limit) if len(clean) > limit else clean


def _plain(value: Any, limit: int) -> str:
    """Title-like fields are text: markup in them is reduced to its text."""
    if not value:
        return ""
    return clean_text(html_to_text(strip_controls(str(value))[: limit * 4]), limit)


def _author(raw: Any) -> str | None:
    detail = raw.get("author_detail") or {}
    # The name only: an e-mail address is personal data we have no use for.
    name = detail.get("name") or (None if detail.get("email") else raw.get("author"))
    return _plain(name, AUTHOR_MAX) or None


def _entry_text(title: str, summary: str, content_html: str) -> str:
    """Title, plain summary (``summary``) and plain content as one text; the summary
    left out when it is the content's lead."""
    content = html_to_text(content_html) if content_html else ""
    if summary and content and is_lead_of(summary, content):
        summary = ""
    return "\n\n".join(part for part in (title, summary, content) if part)


def _entry_date(raw: Any, now: datetime) -> tuple[datetime | None, bool, str | None]:
    # dict.get: FeedParserDict.get("updated*") warns and falls back to "published*".
    raw_text = raw.get("published") or dict.get(raw, "updated")
    parsed = from_time_tuple(raw.get("published_parsed") or dict.get(raw, "updated_parsed"))
    if parsed is None and raw_text:
        parsed = parse_date(str(raw_text))
    date = normalise_date(parsed, now=now)
    keep_raw = raw_text is not None and (date.value is None or date.clamped)
    return date.value, date.clamped, clean_text(str(raw_text), 100) if keep_raw else None


def _entry_language(raw: Any, content_detail: Any) -> str | None:
    for detail in (content_detail, raw.get("summary_detail"), raw.get("title_detail")):
        if detail and detail.get("language"):
            return _language(detail.get("language"))
    return None


def _language(value: Any) -> str | None:
    """A BCP 47-looking tag, lower-cased, or None."""
    tag = str(value or "").strip().lower().replace("_", "-")[:35]
    if not tag or not set(tag) <= _LANGUAGE_CHARS or not tag[0].isalpha():
        return None
    return tag


def _ttl_seconds(feed: Any) -> int | None:
    ttl = _positive_int(feed.get("ttl"))
    if ttl is not None:
        return min(ttl * 60, _MAX_TTL)
    period = _PERIOD_SECONDS.get(str(feed.get("sy_updateperiod") or "").strip().lower())
    if period is None:
        return None
    frequency = _positive_int(feed.get("sy_updatefrequency")) or 1
    return min(max(period // frequency, 60), _MAX_TTL)


def _positive_int(value: Any) -> int | None:
    try:
        number = int(str(value).strip())
    except ValueError:
        return None
    return number if 0 < number < 10**7 else None


def _retrieved(future: asyncio.Future[Any]) -> None:
    if not future.cancelled():
        future.exception()  # seen here; its own job's ``run`` meets it and reports it


class ParsePool:
    """``parse_feed`` in worker processes, each call under a wall-clock budget.

    One single-process executor per worker, so a worker that runs over budget can
    be killed and replaced without failing the other workers' jobs. Each worker takes
    ``DEPTH`` jobs at once: the next one waits in the worker's queue and starts the
    moment the current one ends, instead of after this process has taken the result and
    handed over the next job (the poller's writer and fetches share this process's
    interpreter lock, so that hand-over could leave a worker idle for milliseconds per
    feed). A job's budget starts when the job before it on its worker has ended; a job
    queued behind one that was killed or crashed never ran, and runs again on another
    worker. Use as ``async with ParsePool(2) as pool: await pool.parse(...)``.
    ``processes=0`` parses in-process without a budget (tests and tools only).
    """

    def __init__(
        self, processes: int | None = None, *, preload: Sequence[str] = (), nice: int = 0
    ) -> None:
        """``nice``: added to the workers' CPU niceness (their parent's stays as it is)."""
        self._size = (os.cpu_count() or 1) if processes is None else processes
        self._nice = nice
        # forkserver, not fork: forking a process that already runs threads (the event
        # loop's executor) can deadlock the child. The server is single-threaded and
        # imports ``preload`` once, so workers (and replacements for killed ones)
        # start in milliseconds with the tagger already loaded, sharing its pages.
        self._context = multiprocessing.get_context("forkserver")
        if preload:
            self._context.set_forkserver_preload(list(preload))
        self._idle: asyncio.Queue[_Worker] = asyncio.Queue()
        self._lost = 0  # workers whose replacement failed to start
        self._workers: set[_Worker] = set()
        self._starting = asyncio.Lock()
        self._started = False
        self._warming: asyncio.Task[None] | None = None

    @property
    def size(self) -> int:
        """Worker processes (0: jobs run in-process)."""
        return self._size

    async def __aenter__(self) -> ParsePool:
        return self

    async def _ensure_started(self) -> None:
        """Start the workers on first use: a poll where every feed answers 304 never
        pays for them (the fork server loads the tagger, several seconds)."""
        async with self._starting:
            if self._started:
                return
            started = await asyncio.gather(*(self._start() for _ in range(self._size)))
            for _ in range(DEPTH):  # round robin: concurrent jobs go to idle workers first
                for worker in started:
                    self._idle.put_nowait(worker)
            self._started = True

    def start_soon(self) -> None:
        """Start the workers now, in the background, for a caller that knows bodies are
        coming (a feed never fetched before): the fork server's start then overlaps the
        first fetches instead of following them. A failure here surfaces at the first
        ``run``, which starts them again."""
        if self._size == 0 or self._started or self._warming is not None:
            return
        self._warming = asyncio.ensure_future(self._ensure_started())
        self._warming.add_done_callback(_retrieved)

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self, *, force: bool = False) -> None:
        """Stop the workers; ``force`` kills them mid-job instead of waiting (shutdown)."""
        if self._warming is not None and not self._warming.done():
            # (not cancelled: a half-started pool would leave a worker behind)
            await asyncio.gather(self._warming, return_exceptions=True)
        workers, self._workers = self._workers, set()
        if force:
            for worker in workers:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(worker.pid, signal.SIGKILL)
            stop_fork_server()
        await asyncio.gather(
            *(asyncio.to_thread(w.executor.shutdown, True, cancel_futures=force) for w in workers)
        )

    async def parse(
        self,
        body: bytes,
        *,
        url: str,
        headers: Mapping[str, str] | None = None,
        now: datetime,
        budget_seconds: float = 10.0,
    ) -> ParsedFeed:
        """Like ``parse_feed``; over budget -> ``ParsedFeed(error=...)``, worker replaced."""
        return await self.run(
            _parse_job,
            body,
            url,
            dict(headers or {}),
            now,
            budget_seconds=budget_seconds,
            on_failure=_failed,
        )

    async def run(
        self,
        job: Callable[..., _T],
        *args: Any,
        budget_seconds: float,
        on_failure: Callable[[str], _T],
    ) -> _T:
        """Run picklable ``job(*args)`` in a worker under a wall-clock budget.

        Over budget, or if the worker dies, the worker is killed and replaced and
        ``on_failure(reason)`` is returned: a pathological feed costs one worker
        restart, never a stalled poller.
        """
        if self._size == 0:
            return job(*args)
        await self._ensure_started()
        while True:
            worker = await self._take()
            fresh = False  # ``worker`` replaced a dead one: it gets all its slots
            try:
                ahead = worker.last
                try:
                    future = worker.executor.submit(job, *args)
                except BrokenProcessPool:  # it died under the job ahead; not replaced yet
                    worker, fresh = await self._swap(worker)
                    continue
                worker.last = future
                if ahead is not None and not ahead.done():
                    waiting = asyncio.wrap_future(ahead)
                    waiting.add_done_callback(_retrieved)
                    await asyncio.wait({waiting})
                if ahead is not None and (ahead.cancelled() or ahead.exception() is not None):
                    # Queued behind a job that ended its worker: ours never ran. Whichever of
                    # the two jobs gets here first replaces the worker; ours runs again.
                    worker, fresh = await self._swap(worker)
                    continue
                try:
                    return await asyncio.wait_for(asyncio.wrap_future(future), budget_seconds)
                except TimeoutError:
                    reason = f"parse time budget exceeded ({budget_seconds:g} s)"
                except Exception as exc:  # the worker died (OOM killer, segfault)
                    reason = f"parse worker failed: {type(exc).__name__}"
                worker, fresh = await self._swap(worker)
                return on_failure(reason)
            finally:
                self._give_back(worker, fresh=fresh)

    async def _take(self) -> _Worker:
        """A slot of a live worker (slots of a replaced worker are dropped as they come).
        A worker whose replacement failed to start is started again here, by the next job
        that finds no slot: the pool never shrinks to nothing and leaves jobs waiting."""
        while True:
            if self._lost and self._idle.empty():
                self._lost -= 1
                try:
                    self._give_back(await self._start(), fresh=True)
                except BaseException:
                    self._lost += 1
                    raise
            worker = await self._idle.get()
            if not worker.dead:
                return worker

    def _give_back(self, worker: _Worker, *, fresh: bool) -> None:
        """Return a slot; a worker that replaced a dead one gets all ``DEPTH`` of its slots."""
        if worker.dead:
            return
        for _ in range(DEPTH if fresh else 1):
            self._idle.put_nowait(worker)

    async def _start(self) -> _Worker:
        executor = ProcessPoolExecutor(
            max_workers=1,
            mp_context=self._context,
            # a worker's first step: run ``nice`` steps below its parent
            initializer=functools.partial(os.nice, self._nice) if self._nice else None,
        )
        # The pid lets us kill exactly this worker; asking for it also starts it now. The
        # first submit waits for the fork server to boot (it loads the tagger: seconds),
        # so it runs in a thread: fetching and a stop request go on meanwhile.
        submitted = await asyncio.to_thread(_spawn_submit, executor, os.getpid)
        pid = await asyncio.wrap_future(submitted)
        worker = _Worker(executor, pid)
        self._workers.add(worker)
        return worker

    async def _swap(self, worker: _Worker) -> tuple[_Worker, bool]:
        """``_replace``, and the slot to give back: the replacement's (all of them), or
        the dead worker's (dropped) when another job is replacing it."""
        replacement = await self._replace(worker)
        return (worker, False) if replacement is None else (replacement, True)

    async def _replace(self, worker: _Worker) -> _Worker | None:
        """Kill ``worker`` and start another; None if another job is replacing it."""
        if worker.dead:
            return None
        worker.dead = True  # at once: its other slots are dropped, its queued job re-run
        self._workers.discard(worker)
        with contextlib.suppress(ProcessLookupError):
            os.kill(worker.pid, signal.SIGKILL)
        await asyncio.to_thread(worker.executor.shutdown, True, cancel_futures=True)
        try:
            return await self._start()
        except BaseException:
            self._lost += 1  # (``_take`` starts it again)
            raise


def _spawn_submit(executor: ProcessPoolExecutor, fn: Callable[[], _T]) -> Future[_T]:
    """``executor.submit(fn)``, whose first call starts the worker, without the worker
    re-running our ``__main__``: multiprocessing re-imports a main module that has a
    file and no module spec (a console script such as ``newsmon``), so every worker
    would import the whole CLI (SQLAlchemy, the store: ~30 MB and ~1 s of CPU each)
    before its first job. The fork server has the job's modules preloaded instead."""
    with main_hidden():
        return executor.submit(fn)


class _Worker:
    __slots__ = ("dead", "executor", "last", "pid")

    def __init__(self, executor: ProcessPoolExecutor, pid: int) -> None:
        self.executor = executor
        self.pid = pid
        self.last: Future[Any] | None = None  # the job submitted last (running or queued)
        self.dead = False  # killed and replaced: its slots are dropped


def _parse_job(body: bytes, url: str, headers: dict[str, str], now: datetime) -> ParsedFeed:
    return parse_feed(body, url=url, headers=headers, now=now)
