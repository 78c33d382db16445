"""Issue 12 through the services, the pages, the API and the PDF: per-kg ceilings of
fixed-mg protocols, the absolute mg maximum of weight-based ones, the route's minimum
weight, the protocol's dosing weight (height on the chart), and refused orders on record.

Numbers are the example protocols' (their notes mark them as clinic policy and give the
basis); ideal/adjusted weight per Devine 1974 and Bauer 2008 (see core/body_weight.py)."""

import json
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.test import Client

from openkap.accounts import services as account_services
from openkap.audit.models import AuditEvent
from openkap.core.dosing import SoftLimitCode, StopCode
from openkap.dosing import documents, selectors, services
from openkap.dosing.models import DoseOrder, ProtocolVersion, RefusedDoseOrder
from openkap.patients import services as patients
from openkap.patients.models import HeightMeasurement, WeightMeasurement
from tests.conftest import PASSWORD
from tests.dosing.conftest import book, switch_to_route, to_order
from tests.dosing.test_records import _text

pytestmark = pytest.mark.django_db


def _session_on(route, protocol_id, *, patient, ready, site, room, nurse, prescriber, admin, therapist, org,
                as_actor, nurse_actor):
    switch_to_route(patient, prescriber=prescriber, admin=admin, therapist=therapist, org=org, as_actor=as_actor,
                    route=route, protocol_id=protocol_id)
    return to_order(book(patient, ready, site, room, nurse), nurse_actor)


@pytest.fixture
def on_route(ready, library, stock, patient, site, room, nurse, prescriber, admin, therapist, org, as_actor,
             nurse_actor):
    def make(route, protocol_id):
        return _session_on(route, protocol_id, patient=patient, ready=ready, site=site, room=room, nurse=nurse,
                           prescriber=prescriber, admin=admin, therapist=therapist, org=org, as_actor=as_actor,
                           nurse_actor=nurse_actor)
    return make


def _weigh(patient, kg):
    WeightMeasurement.objects.filter(patient=patient).update(weight_kg=Decimal(kg))


def _refused(session, by, **kwargs):
    with pytest.raises(services.DoseRefused) as exc:
        services.dose_order_sign(by=by, session_id=session.id, password=PASSWORD, **kwargs)
    assert not DoseOrder.objects.filter(session=session).exists()
    return exc.value.refusal


def test_ten_mg_per_kg_lozenge_order_is_refused_and_kept_on_record(on_route, patient, prescriber_actor,
                                                                   nurse_actor, client_for, prescriber, tmp_path):
    session = on_route("sublingual", "sublingual-ketamine-lozenge")
    _weigh(patient, "30.00")
    refusal = _refused(session, prescriber_actor, dose_mg="300", override_reason="Tolerated at home before.")
    assert {s.code for s in refusal.stops} == {StopCode.WEIGHT_BELOW_MINIMUM, StopCode.ABOVE_ABSOLUTE_MAX}
    refused = RefusedDoseOrder.objects.get(session=session)
    assert refused.ordered == "300 mg"
    assert refused.attempted_by == prescriber
    assert [s["code"] for s in refused.stops] == ["weight_below_minimum", "above_absolute_max"]
    assert AuditEvent.objects.filter(object_type="refused_dose_order", object_id=str(refused.id)).exists()
    # The session page and the printed record show it.
    page = client_for(prescriber).get(f"/dosing/sessions/{session.id}/").content.decode()
    assert "Refused orders" in page
    assert "10.0 mg/kg at 30.0 kg" in page
    view = selectors.session_record(by=nurse_actor, session_id=session.id)
    text = _text(documents.session_record_pdf(view), tmp_path)
    assert "Refused dose order" in text
    assert "10.0 mg/kg at 30.0 kg" in text


