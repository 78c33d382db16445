import json
import re
from decimal import Decimal
from importlib import resources

import pytest

from openkap.core.protocols import (
    DoseBasis,
    ProductForm,
    ProtocolError,
    Route,
    example_ids,
    examples,
    load_example,
    load_protocol,
    loads_protocol,
    parse_protocol,
)
from openkap.core.protocols.schema import ROUTE_FORMS
from openkap.core.vitals import DEFAULT_ALARM_RULES, DischargeCriterion

from .helpers import example_dict, protocol_from

EXAMPLES = example_ids()


def test_there_is_an_example_for_every_route():
    assert {load_example(i).route for i in EXAMPLES} == set(Route)


@pytest.mark.parametrize("protocol_id", EXAMPLES)
def test_example_loads_and_states_its_sources(protocol_id):
    protocol = load_example(protocol_id)
    assert protocol.id == protocol_id
    assert protocol.version == 1
    assert protocol.sources
    assert all(s.citation.strip() for s in protocol.sources)
    assert set(protocol.discharge_criteria) == set(DischargeCriterion)
    codes = {item.code for item in protocol.pre_dose_checklist}
    assert {"fasting", "escort-confirmed", "baseline-vitals", "consent-current"} <= codes
    # The issue-6 defaults are written out in every shipped protocol.
    assert protocol.alarm_rules == DEFAULT_ALARM_RULES


def test_iv_example_is_the_reference_protocol():
    # Sanacora 2017 / reference 1.1: 0.5 mg/kg over 40 min, soft > 0.75, hard > 1.0 mg/kg.
    p = load_example("iv-ketamine-infusion")
    assert p.dose_rule.basis is DoseBasis.MG_PER_KG
    assert (p.dose_rule.default, p.dose_rule.usual_high) == (Decimal("0.5"), Decimal("0.75"))
    assert p.absolute_max.mg_per_kg == Decimal("1.0")
    assert p.infusion_minutes == 40
    assert p.dilution is not None


def test_esketamine_example_follows_the_spravato_label():
    p = load_example("intranasal-esketamine-spravato")
    assert p.dose_rule.allowed == (Decimal(56), Decimal(84))
    assert p.dose_rule.first_session == Decimal(56)
    assert p.absolute_max.mg == Decimal(84)
    (device,) = p.products
    assert device.form is ProductForm.UNIT
    assert device.strengths == (Decimal(28),)
    assert device.interval_between_units_min == 5
    assert p.min_monitoring_minutes >= 120
    assert p.rems_required


def test_load_protocol_reads_a_file(tmp_path):
    path = tmp_path / "p.json"
    path.write_text(json.dumps(example_dict("im-ketamine"), default=str), encoding="utf-8")
    # default=str wrote the Decimals as strings, which the loader must refuse...
    with pytest.raises(ProtocolError, match=r"p\.json: dose_rule\.default: expected a number"):
        load_protocol(path)
    # ...while the example file itself, with JSON numbers, loads.
    text = resources.files(examples).joinpath("im-ketamine.json").read_text("utf-8")
    path.write_text(text, encoding="utf-8")
    assert load_protocol(path) == load_example("im-ketamine")


def test_numbers_are_read_exactly():
    p = protocol_from("iv-ketamine-infusion")
    assert isinstance(p.dose_rule.default, Decimal)
    assert str(p.dose_rule.usual_high) == "0.75"


def test_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(ProtocolError, match="cannot read"):
        load_protocol(tmp_path / "absent.json")


def test_unknown_example_lists_the_known_ones():
    with pytest.raises(ProtocolError, match="known: im-ketamine"):
        load_example("nope")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{", "not valid JSON"),
        ("[]", "protocol: expected an object, got a list"),
        ('{"id": "a", "id": "b"}', "field 'id' appears twice"),
        ('{"rounding_mg": NaN}', "NaN is not a number"),
    ],
)
def test_malformed_json_is_refused_with_a_clear_message(text, message):
    with pytest.raises(ProtocolError, match=message):
        loads_protocol(text)


def _errors(data):
    with pytest.raises(ProtocolError) as info:
        parse_protocol(data)
    return info.value.errors


def test_missing_and_unknown_fields_are_all_reported():
    data = example_dict("im-ketamine")
    del data["absolute_max"]
    data["absolute_maximum"] = {"mg_per_kg": 1}
    assert _errors(data) == ("absolute_max: missing", "absolute_maximum: unknown field")


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        (("route",), "rectal", "route: expected one of iv_infusion"),
        (("version",), "1", "version: expected a whole number, got the string '1'"),
        (("version",), Decimal("1.5"), "version: expected a whole number"),
        (("rounding_mg",), True, "rounding_mg: expected a number, got true"),
        (("dose_rule", "basis"), "mg", "dose_rule.basis: expected one of mg_per_kg, fixed_mg"),
        (("products", 0, "strengths"), 10, "products[0].strengths: expected a list"),
        (("products", 0, "form"), "powder", "products[0].form: expected one of"),
        (("alarm_rules", 0, "threshold"), 400, "alarm_rules[0]: alarm threshold 400"),
        (("alarm_rules", 0, "comparison"), "=>", "alarm_rules[0].comparison"),
        (("discharge_criteria",), ["escort"], "discharge_criteria[0]: expected one of"),
        (("sources", 0), "Lapidus", "sources[0]: expected an object, got the string"),
    ],
)
def test_wrong_types_name_the_field(path, value, message):
    data = example_dict("im-ketamine")
    target = data
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    with pytest.raises(ProtocolError, match=re.escape(message)):
        parse_protocol(data)


