"""Stage 1: the dose order. Every hard stop, every soft limit, worked examples."""

from datetime import date
from decimal import Decimal

import pytest

from openkap.core.dosing import (
    DoseOrder,
    DoseRefusal,
    NoticeCode,
    Override,
    SoftLimitCode,
    StopCode,
    order_dose,
)
from openkap.core.protocols import Protocol, load_example

from .helpers import SESSION, example_dict, protocol_from, weight

PRESCRIBER = Override(by_role="prescriber", reason="Partial response at 0.75 mg/kg; discussed")


def order(
    protocol: str | Protocol,
    kg: str | None = "72.0",
    *,
    approved: bool = True,
    days_old: int = 0,
    previous: str | None = None,
    last: date | None = None,
    per_kg: str | None = None,
    mg: str | None = None,
    override: Override | None = None,
) -> DoseOrder | DoseRefusal:
    p = load_example(protocol) if isinstance(protocol, str) else protocol
    return order_dose(
        protocol=p,
        protocol_approved=approved,
        weight=None if kg is None else weight(kg, days_old),
        previous_weight_kg=None if previous is None else Decimal(previous),
        session_date=SESSION,
        last_session_date=last,
        dose_mg_per_kg=None if per_kg is None else Decimal(per_kg),
        dose_mg=None if mg is None else Decimal(mg),
        override=override,
    )


def approved(result: DoseOrder | DoseRefusal) -> DoseOrder:
    assert isinstance(result, DoseOrder), result
    return result


def stop_codes(result: DoseOrder | DoseRefusal) -> set[StopCode]:
    assert isinstance(result, DoseRefusal), result
    return {s.code for s in result.stops}


def soft_codes(result: DoseOrder | DoseRefusal) -> set[SoftLimitCode]:
    assert isinstance(result, DoseRefusal), result
    return {s.code for s in result.soft_limits}


# ---------------------------------------------------------------- worked examples


def test_iv_reference_dose_worked_example():
    # Sanacora 2017 (iv-ketamine-infusion): 0.5 mg/kg x 72.0 kg = 36 mg; max 1.0 x 72 = 72 mg.
    o = approved(order("iv-ketamine-infusion", "72.0"))
    assert o.ordered_mg_per_kg == Decimal("0.5")
    assert o.ordered_mg == Decimal(36)
    assert o.dose_mg == Decimal(36)
    assert o.dose_mg_per_kg == Decimal("0.5")
    assert o.max_mg == Decimal(72)
    assert o.lines[0] == "0.5 mg/kg \u00d7 72.0 kg = 36.0 mg"
    assert (
        "Absolute maximum per session: 1.0 mg/kg \u00d7 72.0 kg = 72.0 mg and 125.0 mg, "
        "the lower applies: 72.0 mg"
    ) in o.lines
    assert "36.0 mg \u00f7 72.0 kg = 0.5 mg/kg" in o.lines


def test_iv_dose_is_rounded_to_the_protocol_step():
    # 0.5 x 72.3 = 36.15 mg -> 36 mg in 1 mg steps; 36 / 72.3 = 0.4979... mg/kg.
    o = approved(order("iv-ketamine-infusion", "72.3"))
    assert o.ordered_mg == Decimal("36.15")
    assert o.dose_mg == Decimal(36)
    assert abs(o.dose_mg_per_kg - Decimal("0.49793")) < Decimal("0.00001")
    assert "36.15 mg rounded to 1.0 mg steps = 36.0 mg" in o.lines
    assert "36.0 mg \u00f7 72.3 kg = \u22480.5 mg/kg" in o.lines


def test_rounding_never_goes_up_past_the_absolute_maximum():
    # 1.0 mg/kg (the IV hard maximum) x 70.6 kg = 70.6 mg: nearest step is 71 mg, above
    # the 70.6 mg maximum, so the dose is rounded down to 70 mg.
    o = approved(order("iv-ketamine-infusion", "70.6", per_kg="1.0", override=PRESCRIBER))
    assert o.max_mg == Decimal("70.6")
    assert o.dose_mg == Decimal(70)
    assert "70.6 mg rounded to 1.0 mg steps (down, to stay within the maximum) = 70.0 mg" in o.lines


def test_oral_rounding_to_five_mg():
    # Andrade 2019 (oral-ketamine): 0.5 mg/kg x 73 kg = 36.5 mg -> 35 mg in 5 mg steps.
    assert approved(order("oral-ketamine", "73")).dose_mg == Decimal(35)


def test_oral_the_lower_of_two_maxima_applies():
    # 3.0 mg/kg x 120 kg = 360 mg, but never above 300 mg: the maximum is 300 mg.
    o = approved(order("oral-ketamine", "120", per_kg="2.5"))
    assert o.max_mg == Decimal(300)
    assert o.dose_mg == Decimal(300)  # 2.5 x 120 = 300 exactly: allowed
    assert "the lower applies: 300.0 mg" in o.lines[1]


