"""Dose arithmetic with hard stops and soft limits (issue 6).

Two stages, matching the session workflow:

``order_dose``    the prescriber's order: weight, interval, protocol limits,
                  mg and mg/kg. No product yet.
``prepare_dose``  the lot actually drawn: its concentration gives the volume,
                  units or sprays, and for IV the dilution and pump rate.

``calculate_dose`` runs both. Each returns an approved, frozen result that
carries the arithmetic as text lines, or a ``DoseRefusal`` listing every hard
stop and every unresolved soft limit in plain language. Hard stops cannot be
overridden; soft limits are cleared only by a prescriber's override with a reason.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal, localcontext
from functools import partial

from openkap.core.dosing.order import draft_order
from openkap.core.dosing.prepare import lot_stops, prepare_dose
from openkap.core.dosing.results import (
    DoseCalculation,
    DoseOrder,
    DoseRefusal,
    Height,
    Lot,
    Override,
    Weight,
)
from openkap.core.protocols.schema import (
    Protocol,
)
from openkap.core.units import DECIMAL_CONTEXT


def calculate_dose(
    *,
    protocol: Protocol,
    protocol_approved: bool,
    weight: Weight | None,
    previous_weight_kg: Decimal | None,
    session_date: date,
    last_session_date: date | None,
    lot: Lot,
    dose_mg_per_kg: Decimal | None = None,
    dose_mg: Decimal | None = None,
    override: Override | None = None,
    height: Height | None = None,
    sex: str | None = None,
) -> DoseCalculation | DoseRefusal:
    """Order and prepare in one go; a refusal lists the problems of both stages.

    When only soft limits block the order, the lot is still checked against the
    dose that an override would give, so that the prescriber sees any hard stop
    before deciding to override.
    """
    with localcontext(DECIMAL_CONTEXT):
        draft = partial(
            draft_order,
            protocol=protocol,
            approved=protocol_approved,
            weight=weight,
            previous_kg=previous_weight_kg,
            session_date=session_date,
            last_session_date=last_session_date,
            per_kg_input=dose_mg_per_kg,
            mg_input=dose_mg,
            override=override,
            height=height,
            sex=sex,
        )
        order = draft(soft_limits_block=True)
        if isinstance(order, DoseOrder):
            return prepare_dose(order, lot=lot)
        look_ahead = order if order.stops else draft(soft_limits_block=False)
        if isinstance(look_ahead, DoseOrder):
            prepared = prepare_dose(look_ahead, lot=lot)
            extra = prepared.stops if isinstance(prepared, DoseRefusal) else ()
            lines = prepared.lines
        else:
            extra, lines = tuple(lot_stops(protocol, lot)), order.lines
    return DoseRefusal(
        stops=order.stops + extra,
        soft_limits=order.soft_limits,
        override_rejected=order.override_rejected,
        lines=lines,
        notices=order.notices,
    )
