"""Spikes: a view's article count in the last N hours against its own baseline.

Baseline: the mean count of the same N-hour window (same hours of the day) on each of
the trailing 28 days. A spike is ``count >= min_count`` and ``count >= factor ×
baseline``. It fires once: the rule's ``spike_since`` is set by a conditional update
(one winner among pollers) and the outbox key is ``s:<spike start>``; the spike ends
when the condition is false and at least N hours have passed since it started, so a
count hovering at the threshold does not fire again and again.
Counted by published time, like the timeline and its volume chart.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from app.alerts.match import filter_from_query
from app.core.errors import InvalidInput
from app.store.alerts import AlertRuleInfo, AlertRuleStore, OutboxItem, OutboxStore
from app.store.articles import ArticleStore
from app.store.tables import Article

BASELINE_DAYS = 28


@dataclass(frozen=True, slots=True)
class SpikeState:
    count: int
    baseline: float
    window_start: datetime
    window_end: datetime

    def fires(self, rule: AlertRuleInfo) -> bool:
        return self.count >= rule.spike_min_count and self.count >= rule.spike_factor * (
            self.baseline
        )


def measure(session: Session, rule: AlertRuleInfo, now: datetime) -> SpikeState | None:
    """The view's count in the last ``spike_hours`` and its 28-day baseline."""
    try:
        flt = filter_from_query(rule.view_query)
    except InvalidInput:
        return None
    window = timedelta(hours=rule.spike_hours)
    start = now - timedelta(days=BASELINE_DAYS) - window
    flt = replace(flt, since=start, until=now)
    windows = [(now - timedelta(days=d) - window, now - timedelta(days=d)) for d in range(29)]
    stmt = ArticleStore(session).filtered(select(Article.published_at), flt)
    if window < timedelta(hours=12):  # only the windows' rows, not all 28 days
        stmt = stmt.where(
            or_(
                *(and_(Article.published_at >= lo, Article.published_at < hi) for lo, hi in windows)
            )
        )
    times = sorted(session.scalars(stmt))

    def count(lo: datetime, hi: datetime) -> int:
        return bisect.bisect_left(times, hi) - bisect.bisect_left(times, lo)

    current = count(now - window, now)
    past = [
        count(now - timedelta(days=d) - window, now - timedelta(days=d))
        for d in range(1, BASELINE_DAYS + 1)
    ]
    return SpikeState(current, sum(past) / len(past), now - window, now)


def check_spikes(session: Session, now: datetime, *, secret_key: str = "") -> int:
    """Evaluate every enabled spike rule; enqueue a delivery per spike that starts."""
    rules = AlertRuleStore(session, secret_key)
    outbox = OutboxStore(session)
    fired = 0
    for rule in rules.enabled("spike"):
        state = measure(session, rule, now)
        if state is None:
            continue
        since = rules.spike_since(rule.id)
        if state.fires(rule):
            if since is not None:
                continue  # this spike has fired already
            start = now.replace(second=0, microsecond=0)
            if not rules.start_spike(rule.id, start):
                continue
            fired += outbox.enqueue(
                [
                    OutboxItem(
                        channel=rule.channel,
                        subject_key=f"s:{start.strftime('%Y-%m-%dT%H:%MZ')}",
                        kind="spike",
                        rule_id=rule.id,
                        payload={
                            "count": state.count,
                            "baseline": state.baseline,
                            "window_start": state.window_start.isoformat(),
                            "window_end": state.window_end.isoformat(),
                        },
                    )
                ],
                now=now,
            )
        elif since is not None and now >= since + timedelta(hours=rule.spike_hours):
            rules.end_spike(rule.id)
    return fired
