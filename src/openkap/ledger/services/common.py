"""Limits and the small parsers every ledger step shares (amounts, times, text, refusals)."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Context, Decimal, Inexact, InvalidOperation

from django.core.exceptions import ValidationError
from django.utils import timezone

from openkap.core import ledger as core
from openkap.ledger.models import (
    UNITS_DP,
    Product,
)

K = core.EntryKind
MAX_UNITS_PER_ENTRY = Decimal(10_000)
MAX_CONTAINERS = 500
MAX_STRENGTH = Decimal(1000)
BACKDATE_DAYS = 30  # how late an entry may be recorded; older ones need a correction trail
_EXACT = Context(prec=40, traps=[Inexact, InvalidOperation])
_UNIT_STEP = Decimal(1).scaleb(-UNITS_DP)




def _decimal(value: object, field: str, what: str) -> Decimal:
    if isinstance(value, bool) or value is None:
        raise ValidationError({field: f"Enter the {what} as a number."})
    try:
        number = Decimal(str(value).strip()) if not isinstance(value, Decimal) else value
    except (InvalidOperation, ValueError):
        raise ValidationError({field: f"Enter the {what} as a number."}) from None
    if not number.is_finite():
        raise ValidationError({field: f"Enter the {what} as a number."})
    return number


def _units_in_steps(units: Decimal, product: Product, field: str) -> Decimal:
    if units != units.quantize(_UNIT_STEP, context=Context(prec=40)):
        raise ValidationError({field: f"Measure to {_UNIT_STEP} {product.unit} at most."})
    if product.unit == core.Unit.DEVICE and units != units.to_integral_value():
        raise ValidationError({field: "Esketamine devices are single-use: count whole devices."})
    return units


def _amount(product: Product, *, mg: object = None, units: object = None, allow_zero: bool = False,
           field: str = "units") -> tuple[Decimal, Decimal]:
    """(mg, units) of ``product`` from exactly one of them; mg = units x strength exactly."""
    if (mg is None) == (units is None):
        raise ValidationError({field: f"Give the amount either in mg or in {product.unit}."})
    strength = product.strength_mg_per_unit
    too_much = f"That is more than {MAX_UNITS_PER_ENTRY} {product.unit} in one entry: please re-check."
    if units is not None:
        u = _decimal(units, field, f"amount in {product.unit}")
        if abs(u) > MAX_UNITS_PER_ENTRY:
            raise ValidationError({field: too_much})
        u = _units_in_steps(u, product, field)
    else:
        m = _decimal(mg, "mg", "amount in mg")
        if abs(m) > MAX_UNITS_PER_ENTRY * strength:
            raise ValidationError({"mg": too_much})
        try:
            u = _EXACT.divide(m, strength)
        except Inexact:
            u = Decimal("NaN")
        if u.is_nan() or u != u.quantize(_UNIT_STEP, context=Context(prec=40)):
            raise ValidationError({"mg": (
                f"{m} mg is not a measurable amount of {product.strength_label}: "
                f"record the {product.unit} drawn instead."
            )})
        _units_in_steps(u, product, "mg")
        field = "mg"
    if u < 0 or (u == 0 and not allow_zero):
        raise ValidationError({field: "The amount cannot be negative." if allow_zero else "The amount must be more than 0."})
    return u * strength, u


def _when(occurred_at: datetime | None, field: str = "occurred_at") -> datetime:
    now = timezone.now()
    if occurred_at is None:
        return now
    if not isinstance(occurred_at, datetime) or timezone.is_naive(occurred_at):
        raise ValidationError({field: "Give the date and time with a time zone."})
    if occurred_at > now + timedelta(minutes=5):
        raise ValidationError({field: "The date and time cannot be in the future."})
    if occurred_at < now - timedelta(days=BACKDATE_DAYS):
        raise ValidationError({field: f"Entries can be recorded up to {BACKDATE_DAYS} days late."})
    return occurred_at


def _text(value: str, field: str, what: str, *, required: bool = True, max_length: int = 200) -> str:
    value = (value or "").strip()
    if required and not value:
        raise ValidationError({field: f"Enter {what}."})
    if len(value) > max_length:
        raise ValidationError({field: f"Keep {what} under {max_length} characters."})
    return value


def _refused(exc: core.LedgerError, field: str = "__all__") -> ValidationError:
    """A core refusal as a form error; a shortfall belongs next to the amount."""
    if isinstance(exc, core.NegativeBalanceError):
        return ValidationError({field: str(exc)})
    return ValidationError({"__all__": str(exc)})




