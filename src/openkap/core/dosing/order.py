"""Stage 1 of the dose arithmetic: the prescriber's order (issue 6).

Weight, interval since the last session on the route, protocol limits, mg and mg/kg;
no product yet. Returns an approved ``DoseOrder`` carrying the arithmetic as text
lines, or a ``DoseRefusal`` listing every hard stop and unresolved soft limit.
"""

from __future__ import annotations

from datetime import date, datetime, tzinfo
from decimal import Decimal, localcontext
from typing import Final

from openkap.core.body_weight import BodyWeightError, DosingWeightBasis, dosing_weight
from openkap.core.dosing.results import (
    DoseOrder,
    DoseRefusal,
    Height,
    Notice,
    NoticeCode,
    Override,
    SoftLimit,
    SoftLimitCode,
    Stop,
    StopCode,
    Weight,
)
from openkap.core.dosing.text import DIVIDE, TIMES, approx, fmt, required
from openkap.core.protocols.reference_limits import anaesthetic_ceiling_errors
from openkap.core.protocols.schema import (
    DoseBasis,
    Protocol,
    safety_limit_gaps,
)
from openkap.core.routes import Route
from openkap.core.units import DECIMAL_CONTEXT, round_to_step, round_to_step_not_above

# Below or above these a weight is a typing or unit error (reference §5.2).
WEIGHT_MIN_KG: Final = Decimal(30)
WEIGHT_MAX_KG: Final = Decimal(250)
# A change larger than this since the previous weight is shown as a warning.
WEIGHT_CHANGE_WARN_FRACTION: Final = Decimal("0.10")

