"""Server-side chart of a simulation (PNG or SVG bytes).

Uses matplotlib's object API with the Agg canvas, never pyplot, so it keeps no
global figure state and is safe to call from a web worker.
"""

from __future__ import annotations

import io
import textwrap
from pathlib import Path
from typing import Literal

from openkap.core.pk.models import ROUTE_LABELS
from openkap.core.pk.params import AGE_EFFECT_FROM_YEARS, INTERACTIONS, age_qh_decrease
from openkap.core.pk.simulation import DISCLAIMER, SimulationResult

# matplotlib is imported where a chart is drawn: it costs ~0.5 s a process, and every
# process's URLconf reaches this module (ADR 0109).

Format = Literal["png", "svg"]
_PARENT_COLOUR = "#1f5fa8"
_METABOLITE_COLOUR = "#b35806"
_FOOTER_LINE_IN = 0.135  # one 7-pt line of footer text, in inches


def render_chart(result: SimulationResult, fmt: Format = "png") -> bytes:
    """The predicted curve with its band, labelled with model, source and disclaimer."""
    import matplotlib
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.layout_engine import ConstrainedLayoutEngine
    footer = [
        wrapped
        for line in (
            f"Model: {result.model}.",
            f"Source: {result.source}.",
            f"Prediction: {result.prediction}. {DISCLAIMER}",
        )
        for wrapped in textwrap.wrap(line, 150)
    ]
    height_in = 5.2 + _FOOTER_LINE_IN * (len(footer) + 1)
    # Keep the footer's share of the figure free of axes.
    layout = ConstrainedLayoutEngine(rect=(0.0, 1.0 - 5.2 / height_in, 1.0, 5.2 / height_in))
    fig = Figure(figsize=(9.0, height_in), dpi=110, layout=layout)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    hours = result.times_min / 60.0
    population = result.n_patients is not None
    colours = [_PARENT_COLOUR, _METABOLITE_COLOUR]
    for analyte, colour in zip(result.analytes, colours, strict=False):
        label = f"{analyte.name}, median" if population else f"{analyte.name}, typical individual"
        style = "-" if analyte is result.parent else "--"
        ax.plot(hours, analyte.median, style, color=colour, linewidth=2, label=label)
        if analyte.p5 is not None and analyte.p95 is not None:
            ax.fill_between(
                hours,
                analyte.p5,
                analyte.p95,
                color=colour,
                alpha=0.18,
                linewidth=0,
                label=f"{analyte.name}, 5th-95th percentile",
            )
    if result.threshold_ng_ml is not None:
        ax.axhline(
            result.threshold_ng_ml,
            color="#555555",
            linestyle=":",
            linewidth=1,
            label=f"threshold {result.threshold_ng_ml:g} ng/mL",
        )
    for when, _mg in result.doses:
        ax.axvline(when / 60.0, color="#888888", linewidth=0.8, alpha=0.6)
    ax.set_xlim(0.0, float(hours[-1]))
    ax.set_ylim(bottom=0.0)
    ax.set_xlabel("Time after first dose (h)")
    ax.set_ylabel("Plasma concentration (ng/mL)")
    ax.grid(True, alpha=0.3)
    ax.legend(loc="upper right", fontsize=8, frameon=True)
    ax.set_title(_title(result), fontsize=11)
    summary = (
        f"{result.parent.name}{' (median of individuals)' if population else ''}: "
        f"Cmax {result.cmax_ng_ml:.1f} ng/mL, Tmax {result.tmax_min:.0f} min, "
        f"AUC 0-{hours[-1]:g} h {result.auc_ng_h_ml:.0f} ng·h/mL"
    )
    ax.text(
        0.99,
        0.02,
        summary,
        transform=ax.transAxes,
        ha="right",
        va="bottom",
        fontsize=8,
        bbox={"boxstyle": "round", "facecolor": "white", "alpha": 0.8, "linewidth": 0},
    )
    fig.text(0.01, 0.01, "\n".join(footer), ha="left", va="bottom", fontsize=7, color="#333333")
    buffer = io.BytesIO()
    # Keep SVG text as text: searchable and read by screen readers.
    with matplotlib.rc_context({"svg.fonttype": "none"}):
        fig.savefig(buffer, format=fmt)
    return buffer.getvalue()


def save_chart(result: SimulationResult, path: str | Path) -> None:
    """Write the chart; the format follows the suffix (.png or .svg)."""
    target = Path(path)
    suffix = target.suffix.lower()
    if suffix not in (".png", ".svg"):
        raise ValueError("chart file must end in .png or .svg")
    fmt: Format = "png" if suffix == ".png" else "svg"
    target.write_bytes(render_chart(result, fmt))


def _title(result: SimulationResult) -> str:
    doses = " + ".join(
        f"{mg:g} mg" + (f" at {when:g} min" if when else "") for when, mg in result.doses
    )
    parts = [f"{ROUTE_LABELS[result.route]}: {doses}"]
    if result.administration:
        parts[0] += f" ({result.administration})"
    if result.weight_kg is not None:
        parts.append(f"{result.weight_kg:g} kg")
    if result.interaction is not None:
        # A covariate that changes the curve is named where it is read first.
        parts.append(f"with {INTERACTIONS[result.interaction].label}")
    if result.age_years is not None and result.age_years > AGE_EFFECT_FROM_YEARS:
        parts.append(
            f"age {result.age_years:g} (hepatic blood flow "
            f"-{age_qh_decrease(result.age_years):.0f} L/h)"
        )
    return "\n".join([*title_lines(parts), "predicted plasma concentration"])


def title_lines(parts: list[str], width: int = 100) -> list[str]:
    """Parts joined by commas, a new line before a part that would pass `width`: a
    sublingual dose with an interaction and an age runs past the figure, and a named
    covariate is never split."""
    lines = [parts[0]]
    for part in parts[1:]:
        if len(lines[-1]) + 2 + len(part) > width:
            lines[-1] += ","
            lines.append(part)
        else:
            lines[-1] += ", " + part
    return lines