def test_esketamine_first_session_is_56_mg():
    # Spravato label: day 1 56 mg; weight only for the mg/kg shown.
    o = approved(order("intranasal-esketamine-spravato", "70"))
    assert o.dose_mg == Decimal(56)
    assert o.dose_mg_per_kg == Decimal("0.8")
    assert o.first_session
    assert o.lines[0] == "Fixed dose 56.0 mg (allowed: 56.0, 84.0 mg)"


def test_esketamine_84_mg_after_the_first_session():
    o = approved(order("intranasal-esketamine-spravato", "70", mg="84", last=date(2026, 11, 20)))
    assert o.dose_mg == Decimal(84)
    assert not o.first_session


def test_intranasal_racemic_default_is_the_lapidus_dose():
    assert approved(order("intranasal-ketamine-racemic")).dose_mg == Decimal(50)


# ---------------------------------------------------------------- hard stops


def test_unapproved_protocol_is_a_hard_stop():
    r = order("iv-ketamine-infusion", approved=False, override=PRESCRIBER)
    assert stop_codes(r) == {StopCode.PROTOCOL_NOT_APPROVED}
    assert "not approved" in r.stops[0].message


def test_missing_weight_is_a_hard_stop():
    r = order("iv-ketamine-infusion", None)
    assert stop_codes(r) == {StopCode.WEIGHT_MISSING}
    assert r.lines == ()


def test_missing_weight_stops_even_a_fixed_dose():
    assert stop_codes(order("intranasal-esketamine-spravato", None)) == {StopCode.WEIGHT_MISSING}


@pytest.mark.parametrize("kg", ["29.9", "250.1", "0", "-70", "700", "NaN", "Infinity"])
def test_implausible_weight_is_a_hard_stop(kg):
    r = order("iv-ketamine-infusion", kg)
    assert stop_codes(r) == {StopCode.WEIGHT_IMPLAUSIBLE}


@pytest.mark.parametrize("kg", ["30", "250"])
def test_weight_limits_are_inclusive(kg):
    # The plausibility limits; the protocol's own minimum (40 kg in the examples) set to 30.
    approved(order(protocol_from("iv-ketamine-infusion", min_weight_kg=Decimal(30)), kg))


def test_a_weight_typed_in_lb_as_kg_is_caught_by_plausibility():
    # 600 lb typed into the kg field.
    r = order("iv-ketamine-infusion", "600")
    assert "not lb" in r.stops[0].message


def test_weight_older_than_the_protocol_allows_is_a_hard_stop():
    p = load_example("iv-ketamine-infusion")
    approved(order(p, days_old=p.max_weight_age_days))
    r = order(p, days_old=p.max_weight_age_days + 1, override=PRESCRIBER)
    assert stop_codes(r) == {StopCode.WEIGHT_TOO_OLD}
    assert "31 days old" in r.stops[0].message
    # The arithmetic is still shown next to the stop.
    assert r.lines[0] == "0.5 mg/kg \u00d7 72.0 kg = 36.0 mg"


def test_weight_dated_after_the_session_is_a_hard_stop():
    assert stop_codes(order("iv-ketamine-infusion", days_old=-1)) == {
        StopCode.WEIGHT_DATE_IN_FUTURE
    }


def test_session_sooner_than_the_minimum_interval_is_a_hard_stop():
    p = load_example("im-ketamine")  # 7 days
    approved(order(p, last=date(2026, 11, 16)))
    r = order(p, last=date(2026, 11, 17), override=PRESCRIBER)
    assert stop_codes(r) == {StopCode.INTERVAL_TOO_SHORT}
    assert "Only 6 days" in r.stops[0].message


def test_last_session_after_this_one_is_a_hard_stop():
    r = order("im-ketamine", last=date(2026, 11, 24))
    assert stop_codes(r) == {StopCode.INTERVAL_TOO_SHORT}
    assert "dated after this session" in r.stops[0].message


def test_same_day_session_is_allowed_only_with_a_zero_interval():
    p = protocol_from("im-ketamine", min_interval_days=0)
    approved(order(p, last=SESSION))


def test_mg_order_on_a_mg_per_kg_protocol_is_a_hard_stop():
    r = order("iv-ketamine-infusion", mg="36")
    assert stop_codes(r) == {StopCode.DOSE_UNIT_MISMATCH}
    assert "dosed in mg/kg" in r.stops[0].message


def test_mg_per_kg_order_on_a_fixed_protocol_is_a_hard_stop():
    assert stop_codes(order("intranasal-esketamine-spravato", per_kg="0.8")) == {
        StopCode.DOSE_UNIT_MISMATCH
    }


