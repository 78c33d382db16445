"""Scheduling arithmetic with no Django: the dosing window and the protocol behind it.

The services fill these in from the database; everything here is a plain
function of its arguments.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from openkap.core.protocols import Protocol, example_ids, load_example
from openkap.core.routes import Route

# Check-in, the pre-dose checklist and vitals before the first dose.
PRE_DOSE_MINUTES = 30



@cache
def route_examples() -> dict[Route, Protocol]:
    """The shipped example protocol of each route: it stands in when the plan names
    no protocol the library knows."""
    return {p.route: p for p in (load_example(pid) for pid in example_ids())}


@dataclass(frozen=True)
class DosingWindow:
    """How long the room and the monitoring clinician are needed for one session."""

    protocol_id: str
    protocol_title: str
    pre_dose_minutes: int
    administration_minutes: int
    monitoring_minutes: int

    @property
    def total_minutes(self) -> int:
        return self.pre_dose_minutes + self.administration_minutes + self.monitoring_minutes

    def explain(self) -> str:
        parts = [f"{self.pre_dose_minutes} min check-in and pre-dose checks"]
        if self.administration_minutes:
            parts.append(f"{self.administration_minutes} min administration")
        parts.append(f"{self.monitoring_minutes} min monitoring")
        return f"{' + '.join(parts)} ({self.protocol_title})"


def dosing_window(protocol: Protocol) -> DosingWindow:
    # Monitoring is counted from the end of administration (protocol schema), so an
    # infusion's own minutes come on top.
    return DosingWindow(
        protocol_id=protocol.id,
        protocol_title=protocol.title,
        pre_dose_minutes=PRE_DOSE_MINUTES,
        administration_minutes=protocol.infusion_minutes or 0,
        monitoring_minutes=protocol.min_monitoring_minutes,
    )


def protocol_for_plan(protocol_id: str, route: Route | None) -> Protocol | None:
    """The plan's protocol when the library has it, else the route's example protocol;
    None when the plan names neither (the booking guard refuses such a plan anyway)."""
    examples = {p.id: p for p in route_examples().values()}
    if protocol_id in examples:
        return examples[protocol_id]
    if route is not None:
        return route_examples().get(route)
    return None


def longest_example_window() -> DosingWindow:
    """Without a plan, the most demanding example: used only to propose a duration."""
    windows = [dosing_window(p) for p in route_examples().values()]
    return max(windows, key=lambda w: w.total_minutes)
