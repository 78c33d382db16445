"""Routes compared on one chart: each route's median and 5th-95th percentile band.

matplotlib's object API with the Agg canvas (no pyplot, no global state), as in
openkap.core.pk.chart. Colour-blind-safe colours (Okabe-Ito) and, for grey
prints, a different line style per route and the route's name at its peak;
each route keeps its colour and style on every chart.
"""

from __future__ import annotations

import html
import io
import textwrap
from collections.abc import Sequence

from openkap.core.pk import DISCLAIMER, SimulationResult
from openkap.core.pk.chart import title_lines
from openkap.core.pk.overlay import OKABE_ITO
from openkap.core.pk.params import INTERACTIONS
from openkap.pharmacokinetics.explain import SHORT_LABELS

# matplotlib is imported where a chart is drawn (see core/pk/chart.py).

# One colour and line style per route, the same on every chart.
ROUTE_STYLES: dict[str, tuple[str, str | tuple[int, tuple[int, ...]]]] = {
    "iv": (OKABE_ITO[6], "-."),
    "im": (OKABE_ITO[0], "-"),
    "in-racemic": (OKABE_ITO[2], (0, (5, 1, 1, 1, 1, 1))),
    "in-esketamine": (OKABE_ITO[3], (0, (8, 2))),
    "sublingual": (OKABE_ITO[1], "--"),
    "oral": (OKABE_ITO[4], ":"),
}
_FOOTER_LINE_IN = 0.155  # one 8-pt line of footer text, in inches
_PLOT_IN = 5.4


def render_comparison(results: Sequence[SimulationResult]) -> bytes:
    """SVG of several routes at the same dose; footer with models, sources, disclaimer."""
    import matplotlib
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.layout_engine import ConstrainedLayoutEngine
    from matplotlib.legend_handler import HandlerTuple
    from matplotlib.patches import Patch
    from matplotlib.ticker import MultipleLocator
    if not results:
        raise ValueError("nothing to draw: no simulation results")
    models = "; ".join(f"{SHORT_LABELS[r.route]}: {r.model}" for r in results)
    sources = "; ".join(
        dict.fromkeys(c for r in results for c in r.source.split("; "))
    )
    footer = [
        wrapped
        for line in (
            f"Models: {models}.",
            f"Sources: {sources}.",
            f"Prediction: {results[0].prediction} per route. {DISCLAIMER}",
        )
        for wrapped in textwrap.wrap(line, 135)
    ]
    height_in = _PLOT_IN + _FOOTER_LINE_IN * (len(footer) + 1)
    layout = ConstrainedLayoutEngine(
        rect=(0.0, 1.0 - _PLOT_IN / height_in, 1.0, _PLOT_IN / height_in)
    )
    fig = Figure(figsize=(9.0, height_in), dpi=110, layout=layout)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    handles, labels = [], []
    for result in results:
        colour, style = ROUTE_STYLES[result.route]
        hours = result.times_min / 60.0
        band = None
        if result.p5 is not None and result.p95 is not None:
            ax.fill_between(hours, result.p5, result.p95, color=colour, alpha=0.14, linewidth=0)
            band = Patch(facecolor=colour, alpha=0.14)
        (line,) = ax.plot(hours, result.median, linestyle=style, color=colour, linewidth=2.2)
        handles.append((band, line) if band is not None else line)
        labels.append(_legend_label(result))
        peak = int(result.median.argmax())
        ax.annotate(
            SHORT_LABELS[result.route],
            (float(hours[peak]), float(result.median[peak])),
            xytext=(4, 4),
            textcoords="offset points",
            fontsize=8,
            color=colour,
            fontweight="bold",
        )
    ax.set_xlim(0.0, max(float(r.times_min[-1]) for r in results) / 60.0)
    ax.set_ylim(bottom=0.0)
    ax.margins(y=0.08)
    ax.set_xlabel("Time after the dose (h)")
    ax.set_ylabel("Plasma concentration (ng/mL)")
    ax.grid(True, alpha=0.3)
    if ax.get_xlim()[1] <= 8:
        # Quarter hours, so a peak time can be read off the axis.
        ax.xaxis.set_minor_locator(MultipleLocator(0.25))
        ax.grid(True, which="minor", axis="x", alpha=0.12)
    ax.legend(
        handles,
        labels,
        handler_map={tuple: HandlerTuple(ndivide=1)},
        loc="upper right",
        fontsize=8,
        frameon=True,
        title="median (line) and 5th-95th percentile (band)",
        title_fontsize=8,
    )
    ax.set_title(_title(results), fontsize=11)
    fig.text(0.01, 0.01, "\n".join(footer), ha="left", va="bottom", fontsize=8, color="#333333")
    buffer = io.BytesIO()
    # Keep SVG text as text: searchable, printable and read by screen readers.
    with matplotlib.rc_context({"svg.fonttype": "none"}):
        fig.savefig(buffer, format="svg")
    return buffer.getvalue()


def inline_svg(svg: bytes, label: str) -> str:
    """SVG bytes as an element to place in HTML: no XML prolog, an accessible name."""
    text = svg.decode()
    text = text[text.index("<svg") :]
    return text.replace("<svg ", f'<svg role="img" aria-label="{html.escape(label)}" ', 1)


def _legend_label(result: SimulationResult) -> str:
    label = SHORT_LABELS[result.route]
    if result.administration:
        label += f" ({result.administration})"
    return label


def _title(results: Sequence[SimulationResult]) -> str:
    doses = sorted({r.dose_mg for r in results})
    weights = sorted({r.weight_kg for r in results if r.weight_kg is not None})
    parts = ["Same dose, different routes: " + " / ".join(f"{d:g} mg" for d in doses)]
    if weights:
        parts.append(" / ".join(f"{w:g} kg" for w in weights))
    interactions = sorted({r.interaction for r in results if r.interaction is not None})
    if interactions:
        parts.append("with " + " / ".join(INTERACTIONS[i].label for i in interactions))
    ages = sorted({r.age_years for r in results if r.age_years is not None})
    if ages:
        parts.append("age " + " / ".join(f"{a:g}" for a in ages) + " (slower hepatic clearance)")
    return "\n".join([*title_lines(parts), "predicted plasma concentration"])
