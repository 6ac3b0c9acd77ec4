"""robots.txt: fetched once per origin through the guarded client, cached, obeyed.

RFC 9309 semantics: a 4xx (no robots.txt) allows everything; a 5xx, a 429, a
timeout or a network error disallows everything until the next try (the site may
be down or overloaded); a refused address (SSRF guard) disallows too. Rules are
parsed by protego (Google's matching: longest match wins, ``*`` and ``$``) for
the product token ``newsmon``. A Crawl-delay longer than the minimum delay is
handed to the host gate. This module does not fetch pages.
"""

from __future__ import annotations

import contextlib
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

import anyio
from protego import Protego

from app.core.types import FetchKind
from app.feeds.hosts import HostGate
from app.feeds.http import Accept, GuardedClient

AGENT = "newsmon"
ROBOTS_ACCEPT = Accept("text/plain, */*;q=0.5", max_bytes=512 * 1024)  # RFC 9309 2.5
TTL = 3600.0
ERROR_TTL = 600.0
MAX_ORIGINS = 5000


@dataclass(frozen=True, slots=True)
class Verdict:
    allowed: bool
    reason: str | None = None  # why not, for the article's outcome
    temporary: bool = False  # robots.txt could not be read: ask again later
    blocked: bool = False  # the SSRF guard refused the address: the fetch will say so


@dataclass(slots=True)
class _Entry:
    rules: Protego | None  # None: everything allowed
    refusal: str | None  # set: everything disallowed, for this reason
    expires: float
    blocked: bool = False


def origin_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


class RobotsCache:
    """Per-origin robots.txt rules, fetched on first use and kept for an hour."""

    def __init__(
        self,
        client: GuardedClient,
        gate: HostGate,
        *,
        agent: str = AGENT,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._client = client
        self._gate = gate
        self._agent = agent
        self._clock = clock
        self._entries: OrderedDict[str, _Entry] = OrderedDict()
        self._locks: dict[str, anyio.Lock] = {}

    async def check(self, url: str, *, gated: bool = True) -> Verdict:
        """May ``url`` be fetched? Fetches the origin's robots.txt when not cached, in the
        host's turn unless the caller already holds it (``gated=False``)."""
        origin = origin_of(url)
        entry = self._fresh(origin)
        if entry is None:
            lock = self._locks.setdefault(origin, anyio.Lock())
            async with lock:  # one fetch per origin, however many articles wait for it
                entry = self._fresh(origin) or await self._load(origin, gated)
            self._locks.pop(origin, None)
        if entry.refusal is not None:
            return Verdict(False, entry.refusal, temporary=True, blocked=entry.blocked)
        if entry.rules is not None and not entry.rules.can_fetch(url, self._agent):
            return Verdict(False, f"disallowed by {origin}/robots.txt")
        return Verdict(True)

    def _fresh(self, origin: str) -> _Entry | None:
        entry = self._entries.get(origin)
        if entry is None or entry.expires <= self._clock():
            return None
        self._entries.move_to_end(origin)
        return entry

    async def _load(self, origin: str, gated: bool) -> _Entry:
        host = urlsplit(origin).hostname or ""
        async with self._gate.turn(host) if gated else contextlib.nullcontext():
            outcome = await self._client.fetch(f"{origin}/robots.txt", accept=ROBOTS_ACCEPT)
        now = self._clock()
        if outcome.ok:
            text = (outcome.body or b"").decode("utf-8", "replace")
            rules = Protego.parse(text)
            self._gate.set_crawl_delay(host, rules.crawl_delay(self._agent))
            entry = _Entry(rules, None, now + TTL)
        elif outcome.status is not None and 400 <= outcome.status < 500 and outcome.status != 429:
            entry = _Entry(None, None, now + TTL)  # no robots.txt: everything allowed
        else:
            if outcome.kind is FetchKind.RATE_LIMITED and outcome.retry_after_seconds:
                self._gate.block(host, outcome.retry_after_seconds)
            reason = f"robots.txt unavailable ({outcome.error or outcome.kind.value})"
            blocked = outcome.kind is FetchKind.BLOCKED
            entry = _Entry(None, reason, now + ERROR_TTL, blocked)
        self._entries[origin] = entry
        while len(self._entries) > MAX_ORIGINS:
            self._entries.popitem(last=False)
        return entry
