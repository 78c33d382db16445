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

from datetime import date, datetime, tzinfo
from decimal import Decimal, localcontext
from functools import partial
from typing import Final, TypeVar

from openkap.core.body_weight import BodyWeightError, DosingWeightBasis, dosing_weight
from openkap.core.dosing.results import (
    DoseCalculation,
    DoseOrder,
    DoseRefusal,
    Height,
    Infusion,
    Lot,
    Notice,
    NoticeCode,
    Override,
    SoftLimit,
    SoftLimitCode,
    Stop,
    StopCode,
    Weight,
    exact_quotient,
)
from openkap.core.protocols.reference_limits import anaesthetic_ceiling_errors
from openkap.core.protocols.schema import (
    IV_MAX_ADMINISTERED_MG_ML,
    DoseBasis,
    Product,
    ProductForm,
    Protocol,
    Route,
    safety_limit_gaps,
)
from openkap.core.units import DECIMAL_CONTEXT, round_to_step, round_to_step_not_above

# Below or above these a weight is a typing or unit error (reference §5.2).
WEIGHT_MIN_KG: Final = Decimal(30)
WEIGHT_MAX_KG: Final = Decimal(250)
# A change larger than this since the previous weight is shown as a warning.
WEIGHT_CHANGE_WARN_FRACTION: Final = Decimal("0.10")

PRESCRIBER_ROLE: Final = "prescriber"

# Multiplication and division signs for the arithmetic lines.
TIMES: Final = "\u00d7"
DIVIDE: Final = "\u00f7"


# ---------------------------------------------------------------- stage 1: order


def order_dose(
    *,
    protocol: Protocol,
    protocol_approved: bool,
    weight: Weight | None,
    previous_weight_kg: Decimal | None,
    session_date: date,
    last_session_date: date | None,
    dose_mg_per_kg: Decimal | None = None,
    dose_mg: Decimal | None = None,
    override: Override | None = None,
    height: Height | None = None,
    sex: str | None = None,
) -> DoseOrder | DoseRefusal:
    """Check and compute a dose order.

    ``last_session_date`` is the patient's previous session on this protocol's
    route; ``None`` means this is the first session. Without ``dose_mg_per_kg``
    or ``dose_mg`` the protocol's default dose is ordered.
    """
    with localcontext(DECIMAL_CONTEXT):
        return _order(
            protocol=protocol,
            approved=protocol_approved,
            weight=weight,
            previous_kg=previous_weight_kg,
            session_date=session_date,
            last_session_date=last_session_date,
            per_kg_input=dose_mg_per_kg,
            mg_input=dose_mg,
            override=override,
            soft_limits_block=True,
            height=height,
            sex=sex,
        )


