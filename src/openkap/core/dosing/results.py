"""Inputs and results of the dose calculation: frozen, JSON-ready dataclasses.

``DoseOrder`` and ``DoseCalculation`` check their own key invariants on
construction (never above the maximum; volume only from the lot's
concentration), so that no way of building one breaks them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal, localcontext
from enum import StrEnum
from typing import Any

from openkap.core.protocols.schema import Product, Protocol
from openkap.core.units import DECIMAL_CONTEXT


class StopCode(StrEnum):
    PROTOCOL_NOT_APPROVED = "protocol_not_approved"
    WEIGHT_MISSING = "weight_missing"
    WEIGHT_IMPLAUSIBLE = "weight_implausible"
    WEIGHT_TOO_OLD = "weight_too_old"
    WEIGHT_DATE_IN_FUTURE = "weight_date_in_future"
    INTERVAL_TOO_SHORT = "interval_too_short"
    DOSE_UNIT_MISMATCH = "dose_unit_mismatch"
    DOSE_INVALID = "dose_invalid"
    DOSE_NOT_ALLOWED = "dose_not_allowed"
    ABOVE_ABSOLUTE_MAX = "above_absolute_max"
    DOSE_ROUNDS_TO_ZERO = "dose_rounds_to_zero"
    # Issue 12: a protocol without its ceilings, a patient below the route's minimum
    # weight, a dosing weight that cannot be computed.
    PROTOCOL_LACKS_LIMITS = "protocol_lacks_limits"
    WEIGHT_BELOW_MINIMUM = "weight_below_minimum"
    DOSING_WEIGHT_UNAVAILABLE = "dosing_weight_unavailable"
    PRODUCT_NOT_ALLOWED = "product_not_allowed"
    CONCENTRATION_UNKNOWN = "concentration_unknown"
    CONCENTRATION_NOT_ALLOWED = "concentration_not_allowed"
    UNDILUTED_IV = "undiluted_iv"
    DILUTION_IMPOSSIBLE = "dilution_impossible"
    NOT_WHOLE_UNITS = "not_whole_units"
    VOLUME_OUT_OF_RANGE = "volume_out_of_range"


class SoftLimitCode(StrEnum):
    BELOW_USUAL_RANGE = "below_usual_range"
    ABOVE_USUAL_RANGE = "above_usual_range"
    BELOW_USUAL_RANGE_PER_KG = "below_usual_range_per_kg"
    ABOVE_USUAL_RANGE_PER_KG = "above_usual_range_per_kg"
    FIRST_SESSION_DOSE = "first_session_dose"


class NoticeCode(StrEnum):
    WEIGHT_CHANGED = "weight_changed"


@dataclass(frozen=True)
class Stop:
    """A hard stop: nobody can override it."""

    code: StopCode
    message: str


@dataclass(frozen=True)
class SoftLimit:
    """Outside the usual range: needs a prescriber's override with a reason."""

    code: SoftLimitCode
    message: str


@dataclass(frozen=True)
class Notice:
    """A warning to show with the dose; it does not block."""

    code: NoticeCode
    message: str


@dataclass(frozen=True)
class Weight:
    kg: Decimal
    measured_on: date


@dataclass(frozen=True)
class Height:
    cm: Decimal
    measured_on: date


@dataclass(frozen=True)
class Lot:
    """The inventory lot drawn from; ``concentration`` is mg/mL or mg per unit."""

    product_code: str
    concentration: Decimal | None
    lot_number: str = ""


@dataclass(frozen=True)
class Override:
    by_role: str
    reason: str


@dataclass(frozen=True)
class DoseRefusal:
    stops: tuple[Stop, ...]
    soft_limits: tuple[SoftLimit, ...]
    # Why an override that was offered did not clear the soft limits.
    override_rejected: str | None
    # The arithmetic that could be done, so the clinician sees where it stopped.
    lines: tuple[str, ...]
    notices: tuple[Notice, ...] = ()

    @property
    def overridable(self) -> bool:
        """True when a prescriber's override with a reason would clear every problem."""
        return not self.stops and bool(self.soft_limits)

    def to_dict(self) -> dict[str, Any]:
        return {
            "status": "refused",
            "stops": [{"code": s.code.value, "message": s.message} for s in self.stops],
            "soft_limits": [{"code": s.code.value, "message": s.message} for s in self.soft_limits],
            "override_rejected": self.override_rejected,
            "notices": [{"code": n.code.value, "message": n.message} for n in self.notices],
            "lines": list(self.lines),
        }