def test_a_soft_limit_refusal_is_not_kept_as_a_refused_order(on_route, patient, prescriber_actor):
    session = on_route("sublingual", "sublingual-ketamine-lozenge")
    _weigh(patient, "45.00")
    refusal = _refused(session, prescriber_actor, dose_mg="200")
    assert {s.code for s in refusal.soft_limits} == {SoftLimitCode.ABOVE_USUAL_RANGE_PER_KG}
    assert not RefusedDoseOrder.objects.exists()
    order = services.dose_order_sign(by=prescriber_actor, session_id=session.id, password=PASSWORD, dose_mg="200",
                                     override_reason="Tolerated 200 mg at the last two sessions.")
    assert order.dose_mg == 200
    assert order.overridden == ["above_usual_range_per_kg"]


def test_below_the_usual_range_per_kg(on_route, patient, prescriber_actor):
    session = on_route("intranasal_racemic", "intranasal-ketamine-racemic")
    _weigh(patient, "150.00")
    # 10 mg at 150 kg = 0.067 mg/kg, below the usual 0.1 mg/kg.
    refusal = _refused(session, prescriber_actor, dose_mg="10")
    assert {s.code for s in refusal.soft_limits} == {SoftLimitCode.BELOW_USUAL_RANGE_PER_KG}


def test_im_dose_at_250_kg_is_capped_in_mg_and_no_override_passes(im_ordering, patient, prescriber_actor):
    _weigh(patient, "250.00")
    refusal = _refused(im_ordering, prescriber_actor, dose_mg_per_kg="1.5", override_reason="Prescriber's judgement.")
    assert {s.code for s in refusal.stops} == {StopCode.ABOVE_ABSOLUTE_MAX}
    assert "above the absolute maximum of 150.0 mg" in refusal.stops[0].message


def _adjusted_im(prescriber_actor, library):
    """A new approved version of the IM protocol that doses on adjusted body weight."""
    base = library["im-ketamine"]
    data = json.loads(base.content)
    data["dosing_weight"] = "adjusted"
    draft = services.protocol_revise(by=prescriber_actor, version_id=base.id, content=json.dumps(data),
                                     change_reason="Dose obese patients on adjusted body weight (Bauer 2008).")
    return services.protocol_approve(by=prescriber_actor, version_id=draft.id, password=PASSWORD)


def test_adjusted_body_weight_from_the_chart_height(im_ordering, patient, prescriber_actor, nurse_actor, library,
                                                    stock):
    _adjusted_im(prescriber_actor, library)
    patient.sex_at_birth = "male"
    patient.save(update_fields=["sex_at_birth"])
    _weigh(patient, "120.00")
    refusal = _refused(im_ordering, prescriber_actor, dose_mg_per_kg="1.0")
    assert {s.code for s in refusal.stops} == {StopCode.DOSING_WEIGHT_UNAVAILABLE}
    assert "record the patient's height" in refusal.stops[0].message
    patients.height_record(by=nurse_actor, patient_id=patient.id, value="70", unit="in")
    order = services.dose_order_sign(by=prescriber_actor, session_id=im_ordering.id, password=PASSWORD,
                                     dose_mg_per_kg="1.0")
    # 70 in = 177.8 cm; Devine IBW 73.0 kg; adjusted 73.0 + 0.4 x 47.0 = 91.8 kg; 91.8 mg -> 92 mg.
    assert order.dose_mg == 92
    assert order.weight_kg == 120
    assert order.dosing_weight_text == "91.8 kg adjusted body weight"
    assert any("Adjusted body weight" in line for line in order.lines)
    # A height recorded later does not change what the signed order recomputes to.
    patients.height_record(by=nurse_actor, patient_id=patient.id, value="190", unit="cm")
    prep = services.dose_prepare(by=nurse_actor, session_id=im_ordering.id, lot_id=stock["50"].id)
    assert prep.volume_ml == Decimal("1.840")


