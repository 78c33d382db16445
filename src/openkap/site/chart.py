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
W, H = 720, 380
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
    svg: str
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
    return next(step * magnitude for step in (1, 2, 2.5, 5, 10) if step * magnitude >= value)


def _path(xs: np.ndarray, ys: np.ndarray) -> str:
    return " ".join(f"{'M' if i == 0 else 'L'}{x:.1f},{y:.1f}" for i, (x, y) in enumerate(zip(xs, ys, strict=True)))


def route_chart() -> RouteChart:
    """The chart and its numbers in the active language."""
    comparison = _comparison()
    results = comparison.results
    top = _nice_ceiling(max(float(np.max(r.p95 if r.p95 is not None else r.median)) for r in results))
    plot_w, plot_h = W - LEFT - RIGHT, H - TOP - BOTTOM

    def sx(minutes: np.ndarray) -> np.ndarray:
        return LEFT + minutes / (HOURS * 60) * plot_w

    def sy(conc: np.ndarray) -> np.ndarray:
        return TOP + plot_h - np.minimum(conc, top) / top * plot_h

    title = _("Predicted ketamine blood levels after each route's usual first dose")
    lines, bands, curves = [], [], []
    for result in results:
        colour, dash = STYLES[result.route]
        line = RouteLine(result.route, str(ROUTE_NAMES[result.route]), result.dose_mg,
                         result.cmax_ng_ml, result.tmax_min, colour, dash)
        lines.append(line)
        idx = np.linspace(0, len(result.times_min) - 1, POINTS).round().astype(int)
        t = result.times_min[idx]
        if result.p5 is not None and result.p95 is not None:
            upper = _path(sx(t), sy(result.p95[idx]))
            lower = _path(sx(t[::-1]), sy(result.p5[idx][::-1])).replace("M", "L", 1)
            bands.append(f'<path d="{upper} {lower} Z" fill="{colour}" fill-opacity="0.12" stroke="none"/>')
        dash_attr = f' stroke-dasharray="{dash}"' if dash else ""
        curves.append(f'<path d="{_path(sx(t), sy(result.median[idx]))}" fill="none" stroke="{colour}" '
                      f'stroke-width="2.5"{dash_attr}/>')
    desc = "; ".join(
        _("%(route)s %(dose)s mg: highest median level %(cmax)s ng/mL at %(tmax)s minutes") % {
            "route": line.name, "dose": f"{line.dose_mg:g}", "cmax": f"{line.cmax_ng_ml:.0f}",
            "tmax": f"{line.tmax_min:.0f}"}
        for line in lines
    )
    x_label = escape(_("Hours after the dose starts"))
    y_label = escape(_("Ketamine or esketamine in the blood (ng/mL)"))
    grid, ticks = [], []
    for k in range(5):
        value = top * k / 4
        y = TOP + plot_h - plot_h * k / 4
        grid.append(f'<line x1="{LEFT}" x2="{W - RIGHT}" y1="{y:.1f}" y2="{y:.1f}" stroke="#d0d4da"/>')
        ticks.append(f'<text x="{LEFT - 8}" y="{y + 4:.1f}" text-anchor="end">{value:g}</text>')
    for hour in range(HOURS + 1):
        x = LEFT + plot_w * hour / HOURS
        ticks.append(f'<text x="{x:.1f}" y="{TOP + plot_h + 18}" text-anchor="middle">{hour}</text>')
    svg = (
        f'<svg class="route-chart" viewBox="0 0 {W} {H}" role="img" aria-labelledby="route-chart-title route-chart-desc" '
        f'xmlns="http://www.w3.org/2000/svg" font-family="system-ui, sans-serif" font-size="13" fill="#222">'
        f'<title id="route-chart-title">{escape(title)}</title><desc id="route-chart-desc">{escape(desc)}</desc>'
        + "".join(grid) + "".join(bands) + "".join(curves) + "".join(ticks)
        + f'<line x1="{LEFT}" x2="{W - RIGHT}" y1="{TOP + plot_h}" y2="{TOP + plot_h}" stroke="#222"/>'
        + f'<line x1="{LEFT}" x2="{LEFT}" y1="{TOP}" y2="{TOP + plot_h}" stroke="#222"/>'
        + f'<text x="{LEFT + plot_w / 2:.1f}" y="{H - 10}" text-anchor="middle">{x_label}</text>'
        + f'<text transform="translate(16 {TOP + plot_h / 2:.1f}) rotate(-90)" text-anchor="middle">'
        f'{y_label}</text></svg>'
    )
    sources = tuple(dict.fromkeys(f"{r.model}. {r.source}" for r in results))
    return RouteChart(svg, tuple(lines), results[0].n_patients or 1, WEIGHT_KG, sources)
