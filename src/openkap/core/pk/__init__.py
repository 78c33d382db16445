"""Pharmacokinetic simulator for ketamine and esketamine (pure NumPy/SciPy, no Django).

    from openkap.core.pk import simulate
    from openkap.core.pk.chart import render_chart  # imports matplotlib
    result = simulate(route="im", dose_mg=50, weight_kg=70, population=500, seed=1)
    result.to_dict(); render_chart(result, "svg")

Every result and chart is a population prediction, not a dosing instruction.
See docs/pk.md for the models, their sources and their limits.
"""

from openkap.core.pk.models import ROUTE_LABELS, ROUTES, Route
from openkap.core.pk.protocol_routes import PK_ROUTE_OF, pk_route
from openkap.core.pk.simulation import (
    DISCLAIMER,
    Analyte,
    ParameterUse,
    SimulationResult,
    quantile_bands,
    simulate,
)

__all__ = [
    "DISCLAIMER",
    "PK_ROUTE_OF",
    "ROUTES",
    "ROUTE_LABELS",
    "Analyte",
    "ParameterUse",
    "Route",
    "SimulationResult",
    "pk_route",
    "quantile_bands",
    "simulate",
]
