"""Exact numbers in medicine-session pages: a dose reads as it was computed."""

from __future__ import annotations

from decimal import Decimal

from django import template

register = template.Library()


@register.filter
def dec(value: object) -> str:
    """A Decimal (or number) without exponent or trailing zeros: 0.5, 33, 0.66."""
    if value is None or value == "":
        return ""
    try:
        number = value if isinstance(value, Decimal) else Decimal(str(value))
    except ArithmeticError:
        return str(value)
    if not number.is_finite():
        return str(value)
    text = format(number.normalize(), "f")
    return text