def _order(
    *,
    protocol: Protocol,
    approved: bool,
    weight: Weight | None,
    previous_kg: Decimal | None,
    session_date: date,
    last_session_date: date | None,
    per_kg_input: Decimal | None,
    mg_input: Decimal | None,
    override: Override | None,
    soft_limits_block: bool,
    height: Height | None = None,
    sex: str | None = None,
) -> DoseOrder | DoseRefusal:
    stops: list[Stop] = []
    soft: list[SoftLimit] = []
    notices: list[Notice] = []
    lines: list[str] = []
    rule = protocol.dose_rule
    first_session = last_session_date is None

    if not approved:
        stops.append(
            Stop(
                StopCode.PROTOCOL_NOT_APPROVED,
                f"Protocol {protocol.id} version {protocol.version} is not approved by a "
                "prescriber of this organisation.",
            )
        )
    gaps = safety_limit_gaps(protocol) + anaesthetic_ceiling_errors(protocol)
    if gaps:
        stops.append(
            Stop(
                StopCode.PROTOCOL_LACKS_LIMITS,
                f"Protocol {protocol.id} version {protocol.version} does not state every "
                f"safety limit; make a new version that does: {'; '.join(gaps)}.",
            )
        )
    total_kg = _check_weight(protocol, weight, previous_kg, session_date, stops, notices)
    kg = _dosing_kg(protocol, total_kg, height, sex, stops, lines)
    if last_session_date is not None:
        check_interval(protocol, last_session_date, session_date, stops)

    # The ordered amount, in the protocol's unit (mg/kg or mg).
    ordered: Decimal | None
    if rule.basis is DoseBasis.MG_PER_KG:
        ordered = _ordered_value(per_kg_input, mg_input, rule.default, "mg/kg", "mg", stops)
    else:
        ordered = _ordered_value(mg_input, per_kg_input, rule.default, "mg", "mg/kg", stops)
    if ordered is not None:
        _check_ordered(protocol, ordered, first_session, stops, soft)
    if ordered is None or kg is None or total_kg is None:
        return _refuse(stops, soft, override, lines, notices)

    max_mg = protocol.absolute_max.for_weight(kg)
    unit = rule.basis.unit
    if rule.basis is DoseBasis.MG_PER_KG:
        ordered_mg = ordered * kg
        lines.append(f"{_fmt(ordered)} mg/kg {TIMES} {_fmt(kg)} kg = {_fmt(ordered_mg)} mg")
    else:
        ordered_mg = ordered
        allowed = ", ".join(_fmt(d) for d in rule.allowed)
        lines.append(
            f"Fixed dose {_fmt(ordered_mg)} mg" + (f" (allowed: {allowed} mg)" if allowed else "")
        )
    lines.append(_max_line(protocol, kg, max_mg))
    if ordered_mg > max_mg:
        stops.append(
            Stop(
                StopCode.ABOVE_ABSOLUTE_MAX,
                f"{_fmt(ordered_mg)} mg ({_approx(ordered_mg / kg)} mg/kg at {_fmt(kg)} kg) is "
                f"above the absolute maximum of {_fmt(max_mg)} mg for this session "
                f"({_max_terms(protocol)}); this cannot be overridden.",
            )
        )
        return _refuse(stops, soft, override, lines, notices)
    if rule.basis is DoseBasis.FIXED_MG:
        _check_per_kg(protocol, ordered_mg, kg, soft)

    final_mg = round_to_step_not_above(ordered_mg, protocol.rounding_mg, max_mg)
    if final_mg != ordered_mg:
        capped = round_to_step(ordered_mg, protocol.rounding_mg) > max_mg
        lines.append(
            f"{_fmt(ordered_mg)} mg rounded to {_fmt(protocol.rounding_mg)} mg steps"
            + (" (down, to stay within the maximum)" if capped else "")
            + f" = {_fmt(final_mg)} mg"
        )
    if final_mg <= 0:
        stops.append(
            Stop(
                StopCode.DOSE_ROUNDS_TO_ZERO,
                f"{_fmt(ordered_mg)} mg rounds to 0 mg in {_fmt(protocol.rounding_mg)} mg steps.",
            )
        )
        return _refuse(stops, soft, override, lines, notices)
    per_kg = final_mg / kg
    lines.append(f"{_fmt(final_mg)} mg {DIVIDE} {_fmt(kg)} kg = {_approx(per_kg)} mg/kg")
    if protocol.dosing_weight is DosingWeightBasis.TOTAL:
        lines.append(f"Dosing weight: {_fmt(kg)} kg, total body weight (the protocol's choice)")
    accepted = override if soft and _override_accepted(override) else None
    if stops or (soft and accepted is None and soft_limits_block):
        return _refuse(stops, soft, override, lines, notices)
    if accepted is not None:
        lines.append(
            f"Soft limit overridden by {accepted.by_role}: {accepted.reason.strip()} "
            f"({'; '.join(s.code.value for s in soft)}; usual range "
            f"{_fmt(rule.usual_low)}-{_fmt(rule.usual_high)} {unit})"
        )
    return DoseOrder(
        protocol=protocol,
        weight_kg=total_kg,
        dosing_weight_kg=kg,
        dosing_weight_basis=protocol.dosing_weight.value,
        height_cm=height.cm if height is not None else None,
        sex=sex,
        weight_measured_on=_required(weight).measured_on,
        session_date=session_date,
        ordered_mg_per_kg=ordered if rule.basis is DoseBasis.MG_PER_KG else None,
        ordered_mg=ordered_mg,
        dose_mg=final_mg,
        dose_mg_per_kg=per_kg,
        max_mg=max_mg,
        first_session=first_session,
        notices=tuple(notices),
        overridden=tuple(soft) if accepted is not None else (),
        override=accepted,
        lines=tuple(lines),
    )


