"""Cached predictions, the plan's curve, the session overlay and the template tags."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.template import Context, Template

from openkap.core.pk import DISCLAIMER
from openkap.pharmacokinetics import predictions


def test_same_rounded_inputs_return_the_same_cached_object():
    first = predictions.predicted_curve(route="im", dose_mg=50, weight_kg=70)
    again = predictions.predicted_curve(route="intramuscular", dose_mg=Decimal("50.00"), weight_kg=Decimal("70.04"))
    assert again is first
    assert predictions.simulation(predictions.curve_key(route="im", dose_mg=50.04, weight_kg=70)) is first.result
    other = predictions.predicted_curve(route="im", dose_mg=50, weight_kg=71)
    assert other is not first
    assert other.result.weight_kg == 71.0


def test_a_repeated_curve_is_served_from_the_cache_without_simulating_again():
    # No timed assertion (the machine may be loaded): what makes a repeated chart fast is
    # that it is not simulated again, and that is what is checked.
    predictions._prediction.cache_clear()
    predictions.simulation.cache_clear()
    first = predictions.predicted_curve(route="sublingual", dose_mg=100, weight_kg=70)
    assert first.result.n_patients == predictions.POPULATION
    assert (predictions.simulation.cache_info().misses, predictions._prediction.cache_info().misses) == (1, 1)
    for _ in range(100):
        assert predictions.predicted_curve(route="sublingual", dose_mg=100, weight_kg=70) is first
    assert (predictions.simulation.cache_info().misses, predictions._prediction.cache_info().misses) == (1, 1)
    assert predictions._prediction.cache_info().hits == 100


@pytest.fixture
def curve_files(tmp_path, settings):
    """The shared curve cache on disk, as in production (the test settings keep none)."""
    settings.CACHES = {**settings.CACHES, "pk": {
        "BACKEND": "django.core.cache.backends.filebased.FileBasedCache", "LOCATION": str(tmp_path),
        "TIMEOUT": None}}
    return tmp_path


def _new_process() -> None:
    """What another server process starts with: none of this process's curves."""
    predictions._prediction.cache_clear()
    predictions.simulation.cache_clear()


def test_a_curve_is_computed_once_for_every_process_and_restart(curve_files):
    _new_process()
    first = predictions.predicted_curve(route="oral", dose_mg=Decimal("175"), weight_kg=Decimal("70"))
    assert predictions.simulation.cache_info().misses == 1
    assert len(list(curve_files.iterdir())) == 1  # stored on disk
    _new_process()
    again = predictions.predicted_curve(route="oral", dose_mg=Decimal("175"), weight_kg=Decimal("70"))
    assert predictions.simulation.cache_info().misses == 0  # read, not simulated
    assert again.svg == first.svg
    assert again.facts == first.facts
    assert list(again.result.median) == list(first.result.median)


def test_a_new_model_version_draws_its_curves_again(curve_files, monkeypatch):
    _new_process()
    predictions.predicted_curve(route="oral", dose_mg=Decimal("175"), weight_kg=Decimal("70"))
    monkeypatch.setattr(predictions, "MODEL_VERSION", "a-later-release")
    _new_process()
    predictions.predicted_curve(route="oral", dose_mg=Decimal("175"), weight_kg=Decimal("70"))
    assert predictions.simulation.cache_info().misses == 1
    assert len(list(curve_files.iterdir())) == 2


def test_an_unwritable_curve_cache_costs_speed_not_the_curve(curve_files, monkeypatch):
    def refuse(*args, **kwargs):
        raise PermissionError("read-only folder")

    monkeypatch.setattr(type(predictions.caches["pk"]), "set", refuse)
    _new_process()
    shown = predictions.predicted_curve(route="oral", dose_mg=Decimal("175"), weight_kg=Decimal("70"))
    assert "<svg" in shown.svg


def test_weight_and_infusion_time_are_dropped_where_the_model_does_not_use_them():
    eske = predictions.curve_key(route="in-esketamine", dose_mg=56, weight_kg=80)
    assert eske.weight_kg is None
    assert predictions.curve_key(route="im", dose_mg=50, weight_kg=70, infusion_min=40).infusion_min is None
    assert predictions.curve_key(route="iv", dose_mg=35, weight_kg=70, infusion_min=40.4).infusion_min == 40.0


