"""Politeness per host for article pages: how many requests at once, how far apart,
and how long a host that answered 429/503 with Retry-After is left alone.

``HostGate.turn(host)`` is held around one request (robots.txt or a page): it waits
for a free slot and for the host's minimum delay since the previous request's start
and end,
or raises ``HostBlocked`` when the host's Retry-After is further away than ``MAX_WAIT``.
Feeds are not gated here (one request per feed per poll is polite already).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

import anyio

MAX_CRAWL_DELAY = 60.0
MAX_WAIT = 30.0  # longer than this for a host that sent Retry-After: come back later


class HostBlocked(Exception):
    """The host asked us (Retry-After) to stay away for ``seconds`` more."""

    def __init__(self, host: str, seconds: float) -> None:
        super().__init__(f"{host} asked to wait {seconds:.0f} s (Retry-After)")
        self.seconds = seconds


@dataclass
class _Host:
    slots: anyio.Semaphore
    delay: float
    next_start: float = 0.0
    blocked_until: float = 0.0
    users: int = 0
    lock: anyio.Lock = field(default_factory=anyio.Lock)


class HostGate:
    """Per-host concurrency, minimum delay between request starts, and back-off."""

    def __init__(
        self,
        *,
        per_host: int = 1,
        min_delay: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._per_host = per_host
        self._min_delay = min_delay
        self._clock = clock
        self._hosts: dict[str, _Host] = {}
        self._retired: dict[str, tuple[float, float]] = {}  # host -> (next start, blocked)
        self._delays: dict[str, float] = {}  # Crawl-delay from robots.txt

    def set_crawl_delay(self, host: str, seconds: float | None) -> None:
        """A robots.txt Crawl-delay longer than the minimum wins (capped)."""
        if seconds is None:
            return
        delay = max(self._min_delay, min(float(seconds), MAX_CRAWL_DELAY))
        self._delays[host] = delay
        if len(self._delays) > 10_000:  # a bound, not a cache policy: the oldest go first
            del self._delays[next(iter(self._delays))]
        if host in self._hosts:
            self._hosts[host].delay = delay

    def block(self, host: str, seconds: float) -> None:
        """Leave ``host`` alone for ``seconds`` (its Retry-After)."""
        until = self._clock() + seconds
        state = self._hosts.get(host)
        if state is not None:
            state.blocked_until = max(state.blocked_until, until)
        else:
            next_start, blocked = self._retired.get(host, (0.0, 0.0))
            self._retired[host] = (next_start, max(blocked, until))

    def blocked_for(self, host: str) -> float:
        """Seconds until ``host`` may be asked again after a Retry-After (0: now)."""
        state = self._hosts.get(host)
        until = state.blocked_until if state else self._retired.get(host, (0.0, 0.0))[1]
        return max(0.0, until - self._clock())

    @contextlib.asynccontextmanager
    async def turn(self, host: str) -> AsyncIterator[None]:
        state = self._state(host)
        state.users += 1
        try:
            async with state.slots:
                async with state.lock:  # one waiter at a time computes its start
                    blocked = state.blocked_until - self._clock()
                    if blocked > MAX_WAIT:
                        raise HostBlocked(host, blocked)
                    wait = max(state.next_start, state.blocked_until) - self._clock()
                    if wait > 0:
                        await anyio.sleep(wait)
                    state.next_start = self._clock() + state.delay
                try:
                    yield
                finally:
                    # The delay also runs from the end of this request: a request that
                    # queued for a connection slot or answered slowly still leaves the
                    # host a full delay before the next one (as the server measures it).
                    state.next_start = max(state.next_start, self._clock() + state.delay)
        finally:
            state.users -= 1
            if state.users == 0:
                self._retire(host, state)

    def _state(self, host: str) -> _Host:
        state = self._hosts.get(host)
        if state is None:
            next_start, blocked = self._retired.pop(host, (0.0, 0.0))
            delay = self._delays.get(host, self._min_delay)
            state = _Host(anyio.Semaphore(self._per_host), delay, next_start, blocked)
            self._hosts[host] = state
        return state

    def _retire(self, host: str, state: _Host) -> None:
        # An idle host keeps only its clock; forgotten once both times have passed.
        now = self._clock()
        del self._hosts[host]
        if max(state.next_start, state.blocked_until) > now:
            self._retired[host] = (state.next_start, state.blocked_until)
        if len(self._retired) > 1000:
            self._retired = {h: t for h, t in self._retired.items() if max(t) > now}
