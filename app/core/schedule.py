"""When to poll a feed next, and what a fetch outcome does to the feed's health.

Pure: the poller passes ``now`` and a random number in [0, 1) for jitter, gets a
``PollDecision`` back and writes it. This module does not fetch, store or sleep.
"""

from __future__ import annotations

import email.utils
import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from app.core.types import FetchKind, FetchOutcome

# A permanent redirect must be seen this many polls in a row before the URL moves,
# so one misconfigured deploy on the publisher's side cannot hijack a subscription.
REDIRECT_REPEATS = 3
MAX_RETRY_AFTER = 7 * 24 * 3600
MAX_BACKOFF = 24 * 3600
# Failing this many polls in a row (about seven weeks with the backoff above) disables
# a feed with the reason shown; an editor can enable it again.
DISABLE_AFTER_FAILURES = 60


@dataclass(frozen=True, slots=True)
class SchedulePolicy:
    min_interval: int = 15 * 60
    max_interval: int = 6 * 3600
    jitter: float = 0.1  # +/- this fraction of the interval

    def clamp(self, seconds: float) -> int:
        return int(min(max(seconds, self.min_interval), self.max_interval))


@dataclass(frozen=True, slots=True)
class FeedState:
    url: str
    interval_seconds: int
    consecutive_failures: int = 0
    redirect_url: str | None = None
    redirect_count: int = 0
    last_http_status: int | None = None


@dataclass(frozen=True, slots=True)
class PollDecision:
    next_poll_at: datetime
    interval_seconds: int
    consecutive_failures: int
    status: str
    error: str | None
    disabled_reason: str | None = None
    redirect_url: str | None = None
    redirect_count: int = 0
    move_to_url: str | None = None  # the feed's URL changes to this one


def publishing_interval(published: Sequence[datetime], policy: SchedulePolicy) -> int | None:
    """Half the median gap between recent entries: a feed that posts hourly is polled
    every 30 minutes. None when there are too few dated entries to tell."""
    stamps = sorted({p.timestamp() for p in published}, reverse=True)[:20]
    if len(stamps) < 3:
        return None
    gaps = [a - b for a, b in itertools.pairwise(stamps) if a > b]
    if not gaps:
        return None
    return policy.clamp(_median(gaps) / 2)


def _median(values: Sequence[float]) -> float:
    """``statistics.median`` (the middle value, or the mean of the two middle ones),
    without importing ``statistics`` (with ``fractions`` and ``decimal``, ~15 ms of every
    command's start-up)."""
    ordered = sorted(values)
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2


def cache_lifetime(outcome: FetchOutcome, now: datetime | None = None) -> int | None:
    """Seconds the response stays fresh: ``Cache-Control: max-age``, else ``Expires``
    counted from the response's ``Date`` (or ``now``), as RFC 9111 4.2.1 orders them.
    None when neither gives a positive lifetime (``Expires: 0`` and junk included)."""
    value = outcome.header("cache-control") or ""
    for part in value.split(","):
        name, _, arg = part.strip().partition("=")
        if name.lower() == "max-age" and arg.strip().isdigit():
            return int(arg.strip())
    expires = _http_date(outcome.header("expires"))
    origin = _http_date(outcome.header("date")) or now
    if expires is None or origin is None:
        return None
    seconds = int((expires - origin).total_seconds())
    return seconds if seconds > 0 else None


def _http_date(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        when = email.utils.parsedate_to_datetime(value.strip())
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)


def decide_schedule(
    state: FeedState,
    outcome: FetchOutcome,
    *,
    now: datetime,
    rand: float,
    published: Sequence[datetime] = (),
    ttl_seconds: int | None = None,
    policy: SchedulePolicy = SchedulePolicy(),
) -> PollDecision:
    if outcome.kind in (FetchKind.OK, FetchKind.NOT_MODIFIED):
        return _on_success(state, outcome, now, rand, published, ttl_seconds, policy)
    return _on_failure(state, outcome, now, rand, policy)


def _on_success(
    state: FeedState,
    outcome: FetchOutcome,
    now: datetime,
    rand: float,
    published: Sequence[datetime],
    ttl_seconds: int | None,
    policy: SchedulePolicy,
) -> PollDecision:
    interval = publishing_interval(published, policy) or state.interval_seconds
    # The publisher's own hints (RSS <ttl>, Cache-Control, Expires) lengthen, never shorten.
    for hint in (ttl_seconds, cache_lifetime(outcome, now)):
        if hint:
            interval = max(interval, hint)
    interval = policy.clamp(interval)
    redirect_url, redirect_count, move_to = _redirects(state, outcome)
    return PollDecision(
        next_poll_at=now + timedelta(seconds=_jittered(interval, rand, policy)),
        interval_seconds=interval,
        consecutive_failures=0,
        status=outcome.kind.value,
        error=None,
        redirect_url=redirect_url,
        redirect_count=redirect_count,
        move_to_url=move_to,
    )


def _on_failure(
    state: FeedState, outcome: FetchOutcome, now: datetime, rand: float, policy: SchedulePolicy
) -> PollDecision:
    failures = state.consecutive_failures + 1
    delay = min(policy.min_interval * 2 ** min(failures - 1, 16), MAX_BACKOFF)
    delay = _jittered(delay, rand, policy)
    if outcome.retry_after_seconds is not None:
        delay = max(delay, min(outcome.retry_after_seconds, MAX_RETRY_AFTER))
    disabled = None
    error = outcome.error or outcome.kind.value
    if outcome.kind is FetchKind.GONE and state.last_http_status == 410:
        disabled = (
            f"the feed is gone (HTTP 410 on two polls in a row) since {now:%Y-%m-%d %H:%M} UTC"
        )
    elif outcome.kind is FetchKind.GONE:  # one 410 may be a publisher's mistake: confirm it
        error = f"{error}; the feed will be disabled if the next poll confirms it"
    elif failures >= DISABLE_AFTER_FAILURES:
        disabled = f"disabled after {failures} failed polls in a row; the last: {error}"[:500]
    return PollDecision(
        next_poll_at=now + timedelta(seconds=delay),
        interval_seconds=state.interval_seconds,
        consecutive_failures=failures,
        status=outcome.kind.value,
        error=error,
        disabled_reason=disabled,
        redirect_url=state.redirect_url,
        redirect_count=state.redirect_count,
    )


def _redirects(state: FeedState, outcome: FetchOutcome) -> tuple[str | None, int, str | None]:
    target = outcome.permanent_redirect
    if not target or target == state.url:
        return None, 0, None
    count = state.redirect_count + 1 if target == state.redirect_url else 1
    if count >= REDIRECT_REPEATS:
        return None, 0, target
    return target, count, None


def _jittered(seconds: float, rand: float, policy: SchedulePolicy) -> float:
    return seconds * (1 + policy.jitter * (2 * rand - 1))
