"""Stage 2 of the dose arithmetic: the lot actually drawn (issue 6).

Its concentration gives the volume, units or sprays, and for IV the dilution and the
pump rate; a concentration is never typed, it comes from the lot.
"""

from __future__ import annotations

from decimal import Decimal, localcontext

from openkap.core.dosing.results import (
    DoseCalculation,
    DoseOrder,
    DoseRefusal,
    Infusion,
    Lot,
    Stop,
    StopCode,
    exact_quotient,
)
from openkap.core.dosing.text import DIVIDE, TIMES, approx, counted, fmt, required
from openkap.core.protocols.schema import (
    IV_MAX_ADMINISTERED_MG_ML,
    Product,
    ProductForm,
    Protocol,
    Route,
)
from openkap.core.units import DECIMAL_CONTEXT


def prepare_dose(order: DoseOrder, *, lot: Lot) -> DoseCalculation | DoseRefusal:
    """Volume (or units) from the chosen lot, and for IV the dilution and pump rate."""
    with localcontext(DECIMAL_CONTEXT):
        stops, product, concentration = _check_lot(order.protocol, lot)
        if stops or product is None or concentration is None:
            return DoseRefusal(
                stops=tuple(stops),
                soft_limits=(),
                override_rejected=None,
                lines=order.lines,
                notices=order.notices,
            )
        return _prepare(order, lot, product, concentration)


def lot_stops(protocol: Protocol, lot: Lot) -> list[Stop]:
    """Stops that depend on the lot alone (product, concentration, undiluted IV).

    Lets a lot picker grey out lots that cannot be used before any dose exists.
    """
    with localcontext(DECIMAL_CONTEXT):
        return _check_lot(protocol, lot)[0]


def _check_lot(protocol: Protocol, lot: Lot) -> tuple[list[Stop], Product | None, Decimal | None]:
    stops: list[Stop] = []
    product = protocol.product(lot.product_code)
    if product is None:
        # Words, not codes (issue 21.8): the lot and the protocol's products by name.
        allowed = "; ".join(p.name for p in protocol.products)
        lot_name = f"Lot {lot.lot_number}" if lot.lot_number else "This lot"
        stops.append(
            Stop(
                StopCode.PRODUCT_NOT_ALLOWED,
                f"{lot_name} is not a product the protocol \u201c{protocol.title}\u201d allows "
                f"({protocol.route.label}; allowed: {allowed}).",
            )
        )
    c = lot.concentration
    if c is None or not isinstance(c, Decimal) or not c.is_finite() or c <= 0:
        stops.append(
            Stop(
                StopCode.CONCENTRATION_UNKNOWN,
                "The lot's concentration is unknown; it must come from the lot label, never a guess.",
            )
        )
        return stops, product, None
    if product is not None and c not in product.strengths:
        strengths = ", ".join(fmt(s) for s in product.strengths)
        stops.append(
            Stop(
                StopCode.CONCENTRATION_NOT_ALLOWED,
                f"{fmt(c)} {product.strength_unit} is not an allowed strength of {product.name} "
                f"in this protocol (allowed: {strengths} {product.strength_unit}).",
            )
        )
    if (
        protocol.route is Route.IV_INFUSION
        and protocol.dilution is None
        and c > IV_MAX_ADMINISTERED_MG_ML
    ):
        stops.append(_undiluted_stop(c))
    return stops, product, c


def _undiluted_stop(concentration: Decimal) -> Stop:
    return Stop(
        StopCode.UNDILUTED_IV,
        f"{fmt(concentration)} mg/mL must not run into a vein undiluted (at most "
        f"{fmt(IV_MAX_ADMINISTERED_MG_ML)} mg/mL after dilution).",
    )


