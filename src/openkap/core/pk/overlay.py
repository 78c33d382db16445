"""A finished session on one time axis: predicted curve, observed vitals, dissociation.

Pure: the caller passes the simulation and the observations (minutes from the
start of dosing). Uses matplotlib's object API with the Agg canvas, never
pyplot, so it keeps no global figure state and is safe in a web worker.
"""

from __future__ import annotations

import io
import math
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import numpy as np

from openkap.core.pk.chart import _title as chart_title
from openkap.core.pk.simulation import DISCLAIMER, SimulationResult

# matplotlib is imported where a chart is drawn (see chart.py).

if TYPE_CHECKING:
    from matplotlib.axes import Axes

Format = Literal["png", "svg"]

# Okabe & Ito (2008) colours, distinguishable with the common colour-vision
# deficiencies; every series also has its own marker or line style for grey prints.
OKABE_ITO = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000")
_FOOTER_LINE_IN = 0.135  # one 7-pt line of footer text, in inches
_PLOT_IN = 6.4


@dataclass(frozen=True)
class VitalsReading:
    """One set of vitals; minute is counted from the start of dosing (negative: before)."""

    minute: float
    systolic: float | None = None
    diastolic: float | None = None
    heart_rate: float | None = None


@dataclass(frozen=True)
class DissociationScore:
    """A dissociation rating (CADSS total) and when it was taken."""

    minute: float
    score: float


def render_overlay(
    result: SimulationResult,
    vitals: Sequence[VitalsReading] = (),
    dissociation: Sequence[DissociationScore] = (),
    fmt: Format = "svg",
) -> bytes:
    """Predicted concentration (median and 5th-95th band) above the observed vitals.

    Both panels share one axis in minutes from the start of dosing; dissociation
    ratings are vertical lines through both, labelled with their score. The
    footer states the model, its source and that the curve is a prediction.
    """
    import matplotlib
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.layout_engine import ConstrainedLayoutEngine
    for reading in vitals:
        _check_minute(reading.minute)
    for rating in dissociation:
        _check_minute(rating.minute)
    footer = [
        wrapped
        for line in (
            f"Model: {result.model}.",
            f"Source: {result.source}.",
            f"Prediction: {result.prediction}. {DISCLAIMER}",
            "Vitals and dissociation scores are the observations recorded in this session; "
            "the curve is predicted for the dose given, not measured.",
        )
        for wrapped in textwrap.wrap(line, 150)
    ]
    height_in = _PLOT_IN + _FOOTER_LINE_IN * (len(footer) + 1)
    layout = ConstrainedLayoutEngine(
        rect=(0.0, 1.0 - _PLOT_IN / height_in, 1.0, _PLOT_IN / height_in)
    )
    fig = Figure(figsize=(9.0, height_in), dpi=110, layout=layout)
    FigureCanvasAgg(fig)
    conc_ax, vitals_ax = fig.subplots(2, 1, sharex=True, height_ratios=(3, 2))

    minutes = result.times_min
    observed = [r.minute for r in vitals] + [d.minute for d in dissociation]
    left = min([0.0, *observed])
    right = max([float(minutes[-1]), *observed])
    pad = 0.02 * (right - left)
    conc_ax.set_xlim(left - pad, right + pad)

    colour = OKABE_ITO[0]
    population = result.n_patients is not None
    name = result.parent.name
    conc_ax.plot(
        minutes,
        result.median,
        "-",
        color=colour,
        linewidth=2,
        label=f"predicted {name}, {'median' if population else 'typical individual'}",
    )
    if result.p5 is not None and result.p95 is not None:
        conc_ax.fill_between(
            minutes,
            result.p5,
            result.p95,
            color=colour,
            alpha=0.18,
            linewidth=0,
            label="predicted 5th-95th percentile",
        )
    conc_ax.set_ylim(bottom=0.0)
    conc_ax.set_ylabel("Plasma concentration (ng/mL)")
    conc_ax.set_title(_title(result), fontsize=11)

    _plot_vitals(vitals_ax, vitals)
    for ax in (conc_ax, vitals_ax):
        ax.grid(True, alpha=0.3)
        for when, _mg in result.doses:
            ax.axvline(when, color="#444444", linewidth=1.0)
        for rating in dissociation:
            ax.axvline(rating.minute, color=OKABE_ITO[3], linestyle="--", linewidth=1.2)
    # Labels low in the panel, clear of the legend in the upper right.
    for rating in dissociation:
        conc_ax.text(
            rating.minute,
            0.03,
            f"CADSS {rating.score:g}",
            transform=conc_ax.get_xaxis_transform(),
            rotation=90,
            va="bottom",
            ha="right",
            fontsize=8,
            color="#6b2d5c",
            bbox={"boxstyle": "round,pad=0.15", "facecolor": "white", "alpha": 0.8, "linewidth": 0},
        )
    if dissociation:
        conc_ax.plot([], [], "--", color=OKABE_ITO[3], label="dissociation (CADSS) rated")
    conc_ax.plot([], [], "-", color="#444444", label="dose given")
    conc_ax.legend(loc="upper right", fontsize=8, frameon=True)
    vitals_ax.set_xlabel("Minutes from the start of dosing")
    fig.text(0.01, 0.01, "\n".join(footer), ha="left", va="bottom", fontsize=7, color="#333333")
    buffer = io.BytesIO()
    # Keep SVG text as text: searchable and read by screen readers.
    with matplotlib.rc_context({"svg.fonttype": "none"}):
        fig.savefig(buffer, format=fmt)
    return buffer.getvalue()


def _plot_vitals(ax: Axes, vitals: Sequence[VitalsReading]) -> None:
    ordered = sorted(vitals, key=lambda r: r.minute)
    series = (
        ("systolic", "systolic BP (mmHg)", OKABE_ITO[1], "^", "-"),
        ("diastolic", "diastolic BP (mmHg)", OKABE_ITO[2], "v", "-"),
        ("heart_rate", "heart rate (/min)", OKABE_ITO[6], "o", ":"),
    )
    drawn = False
    for attr, label, colour, marker, style in series:
        points = [(r.minute, getattr(r, attr)) for r in ordered if getattr(r, attr) is not None]
        if not points:
            continue
        x, y = np.array(points, dtype=float).T
        ax.plot(x, y, style, marker=marker, color=colour, linewidth=1.4, markersize=5, label=label)
        drawn = True
    ax.set_ylabel("mmHg / beats per min")
    if drawn:
        ax.legend(loc="upper right", fontsize=8, frameon=True, ncols=3)
    else:
        ax.text(
            0.5,
            0.5,
            "No vitals recorded",
            transform=ax.transAxes,
            ha="center",
            va="center",
            color="#52606d",
        )
        ax.set_yticks([])


def _check_minute(minute: float) -> None:
    if isinstance(minute, bool) or not isinstance(minute, int | float) or not math.isfinite(minute):
        raise ValueError("observation times must be finite numbers of minutes")


def _title(result: SimulationResult) -> str:
    # Same first line as the single-curve chart: route, doses, administration, weight.
    route_and_dose = chart_title(result).splitlines()[0]
    return route_and_dose + "\npredicted plasma concentration and observed vitals"
