"""app.core.schedule: when a feed is polled next and what an outcome does to its health.

Table-driven, pure: no database, no network, no clock (``now`` and ``rand`` are given).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.core.schedule import (
    DISABLE_AFTER_FAILURES,
    MAX_BACKOFF,
    MAX_RETRY_AFTER,
    REDIRECT_REPEATS,
    FeedState,
    SchedulePolicy,
    cache_lifetime,
    decide_schedule,
    publishing_interval,
)
from app.core.types import FetchKind, FetchOutcome

NOW = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
URL = "https://outlet.example/feed.xml"
MOVED = "https://outlet.example/new-feed.xml"
POLICY = SchedulePolicy()  # 15 min .. 6 h, +/-10 % jitter
MID = 0.5  # rand at which jitter is zero


def outcome(
    kind: FetchKind = FetchKind.OK,
    *,
    status: int | None = 200,
    retry_after: float | None = None,
    headers: tuple[tuple[str, str], ...] = (),
    permanent_redirect: str | None = None,
    error: str | None = None,
) -> FetchOutcome:
    return FetchOutcome(
        kind,
        URL,
        permanent_redirect or URL,
        status=status,
        headers=headers,
        retry_after_seconds=retry_after,
        permanent_redirect=permanent_redirect,
        error=error,
    )


def state(**values: object) -> FeedState:
    return FeedState(**{"url": URL, "interval_seconds": 3600, **values})  # type: ignore[arg-type]


def delay(decision_time: datetime) -> float:
    return (decision_time - NOW).total_seconds()


def hourly(count: int) -> list[datetime]:
    return [NOW - timedelta(hours=h) for h in range(count)]


@pytest.mark.parametrize(
    ("published", "ttl", "headers", "expected"),
    [
        ([], None, (), 3600),  # nothing to learn: keep the interval
        (hourly(2), None, (), 3600),  # two stamps are too few
        (hourly(10), None, (), 1800),  # hourly posts: every 30 minutes
        ([NOW - timedelta(minutes=m) for m in range(0, 50, 2)], None, (), 15 * 60),  # floor
        ([NOW - timedelta(days=d) for d in range(10)], None, (), 6 * 3600),  # ceiling
        (hourly(10), 7200, (), 7200),  # RSS <ttl> lengthens
        (hourly(10), 60, (), 1800),  # ... never shortens
        (hourly(10), None, (("cache-control", "public, max-age=5400"),), 5400),
        (hourly(10), None, (("cache-control", "max-age=10"),), 1800),
        ([], 10 * 24 * 3600, (), 6 * 3600),  # hints are clamped too
    ],
)
def test_success_sets_an_adaptive_interval(
    published: list[datetime],
    ttl: int | None,
    headers: tuple[tuple[str, str], ...],
    expected: int,
) -> None:
    decision = decide_schedule(
        state(),
        outcome(headers=headers),
        now=NOW,
        rand=MID,
        published=published,
        ttl_seconds=ttl,
    )
    assert decision.interval_seconds == expected
    assert delay(decision.next_poll_at) == expected
    assert decision.consecutive_failures == 0 and decision.error is None
    assert decision.status == "ok" and decision.disabled_reason is None


@pytest.mark.parametrize(("rand", "factor"), [(0.0, 0.9), (0.5, 1.0), (0.999999, 1.1)])
def test_jitter_spreads_polls_by_ten_percent(rand: float, factor: float) -> None:
    decision = decide_schedule(state(), outcome(), now=NOW, rand=rand)
    assert delay(decision.next_poll_at) == pytest.approx(3600 * factor, abs=0.01)


def test_not_modified_is_a_success_that_resets_failures() -> None:
    decision = decide_schedule(
        state(consecutive_failures=4),
        outcome(FetchKind.NOT_MODIFIED, status=304),
        now=NOW,
        rand=MID,
    )
    assert decision.consecutive_failures == 0
    assert decision.status == "not_modified" and decision.error is None


@pytest.mark.parametrize(
    ("failures_before", "expected_delay"),
    [
        (0, 15 * 60),
        (1, 30 * 60),
        (2, 60 * 60),
        (3, 2 * 3600),
        (6, 16 * 3600),
        (7, MAX_BACKOFF),  # 32 h capped at a day
        (40, MAX_BACKOFF),  # no overflow after a long streak
    ],
)
def test_backoff_doubles_with_each_consecutive_failure(
    failures_before: int, expected_delay: int
) -> None:
    decision = decide_schedule(
        state(consecutive_failures=failures_before),
        outcome(FetchKind.NETWORK_ERROR, status=None, error="connection refused"),
        now=NOW,
        rand=MID,
    )
    assert decision.consecutive_failures == failures_before + 1
    assert delay(decision.next_poll_at) == expected_delay
    assert decision.error == "connection refused"
    assert decision.interval_seconds == 3600  # the learned interval survives the outage


@pytest.mark.parametrize(
    ("kind", "status", "retry_after", "expected_delay"),
    [
        (FetchKind.RATE_LIMITED, 429, 7200.0, 7200),  # longer than the backoff: honoured
        (FetchKind.RATE_LIMITED, 503, 3 * 24 * 3600.0, 3 * 24 * 3600),
        (FetchKind.RATE_LIMITED, 503, 60.0, 15 * 60),  # shorter: the backoff still applies
        (FetchKind.RATE_LIMITED, 429, 0.0, 15 * 60),  # a past date is not a busy loop
        (FetchKind.RATE_LIMITED, 429, 10 * 365 * 24 * 3600.0, MAX_RETRY_AFTER),  # capped
        (FetchKind.RATE_LIMITED, 503, None, 15 * 60),  # garbage header: plain backoff
    ],
)
def test_retry_after_pushes_the_next_poll(
    kind: FetchKind, status: int, retry_after: float | None, expected_delay: int
) -> None:
    decision = decide_schedule(
        state(), outcome(kind, status=status, retry_after=retry_after), now=NOW, rand=MID
    )
    assert delay(decision.next_poll_at) == expected_delay
    assert decision.consecutive_failures == 1


def test_a_first_gone_asks_for_confirmation_and_a_second_disables_with_the_reason() -> None:
    first = decide_schedule(state(), outcome(FetchKind.GONE, status=410), now=NOW, rand=MID)
    assert first.disabled_reason is None
    assert first.error is not None and "disabled if the next poll confirms it" in first.error
    assert first.status == "gone"

    second = decide_schedule(
        state(last_http_status=410, consecutive_failures=1),
        outcome(FetchKind.GONE, status=410),
        now=NOW,
        rand=MID,
    )
    assert second.disabled_reason is not None
    assert "410" in second.disabled_reason and "2026-11-01" in second.disabled_reason


def test_a_gone_after_another_status_is_not_a_confirmation() -> None:
    decision = decide_schedule(
        state(last_http_status=503, consecutive_failures=3),
        outcome(FetchKind.GONE, status=410),
        now=NOW,
        rand=MID,
    )
    assert decision.disabled_reason is None


def test_a_long_failure_streak_disables_the_feed_with_the_last_error() -> None:
    failing = outcome(FetchKind.HTTP_ERROR, status=503, error="HTTP 503 Service Unavailable")
    almost = decide_schedule(
        state(consecutive_failures=DISABLE_AFTER_FAILURES - 2), failing, now=NOW, rand=MID
    )
    assert almost.disabled_reason is None
    last = decide_schedule(
        state(consecutive_failures=DISABLE_AFTER_FAILURES - 1), failing, now=NOW, rand=MID
    )
    assert last.disabled_reason is not None
    assert f"{DISABLE_AFTER_FAILURES} failed polls in a row" in last.disabled_reason
    assert "HTTP 503" in last.disabled_reason


@pytest.mark.parametrize(
    "kind", [FetchKind.HTTP_ERROR, FetchKind.NETWORK_ERROR, FetchKind.TIMEOUT, FetchKind.BLOCKED]
)
def test_other_failures_back_off_without_disabling(kind: FetchKind) -> None:
    decision = decide_schedule(
        state(consecutive_failures=20), outcome(kind, status=None), now=NOW, rand=MID
    )
    assert decision.disabled_reason is None


def _poll_redirects(targets: list[str | None]) -> list[tuple[str | None, int, str | None]]:
    """Feed ``targets`` (permanent redirect per poll) through successive decisions."""
    current, seen = state(), []
    for target in targets:
        d = decide_schedule(current, outcome(permanent_redirect=target), now=NOW, rand=MID)
        seen.append((d.redirect_url, d.redirect_count, d.move_to_url))
        url = d.move_to_url or current.url
        current = state(url=url, redirect_url=d.redirect_url, redirect_count=d.redirect_count)
    return seen


@pytest.mark.parametrize(
    ("targets", "expected"),
    [
        ([MOVED], [(MOVED, 1, None)]),
        ([MOVED, MOVED], [(MOVED, 1, None), (MOVED, 2, None)]),
        ([MOVED] * REDIRECT_REPEATS, [(MOVED, 1, None), (MOVED, 2, None), (None, 0, MOVED)]),
        # One poll without the redirect starts the count again.
        ([MOVED, None, MOVED, MOVED], [(MOVED, 1, None), (None, 0, None), (MOVED, 1, None),
                                        (MOVED, 2, None)]),
        # A different target starts the count again.
        ([MOVED, MOVED + "?b", MOVED + "?b"], [(MOVED, 1, None), (MOVED + "?b", 1, None),
                                               (MOVED + "?b", 2, None)]),
        # After the move, the new URL answers directly: nothing pending.
        ([MOVED] * 3 + [None], [(MOVED, 1, None), (MOVED, 2, None), (None, 0, MOVED),
                                (None, 0, None)]),
    ],
)  # fmt: skip
def test_permanent_redirects_move_the_url_only_after_consistent_repeats(
    targets: list[str | None], expected: list[tuple[str | None, int, str | None]]
) -> None:
    assert _poll_redirects(targets) == expected


def test_a_failure_keeps_a_pending_redirect_count() -> None:
    d = decide_schedule(
        state(redirect_url=MOVED, redirect_count=2),
        outcome(FetchKind.HTTP_ERROR, status=500),
        now=NOW,
        rand=MID,
    )
    assert (d.redirect_url, d.redirect_count, d.move_to_url) == (MOVED, 2, None)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, None),
        ("max-age=600", 600),
        ("public, MAX-AGE=120", 120),
        ("no-cache", None),
        ("max-age=abc", None),
        ("max-age=-5", None),
    ],
)
def test_cache_lifetime(value: str | None, expected: int | None) -> None:
    headers = (("cache-control", value),) if value is not None else ()
    assert cache_lifetime(outcome(headers=headers)) == expected


def test_publishing_interval_ignores_duplicate_stamps() -> None:
    same = [NOW] * 10
    assert publishing_interval(same, POLICY) is None


@given(st.lists(st.floats(min_value=0, max_value=1e9, allow_nan=False), min_size=1, max_size=25))
def test_the_median_is_the_standard_librarys(gaps: list[float]) -> None:
    import statistics

    from app.core.schedule import _median

    assert _median(gaps) == statistics.median(gaps)
