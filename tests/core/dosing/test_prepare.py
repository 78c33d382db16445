"""Stage 2: the lot drawn. Volume, units, sprays, IV dilution and pump rate; lot stops."""

from datetime import date
from decimal import Decimal

import pytest

from openkap.core.dosing import (
    DoseCalculation,
    DoseOrder,
    DoseRefusal,
    Lot,
    Override,
    StopCode,
    calculate_dose,
    lot_stops,
    order_dose,
    prepare_dose,
)
from openkap.core.protocols import Protocol, load_example

from .helpers import IV_LOT_10, SESSION, lot, protocol_from, weight


def calc(
    protocol: str | Protocol,
    the_lot: Lot,
    kg: str = "72.0",
    *,
    per_kg: str | None = None,
    mg: str | None = None,
    last: date | None = None,
    approved: bool = True,
    override: Override | None = None,
) -> DoseCalculation | DoseRefusal:
    p = load_example(protocol) if isinstance(protocol, str) else protocol
    return calculate_dose(
        protocol=p,
        protocol_approved=approved,
        weight=weight(kg),
        previous_weight_kg=None,
        session_date=SESSION,
        last_session_date=last,
        lot=the_lot,
        dose_mg_per_kg=None if per_kg is None else Decimal(per_kg),
        dose_mg=None if mg is None else Decimal(mg),
        override=override,
    )


def ok(result: DoseCalculation | DoseRefusal) -> DoseCalculation:
    assert isinstance(result, DoseCalculation), result
    return result


def stop_codes(result: DoseCalculation | DoseRefusal) -> set[StopCode]:
    assert isinstance(result, DoseRefusal), result
    return {s.code for s in result.stops}


# ---------------------------------------------------------------- IV worked examples


def test_iv_10_mg_ml_into_100_ml_worked_example():
    # Sanacora 2017 0.5 mg/kg over 40 min; 72 kg -> 36 mg; 36 / 10 = 3.6 mL;
    # 3.6 mL + 96.4 mL NaCl = 100 mL at 0.36 mg/mL; 100 mL / 40 min x 60 = 150 mL/h.
    c = ok(calc("iv-ketamine-infusion", IV_LOT_10))
    assert (c.dose_mg, c.dose_mg_per_kg, c.volume_ml) == (
        Decimal(36),
        Decimal("0.5"),
        Decimal("3.6"),
    )
    assert c.concentration == Decimal(10)
    i = c.infusion
    assert i is not None
    assert i.minutes == 40
    assert i.drug_volume_ml == Decimal("3.6")
    assert i.diluent == "0.9% sodium chloride"
    assert i.diluent_volume_ml == Decimal("96.4")
    assert i.final_volume_ml == Decimal(100)
    assert i.final_concentration_mg_ml == Decimal("0.36")
    assert i.rate_ml_per_h == Decimal(150)
    assert c.lines[-3:] == (
        "36.0 mg \u00f7 10.0 mg/mL = 3.6 mL",
        "3.6 mL drug + 96.4 mL 0.9% sodium chloride = 100.0 mL at 0.36 mg/mL",
        "100.0 mL \u00f7 40 min \u00d7 60 min/h = 150.0 mL/h",
    )


def test_iv_50_mg_ml_lot_gives_a_fifth_of_the_volume():
    # 36 mg / 50 mg/mL = 0.72 mL; the final volume and rate do not change.
    c = ok(calc("iv-ketamine-infusion", lot("ketamine-hcl-injection", "50")))
    assert c.volume_ml == Decimal("0.72")
    assert c.infusion is not None
    assert c.infusion.diluent_volume_ml == Decimal("99.28")
    assert c.infusion.rate_ml_per_h == Decimal(150)


