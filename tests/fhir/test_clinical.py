"""The rest of the clinical record over FHIR, walked there through the services (intake,
eligibility, plan, consent, a signed order, preparation, two-person check, the
injection, an adverse event): Condition, CarePlan, Consent, MedicationRequest,
MedicationAdministration, AdverseEvent, Appointment, Medication, PractitionerRole.
Every resource validates with fhir.resources (R4B). Psychotherapy notes never leave."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.utils import timezone

from openkap.dosing import services as dosing
from openkap.pathway import services as pathway
from openkap.scheduling.models import Appointment
from tests.dosing.conftest import run_to_monitoring
from tests.fhir.conftest import validate

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("daytime_clinic")]  # sessions earlier today
PSYCHOTHERAPY_SECRET = "PROCESS NOTE: dream about the lighthouse"


@pytest.fixture
def treated(im_session, nurse_actor, second_nurse_actor, prescriber_actor, stock, therapist, org, patient, site):
    from openkap.accounts.authz import build_actor

    session = run_to_monitoring(im_session, nurse_actor=nurse_actor, verifier_actor=second_nurse_actor,
                                prescriber_actor=prescriber_actor, lot=stock["50"])
    event = dosing.adverse_event_record(by=nurse_actor, session_id=session.id, code="nausea", severity="mild",
                                        outcome="resolved", serious=False, onset_at=timezone.now() - timedelta(minutes=30))
    appointment = Appointment.objects.create(
        organization=org, patient=patient, kind="integration", site=site, start=timezone.now() + timedelta(days=2),
        end=timezone.now() + timedelta(days=2, hours=1), created_by=therapist)
    pathway.psychotherapy_note_write(by=build_actor(therapist, org), patient_id=patient.id,
                                     session_date=timezone.localdate(), text=PSYCHOTHERAPY_SECRET)
    return {"session": session, "event": event, "appointment": appointment}


def entries(client, query):
    response = client.get(query)
    assert response.status_code == 200, response.content
    return [e["resource"] for e in validate(response.json()).get("entry", [])]


def test_the_treated_patient_over_fhir(treated, patient, nurse, therapist, org, fhir_as, outsider, other_org):
    client = fhir_as(nurse, org)
    pid = patient.id

    (condition,) = entries(client, f"Condition?patient={pid}")
    assert condition["code"]["coding"][0] == {"system": "http://hl7.org/fhir/sid/icd-10-cm", "code": "F33.2",
                                              "display": "Major depressive disorder, recurrent, severe"}
    assert entries(client, f"Condition?patient={pid}&code=F33.2")

    plans = entries(fhir_as(therapist, org), f"CarePlan?patient={pid}")
    assert [p["status"] for p in plans] == ["revoked", "active"]  # the IM plan replaced the first one
    consents = entries(client, f"Consent?patient={pid}&status=active")
    assert consents
    assert all(c["sourceAttachment"]["hash"] for c in consents)

    (order,) = entries(client, f"MedicationRequest?patient={pid}")
    assert order["status"] == "active"
    assert order["dosageInstruction"][0]["route"]["coding"][0]["code"] == "78421000"  # SNOMED intramuscular
    assert order["dosageInstruction"][0]["doseAndRate"][0]["doseQuantity"]["code"] == "mg"
    assert entries(client, f"MedicationRequest?patient={pid}&status=cancelled") == []

    (given,) = entries(client, f"MedicationAdministration?patient={pid}")
    assert given["contained"][0]["batch"]["lotNumber"] == "L-50"
    assert given["dosage"]["route"]["coding"][0]["code"] == "78421000"
    assert given["dosage"]["dose"]["unit"] == "mL"
    assert given["request"]["reference"] == f"MedicationRequest/{order['id']}"
    assert given["context"]["reference"] == f"Encounter/{treated['session'].id}"

    (event,) = entries(client, f"AdverseEvent?patient={pid}")
    assert (event["severity"]["coding"][0]["code"], event["seriousness"]["coding"][0]["code"]) == ("mild", "non-serious")
    (appointment,) = entries(client, f"Appointment?patient={pid}&status=booked")
    assert appointment["serviceType"][0]["text"] == "Integration session"

    medications = entries(client, "Medication?code=http://hl7.org/fhir/sid/ndc|0409-2053-10")
    assert medications[0]["extension"][0]["valueCode"] == "CIII"
    roles = entries(client, "PractitionerRole?role=prescriber")
    assert roles[0]["identifier"][0]["value"] == "1234567893"

    for resource in (condition, plans[1], consents[0], order, given, event, appointment):
        read = client.get(f"{resource['resourceType']}/{resource['id']}")
        assert validate(read.json())["id"] == resource["id"]
        assert fhir_as(outsider, other_org).get(f"{resource['resourceType']}/{resource['id']}").status_code == 404


def test_roles_without_access_get_403(treated, patient, admin, researcher, org, fhir_as):
    admin_client = fhir_as(admin, org)
    for resource_type in ("Condition", "CarePlan", "Consent", "MedicationRequest", "MedicationAdministration",
                          "AdverseEvent"):
        assert admin_client.get(f"{resource_type}?patient={patient.id}").status_code == 403, resource_type
    assert admin_client.get(f"Appointment?patient={patient.id}").status_code == 200  # admins run the schedule
    assert fhir_as(researcher, org).get("PractitionerRole").status_code == 403


def test_export_has_every_type_and_never_a_psychotherapy_note(treated, nurse, org, fhir_as, settings, tmp_path,
                                                             django_capture_on_commit_callbacks):
    settings.FHIR_EXPORT_DIR = tmp_path
    client = fhir_as(nurse, org)
    with django_capture_on_commit_callbacks(execute=True):
        kick = client.get("$export", HTTP_PREFER="respond-async")
    manifest = client.get(kick["Content-Location"].replace("http://testserver", "")).json()
    types = {o["type"] for o in manifest["output"]}
    assert {"Condition", "CarePlan", "Consent", "MedicationRequest", "MedicationAdministration", "AdverseEvent",
            "Appointment", "Medication", "PractitionerRole", "Encounter", "Observation"} <= types
    everything = ""
    for output in manifest["output"]:
        body = b"".join(client.get(output["url"].replace("http://testserver", "")).streaming_content).decode()
        for line in body.splitlines():
            validate(json.loads(line))
        everything += body
    assert PSYCHOTHERAPY_SECRET not in everything
    assert "PsychotherapyNote" not in everything