@pytest.mark.parametrize("value", ["0", "-0.5", "NaN"])
def test_zero_negative_or_nan_order_is_a_hard_stop(value):
    r = order("iv-ketamine-infusion", per_kg=value)
    assert stop_codes(r) == {StopCode.DOSE_INVALID}
    # Said in words on the order form: the number as typed, never Decimal('-0.5').
    assert r.stops[0].message == f"The ordered dose {value} mg/kg is not usable: a dose is a number above zero."


@pytest.mark.parametrize(
    ("mg", "also"),
    [("28", set()), ("70", set()), ("112", {StopCode.ABOVE_ABSOLUTE_MAX})],
)
def test_esketamine_dose_outside_the_allowed_doses_is_a_hard_stop(mg, also):
    r = order("intranasal-esketamine-spravato", mg=mg, last=date(2026, 11, 19), override=PRESCRIBER)
    assert stop_codes(r) == {StopCode.DOSE_NOT_ALLOWED} | also
    assert "allowed: 56.0, 84.0 mg" in r.stops[0].message


def test_above_the_mg_per_kg_maximum_is_a_hard_stop_that_override_cannot_clear():
    # IV: 1.1 mg/kg x 72 kg = 79.2 mg > 1.0 x 72 = 72 mg.
    r = order("iv-ketamine-infusion", per_kg="1.1", override=PRESCRIBER)
    assert stop_codes(r) == {StopCode.ABOVE_ABSOLUTE_MAX}
    assert "is above the absolute maximum of 72.0 mg" in r.stops[0].message
    assert r.stops[0].message.startswith("79.2 mg (1.1 mg/kg at 72.0 kg)")
    assert not r.overridable


def test_above_the_mg_maximum_is_a_hard_stop():
    # Intranasal racemic: 110 mg > 100 mg maximum.
    r = order("intranasal-ketamine-racemic", mg="110", override=PRESCRIBER)
    assert StopCode.ABOVE_ABSOLUTE_MAX in stop_codes(r)


def test_even_a_fraction_above_the_maximum_stops_before_rounding():
    # 1.0 mg/kg is the maximum; 1.001 mg/kg x 100 kg = 100.1 mg would round to 100 mg,
    # but the order itself is above the maximum.
    r = order("iv-ketamine-infusion", "100", per_kg="1.001", override=PRESCRIBER)
    assert stop_codes(r) == {StopCode.ABOVE_ABSOLUTE_MAX}


def test_oral_mg_cap_stops_even_below_the_mg_per_kg_cap():
    # 2.5 mg/kg x 130 kg = 325 mg: under 3.0 x 130 = 390 mg but above 300 mg.
    r = order("oral-ketamine", "130", per_kg="2.5")
    assert stop_codes(r) == {StopCode.ABOVE_ABSOLUTE_MAX}


def test_dose_that_rounds_to_zero_is_a_hard_stop():
    data = example_dict("oral-ketamine")
    data["dose_rule"]["usual_low"] = Decimal("0.05")
    p = protocol_from("oral-ketamine", rounding_mg=10, dose_rule=data["dose_rule"])
    # 0.05 mg/kg x 80 kg = 4 mg -> 0 mg in 10 mg steps.
    r = order(p, "80", per_kg="0.05")
    assert stop_codes(r) == {StopCode.DOSE_ROUNDS_TO_ZERO}


def test_all_hard_stops_are_listed_together():
    r = order(
        "iv-ketamine-infusion",
        approved=False,
        days_old=400,
        last=date(2026, 11, 22),
        per_kg="2",
    )
    assert stop_codes(r) == {
        StopCode.PROTOCOL_NOT_APPROVED,
        StopCode.WEIGHT_TOO_OLD,
        StopCode.INTERVAL_TOO_SHORT,
        StopCode.ABOVE_ABSOLUTE_MAX,
    }
    assert soft_codes(r) == {SoftLimitCode.ABOVE_USUAL_RANGE}


# ---------------------------------------------------------------- soft limits


@pytest.mark.parametrize(
    ("per_kg", "code"),
    [("0.05", SoftLimitCode.BELOW_USUAL_RANGE), ("0.8", SoftLimitCode.ABOVE_USUAL_RANGE)],
)
def test_outside_the_usual_range_needs_an_override(per_kg, code):
    r = order("iv-ketamine-infusion", per_kg=per_kg)
    assert r.stops == ()
    assert soft_codes(r) == {code}
    assert r.overridable
    assert r.override_rejected is None


@pytest.mark.parametrize("per_kg", ["0.1", "0.75"])
def test_usual_range_bounds_are_inside(per_kg):
    approved(order("iv-ketamine-infusion", per_kg=per_kg))


