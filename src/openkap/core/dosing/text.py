"""How the dose arithmetic is written: exact decimals, approximations marked, counts in words."""

from __future__ import annotations

from decimal import Decimal
from typing import Final, TypeVar

# Multiplication and division signs for the arithmetic lines.
TIMES: Final = "\u00d7"
DIVIDE: Final = "\u00f7"

T = TypeVar("T")


def required(value: T | None) -> T:
    if value is None:
        raise ValueError("a validated protocol field is missing")
    return value


def fmt(value: Decimal) -> str:
    """Exact value without exponent or trailing zeros, at least one decimal place."""
    text = format(value.normalize(), "f")
    return text if "." in text else text + ".0"


def approx(value: Decimal, places: int = 2) -> str:
    """Value to ``places`` decimals, marked with \u2248 when that is not exact."""
    rounded = value.quantize(Decimal(1).scaleb(-places))
    return fmt(value) if rounded == value else "\u2248" + fmt(rounded)


def counted(units: Decimal, name: str | None) -> str:
    if units == units.to_integral_value():
        return f"{int(units)} {name}" + ("" if units == 1 else "s")
    return f"{approx(units)} {name}s"
