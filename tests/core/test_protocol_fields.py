"""The protocol editor's fields (core.protocols.fields) and the route limits it is
checked against (core.protocols.reference_limits), with hand-worked cases."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from openkap.core.body_weight import DosingWeightBasis, IdealWeightFormula
from openkap.core.dosing.preview import dose_preview
from openkap.core.missed_vitals import MissedVitalsPolicy
from openkap.core.protocols import (
    ProtocolError,
    example_ids,
    example_text,
    load_example,
    loads_protocol,
    parse_protocol,
)
from openkap.core.protocols.fields import (
    BY_NAME,
    FIELDS,
    FieldErrors,
    apply_fields,
    content_with,
    field_of,
    group_messages,
    to_fields,
)
from openkap.core.protocols.reference_limits import (
    anaesthetic_ceiling_errors,
    effective_max_per_kg,
    reference_warnings,
)
from openkap.core.protocols.schema import DoseBasis


def _data(example: str) -> dict:
    from importlib import resources

    text = resources.files("openkap.core.protocols.examples").joinpath(f"{example}.json").read_text()
    return json.loads(text, parse_float=Decimal)


@pytest.mark.parametrize("example", example_ids())
def test_every_example_survives_fields_and_back(example):
    # Showing every field and reading it back changes nothing a protocol states.
    data = _data(example)
    assert parse_protocol(apply_fields(data, to_fields(data))) == load_example(example)


def test_the_choices_are_the_core_enums():
    assert {c for c, _ in BY_NAME["dose_rule.basis"].choices} == {b.value for b in DoseBasis}
    assert {c for c, _ in BY_NAME["dosing_weight"].choices} == {b.value for b in DosingWeightBasis}
    assert {c for c, _ in BY_NAME["ideal_weight_formula"].choices} == {f.value for f in IdealWeightFormula}
    assert {c for c, _ in BY_NAME["missed_vitals"].choices} == {m.value for m in MissedVitalsPolicy}


def test_every_protocol_field_the_loader_knows_is_editable():
    # Top-level keys of the JSON format: each is a field, or a group of fields.
    top = {f.name.split(".")[0] for f in FIELDS}
    assert top >= {"id", "title", "route", "dose_rule", "absolute_max", "rounding_mg", "min_interval_days",
                   "max_weight_age_days", "products", "pre_dose_checklist", "vitals_schedule_min", "alarm_rules",
                   "min_monitoring_minutes", "discharge_criteria", "sources", "infusion_minutes", "dilution",
                   "rems_required", "notes", "min_weight_kg", "dosing_weight", "ideal_weight_formula",
                   "missed_vitals"}
    assert {"dose_rule.usual_low", "dose_rule.usual_high", "absolute_max.mg", "absolute_max.mg_per_kg"} <= set(BY_NAME)


def test_lists_are_read_line_by_line():
    data = apply_fields(_data("im-ketamine"), {
        "vitals_schedule_min": "5, 15\n30",
        "alarm_rules": "systolic >= 175 warning\n\nspo2 < 90 critical",
        "pre_dose_checklist": "fasting: Nothing to eat for 4 hours",
        "sources": "Label text | https://example.org/label\nA book without an address",
        "discharge_criteria": "min_monitoring_time\nescort_present",
    })
    assert data["vitals_schedule_min"] == [5, 15, 30]
    assert data["alarm_rules"] == [
        {"measure": "systolic", "comparison": ">=", "threshold": 175, "severity": "warning"},
        {"measure": "spo2", "comparison": "<", "threshold": 90, "severity": "critical"},
    ]
    assert data["pre_dose_checklist"] == [{"code": "fasting", "text": "Nothing to eat for 4 hours"}]
    assert data["sources"] == [{"citation": "Label text", "url": "https://example.org/label"},
                               {"citation": "A book without an address"}]
    assert data["discharge_criteria"] == ["min_monitoring_time", "escort_present"]


def test_an_empty_optional_field_is_removed_and_a_required_one_refused():
    data = apply_fields(_data("iv-ketamine-infusion"),
                        {"dilution.diluent": "", "dilution.final_volume_ml": "", "absolute_max.mg_per_kg": ""})
    assert "dilution" not in data
    assert "mg_per_kg" not in data["absolute_max"]
    with pytest.raises(FieldErrors) as exc:
        apply_fields(_data("iv-ketamine-infusion"), {"dose_rule.default": "  ", "title": ""})
    assert exc.value.errors == {"dose_rule.default": ["required"], "title": ["required"]}


@pytest.mark.parametrize(("name", "value", "words"), [
    ("dose_rule.usual_high", "one", "'one' is not a number"),
    ("dose_rule.usual_high", "NaN", "not a number"),
    ("dose_rule.usual_high", "1E999999999", "not a number a protocol can use"),
    ("min_interval_days", "2.5", "'2.5' is not a whole number"),
    ("vitals_schedule_min", "5, ten", "'ten' is not a whole number"),
    ("alarm_rules", "pulse > 130 warning", "'pulse' is not a measure"),
    ("alarm_rules", "systolic is high", "write it as 'measure comparison threshold severity'"),
    ("alarm_rules", "spo2 < 92 urgent", "'urgent' is not a severity"),
    ("pre_dose_checklist", "no colon here", "write it as 'code: what is checked'"),
    ("discharge_criteria", "feels_fine", "unknown criteria: feels_fine"),
    ("route", "rectal", "choose one of"),
    ("rems_required", "maybe", "answer yes or no"),
    ("products", "{not json", "not valid JSON"),
    ("products", '{"code": "x"}', "a JSON list of products"),
])
def test_unreadable_values_are_refused_by_field(name, value, words):
    with pytest.raises(FieldErrors) as exc:
        apply_fields(_data("im-ketamine"), {name: value})
    assert words in " ".join(exc.value.errors[name])


def test_unknown_fields_and_non_text_values_are_refused():
    with pytest.raises(FieldErrors) as exc:
        apply_fields(_data("im-ketamine"), {"absolute_maximum": "2", "rounding_mg": 1})
    assert exc.value.errors == {"__all__": ["unknown field: absolute_maximum"], "rounding_mg": ["give the value as text"]}


def test_the_base_is_not_changed():
    data = _data("im-ketamine")
    apply_fields(data, {"absolute_max.mg": "100", "dilution.diluent": "saline"})
    assert data == _data("im-ketamine")


def test_content_with_sets_the_fields_and_keeps_the_rest():
    # im-ketamine ships a default of 0.5 mg/kg; the editor sets 0.6 and nothing else moves.
    text = content_with(example_text("im-ketamine"), {"dose_rule.default": "0.6"})
    data = json.loads(text, parse_float=Decimal)
    assert data["dose_rule"]["default"] == Decimal("0.6")
    expected = _data("im-ketamine")
    expected["dose_rule"]["default"] = Decimal("0.6")
    assert data == expected
    assert text.endswith("}\n")


def test_content_with_refuses_by_field():
    with pytest.raises(FieldErrors) as exc:
        content_with(example_text("im-ketamine"), {"dose_rule.default": "half", "title": ""})
    assert set(exc.value.errors) == {"dose_rule.default", "title"}


@pytest.mark.parametrize("example", example_ids())
def test_example_text_is_the_shipped_file(example):
    assert loads_protocol(example_text(example)) == load_example(example)


def test_an_unknown_example_is_refused():
    with pytest.raises(ProtocolError, match="no example protocol 'ketamine-x'"):
        example_text("ketamine-x")


@pytest.mark.parametrize(("message", "field"), [
    ("dose_rule.usual_high 1.2 mg/kg is above the absolute maximum 1.0 mg/kg", "dose_rule.usual_high"),
    ("dose_rule.default: must be a positive number", "dose_rule.default"),
    ("dose_rule: default 2 mg/kg must lie within the usual range", None),
    ("products[0] (x): code must be a slug", "products"),
    ("alarm_rules[3].threshold: expected a whole number", "alarm_rules"),
    ("min_weight_kg: state the minimum body weight for this route", "min_weight_kg"),
    ("absolute_max: give mg_per_kg, mg or both", None),
    ("Protocol x is weird", None),
])
def test_each_message_finds_its_field(message, field):
    assert field_of(message) == field
    assert group_messages([message]) == {field or "__all__": [message]}


@given(st.decimals(min_value=Decimal("0.001"), max_value=Decimal(10000), places=3))
def test_a_decimal_is_stored_exactly(value):
    data = apply_fields(_data("im-ketamine"), {"absolute_max.mg": format(value, "f")})
    assert data["absolute_max"]["mg"] == value
    assert to_fields(data)["absolute_max.mg"] == format(value, "f")


# --- route limits (reference section 1; Ketalar label) ------------------------------------


def _with(example: str, **fields: str):
    return parse_protocol(apply_fields(_data(example), fields))


def test_effective_ceiling_is_the_lower_of_per_kg_and_mg_at_the_minimum_weight():
    # IV example: 1.0 mg/kg and 125 mg; at 40 kg 125 mg is 3.125 mg/kg, so 1.0 applies.
    assert effective_max_per_kg(load_example("iv-ketamine-infusion")) == Decimal("1.0")
    # Without the per-kg ceiling, 125 mg at 40 kg is 3.125 mg/kg.
    assert effective_max_per_kg(_with("iv-ketamine-infusion", **{"absolute_max.mg_per_kg": ""})) == Decimal("3.125")


@pytest.mark.parametrize("example", example_ids())
def test_the_shipped_examples_are_within_the_reference(example):
    protocol = load_example(example)
    assert anaesthetic_ceiling_errors(protocol) == []
    assert reference_warnings(protocol) == []


def test_an_iv_ceiling_at_an_anaesthetic_dose_is_refused():
    # 2 mg/kg IV is the label's average induction dose.
    assert anaesthetic_ceiling_errors(_with("iv-ketamine-infusion", **{"absolute_max.mg_per_kg": "1.99"})) == []
    refused = anaesthetic_ceiling_errors(_with("iv-ketamine-infusion", **{"absolute_max.mg_per_kg": "2"}))
    assert len(refused) == 1
    assert "average anaesthetic induction dose" in refused[0]
    # A mg-only ceiling is judged at the lightest patient: 125 mg at 40 kg = 3.125 mg/kg.
    assert anaesthetic_ceiling_errors(_with("iv-ketamine-infusion", **{"absolute_max.mg_per_kg": ""}))


def test_an_im_ceiling_at_an_anaesthetic_dose_is_refused():
    # IM induction starts at 6.5 mg/kg: 300 mg at 45 kg is 6.67 mg/kg.
    high = _with("im-ketamine", **{"absolute_max.mg_per_kg": "", "absolute_max.mg": "300", "min_weight_kg": "45"})
    assert anaesthetic_ceiling_errors(high)
    low = _with("im-ketamine", **{"absolute_max.mg_per_kg": "", "absolute_max.mg": "250", "min_weight_kg": "45"})
    assert anaesthetic_ceiling_errors(low) == []  # 5.56 mg/kg: a warning, not a refusal
    assert "1.5 mg/kg IM" in reference_warnings(low)[0]


@pytest.mark.parametrize(("example", "fields", "words"), [
    ("iv-ketamine-infusion", {"absolute_max.mg_per_kg": "1.2"}, "allows 1.2 mg/kg"),
    ("iv-ketamine-infusion", {"dose_rule.usual_high": "0.8"}, "0.8 mg/kg without an override"),
    ("oral-ketamine", {"absolute_max.mg": "350"}, "350 mg"),
    ("sublingual-ketamine-lozenge", {"absolute_max.mg": "450"}, "100-400 mg"),
])
def test_above_the_suggested_limits_warns(example, fields, words):
    warnings = reference_warnings(_with(example, **fields))
    assert len(warnings) == 1
    assert words in warnings[0]


def test_dose_preview_shows_the_arithmetic_for_sample_patients():
    samples = {s.label: s for s in dose_preview(load_example("im-ketamine"), today=__import__("datetime").date(2026, 1, 5))}
    assert set(samples) == {"40 kg", "50 kg", "70 kg", "120 kg"}
    # 0.5 mg/kg x 70 kg = 35 mg; at 120 kg 60 mg, under the 150 mg / 1.5 mg/kg ceiling.
    assert samples["70 kg"].dose_mg == Decimal(35)
    assert samples["120 kg"].dose_mg == Decimal(60)
    assert "0.5 mg/kg × 70 kg = 35 mg" in samples["70 kg"].lines[0].replace(".0 kg", " kg").replace(".0 mg", " mg")


def test_dose_preview_of_esketamine_is_the_fixed_dose_and_ideal_weight_names_the_sample():
    day = __import__("datetime").date(2026, 1, 5)
    assert {s.dose_mg for s in dose_preview(load_example("intranasal-esketamine-spravato"), today=day)} == {Decimal(56)}
    ideal = _with("iv-ketamine-infusion", dosing_weight="ideal")
    samples = dose_preview(ideal, today=day)
    assert all("170 cm, female" in s.label for s in samples)
    # Devine, female, 170 cm: 45.5 + 2.3 x (170/2.54 - 60) = 61.44 kg; 0.5 mg/kg -> 30.72 mg, to 1 mg: 31 mg.
    # Below the ideal weight the total is used: 50 kg -> 25 mg.
    doses = {s.label.split(",")[0]: s.dose_mg for s in samples}
    assert doses == {"40 kg": Decimal(20), "50 kg": Decimal(25), "70 kg": Decimal(31), "120 kg": Decimal(31)}


def test_a_session_never_doses_from_a_protocol_with_an_anaesthetic_ceiling():
    # A version stored before this check (or by hand) still loads, but the order is refused.
    from datetime import date

    from openkap.core.dosing import DoseRefusal, StopCode, Weight, order_dose

    protocol = _with("iv-ketamine-infusion", **{"absolute_max.mg_per_kg": "", "absolute_max.mg": "200"})
    result = order_dose(protocol=protocol, protocol_approved=True, weight=Weight(Decimal(70), date(2026, 1, 5)),
                        previous_weight_kg=None, session_date=date(2026, 1, 5), last_session_date=None)
    assert isinstance(result, DoseRefusal)
    assert [s.code for s in result.stops] == [StopCode.PROTOCOL_LACKS_LIMITS]
    assert "anaesthetic induction dose" in result.stops[0].message