def _change(protocol_id, **changes):
    data = example_dict(protocol_id)
    for dotted, value in changes.items():
        target = data
        keys = dotted.split("__")
        for key in keys[:-1]:
            target = target[int(key)] if isinstance(target, list) else target[key]
        if value is None:
            target.pop(keys[-1], None)
        else:
            target[keys[-1]] = value
    return data


@pytest.mark.parametrize(
    ("protocol_id", "changes", "message"),
    [
        ("im-ketamine", {"id": "IM Ketamine"}, "id: 'IM Ketamine' must be a slug"),
        ("im-ketamine", {"version": 0}, "version: must be a whole number from 1"),
        ("im-ketamine", {"rounding_mg": 0}, "rounding_mg: must be a positive number"),
        ("im-ketamine", {"min_interval_days": -1}, "min_interval_days"),
        ("im-ketamine", {"dose_rule__default": Decimal("1.2")}, "default 1.2 mg/kg must lie"),
        ("im-ketamine", {"dose_rule__usual_high": Decimal("1.6")}, "above the absolute maximum"),
        ("im-ketamine", {"absolute_max": {}}, "absolute_max: give mg_per_kg, mg or both"),
        ("im-ketamine", {"dose_rule__allowed": [50]}, "for fixed-mg protocols only"),
        ("intranasal-ketamine-racemic", {"absolute_max": {"mg_per_kg": 2}}, "absolute_max.mg"),
        ("intranasal-ketamine-racemic", {"dose_rule__default": 45}, "not a multiple of"),
        ("intranasal-ketamine-racemic", {"dose_rule__allowed": [50, 50]}, "must not repeat"),
        ("sublingual-ketamine-lozenge", {"dose_rule__allowed": [200, 300]}, "not one of the"),
        ("im-ketamine", {"products__0__form": "unit"}, "cannot be used for route intramuscular"),
        ("im-ketamine", {"products__0__strengths": []}, "strengths must be a non-empty"),
        ("im-ketamine", {"products__0__strengths": [10, 10]}, "strengths must not repeat"),
        ("im-ketamine", {"products__0__min_volume_ml": 6}, "min_volume_ml must be below"),
        ("im-ketamine", {"products__0__unit_name": "vial"}, "unit_name is required for unit"),
        ("intranasal-ketamine-racemic", {"products__0__unit_name": None}, "unit_name"),
        ("im-ketamine", {"products__0__interval_between_units_min": 5}, "interval_between"),
        ("sublingual-ketamine-lozenge", {"products__0__max_volume_ml": 5}, "solutions only"),
        ("im-ketamine", {"products": []}, "at least one product"),
        ("im-ketamine", {"infusion_minutes": 40}, "only for IV infusion"),
        ("iv-ketamine-infusion", {"infusion_minutes": None}, "infusion_minutes: required"),
        ("iv-ketamine-infusion", {"infusion_minutes": 0}, "infusion_minutes: required"),
        # Route-product matrix: no undiluted 100 mg/mL into a vein.
        ("iv-ketamine-infusion", {"dilution": None}, "100 mg/mL cannot be infused undiluted"),
        ("iv-ketamine-infusion", {"dilution__final_concentration_mg_ml": 1}, "exactly one of"),
        ("iv-ketamine-infusion", {"dilution__diluent": " "}, "dilution.diluent"),
        ("im-ketamine", {"vitals_schedule_min": [5, 5]}, "strictly increasing"),
        ("im-ketamine", {"vitals_schedule_min": []}, "vitals_schedule_min"),
        ("im-ketamine", {"alarm_rules": []}, "at least one rule"),
        ("im-ketamine", {"discharge_criteria": ["ambulating", "ambulating"]}, "must not repeat"),
        ("im-ketamine", {"sources": []}, "sources: at least one citation"),
        ("im-ketamine", {"pre_dose_checklist__0__code": "Fasting!"}, "needs a slug code"),
    ],
)
def test_inconsistent_protocols_are_refused(protocol_id, changes, message):
    assert any(message in e for e in _errors(_change(protocol_id, **changes))), _errors(
        _change(protocol_id, **changes)
    )


def test_iv_target_concentration_must_be_weaker_than_every_strength_and_infusable():
    data = _change(
        "iv-ketamine-infusion",
        dilution={"diluent": "0.9% sodium chloride", "final_concentration_mg_ml": 60},
    )
    errors = _errors(data)
    assert any("above 50 mg/mL, too strong to infuse" in e for e in errors)
    assert any("stronger than the 10 mg/mL product" in e for e in errors)
    assert any("stronger than the 50 mg/mL product" in e for e in errors)
    assert not any("100 mg/mL product" in e for e in errors)


def test_iv_without_dilution_is_allowed_for_weak_strengths_only():
    data = _change("iv-ketamine-infusion", dilution=None, products__0__strengths=[10, 50])
    assert parse_protocol(data).dilution is None


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"rems_required": False}, "REMS"),
        ({"min_monitoring_minutes": 90}, "at least 120"),
        ({"absolute_max": {"mg": 112}, "dose_rule__allowed": [56, 84, 112]}, "at most 84 mg"),
        ({"products__0__strengths": [56]}, "devices hold 28 mg"),
        ({"products__0__interval_between_units_min": 3}, "at least 5 minutes"),
        ({"products__0__interval_between_units_min": None}, "at least 5 minutes"),
        ({"dose_rule__allowed": None, "dose_rule__first_session": None}, "allowed doses"),
    ],
)
def test_esketamine_protocols_cannot_be_looser_than_the_label(changes, message):
    assert any(message in e for e in _errors(_change("intranasal-esketamine-spravato", **changes)))


def test_route_forms_cover_every_route():
    assert set(ROUTE_FORMS) == set(Route)


def test_all_errors_of_a_protocol_are_reported_together():
    errors = _errors(_change("im-ketamine", version=0, rounding_mg=0, sources=[]))
    assert len(errors) >= 3
