"""The session's vitals as an SVG chart (server-rendered; the same chart on the page
and in the PDF): blood pressure and heart rate above, SpO2 and respiratory rate
below, against minutes from the dose, with the administration shaded and the
protocol's alarm thresholds dashed."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from html import escape
from typing import TYPE_CHECKING

from openkap.core.vitals import AlarmRule, Measure

if TYPE_CHECKING:
    from openkap.dosing.selectors import SessionView

W, LEFT, RIGHT = 720, 48, 16
TOP_H, BOTTOM_H, GAP, PAD_TOP, AXIS_H = 190, 110, 26, 18, 30
COLOURS = {
    "systolic": "#b42318", "diastolic": "#e07b39", "heart_rate": "#1f6feb", "spo2": "#067647",
    "respiratory_rate": "#6941c6",
}
LABELS = {"systolic": "Systolic", "diastolic": "Diastolic", "heart_rate": "HR", "spo2": "SpO2 %",
          "respiratory_rate": "RR"}


@dataclass(frozen=True)
class Point:
    minute: float
    values: dict[str, int | None]


@dataclass(frozen=True)
class Panel:
    top: float
    height: float
    low: float
    high: float
    measures: tuple[str, ...]

    def y(self, value: float) -> float:
        value = min(max(value, self.low), self.high)
        return self.top + self.height * (1 - (value - self.low) / (self.high - self.low))


def vitals_svg(
    readings: Sequence[tuple[datetime, dict[str, int | None]]],
    *,
    dose_start: datetime | None,
    dose_end: datetime | None,
    alarm_rules: Sequence[AlarmRule] = (),
    title: str = "Vitals",
) -> str:
    """Inline SVG markup; minutes count from the start of the dose (or the first reading)."""
    if not readings:
        return ""
    origin = dose_start or readings[0][0]
    points = [Point((t - origin).total_seconds() / 60, v) for t, v in readings]
    x_low = min(0.0, min(p.minute for p in points))
    x_high = max(60.0, max(p.minute for p in points) + 5)
    if dose_end is not None:
        x_high = max(x_high, (dose_end - origin).total_seconds() / 60 + 5)
    plot_w = W - LEFT - RIGHT

    def x(minute: float) -> float:
        return LEFT + plot_w * (minute - x_low) / (x_high - x_low)

    top = Panel(PAD_TOP, TOP_H, 40, 220, ("systolic", "diastolic", "heart_rate"))
    bottom = Panel(PAD_TOP + TOP_H + GAP, BOTTOM_H, 0, 100, ("spo2", "respiratory_rate"))
    height = bottom.top + bottom.height + AXIS_H
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {W} {height:.0f}" width="{W}" height="{height:.0f}" '
        f'role="img" aria-label="{escape(title)}" font-family="DejaVu Sans, sans-serif" font-size="10">',
        f"<title>{escape(title)}</title>",
    ]
    if dose_start is not None:
        end = dose_end or dose_start
        x0, x1 = x(0), max(x(0) + 2, x((end - origin).total_seconds() / 60))
        out.append(f'<rect x="{x0:.1f}" y="{PAD_TOP}" width="{x1 - x0:.1f}" height="{bottom.top + bottom.height - PAD_TOP:.1f}" '
                   'fill="#f4d35e" fill-opacity="0.35"><title>Administration</title></rect>')
    for panel in (top, bottom):
        out.append(f'<rect x="{LEFT}" y="{panel.top}" width="{plot_w}" height="{panel.height}" fill="none" stroke="#d5dbe1"/>')
        step = 20
        tick = panel.low
        while tick <= panel.high:
            y = panel.y(tick)
            out.append(f'<line x1="{LEFT}" y1="{y:.1f}" x2="{LEFT + plot_w}" y2="{y:.1f}" stroke="#eef2f6"/>')
            out.append(f'<text x="{LEFT - 4}" y="{y + 3:.1f}" text-anchor="end" fill="#52606d">{tick:g}</text>')
            tick += step
        for rule in alarm_rules:
            if rule.measure.value not in panel.measures:
                continue
            y = panel.y(rule.threshold)
            colour = COLOURS[rule.measure.value]
            out.append(f'<line x1="{LEFT}" y1="{y:.1f}" x2="{LEFT + plot_w}" y2="{y:.1f}" stroke="{colour}" '
                       f'stroke-dasharray="4 3" stroke-opacity="0.7"><title>Alarm: {escape(rule.measure.value)} '
                       f'{escape(rule.comparison.value)} {rule.threshold}</title></line>')
        for measure in panel.measures:
            series = [(p.minute, p.values.get(measure)) for p in points if p.values.get(measure) is not None]
            if not series:
                continue
            colour = COLOURS[measure]
            if len(series) > 1:
                path = " ".join(f"{x(m):.1f},{panel.y(v):.1f}" for m, v in series)  # type: ignore[arg-type]
                out.append(f'<polyline points="{path}" fill="none" stroke="{colour}" stroke-width="2"/>')
            for m, v in series:
                out.append(f'<circle cx="{x(m):.1f}" cy="{panel.y(v):.1f}" r="3" fill="{colour}">'  # type: ignore[arg-type]
                           f'<title>{LABELS[measure]} {v} at {m:+.0f} min</title></circle>')
    # x axis: every 15 minutes
    axis_y = bottom.top + bottom.height
    minute = (int(x_low) // 15) * 15
    while minute <= x_high:
        if minute >= x_low:
            out.append(f'<text x="{x(minute):.1f}" y="{axis_y + 13}" text-anchor="middle" fill="#52606d">{minute}</text>')
        minute += 15
    out.append(f'<text x="{LEFT + plot_w / 2:.0f}" y="{axis_y + 26}" text-anchor="middle" fill="#52606d">'
               "minutes from the start of the dose</text>")
    legend_x = LEFT + 6
    for measure, label in LABELS.items():
        out.append(f'<rect x="{legend_x}" y="3" width="10" height="4" fill="{COLOURS[measure]}"/>'
                   f'<text x="{legend_x + 13}" y="9" fill="#1b2430">{label}</text>')
        legend_x += 13 + 7 * len(label) + 14
    if dose_start is not None:
        out.append(f'<rect x="{legend_x}" y="1" width="10" height="8" fill="#f4d35e" fill-opacity="0.6"/>'
                   f'<text x="{legend_x + 13}" y="9" fill="#1b2430">administration</text>')
        legend_x += 13 + 7 * 14 + 14
    out.append(f'<line x1="{legend_x}" y1="5" x2="{legend_x + 14}" y2="5" stroke="#52606d" stroke-dasharray="4 3"/>'
               f'<text x="{legend_x + 17}" y="9" fill="#1b2430">alarm threshold</text>')
    out.append("</svg>")
    return "".join(out)


def session_vitals_svg(view: SessionView) -> str:
    """The chart of one session view (``selectors.SessionView``)."""
    protocol = view.protocol
    readings = [
        (v.taken_at, {m.value: getattr(v, m.value) for m in Measure}) for v in view.vitals
    ]
    return vitals_svg(
        readings, dose_start=view.session.administration_started_at, dose_end=view.session.administration_ended_at,
        alarm_rules=protocol.alarm_rules if protocol else (),
        title=f"Vitals of the session of {view.patient.display_name}",
    )