@dataclass(frozen=True)
class DoseOrder:
    """An approved order: mg and mg/kg for this patient's weight, before a lot is chosen."""

    protocol: Protocol
    weight_kg: Decimal
    weight_measured_on: date
    session_date: date
    # mg/kg ordered (mg/kg protocols); None for fixed-mg protocols.
    ordered_mg_per_kg: Decimal | None
    # Rule x weight (or the fixed mg), before rounding.
    ordered_mg: Decimal
    # Rounded to the protocol's granularity, never above max_mg.
    dose_mg: Decimal
    dose_mg_per_kg: Decimal
    # The absolute maximum for this weight.
    max_mg: Decimal
    first_session: bool
    notices: tuple[Notice, ...]
    overridden: tuple[SoftLimit, ...]
    override: Override | None
    lines: tuple[str, ...]
    # The weight mg/kg and the ceilings use (the protocol's choice; None = weight_kg).
    dosing_weight_kg: Decimal | None = None
    dosing_weight_basis: str = "total"
    height_cm: Decimal | None = None
    sex: str | None = None

    @property
    def per_kg_weight(self) -> Decimal:
        return self.weight_kg if self.dosing_weight_kg is None else self.dosing_weight_kg

    def __post_init__(self) -> None:
        # Holds however the object was built, so no path yields more than the maximum.
        with localcontext(DECIMAL_CONTEXT):
            max_mg = self.protocol.absolute_max.for_weight(self.per_kg_weight)
        if self.max_mg != max_mg:
            raise ValueError("max_mg does not match the protocol's absolute maximum")
        if not Decimal(0) < self.dose_mg <= self.max_mg:
            raise ValueError(f"dose {self.dose_mg} mg is outside 0-{self.max_mg} mg")

    def to_dict(self) -> dict[str, Any]:
        p = self.protocol
        return {
            "status": "approved",
            "stage": "order",
            "protocol": {"id": p.id, "version": p.version, "route": p.route.value},
            "weight_kg": _num(self.weight_kg),
            "weight_measured_on": self.weight_measured_on.isoformat(),
            "dosing_weight": {
                "basis": self.dosing_weight_basis,
                "kg": _num(self.per_kg_weight),
                "height_cm": _opt_num(self.height_cm),
                "sex": self.sex,
            },
            "session_date": self.session_date.isoformat(),
            "basis": p.dose_rule.basis.value,
            "ordered_mg_per_kg": _opt_num(self.ordered_mg_per_kg),
            "ordered_mg": _num(self.ordered_mg),
            "dose_mg": _num(self.dose_mg),
            "dose_mg_per_kg": _num(self.dose_mg_per_kg),
            "max_mg": _num(self.max_mg),
            "first_session": self.first_session,
            "notices": [{"code": n.code.value, "message": n.message} for n in self.notices],
            "overridden_soft_limits": [
                {"code": s.code.value, "message": s.message} for s in self.overridden
            ],
            "override": None
            if self.override is None
            else {"by_role": self.override.by_role, "reason": self.override.reason},
            "lines": list(self.lines),
        }


@dataclass(frozen=True)
class Infusion:
    minutes: int
    drug_volume_ml: Decimal
    diluent: str | None
    diluent_volume_ml: Decimal
    final_volume_ml: Decimal
    final_concentration_mg_ml: Decimal
    rate_ml_per_h: Decimal


@dataclass(frozen=True)
class DoseCalculation:
    """An approved dose with the lot drawn: mg, mg/kg and mL (or units) together."""

    order: DoseOrder
    lot: Lot
    product: Product
    # Always the lot's concentration: never typed, never defaulted.
    concentration: Decimal
    # Solutions: dose / concentration. None for unit products.
    volume_ml: Decimal | None
    # Devices, tablets, troches or sprays; None for plain solutions.
    units: int | None
    unit_name: str | None
    # Minutes after the start at which each unit or spray is given.
    unit_times_min: tuple[int, ...]
    infusion: Infusion | None
    lines: tuple[str, ...]

    def __post_init__(self) -> None:
        if self.concentration != self.lot.concentration:
            raise ValueError("the concentration must be the lot's concentration")
        if self.volume_ml is not None and self.volume_ml != exact_quotient(
            self.order.dose_mg, self.concentration
        ):
            raise ValueError("the volume must be dose / the lot's concentration")

    @property
    def dose_mg(self) -> Decimal:
        return self.order.dose_mg

    @property
    def dose_mg_per_kg(self) -> Decimal:
        return self.order.dose_mg_per_kg

    def to_dict(self) -> dict[str, Any]:
        result = self.order.to_dict()
        infusion = self.infusion
        result.update(
            stage="prepared",
            product={"code": self.product.code, "name": self.product.name},
            lot_number=self.lot.lot_number,
            concentration=_num(self.concentration),
            concentration_unit=self.product.strength_unit,
            volume_ml=_opt_num(self.volume_ml),
            units=self.units,
            unit_name=self.unit_name,
            unit_times_min=list(self.unit_times_min),
            infusion=None
            if infusion is None
            else {
                "minutes": infusion.minutes,
                "drug_volume_ml": _num(infusion.drug_volume_ml),
                "diluent": infusion.diluent,
                "diluent_volume_ml": _num(infusion.diluent_volume_ml),
                "final_volume_ml": _num(infusion.final_volume_ml),
                "final_concentration_mg_ml": _num(infusion.final_concentration_mg_ml),
                "rate_ml_per_h": _num(infusion.rate_ml_per_h),
            },
            lines=list(self.lines),
        )
        return result


def exact_quotient(a: Decimal, b: Decimal) -> Decimal:
    """a / b in the core's Decimal context (the one volume every check agrees on)."""
    with localcontext(DECIMAL_CONTEXT):
        return a / b


def _num(value: Decimal) -> str:
    # JSON carries decimals as strings so that no reader turns them into floats.
    return format(value.normalize(), "f")


def _opt_num(value: Decimal | None) -> str | None:
    return None if value is None else _num(value)
