"""The volume chart as data for an inline SVG: one bar per day (or week) counting
articles, each article once, and one line per theme over the bars.

An article with three themes adds 1 to its bar and 1 to each of three theme lines,
so the bars are the true volume and the lines show the themes' shares without
inflating it. Geometry only; ``templates/_volume_chart.html`` draws it as an
``svg role="img"`` (no links inside: the table below it has them) with a y-axis.

Share of voice: split by outlet or language, each bar is stacked from its groups
(the largest few and "other"; an article is in exactly one), and the lines go.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta

from app.core.timeline import THEMES, VolumeBucket

WIDTH = 720
HEIGHT = 170
AXIS = 20  # room under the bars for the first/last labels
LEFT = 34  # room left of the bars for the y-axis labels
TOP = 8


@dataclass(frozen=True, slots=True)
class Segment:
    key: str  # a group of the split (outlet id, language, "other")
    index: int  # its series' position: the colour
    y: float
    height: float


@dataclass(frozen=True, slots=True)
class Series:
    key: str
    name: str  # an outlet's title, a language code, "other"
    total: int  # articles in the whole range
    index: int


@dataclass(frozen=True, slots=True)
class Bar:
    start: date
    end: date
    total: int
    counts: tuple[tuple[str, int], ...]  # (theme or "none", articles carrying it)
    x: float
    width: float
    y: float
    height: float
    href: str
    segments: tuple[Segment, ...] = ()  # stacked groups, bottom up, when split

    def count(self, key: str) -> int:
        return dict(self.counts).get(key, 0)


@dataclass(frozen=True, slots=True)
class Line:
    key: str  # a theme
    points: str  # "x,y x,y ..." for a polyline
    total: int


@dataclass(frozen=True, slots=True)
class Tick:
    value: int
    y: float


@dataclass(frozen=True, slots=True)
class Chart:
    interval: str
    start: date
    end: date
    bars: tuple[Bar, ...]
    lines: tuple[Line, ...]
    ticks: tuple[Tick, ...]
    peak: int  # the most articles in one bar
    total: int  # articles in the range, each once
    group: str | None = None  # "source" or "lang" when the bars are split
    series: tuple[Series, ...] = ()  # the split's groups, largest first, "other" last
    width: int = WIDTH
    height: int = HEIGHT
    axis: int = AXIS
    left: int = LEFT

    @property
    def plot_bottom(self) -> int:
        return self.height - self.axis


def nice_ceiling(value: int) -> int:
    """The smallest of 1, 2, 5, 10, 20, 50, ... that is at least ``value``."""
    step = 1
    while True:
        for factor in (1, 2, 5):
            if step * factor >= value:
                return step * factor
        step *= 10


def build_chart(
    buckets: Sequence[VolumeBucket],
    interval: str,
    start: date,
    end: date,
    link: Callable[[date, date], str],
    series: Sequence[str] = THEMES,
    *,
    group: str | None = None,
    names: Mapping[str, str] | None = None,
) -> Chart:
    """Scale ``buckets`` into bars and theme lines; ``link(first, last)`` narrows the
    timeline to one bar's days (used by the table and by a click on the bar).

    With ``group``, ``buckets`` count groups (``series`` in order, each article in
    one): every bar is stacked from them, largest group at the bottom, and there
    are no theme lines."""
    peak = max((b.total for b in buckets), default=0)
    top = nice_ceiling(max(peak, 1))
    bottom = HEIGHT - AXIS
    plot = bottom - TOP
    slot = (WIDTH - LEFT) / max(len(buckets), 1)

    def y_of(count: int) -> float:
        return round(bottom - plot * count / top, 2)

    bars = []
    for index, bucket in enumerate(buckets):
        last = min(bucket.start + timedelta(days=6 if interval == "week" else 0), end)
        segments = []
        below = 0
        for position, key in enumerate(series if group else ()):
            count = bucket.count(key)
            if count:
                segments.append(
                    Segment(
                        key,
                        position,
                        y_of(below + count),
                        round(y_of(below) - y_of(below + count), 2),
                    )
                )
                below += count
        bars.append(
            Bar(
                start=bucket.start,
                end=last,
                total=bucket.total,
                counts=bucket.counts,
                x=round(LEFT + index * slot + slot * 0.1, 2),
                width=round(max(slot * 0.8, 1.0), 2),
                y=y_of(bucket.total),
                height=round(bottom - y_of(bucket.total), 2),
                href=link(bucket.start, last),
                segments=tuple(segments),
            )
        )
    ticks = tuple(Tick(v, y_of(v)) for v in sorted({0, top // 2, top}))
    total = sum(b.total for b in buckets)
    if group:
        named = names or {}
        split = tuple(
            Series(key, named.get(key, key), sum(b.count(key) for b in bars), index)
            for index, key in enumerate(series)
        )
        return Chart(interval, start, end, tuple(bars), (), ticks, peak, total, group, split)
    lines = tuple(
        Line(
            key,
            " ".join(f"{round(b.x + b.width / 2, 2)},{y_of(b.count(key))}" for b in bars),
            sum(b.count(key) for b in bars),
        )
        for key in series
    )
    ticks = tuple(Tick(v, y_of(v)) for v in sorted({0, top // 2, top}))
    total = sum(b.total for b in buckets)
    return Chart(interval, start, end, tuple(bars), lines, ticks, peak, total)
