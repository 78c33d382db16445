"""Issue 12: per-kg ceilings for fixed-mg protocols, an absolute mg maximum for weight-based
ones, the route's minimum weight, and the protocol's choice of dosing weight.

The per-kg numbers are those of the example protocols, which mark them as clinic policy
and give their basis (sublingual: CTP 100-400 mg, Andrade 2019 oral 0.25-7 mg/kg, Rolan
2014 F 29%; IM: Dore 2019 / reference 1.2 up to 1.5 mg/kg, 150 mg cap clinic policy)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from openkap.core.dosing import (
    DoseCalculation,
    DoseRefusal,
    Height,
    Lot,
    Override,
    SoftLimitCode,
    StopCode,
    Weight,
    calculate_dose,
    order_dose,
)
from openkap.core.protocols import load_example

from .helpers import SESSION, example_dict, protocol_from

D = Decimal
OVERRIDE = Override(by_role="prescriber", reason="Discussed; tolerated before")


def _calc(protocol, kg, *, mg=None, per_kg=None, lot=None, override=None, height=None, sex=None):
    p = load_example(protocol) if isinstance(protocol, str) else protocol
    return calculate_dose(
        protocol=p, protocol_approved=True, weight=Weight(D(kg), SESSION), previous_weight_kg=None,
        session_date=SESSION, last_session_date=None,
        lot=lot or Lot(p.products[0].code, p.products[0].strengths[-1]),
        dose_mg=None if mg is None else D(mg), dose_mg_per_kg=None if per_kg is None else D(per_kg),
        override=override, height=None if height is None else Height(D(height), SESSION), sex=sex,
    )


def _stops(result):
    assert isinstance(result, DoseRefusal), result
    return {s.code for s in result.stops}


@pytest.mark.parametrize("override", [None, OVERRIDE])
def test_reviewers_10_mg_per_kg_lozenge_order_is_refused(override):
    # The command: 300 mg lozenge for 30 kg with 100 mg RDTs = 10 mg/kg.
    r = _calc("sublingual-ketamine-lozenge", "30", mg="300", lot=Lot("ketamine-rdt-compounded", D(100)),
              override=override)
    assert _stops(r) == {StopCode.WEIGHT_BELOW_MINIMUM, StopCode.ABOVE_ABSOLUTE_MAX}
    above = next(s for s in r.stops if s.code is StopCode.ABOVE_ABSOLUTE_MAX)
    assert above.message.startswith("300.0 mg (10.0 mg/kg at 30.0 kg)")
    assert "5.0 mg/kg" in above.message


def test_400_mg_at_30_kg_is_not_cleared_by_an_override():
    # 13.3 mg/kg: the "passes with one override"; now a hard stop.
    r = _calc("sublingual-ketamine-lozenge", "30", mg="400", override=OVERRIDE)
    assert StopCode.ABOVE_ABSOLUTE_MAX in _stops(r)
    assert not r.overridable


def test_fixed_dose_above_the_per_kg_ceiling_above_the_minimum_weight():
    # 45 kg: 5.0 mg/kg x 45 = 225 mg; 300 mg is refused, 200 mg (4.4 mg/kg) needs an override.
    assert _stops(_calc("sublingual-ketamine-lozenge", "45", mg="300", override=OVERRIDE)) == {
        StopCode.ABOVE_ABSOLUTE_MAX
    }
    soft = _calc("sublingual-ketamine-lozenge", "45", mg="200")
    assert {s.code for s in soft.soft_limits} == {SoftLimitCode.ABOVE_USUAL_RANGE_PER_KG}
    assert "4.44 mg/kg at 45.0 kg, above the usual 0.4-4.0 mg/kg" in soft.soft_limits[0].message
    done = _calc("sublingual-ketamine-lozenge", "45", mg="200", override=OVERRIDE)
    assert isinstance(done, DoseCalculation)
    assert done.dose_mg == 200


def test_weight_based_dose_is_capped_in_mg_whatever_the_weight():
    # The issue: IM 1.5 mg/kg at 250 kg = 375 mg. The IM example caps a session at 150 mg.
    r = _calc("im-ketamine", "250", per_kg="1.5", override=OVERRIDE)
    assert _stops(r) == {StopCode.ABOVE_ABSOLUTE_MAX}
    assert "150.0 mg" in r.stops[0].message
    ok = _calc("im-ketamine", "100", per_kg="1.5", override=OVERRIDE)
    assert isinstance(ok, DoseCalculation)
    assert ok.dose_mg == 150


def test_protocol_without_its_ceilings_cannot_be_dosed_from():
    data = example_dict("sublingual-ketamine-lozenge")
    data["absolute_max"] = {"mg": 400}
    del data["dose_rule"]["usual_low_mg_per_kg"], data["dose_rule"]["usual_high_mg_per_kg"]
    del data["min_weight_kg"]
    from openkap.core.protocols import parse_protocol

    r = _calc(parse_protocol(data), "70", mg="100")
    assert _stops(r) == {StopCode.PROTOCOL_LACKS_LIMITS}
    message = r.stops[0].message
    assert "absolute_max.mg_per_kg" in message
    assert "min_weight_kg" in message
    assert "usual_low_mg_per_kg" in message
    im = example_dict("im-ketamine")
    im["absolute_max"] = {"mg_per_kg": D("1.5")}
    assert "absolute_max.mg:" in _calc(parse_protocol(im), "70").stops[0].message


def test_adjusted_body_weight_protocol_doses_on_the_adjusted_weight():
    # Male 177.8 cm (70 in), 120 kg: IBW (Devine) 73.0, adjusted 91.8 kg (Bauer 2008).
    # 1.0 mg/kg x 91.8 = 91.8 mg -> 92 mg in 1 mg steps; ceiling 1.5 x 91.8 = 137.7 mg.
    p = protocol_from("im-ketamine", dosing_weight="adjusted")
    r = _calc(p, "120", per_kg="1.0", height="177.8", sex="male", lot=Lot("ketamine-hcl-injection", D(50)))
    assert isinstance(r, DoseCalculation), r
    assert (r.order.per_kg_weight, r.order.weight_kg, r.dose_mg) == (D("91.80"), D(120), D(92))
    assert r.order.max_mg == D("137.700")
    assert r.order.to_dict()["dosing_weight"] == {"basis": "adjusted", "kg": "91.8", "height_cm": "177.8", "sex": "male"}
    assert any(line.startswith("Ideal body weight (Devine, male)") for line in r.lines)
    assert "1.0 mg/kg \u00d7 91.8 kg = 91.8 mg" in r.lines


def test_ideal_weight_protocol_without_height_is_a_hard_stop():
    p = protocol_from("iv-ketamine-infusion", dosing_weight="ideal")
    assert _stops(_calc(p, "90", sex="female")) == {StopCode.DOSING_WEIGHT_UNAVAILABLE}
    assert _stops(_calc(p, "90", height="165")) == {StopCode.DOSING_WEIGHT_UNAVAILABLE}


def test_28_mg_esketamine_where_the_clinics_protocol_sets_it():
    # EU SmPC: patients 65 and older start at 28 mg (reference 1.5). A clinic protocol that
    # allows 28 mg gets one device; the code does not forbid it.
    data = example_dict("intranasal-esketamine-spravato")
    data["id"] = "esketamine-65-plus"
    data["dose_rule"].update(default=28, usual_low=28, allowed=[28, 56, 84], first_session=28)
    from openkap.core.protocols import parse_protocol

    p = parse_protocol(data)
    r = _calc(p, "70", mg="28", lot=Lot(p.products[0].code, D(28)))
    assert isinstance(r, DoseCalculation), r
    assert (r.dose_mg, r.units, r.unit_name) == (D(28), 1, "device")
    # The US-label example still refuses 28 mg (not one of its allowed doses).
    assert StopCode.DOSE_NOT_ALLOWED in _stops(_calc("intranasal-esketamine-spravato", "70", mg="28"))


def test_order_dose_reports_the_weight_basis_for_total_weight():
    o = order_dose(protocol=load_example("iv-ketamine-infusion"), protocol_approved=True,
                   weight=Weight(D(72), SESSION), previous_weight_kg=None, session_date=SESSION,
                   last_session_date=None)
    assert o.lines[-1] == "Dosing weight: 72.0 kg, total body weight (the protocol's choice)"
