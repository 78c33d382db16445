"""Every clinic route has a simulator route; anything else is refused."""

from __future__ import annotations

import pytest

from openkap.core.pk import PK_ROUTE_OF, ROUTES, pk_route, simulate
from openkap.core.routes import Route


def test_every_protocol_route_maps_to_a_distinct_simulator_route() -> None:
    assert set(PK_ROUTE_OF) == set(Route)
    assert sorted(PK_ROUTE_OF.values()) == sorted(ROUTES)


@pytest.mark.parametrize(
    ("route", "expected"),
    [
        (Route.IV_INFUSION, "iv"),
        ("intramuscular", "im"),
        (Route.INTRANASAL_ESKETAMINE, "in-esketamine"),
        ("intranasal_racemic", "in-racemic"),
        (Route.SUBLINGUAL, "sublingual"),
        ("oral", "oral"),
    ],
)
def test_pk_route_accepts_the_enum_and_its_value(route: Route | str, expected: str) -> None:
    assert pk_route(route) == expected


@pytest.mark.parametrize("bad", ["im", "", "IV_INFUSION", "rectal"])
def test_pk_route_refuses_what_is_not_a_protocol_route(bad: str) -> None:
    with pytest.raises(ValueError, match="unknown route"):
        pk_route(bad)


def test_mapped_route_simulates() -> None:
    result = simulate(route=pk_route(Route.SUBLINGUAL), dose_mg=100, weight_kg=70, step_s=60)
    assert result.route == "sublingual"
