"""Units and rounding shared by the clinical core.

Quantities are ``Decimal`` so that a dose shown to a clinician is the dose
computed: binary floats are refused at the door. Weight is kept in kilograms;
pounds are converted once, explicitly, with the exact international factor.
"""

from __future__ import annotations

from decimal import (
    ROUND_FLOOR,
    ROUND_HALF_EVEN,
    ROUND_HALF_UP,
    Context,
    Decimal,
    DivisionByZero,
    InvalidOperation,
    Overflow,
    localcontext,
)
from typing import Final

# International yard and pound agreement (1959): exact by definition.
KG_PER_LB: Final = Decimal("0.45359237")

# Every core calculation runs in this context, whatever the caller's global context is.
DECIMAL_CONTEXT: Final = Context(
    prec=28, rounding=ROUND_HALF_EVEN, traps=[InvalidOperation, DivisionByZero, Overflow]
)


class UnitsError(ValueError):
    """A quantity that cannot be used (wrong type, not finite, negative...)."""


def to_decimal(value: Decimal | int | str, *, name: str = "value") -> Decimal:
    """Parse ``value`` as an exact, finite Decimal.

    Floats are refused because 0.1 + 0.2 style errors must not reach a dose.
    """
    if isinstance(value, bool) or not isinstance(value, Decimal | int | str):
        raise UnitsError(
            f"{name} must be a Decimal, an int or a string, not {type(value).__name__}"
        )
    try:
        result = Decimal(value.strip() if isinstance(value, str) else value)
    except InvalidOperation:
        raise UnitsError(f"{name} is not a number: {value!r}") from None
    if not result.is_finite():
        raise UnitsError(f"{name} must be a finite number, got {value}")
    return result


def lb_to_kg(lb: Decimal) -> Decimal:
    """Convert pounds to kilograms exactly (no rounding)."""
    lb = to_decimal(lb, name="weight in lb")
    if lb < 0:
        raise UnitsError(f"weight in lb cannot be negative: {lb}")
    with localcontext(DECIMAL_CONTEXT):
        return lb * KG_PER_LB


def round_to_step(value: Decimal, step: Decimal, rounding: str = ROUND_HALF_UP) -> Decimal:
    """Round ``value`` to a multiple of ``step`` (e.g. 0.1, 0.5, 28)."""
    if step <= 0:
        raise UnitsError(f"rounding step must be positive, got {step}")
    with localcontext(DECIMAL_CONTEXT):
        return (value / step).to_integral_value(rounding=rounding) * step


def round_down_to_step(value: Decimal, step: Decimal) -> Decimal:
    """The largest multiple of ``step`` that is not above ``value``."""
    return round_to_step(value, step, ROUND_FLOOR)


def round_to_step_not_above(value: Decimal, step: Decimal, ceiling: Decimal) -> Decimal:
    """Nearest multiple of ``step`` (half up), but never above ``ceiling``.

    Used for doses: rounding to the product's granularity must not push a dose
    over its absolute maximum, so the rounding goes down instead.
    """
    nearest = round_to_step(value, step)
    if nearest <= ceiling:
        return nearest
    return round_down_to_step(min(value, ceiling), step)