def _check_weight(
    protocol: Protocol,
    weight: Weight | None,
    previous_kg: Decimal | None,
    session_date: date,
    stops: list[Stop],
    notices: list[Notice],
) -> Decimal | None:
    """The usable weight in kg, or None after adding the stops that explain why not.

    A stale or future-dated weight still returns the kg, so the arithmetic is shown
    alongside the stop.
    """
    if weight is None:
        stops.append(Stop(StopCode.WEIGHT_MISSING, "No weight is recorded; weigh the patient."))
        return None
    kg = weight.kg
    if not isinstance(kg, Decimal) or not kg.is_finite():
        stops.append(Stop(StopCode.WEIGHT_IMPLAUSIBLE, f"Weight {kg!r} is not a number."))
        return None
    if not WEIGHT_MIN_KG <= kg <= WEIGHT_MAX_KG:
        stops.append(
            Stop(
                StopCode.WEIGHT_IMPLAUSIBLE,
                f"Weight {_fmt(kg)} kg is outside {_fmt(WEIGHT_MIN_KG)}-{_fmt(WEIGHT_MAX_KG)} kg; "
                "check the value and that it is in kg, not lb.",
            )
        )
        return None
    age_days = (session_date - weight.measured_on).days
    if age_days < 0:
        stops.append(
            Stop(
                StopCode.WEIGHT_DATE_IN_FUTURE,
                f"The weight is dated {weight.measured_on.isoformat()}, after the session date "
                f"{session_date.isoformat()}.",
            )
        )
    elif age_days > protocol.max_weight_age_days:
        stops.append(
            Stop(
                StopCode.WEIGHT_TOO_OLD,
                f"The weight is {age_days} days old (measured {weight.measured_on.isoformat()}); "
                f"this protocol needs a weight from the last {protocol.max_weight_age_days} days.",
            )
        )
    if previous_kg is not None:
        if not isinstance(previous_kg, Decimal) or not previous_kg.is_finite() or previous_kg <= 0:
            raise ValueError(f"previous weight must be a positive Decimal, got {previous_kg!r}")
        change = abs(kg - previous_kg)
        if change > previous_kg * WEIGHT_CHANGE_WARN_FRACTION:
            notices.append(
                Notice(
                    NoticeCode.WEIGHT_CHANGED,
                    f"Weight {_fmt(kg)} kg differs from the previous {_fmt(previous_kg)} kg by "
                    f"{_approx(change / previous_kg * 100, 1)}% (more than "
                    f"{_fmt(WEIGHT_CHANGE_WARN_FRACTION * 100)}%): check the weight and its unit.",
                )
            )
    return kg


def _dosing_kg(
    protocol: Protocol,
    total_kg: Decimal | None,
    height: Height | None,
    sex: str | None,
    stops: list[Stop],
    lines: list[str],
) -> Decimal | None:
    """The protocol's minimum weight on the total, then the weight the dose is computed on."""
    if total_kg is None:
        return None
    minimum = protocol.min_weight_kg
    if minimum is not None and total_kg < minimum:
        stops.append(
            Stop(
                StopCode.WEIGHT_BELOW_MINIMUM,
                f"Weight {_fmt(total_kg)} kg is below this protocol's minimum of "
                f"{_fmt(minimum)} kg for {protocol.route.value}.",
            )
        )
    basis = protocol.dosing_weight
    try:
        used = dosing_weight(
            basis=basis,
            total_kg=total_kg,
            height_cm=None if height is None else height.cm,
            sex=sex,
            formula=protocol.ideal_weight_formula,
        )
    except BodyWeightError as exc:
        stops.append(Stop(StopCode.DOSING_WEIGHT_UNAVAILABLE, f"Cannot dose: {exc}."))
        return None
    lines.extend(used.lines)
    return used.kg