def test_fixed_dose_outside_the_usual_range_needs_an_override():
    # 350 mg at 100 kg is 3.5 mg/kg, inside the per-kg range: only the mg range speaks.
    assert soft_codes(order("sublingual-ketamine-lozenge", "100", mg="350")) == {
        SoftLimitCode.ABOVE_USUAL_RANGE
    }
    assert soft_codes(order("sublingual-ketamine-lozenge", mg="50")) == {
        SoftLimitCode.BELOW_USUAL_RANGE
    }


def test_esketamine_first_session_other_than_56_mg_needs_an_override():
    r = order("intranasal-esketamine-spravato", mg="84")
    assert soft_codes(r) == {SoftLimitCode.FIRST_SESSION_DOSE}
    assert "first session's dose in this protocol is 56.0 mg" in r.soft_limits[0].message


def test_prescriber_override_with_reason_clears_soft_limits_and_is_recorded():
    o = approved(order("iv-ketamine-infusion", per_kg="0.8", override=PRESCRIBER))
    assert o.dose_mg == Decimal("57.6").quantize(Decimal(1)) == Decimal(58)
    assert [s.code for s in o.overridden] == [SoftLimitCode.ABOVE_USUAL_RANGE]
    assert o.override == PRESCRIBER
    assert any(
        line.startswith("Soft limit overridden by prescriber: Partial response") for line in o.lines
    )


@pytest.mark.parametrize(
    ("override", "why"),
    [
        (Override(by_role="nurse", reason="Doctor said so"), "Only a prescriber"),
        (Override(by_role="therapist", reason="Patient asked"), "Only a prescriber"),
        (Override(by_role="Prescriber ", reason="case"), "Only a prescriber"),
        (Override(by_role="prescriber", reason=""), "needs a reason"),
        (Override(by_role="prescriber", reason="   \n"), "needs a reason"),
    ],
)
def test_override_by_a_non_prescriber_or_without_reason_does_not_clear(override, why):
    r = order("iv-ketamine-infusion", per_kg="0.8", override=override)
    assert soft_codes(r) == {SoftLimitCode.ABOVE_USUAL_RANGE}
    assert why in (r.override_rejected or "")


def test_override_without_soft_limits_is_not_recorded():
    o = approved(order("iv-ketamine-infusion", override=PRESCRIBER))
    assert o.override is None
    assert o.overridden == ()


# ---------------------------------------------------------------- weight change


def test_weight_change_above_ten_percent_warns_without_blocking():
    # 80 vs 72 kg: 8 / 72 = 11.1 %.
    o = approved(order("iv-ketamine-infusion", "80", previous="72"))
    assert [n.code for n in o.notices] == [NoticeCode.WEIGHT_CHANGED]
    assert "by \u224811.1%" in o.notices[0].message


@pytest.mark.parametrize(("kg", "previous"), [("79.2", "72"), ("64.8", "72"), ("72", "72")])
def test_weight_change_of_ten_percent_or_less_does_not_warn(kg, previous):
    assert approved(order("iv-ketamine-infusion", kg, previous=previous)).notices == ()


@pytest.mark.parametrize(("kg", "previous"), [("79.3", "72"), ("64.7", "72")])
def test_weight_change_just_above_ten_percent_warns_both_ways(kg, previous):
    assert approved(order("iv-ketamine-infusion", kg, previous=previous)).notices


def test_weight_change_warning_travels_with_a_refusal():
    r = order("iv-ketamine-infusion", "90", previous="72", approved=False)
    assert isinstance(r, DoseRefusal)
    assert [n.code for n in r.notices] == [NoticeCode.WEIGHT_CHANGED]


def test_invalid_previous_weight_is_a_programming_error():
    with pytest.raises(ValueError, match="previous weight"):
        order("iv-ketamine-infusion", previous="0")


# ---------------------------------------------------------------- invariants


def test_a_dose_order_cannot_be_built_above_the_maximum():
    o = approved(order("iv-ketamine-infusion"))
    fields = {f: getattr(o, f) for f in o.__dataclass_fields__}
    with pytest.raises(ValueError, match="outside"):
        DoseOrder(**{**fields, "dose_mg": Decimal(73)})
    with pytest.raises(ValueError, match="max_mg"):
        DoseOrder(**{**fields, "max_mg": Decimal(100), "dose_mg": Decimal(100)})


def test_order_to_dict_is_json_ready_with_exact_strings():
    d = approved(order("iv-ketamine-infusion", "72.3")).to_dict()
    assert d["status"] == "approved"
    assert d["stage"] == "order"
    assert d["dose_mg"] == "36"
    assert d["ordered_mg"] == "36.15"
    assert d["protocol"] == {"id": "iv-ketamine-infusion", "version": 1, "route": "iv_infusion"}