def test_curves_are_at_most_721_points_whatever_the_horizon():
    for hours in (0.5, 6, 24):
        key = predictions.curve_key(route="iv", dose_mg=35, weight_kg=70, hours=hours)
        assert len(predictions.simulation(key).times_min) <= 721
    assert predictions.step_seconds(6) == 30.0


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"route": "im", "dose_mg": 0, "weight_kg": 70}, "dose_mg"),
        ({"route": "im", "dose_mg": 5000, "weight_kg": 70}, "dose_mg"),
        ({"route": "im", "dose_mg": float("nan"), "weight_kg": 70}, "dose_mg"),
        ({"route": "im", "dose_mg": None, "weight_kg": 70}, "dose_mg"),
        ({"route": "im", "dose_mg": 50, "weight_kg": 10}, "weight_kg"),
        ({"route": "im", "dose_mg": 50}, "weight_kg"),
        ({"route": "im", "dose_mg": 50, "weight_kg": 70, "hours": 100}, "hours"),
        ({"route": "iv", "dose_mg": 50, "weight_kg": 70, "infusion_min": -1}, "infusion_min"),
        ({"route": "rectal", "dose_mg": 50, "weight_kg": 70}, "route"),
        ({"route": "im", "dose_mg": "50", "weight_kg": 70}, "dose_mg"),
        ({"route": "im", "dose_mg": 1e-300, "weight_kg": 70}, "dose_mg"),
    ],
)
def test_bad_input_names_the_field(kwargs, field):
    with pytest.raises(ValidationError) as caught:
        predictions.predicted_curve(**kwargs)
    assert field in caught.value.message_dict


def test_esketamine_dose_must_be_whole_devices():
    with pytest.raises(ValidationError) as caught:
        predictions.predicted_curve(route="in-esketamine", dose_mg=50)
    assert "28-mg" in caught.value.message_dict["dose_mg"][0]


def test_comparison_reports_each_refusing_route_by_name():
    with pytest.raises(ValidationError) as caught:
        predictions.compare_routes(routes=["im", "in-esketamine"], dose_mg=100, weight_kg=70)
    assert caught.value.message_dict["dose_mg"] == [
        "Intranasal esketamine: Esketamine is given in whole 28-mg nasal devices: 28, 56 or 84 mg."
    ]


def test_comparison_is_cached_and_keeps_the_route_order():
    a = predictions.compare_routes(routes=["sublingual", "im", "im"], dose_mg=100, weight_kg=70)
    b = predictions.compare_routes(routes=["sublingual", "im"], dose_mg=Decimal(100), weight_kg=Decimal(70))
    assert a is b
    assert [r.route for r in a.results] == ["sublingual", "im"]
    assert a.results[1] is predictions.predicted_curve(route="im", dose_mg=100, weight_kg=70).result
    assert DISCLAIMER in a.svg
    assert a.svg.startswith("<svg")
    assert 'aria-label="Predicted plasma concentration by route: Sublingual / buccal, IM injection"' in a.svg


def test_plan_curve_uses_the_protocol_dose_arithmetic():
    planned = predictions.plan_prediction(
        protocol_id="im-ketamine", weight_kg=Decimal("68.5"), weighed_on=date(2025, 1, 2)
    )
    assert planned.problem == ""
    # 0.5 mg/kg x 68.5 kg = 34.25 mg, rounded down to whole mg by the protocol.
    assert planned.order.dose_mg == Decimal(34)
    assert planned.prediction.result.dose_mg == 34.0
    assert planned.prediction.result.route == "im"


def test_plan_curve_for_iv_uses_the_protocol_infusion_time():
    planned = predictions.plan_prediction(
        protocol_id="iv-ketamine-infusion", weight_kg=Decimal(70), weighed_on=date(2025, 1, 2)
    )
    assert planned.prediction.result.administration == "infused over 40 min"


@pytest.mark.parametrize(
    ("protocol_id", "weight", "problem"),
    [
        ("im-ketamine", None, "No weight recorded"),
        ("no-such-protocol", Decimal(70), "Unknown protocol"),
        ("im-ketamine", Decimal(20), "Weight 20.0 kg is outside"),
    ],
)
def test_plan_curve_says_why_there_is_none(protocol_id, weight, problem):
    planned = predictions.plan_prediction(
        protocol_id=protocol_id, weight_kg=weight, weighed_on=date(2025, 1, 2) if weight else None
    )
    assert planned.prediction is None
    assert problem in planned.problem


def test_curve_tag_renders_chart_disclaimer_and_source():
    html = Template('{% load pk_tags %}{% pk_curve "intramuscular" dose weight caption="Ordered dose." %}').render(
        Context({"dose": Decimal(35), "weight": Decimal("70.0")})
    )
    assert "<svg" in html
    assert "Ordered dose." in html
    assert DISCLAIMER in html
    assert "Joint fit (openkap.core.pk.fit)" in html
    assert "population of 300 virtual patients" in html


class _Patient:
    """What the tags read of a patient: the medication list and the age on a day."""

    def __init__(self, medications: str) -> None:
        self.current_medications = medications

    def age_on(self, day: date) -> int:
        return 40


def _curve_html(route: str, medications: str) -> str:
    return Template('{% load pk_tags %}{% pk_curve route 25 70 patient=patient %}').render(
        Context({"route": route, "patient": _Patient(medications)})
    )