PRESCRIBER_ROLE: Final = "prescriber"

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
        return draft_order(
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


def draft_order(
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
        lines.append(f"{fmt(ordered)} mg/kg {TIMES} {fmt(kg)} kg = {fmt(ordered_mg)} mg")
    else:
        ordered_mg = ordered
        allowed = ", ".join(fmt(d) for d in rule.allowed)
        lines.append(
            f"Fixed dose {fmt(ordered_mg)} mg" + (f" (allowed: {allowed} mg)" if allowed else "")
        )
    lines.append(_max_line(protocol, kg, max_mg))
    if ordered_mg > max_mg:
        stops.append(
            Stop(
                StopCode.ABOVE_ABSOLUTE_MAX,
                f"{fmt(ordered_mg)} mg ({approx(ordered_mg / kg)} mg/kg at {fmt(kg)} kg) is "
                f"above the absolute maximum of {fmt(max_mg)} mg for this session "
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
            f"{fmt(ordered_mg)} mg rounded to {fmt(protocol.rounding_mg)} mg steps"
            + (" (down, to stay within the maximum)" if capped else "")
            + f" = {fmt(final_mg)} mg"
        )
    if final_mg <= 0:
        stops.append(
            Stop(
                StopCode.DOSE_ROUNDS_TO_ZERO,
                f"{fmt(ordered_mg)} mg rounds to 0 mg in {fmt(protocol.rounding_mg)} mg steps.",
            )
        )
        return _refuse(stops, soft, override, lines, notices)
    per_kg = final_mg / kg
    lines.append(f"{fmt(final_mg)} mg {DIVIDE} {fmt(kg)} kg = {approx(per_kg)} mg/kg")
    if protocol.dosing_weight is DosingWeightBasis.TOTAL:
        lines.append(f"Dosing weight: {fmt(kg)} kg, total body weight (the protocol's choice)")
    accepted = override if soft and _override_accepted(override) else None
    if stops or (soft and accepted is None and soft_limits_block):
        return _refuse(stops, soft, override, lines, notices)
    if accepted is not None:
        lines.append(
            f"Soft limit overridden by {accepted.by_role}: {accepted.reason.strip()} "
            f"({'; '.join(s.code.value for s in soft)}; usual range "
            f"{fmt(rule.usual_low)}-{fmt(rule.usual_high)} {unit})"
        )
    return DoseOrder(
        protocol=protocol,
        weight_kg=total_kg,
        dosing_weight_kg=kg,
        dosing_weight_basis=protocol.dosing_weight.value,
        height_cm=height.cm if height is not None else None,
        sex=sex,
        weight_measured_on=required(weight).measured_on,
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
        stops.append(Stop(StopCode.WEIGHT_IMPLAUSIBLE, f"Weight {kg} is not a number."))
        return None
    if not WEIGHT_MIN_KG <= kg <= WEIGHT_MAX_KG:
        stops.append(
            Stop(
                StopCode.WEIGHT_IMPLAUSIBLE,
                f"Weight {fmt(kg)} kg is outside {fmt(WEIGHT_MIN_KG)}-{fmt(WEIGHT_MAX_KG)} kg; "
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
                    f"Weight {fmt(kg)} kg differs from the previous {fmt(previous_kg)} kg by "
                    f"{approx(change / previous_kg * 100, 1)}% (more than "
                    f"{fmt(WEIGHT_CHANGE_WARN_FRACTION * 100)}%): check the weight and its unit.",
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
                f"Weight {fmt(total_kg)} kg is below this protocol's minimum of "
                f"{fmt(minimum)} kg for {protocol.route.value}.",
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
    usual = f"{fmt(low)}-{fmt(high)} mg/kg"
    if per_kg < low:
        soft.append(
            SoftLimit(
                SoftLimitCode.BELOW_USUAL_RANGE_PER_KG,
                f"{fmt(mg)} mg is {approx(per_kg)} mg/kg at {fmt(kg)} kg, below the usual "
                f"{usual}.",
            )
        )
    elif per_kg > high:
        soft.append(
            SoftLimit(
                SoftLimitCode.ABOVE_USUAL_RANGE_PER_KG,
                f"{fmt(mg)} mg is {approx(per_kg)} mg/kg at {fmt(kg)} kg, above the usual "
                f"{usual}.",
            )
        )


def _max_terms(protocol: Protocol) -> str:
    cap = protocol.absolute_max
    terms = [] if cap.mg_per_kg is None else [f"{fmt(cap.mg_per_kg)} mg/kg"]
    if cap.mg is not None:
        terms.append(f"{fmt(cap.mg)} mg")
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
            Stop(StopCode.DOSE_INVALID,
                 f"The ordered dose {given} {unit} is not usable: a dose is a number above zero.")
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
        allowed = ", ".join(fmt(d) for d in rule.allowed)
        stops.append(
            Stop(
                StopCode.DOSE_NOT_ALLOWED,
                f"{fmt(ordered)} mg is not an allowed dose for this protocol (allowed: {allowed} mg).",
            )
        )
        return
    usual = f"{fmt(rule.usual_low)}-{fmt(rule.usual_high)} {unit}"
    if ordered < rule.usual_low:
        soft.append(
            SoftLimit(
                SoftLimitCode.BELOW_USUAL_RANGE,
                f"{fmt(ordered)} {unit} is below the usual range {usual}.",
            )
        )
    elif ordered > rule.usual_high:
        soft.append(
            SoftLimit(
                SoftLimitCode.ABOVE_USUAL_RANGE,
                f"{fmt(ordered)} {unit} is above the usual range {usual}.",
            )
        )
    if first_session and rule.first_session is not None and ordered != rule.first_session:
        soft.append(
            SoftLimit(
                SoftLimitCode.FIRST_SESSION_DOSE,
                f"The first session's dose in this protocol is {fmt(rule.first_session)} mg, "
                f"not {fmt(ordered)} mg.",
            )
        )


def _max_line(protocol: Protocol, kg: Decimal, max_mg: Decimal) -> str:
    cap = protocol.absolute_max
    parts = []
    if cap.mg_per_kg is not None:
        parts.append(
            f"{fmt(cap.mg_per_kg)} mg/kg {TIMES} {fmt(kg)} kg = {fmt(cap.mg_per_kg * kg)} mg"
        )
    if cap.mg is not None:
        parts.append(f"{fmt(cap.mg)} mg")
    joined = " and ".join(parts)
    return f"Absolute maximum per session: {joined}" + (
        f", the lower applies: {fmt(max_mg)} mg" if len(parts) > 1 else ""
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


def bp_gate_applies(protocol: Protocol) -> bool:
    """Esketamine by its label; other routes where the protocol's checklist asks for a
    baseline BP at or below 140/90 (the examples all do)."""
    return protocol.route is Route.INTRANASAL_ESKETAMINE or any(
        item.code == "baseline-bp" for item in protocol.pre_dose_checklist
    )
