"""Builders for protocols and dose inputs shared by the dosing tests."""

from __future__ import annotations

import copy
import json
from datetime import date
from decimal import Decimal
from importlib import resources
from typing import Any

from openkap.core.dosing import Lot, Weight
from openkap.core.protocols import Protocol, parse_protocol

SESSION = date(2026, 11, 23)


def example_dict(protocol_id: str) -> dict[str, Any]:
    """The decoded JSON of a shipped example, numbers as Decimal, safe to modify."""
    text = (
        resources.files("openkap.core.protocols.examples")
        .joinpath(f"{protocol_id}.json")
        .read_text("utf-8")
    )
    return copy.deepcopy(json.loads(text, parse_float=Decimal))


def protocol_from(protocol_id: str, **changes: Any) -> Protocol:
    """An example protocol with top-level fields replaced (``None`` removes a field)."""
    data = example_dict(protocol_id)
    for key, value in changes.items():
        if value is None:
            data.pop(key, None)
        else:
            data[key] = value
    return parse_protocol(data)


def weight(kg: str, days_old: int = 0) -> Weight:
    return Weight(kg=Decimal(kg), measured_on=date.fromordinal(SESSION.toordinal() - days_old))


def lot(code: str, concentration: str | None) -> Lot:
    return Lot(
        product_code=code,
        concentration=None if concentration is None else Decimal(concentration),
        lot_number="L-1",
    )


IV_LOT_10 = lot("ketamine-hcl-injection", "10")