def test_iv_100_mg_ml_lot_is_diluted_when_the_volume_is_measurable():
    # 1.0 mg/kg (override) x 72 kg = 72 mg / 100 mg/mL = 0.72 mL, then to 100 mL.
    c = ok(
        calc(
            "iv-ketamine-infusion",
            lot("ketamine-hcl-injection", "100"),
            per_kg="1.0",
            override=Override("prescriber", "Non-response at 0.75 mg/kg"),
        )
    )
    assert c.volume_ml == Decimal("0.72")
    assert c.infusion is not None
    assert c.infusion.final_concentration_mg_ml == Decimal("0.72")


def test_iv_target_concentration_dilution_worked_example():
    # Dilute to 1 mg/mL: 36 mg -> 36 mL final; 36 - 3.6 = 32.4 mL diluent; 36 x 60 / 40 = 54 mL/h.
    p = protocol_from(
        "iv-ketamine-infusion",
        dilution={"diluent": "0.9% sodium chloride", "final_concentration_mg_ml": 1},
    )
    c = ok(calc(p, IV_LOT_10))
    i = c.infusion
    assert i is not None
    assert (i.final_volume_ml, i.diluent_volume_ml, i.rate_ml_per_h) == (
        Decimal(36),
        Decimal("32.4"),
        Decimal(54),
    )
    assert "36.0 mg \u00f7 1.0 mg/mL = 36.0 mL final volume" in c.lines


def test_iv_undiluted_syringe_pump_worked_example():
    # No dilution, 10 mg/mL: 3.6 mL over 40 min = 5.4 mL/h.
    p = protocol_from(
        "iv-ketamine-infusion",
        dilution=None,
        products=[
            {
                "code": "ketamine-hcl-injection",
                "name": "Ketamine 10 mg/mL",
                "form": "solution",
                "strengths": [10],
            }
        ],
    )
    c = ok(calc(p, IV_LOT_10))
    assert c.infusion is not None
    assert c.infusion.diluent is None
    assert c.infusion.diluent_volume_ml == 0
    assert c.infusion.final_concentration_mg_ml == Decimal(10)
    assert c.infusion.rate_ml_per_h == Decimal("5.4")


def test_pump_rate_that_is_not_exact_is_marked_approximate():
    # 36 mg at 1 mg/mL over 35 min: 36 x 60 / 35 = 61.714... mL/h.
    p = protocol_from(
        "iv-ketamine-infusion",
        infusion_minutes=35,
        dilution={"diluent": "0.9% sodium chloride", "final_concentration_mg_ml": 1},
    )
    c = ok(calc(p, IV_LOT_10))
    assert c.infusion is not None
    assert abs(c.infusion.rate_ml_per_h - Decimal("61.7142857")) < Decimal("0.0000001")
    assert c.lines[-1].endswith("= \u224861.7 mL/h")


# ---------------------------------------------------------------- other routes


def test_im_worked_example():
    # im-ketamine (Dore 2019; policy): 0.5 mg/kg x 80 kg = 40 mg / 50 mg/mL = 0.8 mL.
    c = ok(calc("im-ketamine", lot("ketamine-hcl-injection", "50"), "80"))
    assert (c.dose_mg, c.volume_ml, c.infusion) == (Decimal(40), Decimal("0.8"), None)


def test_esketamine_84_mg_is_three_devices_five_minutes_apart():
    # Spravato label: 84 mg = 3 x 28 mg devices, 5-minute rest between devices.
    c = ok(
        calc(
            "intranasal-esketamine-spravato",
            lot("spravato-28mg-device", "28"),
            mg="84",
            last=date(2026, 11, 20),
        )
    )
    assert (c.units, c.unit_name, c.unit_times_min, c.volume_ml) == (3, "device", (0, 5, 10), None)
    assert "84.0 mg \u00f7 28.0 mg/device = 3 devices" in c.lines
    assert c.lines[-1] == "Give 3 devices 5 minutes apart, at 0, 5, 10 min"


def test_esketamine_56_mg_is_two_devices():
    c = ok(calc("intranasal-esketamine-spravato", lot("spravato-28mg-device", "28")))
    assert (c.units, c.unit_times_min) == (2, (0, 5))


