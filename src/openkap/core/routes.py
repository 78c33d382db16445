"""Routes of ketamine administration: one list for protocols, the pathway and scheduling."""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from types import MappingProxyType


class Route(StrEnum):
    IV_INFUSION = "iv_infusion"
    INTRAMUSCULAR = "intramuscular"
    INTRANASAL_ESKETAMINE = "intranasal_esketamine"
    INTRANASAL_RACEMIC = "intranasal_racemic"
    SUBLINGUAL = "sublingual"  # sublingual / buccal lozenge, troche or rapid-dissolve tablet
    ORAL = "oral"

    @property
    def label(self) -> str:
        return ROUTE_LABELS[self]


ROUTE_LABELS: Mapping[Route, str] = MappingProxyType(
    {
        Route.IV_INFUSION: "Intravenous infusion (racemic ketamine)",
        Route.INTRAMUSCULAR: "Intramuscular injection (racemic ketamine)",
        Route.INTRANASAL_ESKETAMINE: "Intranasal esketamine (Spravato)",
        Route.INTRANASAL_RACEMIC: "Intranasal racemic ketamine",
        Route.SUBLINGUAL: "Sublingual lozenge or troche (racemic ketamine)",
        Route.ORAL: "Oral (racemic ketamine, swallowed)",
    }
)


def administration_mode(route: Route) -> str:
    """How a dose by this route is given and charted: an infusion (start, rate changes,
    pauses, stop), esketamine devices (one event each), or a single administration."""
    if route is Route.IV_INFUSION:
        return "infusion"
    if route is Route.INTRANASAL_ESKETAMINE:
        return "devices"
    return "single"