def test_curve_tag_draws_an_interacting_medicine_of_the_medication_list_and_names_it():
    html = _curve_html("oral", "Sertraline 100 mg daily\nClarithromycin 500 mg twice daily")
    # Named in the chart title and its source line, and the matched line is quoted.
    assert "with clarithromycin (CYP3A inhibitor)" in html
    assert "Hagelberg NM et al. Eur J Pain 2010;14:625" in html
    assert "\u201cClarithromycin 500 mg twice daily\u201d" in html
    plain = predictions.predicted_curve(route="oral", dose_mg=25, weight_kg=70)
    drawn = predictions.predicted_curve(route="oral", dose_mg=25, weight_kg=70, interaction="clarithromycin")
    assert drawn.result.interaction == "clarithromycin"
    assert drawn.result.cmax_ng_ml > 2 * plain.result.cmax_ng_ml


def test_curve_tag_does_not_combine_several_interacting_medicines():
    html = _curve_html("oral", "grapefruit juice daily; St John's wort 300 mg")
    assert "several interacting medicines" in html
    assert "with grapefruit" not in html
    assert "interaction:" not in html  # the model line names an applied interaction


def test_curve_tag_without_an_interacting_medicine_has_no_note():
    html = _curve_html("oral", "Sertraline 100 mg daily")
    assert "medication list" not in html
    assert "interaction:" not in html


def test_esketamine_curve_says_the_listed_interaction_is_not_applied():
    named = predictions.medication_interaction("rifampin 600 mg", "in-esketamine")
    assert named.key is None
    assert "no interaction data" in named.note


def test_plan_curve_applies_the_interaction_the_medication_list_names():
    planned = predictions.plan_prediction(
        protocol_id="im-ketamine", weight_kg=Decimal(70), weighed_on=date(2025, 1, 2),
        medications="Rifampicin 600 mg daily",
    )
    assert planned.prediction.result.interaction == "rifampicin"
    assert "rifampicin (CYP3A/2B6 inducer)" in planned.interaction_note
    html = Template("{% include 'pharmacokinetics/_plan_curve.html' %}").render(
        Context({"planned": planned, "weight": None})
    )
    assert "\u201cRifampicin 600 mg daily\u201d" in html
    assert "with rifampicin (CYP3A/2B6 inducer)" in html


def test_curve_tag_shows_a_notice_instead_of_failing():
    html = Template('{% load pk_tags %}{% pk_curve "oral" None None %}').render(Context({}))
    assert "No predicted curve" in html
    assert "<svg" not in html


def test_overlay_tag_takes_lists_of_dicts_and_objects():
    class Reading:
        minute, systolic, diastolic, heart_rate = 15, 150, 92, None

    html = Template(
        "{% load pk_tags %}{% pk_overlay 'im' 50 70 vitals=vitals dissociation=cadss %}"
    ).render(Context({
        "vitals": [{"minute": -5, "systolic": 128, "diastolic": 80, "heart_rate": 70}, Reading()],
        "cadss": [{"minute": 40, "score": 22}],
    }))
    assert "<svg" in html
    assert "CADSS 22" in html
    assert DISCLAIMER in html


def test_overlay_horizon_covers_the_last_observation():
    from openkap.core.pk.overlay import VitalsReading

    svg = predictions.overlay_svg(
        route="iv", dose_mg=35, weight_kg=70, vitals=[VitalsReading(200, 120, 80, 70)], dissociation=[]
    )
    assert "infused over 40 min" in svg
    key = predictions.curve_key(route="iv", dose_mg=35, weight_kg=70, hours=4.0)
    assert predictions.simulation.cache_info().currsize >= 1
    assert predictions.simulation(key).times_min[-1] == 240.0


def test_overlay_tag_with_an_unusable_observation_shows_a_notice():
    html = Template("{% load pk_tags %}{% pk_overlay 'im' 50 70 vitals=vitals %}").render(
        Context({"vitals": [{"minute": None, "systolic": 120}]})
    )
    assert "no usable time" in html


@pytest.mark.parametrize(("route", "applied"), [("im", None), ("iv", None), ("sublingual", "ticlopidine")])
def test_a_medicine_studied_by_mouth_only_is_not_drawn_on_an_injected_curve(route, applied):
    named = predictions.medication_interaction("ticlopidine 250 mg bid", route)
    assert named.key == applied
    if applied is None:
        assert "measured with S-ketamine by mouth only (Peltoniemi MA et al. Clin Pharmacol Ther" in named.note
        assert "none is applied" in named.note


def test_rifampicin_is_drawn_on_an_im_curve_its_iv_arm_measured():
    assert predictions.medication_interaction("rifampicin", "intramuscular").key == "rifampicin"