def test_intranasal_racemic_is_shown_as_sprays():
    # Lapidus 2014: 50 mg; 100 mg/mL -> 0.5 mL -> 5 sprays of 0.1 mL; 50 mg/mL -> 10 sprays.
    c = ok(calc("intranasal-ketamine-racemic", lot("ketamine-nasal-spray-compounded", "100")))
    assert (c.volume_ml, c.units, c.unit_name) == (Decimal("0.5"), 5, "spray")
    assert c.unit_times_min == (0, 5, 10, 15, 20)
    c = ok(calc("intranasal-ketamine-racemic", lot("ketamine-nasal-spray-compounded", "50")))
    assert (c.volume_ml, c.units) == (Decimal(1), 10)


def test_sublingual_tablets_are_counted():
    # CTP: 200 mg with 100 mg rapid-dissolve tablets = 2 tablets; with 50 mg = 4 tablets.
    c = ok(calc("sublingual-ketamine-lozenge", lot("ketamine-rdt-compounded", "100"), mg="200"))
    assert (c.units, c.unit_name, c.unit_times_min) == (2, "tablet", ())
    c = ok(calc("sublingual-ketamine-lozenge", lot("ketamine-rdt-compounded", "50"), mg="200"))
    assert c.units == 4


def test_oral_solution_worked_example():
    # Andrade 2019: 0.5 mg/kg x 70 kg = 35 mg / 10 mg/mL = 3.5 mL.
    c = ok(calc("oral-ketamine", lot("ketamine-oral-solution-compounded", "10"), "70"))
    assert (c.dose_mg, c.volume_ml) == (Decimal(35), Decimal("3.5"))


def test_inexact_volume_is_exact_in_the_result_and_approximate_in_the_text():
    # A 15 mg/mL compounded oral solution: 35 / 15 = 2.333... mL.
    p = protocol_from(
        "oral-ketamine",
        products=[
            {
                "code": "ketamine-oral-solution-compounded",
                "name": "Ketamine oral solution",
                "form": "solution",
                "strengths": [15],
            }
        ],
    )
    c = ok(calc(p, lot("ketamine-oral-solution-compounded", "15"), "70"))
    assert c.volume_ml == Decimal(35) / Decimal(15)
    assert "35.0 mg \u00f7 15.0 mg/mL = \u22482.33 mL" in c.lines


# ---------------------------------------------------------------- lot stops


@pytest.mark.parametrize("concentration", [None, "0", "-10", "NaN"])
def test_unknown_concentration_is_a_hard_stop(concentration):
    r = calc("iv-ketamine-infusion", lot("ketamine-hcl-injection", concentration))
    assert stop_codes(r) == {StopCode.CONCENTRATION_UNKNOWN}
    assert "never a guess" in r.stops[0].message


def test_concentration_not_allowed_for_the_product_is_a_hard_stop():
    r = calc("iv-ketamine-infusion", lot("ketamine-hcl-injection", "20"))
    assert stop_codes(r) == {StopCode.CONCENTRATION_NOT_ALLOWED}
    assert "allowed: 10.0, 50.0, 100.0 mg/mL" in r.stops[0].message


def test_product_not_allowed_for_the_route_is_a_hard_stop():
    # A Spravato device on the IV protocol.
    r = calc("iv-ketamine-infusion", lot("spravato-28mg-device", "28"))
    assert stop_codes(r) == {StopCode.PRODUCT_NOT_ALLOWED}
    protocol = load_example("iv-ketamine-infusion")
    message = r.stops[0].message
    assert message.startswith("Lot L-1 is not a product the protocol")
    assert protocol.title in message
    assert protocol.route.label in message
    assert f"allowed: {protocol.products[0].name}" in message
    # Words, not codes.
    assert "spravato-28mg-device" not in message
    assert "ketamine-hcl-injection" not in message