def test_approval_needs_the_safety_limits(prescriber_actor, admin, org, as_actor):
    from importlib import resources

    data = json.loads(resources.files("openkap.core.protocols.examples").joinpath("im-ketamine.json").read_text())
    data["absolute_max"] = {"mg_per_kg": 1.5}
    del data["min_weight_kg"]
    draft = services.protocol_draft_create(by=as_actor(admin, org), content=json.dumps(data))
    with pytest.raises(ValidationError) as exc:
        services.protocol_approve(by=prescriber_actor, version_id=draft.id, password=PASSWORD)
    text = " ".join(exc.value.message_dict["content"])
    assert "absolute_max.mg" in text
    assert "min_weight_kg" in text
    assert not ProtocolVersion.objects.get(pk=draft.id).is_approved


def test_an_approved_version_stored_without_limits_cannot_be_dosed_from(im_ordering, prescriber_actor, library):
    # A version approved before issue 12 (content without the new limits) still loads, but stops.
    version = library["im-ketamine"]
    data = json.loads(version.content)
    data["absolute_max"] = {"mg_per_kg": 1.5}
    ProtocolVersion.objects.filter(pk=version.id).update(content=json.dumps(data))
    refusal = _refused(im_ordering, prescriber_actor)
    assert {s.code for s in refusal.stops} == {StopCode.PROTOCOL_LACKS_LIMITS}


def test_height_on_the_chart_page_and_the_api(patient, nurse, therapist, org, as_actor, client_for):
    page = client_for(nurse).post(f"/patients/{patient.id}/heights/", {"value": "70", "unit": "in",
                                                                      "measured_on": "2026-01-05"})
    assert page.status_code == 302
    height = HeightMeasurement.objects.get(patient=patient)
    assert height.height_cm == Decimal("177.800")
    chart = client_for(nurse).get(f"/patients/{patient.id}/").content.decode()
    assert "177.8" in chart
    assert "70.0 in" in chart
    bad = client_for(nurse).post(f"/patients/{patient.id}/heights/", {"value": "17", "unit": "cm",
                                                                     "measured_on": "2026-01-05"})
    assert bad.status_code == 422
    _, raw = account_services.api_token_create(by=as_actor(nurse, org), name="t")
    api = Client()
    api.defaults["HTTP_AUTHORIZATION"] = f"Bearer {raw}"
    created = api.post(f"/api/v1/patients/{patient.id}/heights", json.dumps({"value": "165.5", "unit": "cm"}),
                       content_type="application/json")
    assert created.status_code == 201, created.content
    assert Decimal(created.json()["height_cm"]) == Decimal("165.5")
    listed = api.get(f"/api/v1/patients/{patient.id}/heights").json()
    assert listed["count"] == 2
    assert [h["height_cm"] for h in listed["items"]] == ["165.500", "177.800"]  # newest first
    assert api.post(f"/api/v1/patients/{patient.id}/heights", json.dumps({"value": "70", "unit": "ft"}),
                    content_type="application/json").status_code == 422
    assert HeightMeasurement.objects.count() == 2


def test_api_refuses_the_10_mg_per_kg_order_and_the_session_keeps_it(on_route, patient, prescriber, org, as_actor):
    session = on_route("sublingual", "sublingual-ketamine-lozenge")
    _weigh(patient, "30.00")
    _, raw = account_services.api_token_create(by=as_actor(prescriber, org), name="t")
    api = Client()
    api.defaults["HTTP_AUTHORIZATION"] = f"Bearer {raw}"
    refused = api.post(f"/api/v1/dosing/sessions/{session.id}/dose-order",
                       json.dumps({"password": PASSWORD, "dose_mg": "300"}), content_type="application/json")
    assert refused.status_code == 422
    assert "10.0 mg/kg at 30.0 kg" in json.dumps(refused.json())
    body = api.get(f"/api/v1/dosing/sessions/{session.id}").json()
    assert [r["ordered"] for r in body["refused_orders"]] == ["300 mg"]
    assert {s["code"] for s in body["refused_orders"][0]["stops"]} == {"weight_below_minimum", "above_absolute_max"}
