"""The weight a dose is calculated on: total, ideal or adjusted body weight (issue 12).

Formulas (heights in inches over 5 feet; 1 in = 2.54 cm exactly):

- Ideal body weight, Devine BJ. Gentamicin therapy. Drug Intell Clin Pharm
  1974;8:650-655: men 50 kg + 2.3 kg/in, women 45.5 kg + 2.3 kg/in.
- Ideal body weight, Robinson JD et al. Am J Hosp Pharm 1983;40:1016-1019:
  men 52 kg + 1.9 kg/in, women 49 kg + 1.7 kg/in.
  (Both as reviewed in Pai MP, Paloucek FP. The origin of the "ideal" body weight
  equations. Ann Pharmacother 2000;34:1066-1069.)
- Adjusted body weight = IBW + 0.4 x (total - IBW), Bauer LA. Applied Clinical
  Pharmacokinetics, 2nd ed. McGraw-Hill 2008 (the obesity correction used for
  aminoglycoside dosing).

When the total weight is below the ideal, the total is used: an ideal or adjusted
weight above what the patient weighs would raise the dose, never the intent.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_FLOOR, Decimal, localcontext
from enum import StrEnum
from typing import Final

from openkap.core.units import DECIMAL_CONTEXT

CM_PER_INCH: Final = Decimal("2.54")  # exact by definition (1959)
FIVE_FEET_IN: Final = Decimal(60)
ADJUSTMENT_FACTOR: Final = Decimal("0.4")  # Bauer 2008
# Outside these a height is a typing or unit error (cm vs in).
HEIGHT_MIN_CM: Final = Decimal(120)
HEIGHT_MAX_CM: Final = Decimal(230)


class DosingWeightBasis(StrEnum):
    TOTAL = "total"
    IDEAL = "ideal"
    ADJUSTED = "adjusted"

    @property
    def label(self) -> str:
        return {
            DosingWeightBasis.TOTAL: "total body weight",
            DosingWeightBasis.IDEAL: "ideal body weight",
            DosingWeightBasis.ADJUSTED: "adjusted body weight",
        }[self]


class IdealWeightFormula(StrEnum):
    DEVINE = "devine"
    ROBINSON = "robinson"


# (base kg at 5 ft, kg per inch over 5 ft) by formula and sex.
_IBW: Final = {
    (IdealWeightFormula.DEVINE, "male"): (Decimal(50), Decimal("2.3")),
    (IdealWeightFormula.DEVINE, "female"): (Decimal("45.5"), Decimal("2.3")),
    (IdealWeightFormula.ROBINSON, "male"): (Decimal(52), Decimal("1.9")),
    (IdealWeightFormula.ROBINSON, "female"): (Decimal(49), Decimal("1.7")),
}


class BodyWeightError(ValueError):
    """The dosing weight cannot be computed (no height, no sex, implausible height)."""


@dataclass(frozen=True)
class DosingWeight:
    kg: Decimal
    basis: DosingWeightBasis
    total_kg: Decimal
    ideal_kg: Decimal | None
    lines: tuple[str, ...]


def ideal_body_weight(height_cm: Decimal, sex: str, formula: IdealWeightFormula) -> Decimal:
    """IBW in kg, unrounded. Below 5 ft the line is extended (the formulas' own form)."""
    if (formula, sex) not in _IBW:
        raise BodyWeightError("ideal body weight needs the sex at birth (female or male)")
    base, per_inch = _IBW[(formula, sex)]
    with localcontext(DECIMAL_CONTEXT):
        return base + per_inch * (height_cm / CM_PER_INCH - FIVE_FEET_IN)


def dosing_weight(
    *,
    basis: DosingWeightBasis,
    total_kg: Decimal,
    height_cm: Decimal | None,
    sex: str | None,
    formula: IdealWeightFormula = IdealWeightFormula.DEVINE,
) -> DosingWeight:
    """The weight the protocol doses on, with the arithmetic as lines."""
    if basis is DosingWeightBasis.TOTAL:
        return DosingWeight(total_kg, basis, total_kg, None, ())
    if height_cm is None:
        raise BodyWeightError(f"the protocol doses on {basis.label}: record the patient's height")
    if not HEIGHT_MIN_CM <= height_cm <= HEIGHT_MAX_CM:
        raise BodyWeightError(
            f"height {_fmt(height_cm)} cm is outside {_fmt(HEIGHT_MIN_CM)}-{_fmt(HEIGHT_MAX_CM)} cm; "
            "check the value and that it is in cm, not inches"
        )
    if sex not in ("female", "male"):
        raise BodyWeightError(
            f"the protocol doses on {basis.label}, which needs the sex at birth (female or male)"
        )
    with localcontext(DECIMAL_CONTEXT):
        base, per_inch = _IBW[(formula, sex)]
        inches = height_cm / CM_PER_INCH
        ibw = ideal_body_weight(height_cm, sex, formula)
        lines = [
            f"Ideal body weight ({formula.value.title()}, {sex}): {_fmt(base)} kg + "
            f"{_fmt(per_inch)} kg {TIMES} ({_q(inches)} in - 60 in) = {_q(ibw)} kg "
            f"(height {_fmt(height_cm)} cm)"
        ]
        if total_kg <= ibw:
            lines.append(
                f"Total body weight {_fmt(total_kg)} kg is not above the ideal: dosed on "
                f"{_fmt(total_kg)} kg"
            )
            return DosingWeight(total_kg, basis, total_kg, ibw, tuple(lines))
        if basis is DosingWeightBasis.IDEAL:
            kg = ibw
        else:
            kg = ibw + ADJUSTMENT_FACTOR * (total_kg - ibw)
            lines.append(
                f"Adjusted body weight: {_q(ibw)} kg + {_fmt(ADJUSTMENT_FACTOR)} {TIMES} "
                f"({_fmt(total_kg)} kg - {_q(ibw)} kg) = {_q(kg)} kg"
            )
        # Two decimals, down: the stored weight is what every later check recomputes with,
        # and rounding down never raises a dose.
        kg = kg.quantize(Decimal("0.01"), rounding=ROUND_FLOOR)
        lines.append(f"Dosing weight ({basis.label}): {_fmt(kg)} kg")
        return DosingWeight(kg, basis, total_kg, ibw, tuple(lines))


TIMES: Final = "\u00d7"


def _fmt(value: Decimal) -> str:
    text = format(value.normalize(), "f")
    return text if "." in text else text + ".0"


def _q(value: Decimal) -> str:
    return _fmt(value.quantize(Decimal("0.01")))