def _check_per_kg(protocol: Protocol, mg: Decimal, kg: Decimal, soft: list[SoftLimit]) -> None:
    """A fixed dose's usual range per kg of dosing weight (soft limit, issue 12)."""
    rule = protocol.dose_rule
    low, high = rule.usual_low_mg_per_kg, rule.usual_high_mg_per_kg
    if low is None or high is None:
        return
    per_kg = mg / kg
    usual = f"{_fmt(low)}-{_fmt(high)} mg/kg"
    if per_kg < low:
        soft.append(
            SoftLimit(
                SoftLimitCode.BELOW_USUAL_RANGE_PER_KG,
                f"{_fmt(mg)} mg is {_approx(per_kg)} mg/kg at {_fmt(kg)} kg, below the usual "
                f"{usual}.",
            )
        )
    elif per_kg > high:
        soft.append(
            SoftLimit(
                SoftLimitCode.ABOVE_USUAL_RANGE_PER_KG,
                f"{_fmt(mg)} mg is {_approx(per_kg)} mg/kg at {_fmt(kg)} kg, above the usual "
                f"{usual}.",
            )
        )


def _max_terms(protocol: Protocol) -> str:
    cap = protocol.absolute_max
    terms = [] if cap.mg_per_kg is None else [f"{_fmt(cap.mg_per_kg)} mg/kg"]
    if cap.mg is not None:
        terms.append(f"{_fmt(cap.mg)} mg")
    return " and ".join(terms)


def interval_moment(
    *, administered_at: datetime | None, started_at: datetime | None, scheduled_start: datetime
) -> datetime:
    """The moment a dosing session counts from in the minimum interval: the dose when one
    was given, else the session's start, else its booked start. The dose order and the
    booking both date sessions by this rule."""
    return administered_at or started_at or scheduled_start


def interval_day(
    *, administered_at: datetime | None, started_at: datetime | None, scheduled_start: datetime, tz: tzinfo
) -> date:
    """The day of ``interval_moment`` in the clinic's time zone."""
    moment = interval_moment(administered_at=administered_at, started_at=started_at, scheduled_start=scheduled_start)
    return moment.astimezone(tz).date()


def check_interval(
    protocol: Protocol, last_session_date: date, session_date: date, stops: list[Stop]
) -> None:
    """The protocol's minimum interval between sessions; used at dose order and at booking."""
    days = (session_date - last_session_date).days
    if days < 0:
        stops.append(
            Stop(
                StopCode.INTERVAL_TOO_SHORT,
                f"The last session ({last_session_date.isoformat()}) is dated after this "
                f"session ({session_date.isoformat()}).",
            )
        )
    elif days < protocol.min_interval_days:
        stops.append(
            Stop(
                StopCode.INTERVAL_TOO_SHORT,
                f"Only {days} day{'' if days == 1 else 's'} since the last session ({last_session_date.isoformat()}); "
                f"this protocol needs at least {protocol.min_interval_days} days.",
            )
        )


def _ordered_value(
    given: Decimal | None,
    wrong: Decimal | None,
    default: Decimal,
    unit: str,
    wrong_unit: str,
    stops: list[Stop],
) -> Decimal | None:
    if wrong is not None:
        stops.append(
            Stop(
                StopCode.DOSE_UNIT_MISMATCH,
                f"This protocol is dosed in {unit}, but the order was given in {wrong_unit}.",
            )
        )
        return None
    if given is None:
        return default
    if not isinstance(given, Decimal) or not given.is_finite() or given <= 0:
        stops.append(
            Stop(StopCode.DOSE_INVALID, f"The ordered dose {given!r} {unit} is not usable.")
        )
        return None
    return given


