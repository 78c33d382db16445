"""Trend charts drawn on the server: this module computes the geometry, the template
`measures/_trend_chart.html` writes the SVG. No JavaScript, prints as it shows.

Severity bands are shaded and labelled (labels, not only colour, so a grey print
reads), dosing sessions are marked on the time axis, and baseline, response (50 %
below baseline) and remission are drawn as labelled lines.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from django.utils import timezone

from openkap.core.instruments import Instrument
from openkap.core.instruments.change import RemissionDefinition

WIDTH = 760
HEIGHT = 320
LEFT, RIGHT, TOP, BOTTOM = 44, 150, 30, 46
PLOT_W = WIDTH - LEFT - RIGHT
PLOT_H = HEIGHT - TOP - BOTTOM

# Light to dark, green to red; each band also carries its label.
SHADES = ("#e3f1e6", "#f3f1d6", "#fbe6c8", "#f8d5c4", "#f2c2c0")
DAY_STEPS = (1, 2, 7, 14, 30, 61, 91, 182, 365)
MAX_X_TICKS = 7
VALUE_STEPS = (1, 2, 5, 10, 20, 25, 50)
MAX_POINT_LABELS = 16
LABEL_GAP = 13  # px between labels in the right margin


@dataclass(frozen=True)
class Band:
    y: float
    height: float
    label: str
    shade: str
    label_y: float


@dataclass(frozen=True)
class Point:
    x: float
    y: float
    value: str
    title: str
    flagged: bool
    labelled: bool
    response_id: int


@dataclass(frozen=True)
class Marker:
    x: float
    label: str
    title: str
    booked: bool  # not yet held: drawn lighter


@dataclass(frozen=True)
class Line:
    y: float
    label: str
    kind: str  # baseline / response / remission
    label_y: float = 0.0


@dataclass(frozen=True)
class Tick:
    at: float
    label: str


@dataclass(frozen=True)
class TrendChart:
    title: str
    description: str
    width: int
    height: int
    left: int
    top: int
    right: int  # x of the plot's right edge
    bottom: int  # y of the plot's bottom edge
    plot_width: int
    bands: tuple[Band, ...]
    points: tuple[Point, ...]
    path: str
    markers: tuple[Marker, ...]
    lines: tuple[Line, ...]
    y_ticks: tuple[Tick, ...]
    x_ticks: tuple[Tick, ...]
    band_label_x: float


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:.1f}"


def _time_domain(times: Sequence[datetime]) -> tuple[datetime, datetime]:
    first, last = min(times), max(times)
    span = last - first
    pad = max(span * 0.05, timedelta(days=2))
    if span < timedelta(days=7):
        pad = max(pad, (timedelta(days=7) - span) / 2)
    return first - pad, last + pad


def _x_ticks(start: datetime, end: datetime, x_of) -> tuple[Tick, ...]:
    span_days = (end - start).total_seconds() / 86400
    step = next((s for s in DAY_STEPS if span_days / s <= MAX_X_TICKS), DAY_STEPS[-1])
    local_start = timezone.localtime(start)
    day = local_start.replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=1)
    if step >= 30:
        # Months: ticks on the first of a month.
        day = day.replace(day=1)
        months = max(1, round(step / 30.44))
        ticks = []
        while day <= end:
            if day >= start:
                label = f"{day:%b %Y}" if months >= 3 or span_days > 300 else f"{day:%b} {day.day}"
                ticks.append(Tick(x_of(day), label))
            month = day.month - 1 + months
            day = day.replace(year=day.year + month // 12, month=month % 12 + 1)
        return tuple(ticks)
    ticks = []
    while day <= end:
        ticks.append(Tick(x_of(day), f"{day:%b} {day.day}"))
        day += timedelta(days=step)
    return tuple(ticks)


def _y_ticks(low: float, high: float, y_of) -> tuple[Tick, ...]:
    span = high - low
    step = next((s for s in VALUE_STEPS if span / s <= 8), VALUE_STEPS[-1])
    first = math.ceil(low / step) * step
    ticks = []
    value = first
    while value <= high + 1e-9:
        ticks.append(Tick(y_of(value), _number(value)))
        value += step
    return tuple(ticks)


def _bands(instrument: Instrument, sex: str | None, low: float, high: float, y_of) -> tuple[Band, ...]:
    bands = instrument.bands
    if not bands and instrument.sex_bands and sex:
        bands = next((sb.bands for sb in instrument.sex_bands if str(sb.sex) == sex), ())
    if not bands:
        return ()
    if len(bands) == 1:
        shades: Sequence[str] = SHADES[:1]
    else:
        shades = [SHADES[round(i * (len(SHADES) - 1) / (len(bands) - 1))] for i in range(len(bands))]
    out = []
    for index, band in enumerate(bands):
        # Whole-number totals: a boundary sits half-way between the bands.
        bottom = low if index == 0 else band.minimum - 0.5
        top = high if index == len(bands) - 1 else bands[index + 1].minimum - 0.5
        y_top, y_bottom = y_of(top), y_of(bottom)
        out.append(
            Band(round(y_top, 1), round(y_bottom - y_top, 1), band.label, shades[index],
                 round((y_top + y_bottom) / 2 + 4, 1))
        )
    return tuple(out)


def _spread_labels(bands: tuple[Band, ...], lines: list[Line]) -> tuple[tuple[Band, ...], tuple[Line, ...]]:
    """Band and line labels share the right margin: keep each near its place, none overlapping."""
    wanted = [(b.label_y, "band", i) for i, b in enumerate(bands)] + [
        (line.y + 4, "line", i) for i, line in enumerate(lines)
    ]
    wanted.sort()
    placed: list[float] = []
    for y, _kind, _i in wanted:
        placed.append(max(y, placed[-1] + LABEL_GAP) if placed else y)
    overflow = placed[-1] - (TOP + PLOT_H + 4) if placed else 0
    if overflow > 0:  # pushed below the plot: shift the stack up, keeping the gaps
        placed = [y - overflow for y in placed]
        for n in range(len(placed) - 2, -1, -1):
            placed[n] = min(placed[n], placed[n + 1] - LABEL_GAP)
    new_bands, new_lines = list(bands), list(lines)
    for (_y, kind, i), y in zip(wanted, placed, strict=True):
        if kind == "band":
            new_bands[i] = replace(bands[i], label_y=round(y, 1))
        else:
            new_lines[i] = replace(lines[i], label_y=round(y, 1))
    return tuple(new_bands), tuple(new_lines)


def trend_chart(
    instrument: Instrument,
    points: Sequence[tuple[datetime, float, bool, int]],
    session_times: Sequence[datetime],
    *,
    bounds: tuple[float, float],
    baseline: float | None = None,
    response_threshold: float | None = None,
    remission: RemissionDefinition | None = None,
    sex: str | None = None,
) -> TrendChart:
    """`points` are (when, total, has a safety flag, response id), oldest first."""
    low, high = float(bounds[0]), float(bounds[1])
    point_times = [p[0] for p in points]
    # Sessions near the measured period are drawn; far-off bookings do not squash the axis.
    near = [
        t for t in session_times
        if min(point_times) - timedelta(days=30) <= t <= max(point_times) + timedelta(days=30)
    ]
    start, end = _time_domain([*point_times, *near])
    seconds = (end - start).total_seconds()

    def x_of(t: datetime) -> float:
        return round(LEFT + (t - start).total_seconds() / seconds * PLOT_W, 1)

    def y_of(v: float) -> float:
        return round(TOP + (high - v) / (high - low) * PLOT_H, 1)

    labelled_all = len(points) <= MAX_POINT_LABELS
    chart_points = []
    for index, (when, total, flagged, response_id) in enumerate(points):
        local = timezone.localtime(when)
        chart_points.append(
            Point(
                x_of(when), y_of(total), _number(total),
                f"{instrument.short_name} {_number(total)} on {local:%Y-%m-%d}" + (" · safety flag" if flagged else ""),
                flagged, labelled_all or index in (0, len(points) - 1), response_id,
            )
        )
    numbered = sorted(session_times)
    now = timezone.now()
    markers = tuple(
        Marker(
            x_of(t), f"D{numbered.index(t) + 1}",
            f"Dosing session {numbered.index(t) + 1}, {timezone.localtime(t):%Y-%m-%d}" + (" (booked)" if t > now else ""),
            t > now,
        )
        for t in sorted(near)
    )
    lines = []
    if baseline is not None:
        lines.append(Line(y_of(baseline), f"Baseline {_number(baseline)}", "baseline"))
    if response_threshold is not None:
        lines.append(Line(y_of(response_threshold), f"Response ≤ {_number(response_threshold)}", "response"))
    if remission is not None:
        edge = remission.threshold + (0.5 if remission.inclusive else -0.5)
        sign = "≤" if remission.inclusive else "<"
        lines.append(Line(y_of(edge), f"Remission {sign} {remission.threshold}", "remission"))
    bands, spread = _spread_labels(_bands(instrument, sex, low, high, y_of), lines)
    values = ", ".join(f"{_number(p[1])} on {timezone.localtime(p[0]):%Y-%m-%d}" for p in points)
    description = (
        f"{instrument.short_name} totals over time (range {_number(low)}–{_number(high)}): "
        f"{values}. {len(markers)} dosing session(s) marked."
    )
    return TrendChart(
        title=f"{instrument.short_name} over time",
        description=description,
        width=WIDTH,
        height=HEIGHT,
        left=LEFT,
        top=TOP,
        right=LEFT + PLOT_W,
        bottom=TOP + PLOT_H,
        plot_width=PLOT_W,
        bands=bands,
        points=tuple(chart_points),
        path=" ".join(f"{p.x},{p.y}" for p in chart_points),
        markers=markers,
        lines=spread,
        y_ticks=_y_ticks(low, high, y_of),
        x_ticks=_x_ticks(start, end, x_of),
        band_label_x=LEFT + PLOT_W + 8,
    )
