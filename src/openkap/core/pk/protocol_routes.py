"""From the clinic's route (protocols, plans, sessions) to the simulator's route."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from openkap.core.pk.models import Route as PkRoute
from openkap.core.routes import Route

PK_ROUTE_OF: Mapping[Route, PkRoute] = MappingProxyType(
    {
        Route.IV_INFUSION: "iv",
        Route.INTRAMUSCULAR: "im",
        Route.INTRANASAL_ESKETAMINE: "in-esketamine",
        Route.INTRANASAL_RACEMIC: "in-racemic",
        Route.SUBLINGUAL: "sublingual",
        Route.ORAL: "oral",
    }
)


def pk_route(route: Route | str) -> PkRoute:
    """The simulator's route for a protocol route (enum or its value).

    Raises ValueError for anything that is not a protocol route.
    """
    try:
        return PK_ROUTE_OF[Route(route)]
    except ValueError:
        choices = ", ".join(r.value for r in Route)
        raise ValueError(f"unknown route {route!r}; choose one of: {choices}") from None