def _check_ordered(
    protocol: Protocol,
    ordered: Decimal,
    first_session: bool,
    stops: list[Stop],
    soft: list[SoftLimit],
) -> None:
    rule = protocol.dose_rule
    unit = rule.basis.unit
    if rule.allowed and ordered not in rule.allowed:
        allowed = ", ".join(_fmt(d) for d in rule.allowed)
        stops.append(
            Stop(
                StopCode.DOSE_NOT_ALLOWED,
                f"{_fmt(ordered)} mg is not an allowed dose for this protocol (allowed: {allowed} mg).",
            )
        )
        return
    usual = f"{_fmt(rule.usual_low)}-{_fmt(rule.usual_high)} {unit}"
    if ordered < rule.usual_low:
        soft.append(
            SoftLimit(
                SoftLimitCode.BELOW_USUAL_RANGE,
                f"{_fmt(ordered)} {unit} is below the usual range {usual}.",
            )
        )
    elif ordered > rule.usual_high:
        soft.append(
            SoftLimit(
                SoftLimitCode.ABOVE_USUAL_RANGE,
                f"{_fmt(ordered)} {unit} is above the usual range {usual}.",
            )
        )
    if first_session and rule.first_session is not None and ordered != rule.first_session:
        soft.append(
            SoftLimit(
                SoftLimitCode.FIRST_SESSION_DOSE,
                f"The first session's dose in this protocol is {_fmt(rule.first_session)} mg, "
                f"not {_fmt(ordered)} mg.",
            )
        )


def _max_line(protocol: Protocol, kg: Decimal, max_mg: Decimal) -> str:
    cap = protocol.absolute_max
    parts = []
    if cap.mg_per_kg is not None:
        parts.append(
            f"{_fmt(cap.mg_per_kg)} mg/kg {TIMES} {_fmt(kg)} kg = {_fmt(cap.mg_per_kg * kg)} mg"
        )
    if cap.mg is not None:
        parts.append(f"{_fmt(cap.mg)} mg")
    joined = " and ".join(parts)
    return f"Absolute maximum per session: {joined}" + (
        f", the lower applies: {_fmt(max_mg)} mg" if len(parts) > 1 else ""
    )


def _override_accepted(override: Override | None) -> bool:
    return (
        override is not None
        and override.by_role == PRESCRIBER_ROLE
        and bool(override.reason.strip())
    )


def _refuse(
    stops: list[Stop],
    soft: list[SoftLimit],
    override: Override | None,
    lines: list[str],
    notices: list[Notice],
) -> DoseRefusal:
    rejected = None
    if soft and override is not None and not _override_accepted(override):
        rejected = (
            f"Only a prescriber can override a soft limit (offered by {override.by_role!r})."
            if override.by_role != PRESCRIBER_ROLE
            else "An override needs a reason."
        )
    return DoseRefusal(
        stops=tuple(stops),
        soft_limits=tuple(soft),
        override_rejected=rejected,
        lines=tuple(lines),
        notices=tuple(notices),
    )


