"""The dose lines a protocol gives for a few sample patients, shown in the protocol
editor before anything is saved: the same ``order_dose`` a session runs, for a first
session at the default dose, as if the protocol were approved."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Final

from openkap.core.dosing.order import order_dose
from openkap.core.dosing.results import DoseRefusal, Height, Weight
from openkap.core.protocols.schema import Protocol

# Light, typical and heavy adults; ideal and adjusted weights need a height and a sex.
SAMPLE_KG: Final = (Decimal(50), Decimal(70), Decimal(120))
SAMPLE_HEIGHT_CM: Final = Decimal(170)
SAMPLE_SEX: Final = "female"


@dataclass(frozen=True)
class SamplePatient:
    label: str
    lines: tuple[str, ...]
    dose_mg: Decimal | None  # None when the order is refused
    problems: tuple[str, ...]  # hard stops and soft limits, in words


def sample_weights(protocol: Protocol) -> tuple[Decimal, ...]:
    """The samples, plus the protocol's own minimum weight (its lightest patient)."""
    weights = set(SAMPLE_KG)
    if protocol.min_weight_kg is not None:
        weights.add(protocol.min_weight_kg)
    return tuple(sorted(weights))


def dose_preview(protocol: Protocol, *, today: date) -> list[SamplePatient]:
    """The default first-session order for each sample weight."""
    needs_height = protocol.dosing_weight.value != "total"
    samples = []
    for kg in sample_weights(protocol):
        result = order_dose(
            protocol=protocol, protocol_approved=True, weight=Weight(kg, today), previous_weight_kg=None,
            session_date=today, last_session_date=None,
            height=Height(SAMPLE_HEIGHT_CM, today) if needs_height else None,
            sex=SAMPLE_SEX if needs_height else None,
        )
        label = f"{format(kg.normalize(), 'f')} kg" + (
            f", {SAMPLE_HEIGHT_CM} cm, {SAMPLE_SEX}" if needs_height else ""
        )
        if isinstance(result, DoseRefusal):
            problems = tuple(s.message for s in result.stops) + tuple(s.message for s in result.soft_limits)
            samples.append(SamplePatient(label, result.lines, None, problems))
        else:
            samples.append(SamplePatient(label, result.lines, result.dose_mg, ()))
    return samples