def test_undiluted_100_mg_ml_iv_is_a_hard_stop():
    # A protocol without a dilution step allows 10 and 50 mg/mL only; a 100 mg/mL lot
    # drawn anyway must never be infused as it is.
    p = protocol_from(
        "iv-ketamine-infusion",
        dilution=None,
        products=[
            {
                "code": "ketamine-hcl-injection",
                "name": "Ketamine injection",
                "form": "solution",
                "strengths": [10, 50],
            }
        ],
    )
    r = calc(p, lot("ketamine-hcl-injection", "100"), override=Override("prescriber", "x"))
    assert stop_codes(r) == {StopCode.UNDILUTED_IV, StopCode.CONCENTRATION_NOT_ALLOWED}


def test_too_small_final_volume_counts_as_undiluted():
    # Final volume 1 mL: 72 mg from 100 mg/mL (0.72 mL) ends at 72 mg/mL, above 50 mg/mL.
    p = protocol_from(
        "iv-ketamine-infusion",
        dilution={"diluent": "0.9% sodium chloride", "final_volume_ml": 1},
        products=[
            {
                "code": "ketamine-hcl-injection",
                "name": "Ketamine injection",
                "form": "solution",
                "strengths": [100],
            }
        ],
    )
    r = calc(p, lot("ketamine-hcl-injection", "100"), per_kg="0.75", kg="96")
    assert stop_codes(r) == {StopCode.UNDILUTED_IV}


def test_drug_volume_larger_than_the_final_volume_is_a_hard_stop():
    # Final volume 2 mL, but 36 mg from 10 mg/mL is 3.6 mL.
    p = protocol_from(
        "iv-ketamine-infusion",
        dilution={"diluent": "0.9% sodium chloride", "final_volume_ml": 2},
    )
    r = calc(p, IV_LOT_10)
    assert stop_codes(r) == {StopCode.DILUTION_IMPOSSIBLE}


def test_iv_volume_below_the_minimum_is_a_hard_stop():
    # 36 mg from 100 mg/mL = 0.36 mL, below the 0.5 mL the IV protocol accepts.
    r = calc("iv-ketamine-infusion", lot("ketamine-hcl-injection", "100"))
    assert stop_codes(r) == {StopCode.VOLUME_OUT_OF_RANGE}
    assert "below the 0.5 mL minimum" in r.stops[0].message


def test_im_volume_above_the_maximum_catches_a_ten_fold_vial_mix_up():
    # 1.0 mg/kg x 80 kg = 80 mg: 0.8 mL from 100 mg/mL is fine, 8 mL from 10 mg/mL is not.
    ok(calc("im-ketamine", lot("ketamine-hcl-injection", "100"), "80", per_kg="1.0"))
    r = calc("im-ketamine", lot("ketamine-hcl-injection", "10"), "80", per_kg="1.0")
    assert stop_codes(r) == {StopCode.VOLUME_OUT_OF_RANGE}
    assert "above the 5.0 mL maximum" in r.stops[0].message


def test_dose_that_is_not_whole_units_is_refused_not_rounded():
    # 150 mg with 100 mg troches = 1.5 troches.
    r = calc("sublingual-ketamine-lozenge", lot("ketamine-troche-compounded", "100"), mg="150")
    assert stop_codes(r) == {StopCode.NOT_WHOLE_UNITS}
    assert "1.5 troches" in r.stops[0].message


def test_dose_that_is_not_whole_sprays_is_refused():
    # 5 mg steps: 45 mg / 100 mg/mL = 0.45 mL = 4.5 sprays of 0.1 mL.
    p = protocol_from("intranasal-ketamine-racemic", rounding_mg=5)
    r = calc(p, lot("ketamine-nasal-spray-compounded", "100"), mg="45")
    assert stop_codes(r) == {StopCode.NOT_WHOLE_UNITS}