# ---------------------------------------------------------------- stage 2: prepare


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
        allowed = ", ".join(p.code for p in protocol.products)
        stops.append(
            Stop(
                StopCode.PRODUCT_NOT_ALLOWED,
                f"Product {lot.product_code!r} is not allowed for {protocol.route.value} in "
                f"protocol {protocol.id} (allowed: {allowed}).",
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
        strengths = ", ".join(_fmt(s) for s in product.strengths)
        stops.append(
            Stop(
                StopCode.CONCENTRATION_NOT_ALLOWED,
                f"{_fmt(c)} {product.strength_unit} is not an allowed strength of {product.name} "
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
        f"{_fmt(concentration)} mg/mL must not run into a vein undiluted (at most "
        f"{_fmt(IV_MAX_ADMINISTERED_MG_ML)} mg/mL after dilution).",
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
            f"{_fmt(dose)} mg {DIVIDE} {_fmt(concentration)} {product.strength_unit} = "
            f"{_count(units, product.unit_name)}"
        )
    else:
        volume = exact_quotient(dose, concentration)
        lines.append(f"{_fmt(dose)} mg {DIVIDE} {_fmt(concentration)} mg/mL = {_approx(volume)} mL")
        if product.actuation_volume_ml is not None:
            units = volume / product.actuation_volume_ml
            lines.append(
                f"{_approx(volume)} mL {DIVIDE} {_fmt(product.actuation_volume_ml)} mL per "
                f"{product.unit_name} = {_count(units, product.unit_name)}"
            )
        stops += _volume_stops(product, volume, concentration)
    if units is not None and units != units.to_integral_value():
        stops.append(
            Stop(
                StopCode.NOT_WHOLE_UNITS,
                f"{_fmt(dose)} mg is not a whole number of {product.unit_name}s from this lot "
                f"({_count(units, product.unit_name)}); choose a lot whose strength fits the dose.",
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
        limit = f"below the {_fmt(low)} mL minimum"
    elif high is not None and volume > high:
        limit = f"above the {_fmt(high)} mL maximum"
    else:
        return []
    return [
        Stop(
            StopCode.VOLUME_OUT_OF_RANGE,
            f"{_approx(volume)} mL from a {_fmt(concentration)} mg/mL lot is {limit} for "
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
        target = _required(dilution.final_concentration_mg_ml)
        final_volume, final_concentration = dose / target, target
        diluent = dilution.diluent
        lines.append(
            f"{_fmt(dose)} mg {DIVIDE} {_fmt(target)} mg/mL = {_approx(final_volume)} mL final volume"
        )
    if drug_volume > final_volume:
        stops.append(
            Stop(
                StopCode.DILUTION_IMPOSSIBLE,
                f"{_approx(drug_volume)} mL of drug does not fit in a final volume of "
                f"{_approx(final_volume)} mL; use a stronger lot.",
            )
        )
        return None
    if final_concentration > IV_MAX_ADMINISTERED_MG_ML:
        stops.append(_undiluted_stop(final_concentration))
        return None
    diluent_volume = final_volume - drug_volume
    if diluent is not None:
        lines.append(
            f"{_approx(drug_volume)} mL drug + {_approx(diluent_volume)} mL {diluent} = "
            f"{_approx(final_volume)} mL at {_approx(final_concentration, 3)} mg/mL"
        )
    rate = final_volume * 60 / minutes
    lines.append(
        f"{_approx(final_volume)} mL {DIVIDE} {minutes} min {TIMES} 60 min/h = "
        f"{_approx(rate, 1)} mL/h"
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


# ---------------------------------------------------------------- both stages


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
            _order,
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


# ---------------------------------------------------------------- formatting

T = TypeVar("T")


def _required(value: T | None) -> T:
    if value is None:
        raise ValueError("a validated protocol field is missing")
    return value


def _fmt(value: Decimal) -> str:
    """Exact value without exponent or trailing zeros, at least one decimal place."""
    text = format(value.normalize(), "f")
    return text if "." in text else text + ".0"


def _approx(value: Decimal, places: int = 2) -> str:
    """Value to ``places`` decimals, marked with \u2248 when that is not exact."""
    rounded = value.quantize(Decimal(1).scaleb(-places))
    return _fmt(value) if rounded == value else "\u2248" + _fmt(rounded)


def _count(units: Decimal, name: str | None) -> str:
    if units == units.to_integral_value():
        return f"{int(units)} {name}" + ("" if units == 1 else "s")
    return f"{_approx(units)} {name}s"
