from __future__ import annotations

from decimal import Decimal

from django import template

from openkap.ledger.reports import num as _num
from openkap.ledger.reports import qty

register = template.Library()


@register.filter
def num(value: Decimal | None) -> str:
    """A quantity without trailing zeros: 2.5, not 2.50000."""
    return _num(value)


@register.filter
def units(value: Decimal | None, unit: str) -> str:
    """An amount with its unit, counted things in the plural: 0.4 mL, 1 device, 19 devices."""
    return qty(value, unit)