def _prepare(
    order: DoseOrder, lot: Lot, product: Product, concentration: Decimal
) -> DoseCalculation | DoseRefusal:
    protocol, dose = order.protocol, order.dose_mg
    lines = list(order.lines)
    stops: list[Stop] = []
    volume: Decimal | None = None
    units: Decimal | None = None
    if product.form is ProductForm.UNIT:
        units = dose / concentration
        lines.append(
            f"{fmt(dose)} mg {DIVIDE} {fmt(concentration)} {product.strength_unit} = "
            f"{counted(units, product.unit_name)}"
        )
    else:
        volume = exact_quotient(dose, concentration)
        lines.append(f"{fmt(dose)} mg {DIVIDE} {fmt(concentration)} mg/mL = {approx(volume)} mL")
        if product.actuation_volume_ml is not None:
            units = volume / product.actuation_volume_ml
            lines.append(
                f"{approx(volume)} mL {DIVIDE} {fmt(product.actuation_volume_ml)} mL per "
                f"{product.unit_name} = {counted(units, product.unit_name)}"
            )
        stops += _volume_stops(product, volume, concentration)
    if units is not None and units != units.to_integral_value():
        stops.append(
            Stop(
                StopCode.NOT_WHOLE_UNITS,
                f"{fmt(dose)} mg is not a whole number of {product.unit_name}s from this lot "
                f"({counted(units, product.unit_name)}); choose a lot whose strength fits the dose.",
            )
        )
    infusion = None
    if protocol.route is Route.IV_INFUSION and volume is not None:
        infusion = _infusion(order, volume, concentration, lines, stops)
    if stops:
        return DoseRefusal(
            stops=tuple(stops),
            soft_limits=(),
            override_rejected=None,
            lines=tuple(lines),
            notices=order.notices,
        )
    count = None if units is None else int(units)
    interval = product.interval_between_units_min
    times = () if count is None or interval is None else tuple(i * interval for i in range(count))
    if times and len(times) > 1:
        lines.append(
            f"Give {count} {product.unit_name}s {interval} minutes apart, at "
            + ", ".join(str(t) for t in times)
            + " min"
        )
    return DoseCalculation(
        order=order,
        lot=lot,
        product=product,
        concentration=concentration,
        volume_ml=volume,
        units=count,
        unit_name=product.unit_name if count is not None else None,
        unit_times_min=times,
        infusion=infusion,
        lines=tuple(lines),
    )


def _volume_stops(product: Product, volume: Decimal, concentration: Decimal) -> list[Stop]:
    low, high = product.min_volume_ml, product.max_volume_ml
    if low is not None and volume < low:
        limit = f"below the {fmt(low)} mL minimum"
    elif high is not None and volume > high:
        limit = f"above the {fmt(high)} mL maximum"
    else:
        return []
    return [
        Stop(
            StopCode.VOLUME_OUT_OF_RANGE,
            f"{approx(volume)} mL from a {fmt(concentration)} mg/mL lot is {limit} for "
            f"{product.name}; check the vial strength or choose another.",
        )
    ]


def _infusion(
    order: DoseOrder,
    drug_volume: Decimal,
    concentration: Decimal,
    lines: list[str],
    stops: list[Stop],
) -> Infusion | None:
    protocol, dose = order.protocol, order.dose_mg
    minutes = protocol.infusion_minutes
    if minutes is None:
        raise ValueError("an IV protocol always states infusion_minutes")
    dilution = protocol.dilution
    if dilution is None:
        final_volume, final_concentration = drug_volume, concentration
        diluent = None
    elif dilution.final_volume_ml is not None:
        final_volume = dilution.final_volume_ml
        final_concentration = dose / final_volume
        diluent = dilution.diluent
    else:
        target = required(dilution.final_concentration_mg_ml)
        final_volume, final_concentration = dose / target, target
        diluent = dilution.diluent
        lines.append(
            f"{fmt(dose)} mg {DIVIDE} {fmt(target)} mg/mL = {approx(final_volume)} mL final volume"
        )
    if drug_volume > final_volume:
        stops.append(
            Stop(
                StopCode.DILUTION_IMPOSSIBLE,
                f"{approx(drug_volume)} mL of drug does not fit in a final volume of "
                f"{approx(final_volume)} mL; use a stronger lot.",
            )
        )
        return None
    if final_concentration > IV_MAX_ADMINISTERED_MG_ML:
        stops.append(_undiluted_stop(final_concentration))
        return None
    diluent_volume = final_volume - drug_volume
    if diluent is not None:
        lines.append(
            f"{approx(drug_volume)} mL drug + {approx(diluent_volume)} mL {diluent} = "
            f"{approx(final_volume)} mL at {approx(final_concentration, 3)} mg/mL"
        )
    rate = final_volume * 60 / minutes
    lines.append(
        f"{approx(final_volume)} mL {DIVIDE} {minutes} min {TIMES} 60 min/h = "
        f"{approx(rate, 1)} mL/h"
    )
    return Infusion(
        minutes=minutes,
        drug_volume_ml=drug_volume,
        diluent=diluent,
        diluent_volume_ml=diluent_volume,
        final_volume_ml=final_volume,
        final_concentration_mg_ml=final_concentration,
        rate_ml_per_h=rate,
    )