def test_a_refused_order_also_reports_the_lot_problems():
    r = calc("iv-ketamine-infusion", lot("ketamine-hcl-injection", None), approved=False)
    assert stop_codes(r) == {StopCode.PROTOCOL_NOT_APPROVED, StopCode.CONCENTRATION_UNKNOWN}


def test_lot_stops_lets_a_picker_check_a_lot_before_any_dose():
    p = load_example("iv-ketamine-infusion")
    assert lot_stops(p, IV_LOT_10) == []
    assert [s.code for s in lot_stops(p, lot("ketamine-hcl-injection", "20"))] == [
        StopCode.CONCENTRATION_NOT_ALLOWED
    ]


def test_prepare_dose_takes_an_approved_order():
    order = order_dose(
        protocol=load_example("iv-ketamine-infusion"),
        protocol_approved=True,
        weight=weight("72.0"),
        previous_weight_kg=None,
        session_date=SESSION,
        last_session_date=None,
    )
    assert isinstance(order, DoseOrder)
    c = prepare_dose(order, lot=IV_LOT_10)
    assert isinstance(c, DoseCalculation)
    assert c.order is order
    refused = prepare_dose(order, lot=lot("ketamine-hcl-injection", None))
    assert isinstance(refused, DoseRefusal)
    assert refused.lines == order.lines


# ---------------------------------------------------------------- invariants and output


def test_a_calculation_cannot_carry_a_volume_from_another_concentration():
    c = ok(calc("iv-ketamine-infusion", IV_LOT_10))
    fields = {f: getattr(c, f) for f in c.__dataclass_fields__}
    with pytest.raises(ValueError, match="lot's concentration"):
        DoseCalculation(**{**fields, "concentration": Decimal(100)})
    with pytest.raises(ValueError, match="dose / the lot's concentration"):
        DoseCalculation(**{**fields, "volume_ml": Decimal("0.36")})


def test_calculation_to_dict():
    d = ok(calc("iv-ketamine-infusion", IV_LOT_10)).to_dict()
    assert d["status"] == "approved"
    assert d["stage"] == "prepared"
    assert (d["dose_mg"], d["dose_mg_per_kg"], d["volume_ml"]) == ("36", "0.5", "3.6")
    assert d["concentration"] == "10"
    assert d["concentration_unit"] == "mg/mL"
    assert d["lot_number"] == "L-1"
    assert d["infusion"]["rate_ml_per_h"] == "150"


def test_refusal_to_dict():
    d = calc("iv-ketamine-infusion", lot("ketamine-hcl-injection", None)).to_dict()
    assert d["status"] == "refused"
    assert [s["code"] for s in d["stops"]] == ["concentration_unknown"]
    assert d["soft_limits"] == []


def test_soft_limited_order_still_shows_the_hard_stop_an_override_would_hit():
    # IM 1.2 mg/kg (above the usual 1.0) x 80 kg = 96 mg; from 10 mg/mL that is 9.6 mL,
    # above the 5 mL maximum: the prescriber learns it before overriding.
    r = calc("im-ketamine", lot("ketamine-hcl-injection", "10"), "80", per_kg="1.2")
    assert isinstance(r, DoseRefusal)
    assert [s.code for s in r.soft_limits] == ["above_usual_range"]
    assert stop_codes(r) == {StopCode.VOLUME_OUT_OF_RANGE}
    assert not r.overridable
    assert "96.0 mg \u00f7 10.0 mg/mL = 9.6 mL" in r.lines


def test_soft_limited_order_with_a_good_lot_is_overridable():
    r = calc("im-ketamine", lot("ketamine-hcl-injection", "50"), "80", per_kg="1.2")
    assert isinstance(r, DoseRefusal)
    assert r.overridable
    c = ok(
        calc(
            "im-ketamine",
            lot("ketamine-hcl-injection", "50"),
            "80",
            per_kg="1.2",
            override=Override("prescriber", "Tolerated 1.0 mg/kg with little effect"),
        )
    )
    assert (c.dose_mg, c.volume_ml) == (Decimal(96), Decimal("1.92"))
