"""Property tests: no input yields a dose above the absolute maximum, and every volume
comes from the lot's own concentration (DESIGN 6: dosing quality bar)."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal, localcontext
from typing import Any

from hypothesis import HealthCheck, assume, event, given, settings
from hypothesis import strategies as st

from openkap.core.dosing import (
    WEIGHT_MAX_KG,
    WEIGHT_MIN_KG,
    DoseCalculation,
    DoseRefusal,
    Height,
    Lot,
    Override,
    StopCode,
    Weight,
    calculate_dose,
)
from openkap.core.protocols import (
    DoseBasis,
    ProductForm,
    Protocol,
    ProtocolError,
    example_ids,
    load_example,
    parse_protocol,
)
from openkap.core.units import DECIMAL_CONTEXT
from tests.profiles import examples

from .helpers import SESSION, example_dict


def dec(low: str, high: str, places: int) -> st.SearchStrategy[Decimal]:
    return st.decimals(min_value=Decimal(low), max_value=Decimal(high), places=places)


ROUNDINGS = [Decimal(s) for s in ("0.1", "0.5", "1", "2", "5", "10", "25", "50")]


@st.composite
def mg_per_kg_protocols(draw: st.DrawFn) -> Protocol:
    data: dict[str, Any] = example_dict(
        draw(st.sampled_from(["iv-ketamine-infusion", "im-ketamine", "oral-ketamine"]))
    )
    cap = draw(dec("0.1", "5", 2))
    high = draw(dec("0.05", str(cap), 2))
    low = draw(dec("0.01", str(high), 2))
    default = draw(dec(str(low), str(high), 2))
    data["dose_rule"] = {
        "basis": "mg_per_kg",
        "default": default,
        "usual_low": low,
        "usual_high": high,
    }
    # Issue 12: a weight-based protocol always states an absolute mg maximum, and
    # chooses the weight it doses on.
    data["absolute_max"] = {"mg_per_kg": cap, "mg": draw(dec("5", "600", 1))}
    data["rounding_mg"] = draw(st.sampled_from(ROUNDINGS))
    data["min_weight_kg"] = draw(dec("30", "60", 1))
    data["dosing_weight"] = draw(st.sampled_from(["total", "ideal", "adjusted"]))
    data["ideal_weight_formula"] = draw(st.sampled_from(["devine", "robinson"]))
    return _parse(data)


@st.composite
def fixed_protocols(draw: st.DrawFn) -> Protocol:
    data: dict[str, Any] = example_dict(
        draw(st.sampled_from(["intranasal-ketamine-racemic", "sublingual-ketamine-lozenge"]))
    )
    step = draw(st.sampled_from(ROUNDINGS))
    cap_steps = draw(st.integers(1, 40))
    high_steps = draw(st.integers(1, cap_steps))
    low_steps = draw(st.integers(1, high_steps))
    default_steps = draw(st.integers(low_steps, high_steps))
    data["dose_rule"] = {
        "basis": "fixed_mg",
        "default": step * default_steps,
        "usual_low": step * low_steps,
        "usual_high": step * high_steps,
    }
    # The maximum need not be a multiple of the step. Issue 12: a fixed-mg protocol
    # always states a per-kg ceiling and a usual range per kg.
    per_kg_cap = draw(dec("0.1", "10", 2))
    per_kg_high = draw(dec("0.05", str(per_kg_cap), 2))
    data["dose_rule"]["usual_low_mg_per_kg"] = draw(dec("0.01", str(per_kg_high), 2))
    data["dose_rule"]["usual_high_mg_per_kg"] = per_kg_high
    data["absolute_max"] = {
        "mg": step * cap_steps + draw(dec("0", str(step), 1)),
        "mg_per_kg": per_kg_cap,
    }
    data["rounding_mg"] = step
    data["min_weight_kg"] = draw(dec("30", "60", 1))
    return _parse(data)


def _parse(data: dict[str, Any]) -> Protocol:
    try:
        return parse_protocol(data)
    except ProtocolError:
        assume(False)
        raise


protocols = st.one_of(
    st.sampled_from(example_ids()).map(load_example), mg_per_kg_protocols(), fixed_protocols()
)

overrides = st.one_of(
    st.none(),
    st.builds(
        Override,
        by_role=st.sampled_from(["prescriber", "nurse", "therapist", "admin", ""]),
        reason=st.sampled_from(["", "   ", "Discussed with the patient; prior tolerance"]),
    ),
)


@st.composite
def lots(draw: st.DrawFn, protocol: Protocol) -> Lot:
    product = draw(st.sampled_from(protocol.products))
    code = draw(st.sampled_from([product.code, product.code, "spravato-28mg-device", "other"]))
    concentration = draw(
        st.one_of(
            st.sampled_from(product.strengths),
            st.none(),
            dec("-10", "200", 1),
            st.sampled_from([Decimal("NaN"), Decimal(0), Decimal("0.01")]),
        )
    )
    return Lot(product_code=code, concentration=concentration)


@st.composite
def hostile_cases(draw: st.DrawFn) -> dict[str, Any]:
    """Every input independently anything, including nonsense."""
    protocol = draw(protocols)
    kg = draw(st.one_of(st.none(), dec("0", "400", 1), dec("29", "31", 2), dec("249", "251", 2)))
    order = draw(st.sampled_from(["default", "per_kg", "mg"]))
    return {
        "protocol": protocol,
        "protocol_approved": draw(st.booleans()),
        "weight": None
        if kg is None
        else Weight(kg=kg, measured_on=SESSION - timedelta(days=draw(st.integers(-3, 400)))),
        "previous_weight_kg": draw(st.one_of(st.none(), dec("30", "250", 1))),
        "session_date": SESSION,
        "last_session_date": draw(
            st.one_of(st.none(), st.integers(-2, 30).map(lambda d: SESSION - timedelta(days=d)))
        ),
        "lot": draw(lots(protocol)),
        "dose_mg_per_kg": draw(dec("0", "6", 3)) if order == "per_kg" else None,
        "dose_mg": draw(dec("0", "600", 1)) if order == "mg" else None,
        "override": draw(overrides),
        "height": draw(st.one_of(st.none(), dec("0", "300", 1).map(lambda cm: Height(cm, SESSION)))),
        "sex": draw(st.sampled_from([None, "female", "male", "other", ""])),
    }


@st.composite
def plausible_cases(draw: st.DrawFn) -> dict[str, Any]:
    """Inputs a clinic would send: right product and strength, fresh weight, doses
    around the usual range and the maximum, so that most are approved or overridable."""
    protocol = draw(protocols)
    rule, cap = protocol.dose_rule, protocol.absolute_max
    per_kg = mg = None
    if rule.basis is DoseBasis.MG_PER_KG:
        top = (cap.mg_per_kg or rule.usual_high * 2) * Decimal("1.2")
        per_kg = draw(st.one_of(st.none(), dec("0.001", str(top), 3)))
    else:
        steps = int((cap.mg or rule.usual_high) * Decimal("1.2") / protocol.rounding_mg) + 1
        mg = draw(
            st.one_of(
                st.none(),
                st.sampled_from(rule.allowed or (rule.default,)),
                st.integers(1, steps).map(lambda n: n * protocol.rounding_mg),
            )
        )
    product = draw(st.sampled_from(protocol.products))
    last = draw(
        st.one_of(
            st.none(),
            st.integers(protocol.min_interval_days, protocol.min_interval_days + 30).map(
                lambda d: SESSION - timedelta(days=d)
            ),
        )
    )
    return {
        "protocol": protocol,
        "protocol_approved": True,
        "weight": Weight(
            kg=draw(dec("30", "250", 1)),
            measured_on=SESSION
            - timedelta(days=draw(st.integers(0, protocol.max_weight_age_days))),
        ),
        "previous_weight_kg": None,
        "session_date": SESSION,
        "last_session_date": last,
        "lot": Lot(product.code, draw(st.sampled_from(product.strengths))),
        "dose_mg_per_kg": per_kg,
        "dose_mg": mg,
        "override": draw(overrides),
        "height": Height(draw(dec("140", "210", 1)), SESSION),
        "sex": draw(st.sampled_from(["female", "male"])),
    }


cases = st.one_of(plausible_cases(), plausible_cases(), hostile_cases())


def _max_for(protocol: Protocol, kg: Decimal) -> Decimal:
    caps = []
    if protocol.absolute_max.mg is not None:
        caps.append(protocol.absolute_max.mg)
    if protocol.absolute_max.mg_per_kg is not None:
        caps.append(protocol.absolute_max.mg_per_kg * kg)
    return min(caps)


@settings(max_examples=examples(1000), deadline=None, suppress_health_check=[HealthCheck.filter_too_much])
@given(case=cases)
def test_no_input_yields_a_dose_above_the_maximum_or_a_volume_from_elsewhere(case):
    result = calculate_dose(**case)
    assert isinstance(result, DoseCalculation | DoseRefusal)
    event(type(result).__name__)
    if isinstance(result, DoseRefusal):
        assert result.stops or result.soft_limits
        return
    protocol: Protocol = case["protocol"]
    weight: Weight = case["weight"]
    lot: Lot = case["lot"]
    dose = result.dose_mg

    # Issue 12 property: never above the absolute mg maximum nor the mg/kg maximum, on
    # the dosing weight the protocol chose, which is never above the total weight, for
    # any weight in the allowed range (the plausibility limits and the protocol's minimum).
    dosing_kg = result.order.per_kg_weight
    assert dosing_kg <= weight.kg
    assert Decimal(0) < dose <= _max_for(protocol, dosing_kg) <= _max_for(protocol, weight.kg)
    assert protocol.absolute_max.mg is not None or protocol.dose_rule.basis is DoseBasis.FIXED_MG
    if protocol.absolute_max.mg is not None:
        assert dose <= protocol.absolute_max.mg
    if protocol.absolute_max.mg_per_kg is not None:
        assert dose / dosing_kg <= protocol.absolute_max.mg_per_kg
        assert dose / weight.kg <= protocol.absolute_max.mg_per_kg
    assert protocol.min_weight_kg is not None
    assert weight.kg >= protocol.min_weight_kg
    assert dose % protocol.rounding_mg == 0

    # The amount comes from the lot's concentration and nothing else.
    assert lot.concentration is not None
    assert result.concentration == lot.concentration
    assert lot.concentration in result.product.strengths
    if result.product.form is ProductForm.UNIT:
        assert result.volume_ml is None
        assert result.units is not None
        assert result.units * lot.concentration == dose
    else:
        assert result.volume_ml is not None
        with localcontext(DECIMAL_CONTEXT):
            assert result.volume_ml == dose / lot.concentration
            assert abs(result.volume_ml * lot.concentration - dose) <= dose * Decimal("1e-25")
    if result.infusion is not None:
        i = result.infusion
        assert i.drug_volume_ml == result.volume_ml
        assert abs(i.final_volume_ml * i.final_concentration_mg_ml - dose) <= dose * Decimal(
            "1e-25"
        )
        assert i.final_concentration_mg_ml <= 50

    # Every hard-stop condition was absent.
    assert case["protocol_approved"]
    assert WEIGHT_MIN_KG <= weight.kg <= WEIGHT_MAX_KG
    assert 0 <= (SESSION - weight.measured_on).days <= protocol.max_weight_age_days
    last: date | None = case["last_session_date"]
    if last is not None:
        assert (SESSION - last).days >= protocol.min_interval_days
    if protocol.dose_rule.allowed:
        assert dose in protocol.dose_rule.allowed

    # Outside the usual range only with a prescriber's reasoned override.
    rule = protocol.dose_rule
    ordered = (
        result.order.ordered_mg_per_kg
        if rule.basis is DoseBasis.MG_PER_KG
        else result.order.ordered_mg
    )
    assert ordered is not None
    per_kg_usual = (
        rule.basis is DoseBasis.MG_PER_KG
        or rule.usual_low_mg_per_kg is None
        or rule.usual_high_mg_per_kg is None
        or rule.usual_low_mg_per_kg <= dose / dosing_kg <= rule.usual_high_mg_per_kg
    )
    if not rule.usual_low <= ordered <= rule.usual_high or not per_kg_usual:
        override = case["override"]
        assert override is not None
        assert override.by_role == "prescriber"
        assert override.reason.strip()
        assert result.order.override == override


@settings(max_examples=examples(300), deadline=None, suppress_health_check=[HealthCheck.filter_too_much])
@given(case=cases)
def test_an_override_never_changes_the_hard_stops(case):
    without = calculate_dose(**{**case, "override": None})
    with_override = calculate_dose(
        **{**case, "override": Override(by_role="prescriber", reason="Clinical judgement")}
    )

    def stops(result: DoseCalculation | DoseRefusal) -> set[StopCode]:
        return {s.code for s in result.stops} if isinstance(result, DoseRefusal) else set()

    assert stops(without) == stops(with_override)
    # "overridable" tells the truth: a reasoned prescriber override then gives a dose.
    if isinstance(without, DoseRefusal) and without.overridable:
        assert isinstance(with_override, DoseCalculation)


@settings(max_examples=examples(300), deadline=None)
@given(
    protocol=st.sampled_from(example_ids()).map(load_example),
    kg=dec("30", "250", 1),
)
def test_the_default_dose_of_every_example_is_within_its_maximum(protocol, kg):
    assume(kg >= protocol.min_weight_kg)  # below it: the protocol's hard stop
    result = calculate_dose(
        protocol=protocol,
        protocol_approved=True,
        weight=Weight(kg=kg, measured_on=SESSION),
        previous_weight_kg=None,
        session_date=SESSION,
        last_session_date=None,
        lot=Lot(protocol.products[0].code, protocol.products[0].strengths[0]),
    )
    if isinstance(result, DoseCalculation):
        assert result.dose_mg <= _max_for(protocol, kg)
    else:
        # Only the first strength's volume band can refuse a default order on a fresh,
        # plausible weight (e.g. IM 10 mg/mL above 5 mL for a heavy patient).
        assert {s.code for s in result.stops} == {StopCode.VOLUME_OUT_OF_RANGE}
        assert not result.soft_limits
