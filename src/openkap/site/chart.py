"""The routes compared on the public site: each route at its usual first dose for a
70-kg adult, as predicted by the PK simulator for a population of virtual patients.

The doses come from the pharmacokinetics app (the example protocols' dose arithmetic),
the curves from openkap.core.pk through the same cached comparison the staff page uses;
the SVG is drawn here, in the visitor's language, so that it needs no JavaScript and
reads well on a phone."""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache
from html import escape

import numpy as np
from django.utils.functional import Promise
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from openkap.pharmacokinetics import predictions

WEIGHT_KG = Decimal(70)
HOURS = 6
ROUTE_NAMES: dict[str, Promise] = {
    "iv": gettext_lazy("IV infusion"),
    "im": gettext_lazy("IM injection"),
    "in-esketamine": gettext_lazy("Esketamine nasal spray"),
    "in-racemic": gettext_lazy("Ketamine nasal spray"),
    "sublingual": gettext_lazy("Under the tongue (lozenge)"),
    "oral": gettext_lazy("Swallowed (oral)"),
}
# Okabe-Ito colours (told apart with colour-blindness) and a dash pattern each, so a
# line is never told by its colour alone.
STYLES = {
    "iv": ("#0072B2", ""), "im": ("#D55E00", "8 4"), "in-esketamine": ("#007A5A", "2 3"),
    "in-racemic": ("#AA4499", "10 3 2 3"), "sublingual": ("#8A5A00", "4 2"), "oral": ("#444444", "1 2"),
}
# A wide drawing for screens and a tall one for phones (CSS shows one): the same
# data, with text that stays readable at each size.
SIZES = {"wide": (720, 380, 13), "narrow": (360, 400, 12)}
LEFT, RIGHT, TOP, BOTTOM = 64, 16, 16, 52
POINTS = 121


@dataclass(frozen=True)
class RouteLine:
    route: str
    name: str
    dose_mg: float
    cmax_ng_ml: float
    tmax_min: float
    colour: str
    dash: str


@dataclass(frozen=True)
class RouteChart:
    svg: str  # the wide drawing
    svg_narrow: str
    lines: tuple[RouteLine, ...]
    population: int
    weight_kg: Decimal
    sources: tuple[str, ...]


@lru_cache(maxsize=1)
def _comparison() -> predictions.Comparison:
    doses = predictions.usual_doses(WEIGHT_KG)
    return predictions.compare_routes(
        routes=list(doses), dose_mg=None, weight_kg=WEIGHT_KG, hours=HOURS,
        doses_mg={route: dose.dose_mg for route, dose in doses.items()},
    )


def _nice_ceiling(value: float) -> float:
    magnitude = 10 ** math.floor(math.log10(value))
    return next(step * magnitude for step in (1, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10) if step * magnitude >= value)


def _path(xs: np.ndarray, ys: np.ndarray) -> str:
    return " ".join(f"{'M' if i == 0 else 'L'}{x:.1f},{y:.1f}" for i, (x, y) in enumerate(zip(xs, ys, strict=True)))


def _svg(results: tuple, lines: list[RouteLine], size: str, top: float, title: str, desc: str) -> str:
    width, height, font = SIZES[size]
    plot_w, plot_h = width - LEFT - RIGHT, height - TOP - BOTTOM

    def sx(minutes: np.ndarray) -> np.ndarray:
        return LEFT + minutes / (HOURS * 60) * plot_w

    def sy(conc: np.ndarray) -> np.ndarray:
        return TOP + plot_h - np.minimum(conc, top) / top * plot_h

    bands, curves = [], []
    for result, line in zip(results, lines, strict=True):
        idx = np.linspace(0, len(result.times_min) - 1, POINTS).round().astype(int)
        t = result.times_min[idx]
        if result.p5 is not None and result.p95 is not None:
            upper = _path(sx(t), sy(result.p95[idx]))
            lower = _path(sx(t[::-1]), sy(result.p5[idx][::-1])).replace("M", "L", 1)
            bands.append(f'<path d="{upper} {lower} Z" fill="{line.colour}" fill-opacity="0.10" stroke="none"/>')
        dash_attr = f' stroke-dasharray="{line.dash}"' if line.dash else ""
        curves.append(f'<path d="{_path(sx(t), sy(result.median[idx]))}" fill="none" stroke="{line.colour}" '
                      f'stroke-width="2.5"{dash_attr}/>')
    x_label = escape(_("Hours after the dose starts"))
    y_label = escape(_("Ketamine or esketamine in the blood (ng/mL)"))
    grid, ticks = [], []
    for k in range(5):
        y = TOP + plot_h - plot_h * k / 4
        grid.append(f'<line x1="{LEFT}" x2="{width - RIGHT}" y1="{y:.1f}" y2="{y:.1f}" stroke="#d0d4da"/>')
        ticks.append(f'<text x="{LEFT - 8}" y="{y + 4:.1f}" text-anchor="end">{top * k / 4:g}</text>')
    for hour in range(HOURS + 1):
        x = LEFT + plot_w * hour / HOURS
        ticks.append(f'<text x="{x:.1f}" y="{TOP + plot_h + 18}" text-anchor="middle">{hour}</text>')
    ids = f"route-chart-{size}"
    return (
        f'<svg class="route-chart {size}" viewBox="0 0 {width} {height}" role="img" '
        f'aria-labelledby="{ids}-title {ids}-desc" xmlns="http://www.w3.org/2000/svg" '
        f'font-family="system-ui, sans-serif" font-size="{font}" fill="#222">'
        f'<title id="{ids}-title">{escape(title)}</title><desc id="{ids}-desc">{escape(desc)}</desc>'
        + "".join(grid) + "".join(bands) + "".join(curves) + "".join(ticks)
        + f'<line x1="{LEFT}" x2="{width - RIGHT}" y1="{TOP + plot_h}" y2="{TOP + plot_h}" stroke="#222"/>'
        + f'<line x1="{LEFT}" x2="{LEFT}" y1="{TOP}" y2="{TOP + plot_h}" stroke="#222"/>'
        + f'<text x="{LEFT + plot_w / 2:.1f}" y="{height - 10}" text-anchor="middle">{x_label}</text>'
        + f'<text transform="translate(16 {TOP + plot_h / 2:.1f}) rotate(-90)" text-anchor="middle">'
        f'{y_label}</text></svg>'
    )


def route_chart() -> RouteChart:
    """The chart and its numbers in the active language."""
    results = _comparison().results
    # The medians set the scale; a band reaching above it is cut at the top.
    top = _nice_ceiling(1.2 * max(float(np.max(r.median)) for r in results))
    lines = [
        RouteLine(r.route, str(ROUTE_NAMES[r.route]), r.dose_mg, r.cmax_ng_ml, r.tmax_min, *STYLES[r.route])
        for r in results
    ]
    title = _("Predicted ketamine blood levels after each route's usual first dose")
    desc = "; ".join(
        _("%(route)s %(dose)s mg: highest median level %(cmax)s ng/mL at %(tmax)s minutes") % {
            "route": line.name, "dose": f"{line.dose_mg:g}", "cmax": f"{line.cmax_ng_ml:.0f}",
            "tmax": f"{line.tmax_min:.0f}"}
        for line in lines
    )
    sources = tuple(dict.fromkeys(f"{r.model}. {r.source}" for r in results))
    return RouteChart(_svg(results, lines, "wide", top, title, desc), _svg(results, lines, "narrow", top, title, desc),
                      tuple(lines), results[0].n_patients or 1, WEIGHT_KG, sources)
