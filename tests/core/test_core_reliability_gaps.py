"""RELIABILITY.md §2.2 "Feed TTL / Cache-Control / Expires": next check = max(TTL,
max-age, Expires), clamped. Pure: ``now`` and ``rand`` are given, no clock."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from app.core.schedule import FeedState, SchedulePolicy, cache_lifetime, decide_schedule
from app.core.types import FetchKind, FetchOutcome

NOW = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
URL = "https://outlet.example/feed.xml"
DATE = "Sun, 01 Nov 2026 12:00:00 GMT"  # the response's Date: NOW
SKEWED = "Sun, 01 Nov 2026 10:00:00 GMT"  # a server clock two hours behind ours
FAR = datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC)


def outcome(*headers: tuple[str, str], kind: FetchKind = FetchKind.OK) -> FetchOutcome:
    return FetchOutcome(kind, URL, URL, status=200, headers=headers)


@pytest.mark.parametrize(
    ("headers", "lifetime"),
    [
        ((("expires", "Sun, 01 Nov 2026 15:00:00 GMT"),), 3 * 3600),  # from now
        ((("date", DATE), ("expires", "Sun, 01 Nov 2026 14:00:00 GMT")), 2 * 3600),
        # The server's Date, not our clock, is the origin (a skewed server clock).
        ((("date", SKEWED), ("expires", "Sun, 01 Nov 2026 11:00:00 GMT")), 3600),
        ((("expires", "Sun, 01 Nov 2026 11:00:00 GMT"),), None),  # already stale
        ((("expires", "0"),), None),  # "already expired" in the RFC's words
        ((("expires", "next tuesday"),), None),
        ((("expires", "Fri, 31 Dec 9999 23:59:59 GMT"),), int((FAR - NOW).total_seconds())),
        # max-age wins over Expires (RFC 9111 4.2.1), in both directions.
        ((("cache-control", "max-age=600"), ("expires", "Sun, 01 Nov 2026 15:00:00 GMT")), 600),
        ((("cache-control", "no-cache"), ("expires", "Sun, 01 Nov 2026 13:00:00 GMT")), 3600),
    ],
)  # fmt: skip
def test_expires_counts_as_a_cache_lifetime(
    headers: tuple[tuple[str, str], ...], lifetime: int | None
) -> None:
    assert cache_lifetime(outcome(*headers), NOW) == lifetime


@pytest.mark.parametrize(
    ("expires", "interval"),
    [
        ("Sun, 01 Nov 2026 15:00:00 GMT", 3 * 3600),  # lengthens the hourly interval
        ("Sun, 01 Nov 2026 12:20:00 GMT", 3600),  # never shortens it
        ("Fri, 31 Dec 9999 23:59:59 GMT", 6 * 3600),  # clamped to the maximum
        ("garbage", 3600),
    ],
)
@pytest.mark.parametrize("kind", [FetchKind.OK, FetchKind.NOT_MODIFIED])
def test_expires_lengthens_the_next_poll_within_the_bounds(
    expires: str, interval: int, kind: FetchKind
) -> None:
    decision = decide_schedule(
        FeedState(URL, 3600),
        outcome(("date", DATE), ("expires", expires), kind=kind),
        now=NOW,
        rand=0.5,  # no jitter
        policy=SchedulePolicy(),
    )
    assert decision.interval_seconds == interval
    assert (decision.next_poll_at - NOW).total_seconds() == interval
