"""Route-specific limits a protocol is checked against when it is edited and approved
(the OpenKAP reference notes, shared/reference/dosing_pk.md, sections 1.1-1.3).

Two kinds:

- anaesthetic ceilings (Ketalar US label): a protocol whose ceiling reaches an
  anaesthetic induction dose is refused outright; no psychiatric protocol needs it.
- suggested limits (the reference's software defaults and published ranges, clinic
  policy rather than label): above them a protocol may still be approved, but the
  editor and the approver see why, and approval needs the approver to say so.

Both are judged on the *effective* ceiling per kg: the lower of the per-kg maximum and
the mg maximum at the protocol's minimum weight (the lightest patient it may dose), so a
mg-only ceiling cannot hide a large per-kg dose for a small patient.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Final

from openkap.core.protocols.schema import DoseBasis, Protocol
from openkap.core.routes import Route


@dataclass(frozen=True)
class PerKgLimit:
    mg_per_kg: Decimal
    why: str


@dataclass(frozen=True)
class MgLimit:
    mg: Decimal
    why: str


# Ketalar label: IV induction 1-4.5 mg/kg (average 2 mg/kg); IM induction 6.5-13 mg/kg.
ANAESTHETIC_PER_KG: Final[dict[Route, PerKgLimit]] = {
    Route.IV_INFUSION: PerKgLimit(
        Decimal(2), "2 mg/kg IV is the Ketalar label's average anaesthetic induction dose"
    ),
    Route.INTRAMUSCULAR: PerKgLimit(
        Decimal("6.5"), "6.5 mg/kg IM is the lowest anaesthetic induction dose on the Ketalar label"
    ),
}

SUGGESTED_CEILING_PER_KG: Final[dict[Route, PerKgLimit]] = {
    Route.IV_INFUSION: PerKgLimit(
        Decimal("1.0"), "the reference suggests a hard stop above 1.0 mg/kg IV per session (section 1.1)"
    ),
    Route.INTRAMUSCULAR: PerKgLimit(
        Decimal("1.5"), "the reference suggests a hard stop at 1.5 mg/kg IM (section 1.2)"
    ),
    Route.ORAL: PerKgLimit(
        Decimal("7.0"), "oral doses studied reach 7.0 mg/kg (Andrade 2019, reference section 1.3)"
    ),
}

SUGGESTED_USUAL_HIGH_PER_KG: Final[dict[Route, PerKgLimit]] = {
    Route.IV_INFUSION: PerKgLimit(
        Decimal("0.75"),
        "IV practice reaches 0.75 mg/kg (Andrade 2017); the reference warns above it (section 1.1)",
    ),
}

SUGGESTED_CEILING_MG: Final[dict[Route, MgLimit]] = {
    Route.ORAL: MgLimit(Decimal(300), "fixed oral doses studied reach 300 mg (Andrade 2019, section 1.3)"),
    Route.SUBLINGUAL: MgLimit(
        Decimal(400), "the lozenge method's dose range is 100-400 mg (reference section 1.3)"
    ),
}


def effective_max_per_kg(p: Protocol) -> Decimal | None:
    """The highest mg/kg the protocol's ceilings allow at any permitted weight."""
    candidates = []
    if p.absolute_max.mg_per_kg is not None:
        candidates.append(p.absolute_max.mg_per_kg)
    if p.absolute_max.mg is not None and p.min_weight_kg is not None and p.min_weight_kg > 0:
        candidates.append(p.absolute_max.mg / p.min_weight_kg)
    return min(candidates) if candidates else None


def _fmt(value: Decimal) -> str:
    return format(value.quantize(Decimal("0.01")).normalize(), "f")


def anaesthetic_ceiling_errors(p: Protocol) -> list[str]:
    """Refusals: the ceiling reaches an anaesthetic dose for this route."""
    limit = ANAESTHETIC_PER_KG.get(p.route)
    top = effective_max_per_kg(p)
    if limit is None or top is None or top < limit.mg_per_kg:
        return []
    return [
        f"absolute_max: the ceiling allows {_fmt(top)} mg/kg; {limit.why}, so a psychiatric "
        f"protocol must stay below {_fmt(limit.mg_per_kg)} mg/kg"
    ]


def reference_warnings(p: Protocol) -> list[str]:
    """Above the reference's suggested limits: allowed, with the approver's say-so."""
    warnings = []
    top = effective_max_per_kg(p)
    ceiling = SUGGESTED_CEILING_PER_KG.get(p.route)
    if ceiling is not None and top is not None and top > ceiling.mg_per_kg:
        warnings.append(f"absolute_max: allows {_fmt(top)} mg/kg; {ceiling.why}")
    usual = SUGGESTED_USUAL_HIGH_PER_KG.get(p.route)
    if (
        usual is not None
        and p.dose_rule.basis is DoseBasis.MG_PER_KG
        and p.dose_rule.usual_high > usual.mg_per_kg
    ):
        warnings.append(
            f"dose_rule.usual_high: {_fmt(p.dose_rule.usual_high)} mg/kg without an override; {usual.why}"
        )
    mg = SUGGESTED_CEILING_MG.get(p.route)
    if mg is not None and p.absolute_max.mg is not None and p.absolute_max.mg > mg.mg:
        warnings.append(f"absolute_max.mg: {_fmt(p.absolute_max.mg)} mg; {mg.why}")
    return warnings
