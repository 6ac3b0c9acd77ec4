"""The volume chart as data for an inline SVG: bars stacked by theme, each a link.

Geometry only; ``templates/_volume_chart.html`` draws it with a ``<title>``, a
``<desc>`` and a table fallback. No JavaScript, no chart library.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta

from app.core.timeline import VolumeBucket

WIDTH = 720
HEIGHT = 160
AXIS = 20  # room under the bars for the first/last labels


@dataclass(frozen=True, slots=True)
class Segment:
    theme: str
    count: int
    y: float
    height: float


@dataclass(frozen=True, slots=True)
class Bar:
    start: date
    end: date
    total: int
    x: float
    width: float
    segments: tuple[Segment, ...]
    href: str


@dataclass(frozen=True, slots=True)
class Chart:
    interval: str
    start: date
    end: date
    bars: tuple[Bar, ...]
    peak: int
    total: int
    width: int = WIDTH
    height: int = HEIGHT
    axis: int = AXIS


def build_chart(
    buckets: Sequence[VolumeBucket],
    interval: str,
    start: date,
    end: date,
    link: Callable[[date, date], str],
) -> Chart:
    """Scale ``buckets`` into bars; ``link(first_day, last_day)`` narrows the timeline."""
    peak = max((sum(c for _, c in b.counts) for b in buckets), default=0)
    slot = WIDTH / max(len(buckets), 1)
    plot = HEIGHT - AXIS
    bars = []
    for index, bucket in enumerate(buckets):
        last = bucket.start + timedelta(days=6 if interval == "week" else 0)
        segments = []
        y = float(plot)
        for theme, count in bucket.counts:
            if count:
                height = plot * count / peak
                y -= height
                segments.append(Segment(theme, count, round(y, 2), round(height, 2)))
        bars.append(
            Bar(
                start=bucket.start,
                end=min(last, end),
                total=bucket.total,
                x=round(index * slot + slot * 0.1, 2),
                width=round(max(slot * 0.8, 1.0), 2),
                segments=tuple(segments),
                href=link(bucket.start, min(last, end)),
            )
        )
    total = sum(b.total for b in buckets)
    return Chart(interval, start, end, tuple(bars), peak, total)
