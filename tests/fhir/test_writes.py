"""FHIR writes through the app's own services: Patient create and update, and
QuestionnaireResponse create scored by OpenKAP's engine with the same safety task as
the portal. Invalid resources: 422 OperationOutcome naming the element, nothing written."""

from __future__ import annotations

import copy

import pytest

from openkap.audit.models import AuditEvent
from openkap.measures.models import MeasureResponse
from openkap.patients.models import Patient
from openkap.tasks.models import Task
from tests.fhir.conftest import validate

pytestmark = pytest.mark.django_db

NEW_PATIENT = {
    "resourceType": "Patient",
    "identifier": [{"system": "urn:elsewhere:mrn", "value": "EXT-99"}],
    "name": [{"use": "official", "family": "Okafor", "given": ["Ada", "N."]}, {"use": "usual", "given": ["Nneka"]}],
    "gender": "female",
    "birthDate": "1979-11-02",
    "telecom": [{"system": "phone", "value": "(555) 010-2222"}, {"system": "email", "value": "ada@example.org"}],
    "address": [{"line": ["12 Pine St"], "city": "Albany", "state": "NY", "postalCode": "12207"}],
    "contact": [{"name": {"text": "Obi Okafor"}, "relationship": [{"text": "Brother"}],
                 "telecom": [{"system": "phone", "value": "(555) 010-3333"}]}],
}


def issues(response, status):
    assert response.status_code == status, response.content
    body = validate(response.json())
    assert body["resourceType"] == "OperationOutcome"
    return body["issue"]


def test_post_patient_creates_through_the_service(therapist, org, fhir_as):
    response = fhir_as(therapist, org).post("Patient", NEW_PATIENT)
    assert response.status_code == 201, response.content
    res = validate(response.json())
    patient = Patient.objects.get(pk=res["id"])
    assert response["Location"].endswith(f"/fhir/R4/Patient/{patient.id}")
    assert (patient.legal_given_name, patient.legal_family_name, patient.preferred_name) == ("Ada N.", "Okafor", "Nneka")
    assert (patient.sex_at_birth, str(patient.date_of_birth), patient.email) == ("female", "1979-11-02", "ada@example.org")
    assert patient.address == "12 Pine St\nAlbany NY 12207"
    assert (patient.emergency_contact_name, patient.emergency_contact_relationship) == ("Obi Okafor", "Brother")
    assert patient.mrn.startswith("T")  # the clinic numbers it; the outside identifier is not our MRN
    event = AuditEvent.objects.get(action="create", object_type="patient")
    assert (event.via, event.patient_id) == ("fhir", patient.id)


def test_post_patient_keeps_an_mrn_in_our_system(therapist, org, fhir_as):
    body = copy.deepcopy(NEW_PATIENT)
    body["identifier"] = [{"system": f"urn:openkap:organization:{org.id}:mrn", "value": "T12345"}]
    res = fhir_as(therapist, org).post("Patient", body).json()
    assert res["identifier"][0]["value"] == "T12345"


@pytest.mark.parametrize(("change", "element"), [
    (lambda b: b.pop("birthDate"), "Patient.birthDate"),
    (lambda b: b.update(birthDate="2999-01-01"), "Patient.birthDate"),
    (lambda b: b.update(birthDate="01/02/1980"), "Patient.birthDate"),
    (lambda b: b.pop("gender"), "Patient.gender"),
    (lambda b: b.update(name=[{"family": "X"}]), "Patient.name[0].given"),
    (lambda b: b.update(name=[{"given": ["Y"], "family": ""}]), "Patient.name[0].family"),
    (lambda b: b.update(name="Ada"), "Patient.name"),
    (lambda b: b["telecom"].append({"system": "email", "value": "not-an-email"}) or b["telecom"].pop(1),
     "Patient.telecom"),
])
def test_invalid_patient_is_422_naming_the_element_and_writes_nothing(therapist, org, fhir_as, change, element):
    body = copy.deepcopy(NEW_PATIENT)
    change(body)
    found = issues(fhir_as(therapist, org).post("Patient", body), 422)
    assert element in [e for i in found for e in i.get("expression", [])], found
    assert not Patient.objects.exists()


def test_post_patient_needs_the_create_permission(nurse, org, fhir_as):
    # Nurses monitor sessions; registering patients is for admins and clinicians who take them on.
    issues(fhir_as(nurse, org).post("Patient", NEW_PATIENT), 403)
    assert not Patient.objects.exists()


@pytest.mark.parametrize(("body", "content_type", "status"), [
    ("{not json", "application/fhir+json", 400),
    ('{"resourceType": "Observation"}', "application/fhir+json", 400),
    ("[]", "application/fhir+json", 400),
    ('{"resourceType": "Patient"}', "text/plain", 415),
])
def test_malformed_bodies(therapist, org, fhir_as, body, content_type, status):
    issues(fhir_as(therapist, org).post("Patient", body, content_type=content_type), status)


def test_put_patient_updates_and_keeps_what_fhir_does_not_carry(patient, therapist, org, fhir_as):
    client = fhir_as(therapist, org)
    res = client.get(f"Patient/{patient.id}").json()
    res["name"][0]["family"] = "Lindqvist-Berg"
    res["telecom"] = [{"system": "phone", "value": "(555) 010-4444"}]
    response = client.put(f"Patient/{patient.id}", res)
    assert response.status_code == 200, response.content
    patient.refresh_from_db()
    assert (patient.legal_family_name, patient.phone, patient.allergies) == ("Lindqvist-Berg", "(555) 010-4444", "NKDA")
    assert validate(response.json())["name"][0]["family"] == "Lindqvist-Berg"


def test_put_round_trips_every_sex_at_birth(patient, therapist, org, fhir_as):
    client = fhir_as(therapist, org)
    for sex in ("intersex", "unknown", "male", "female"):
        Patient.objects.filter(pk=patient.pk).update(sex_at_birth=sex)
        res = client.get(f"Patient/{patient.id}").json()
        assert client.put(f"Patient/{patient.id}", res).status_code == 200
        patient.refresh_from_db()
        assert patient.sex_at_birth == sex


def test_put_rules(patient, other_patient, unassigned_patient, therapist, org, fhir_as):
    client = fhir_as(therapist, org)
    res = client.get(f"Patient/{patient.id}").json()
    issues(client.put(f"Patient/{other_patient.id}", {**res, "id": str(other_patient.id)}), 404)
    issues(client.put(f"Patient/{unassigned_patient.id}", {**res, "id": str(unassigned_patient.id)}), 403)
    issues(client.put(f"Patient/{patient.id}", {**res, "id": "999"}), 400)
    unassigned_patient.refresh_from_db()
    assert unassigned_patient.legal_family_name == "Quist"


# --- Questionnaire and QuestionnaireResponse -----------------------------------------------


def test_questionnaires_carry_text_only_where_the_licence_allows(nurse, org, fhir_as):
    from openkap.core.instruments.registry import all_instruments

    client = fhir_as(nurse, org)
    bundle = validate(client.get("Questionnaire?_count=100").json())
    assert bundle["total"] == len(all_instruments())
    phq9 = validate(client.get("Questionnaire/phq9").json())
    assert phq9["code"][0]["code"] == "44249-1"
    assert phq9["item"][8]["text"].startswith("Thoughts that you would be better off dead")  # public domain
    from openkap.core.instruments.registry import get_instrument

    for instrument_id in ("madrs", "qidssr16", "pcl5"):
        instrument = get_instrument(instrument_id)
        q = validate(client.get(f"Questionnaire/{instrument.id}").json())
        for item, entry in zip(instrument.items, q["item"], strict=False):
            assert entry["text"] == (item.text or item.label)


def test_licensed_wording_of_the_clinic_is_never_sent(nurse, admin, org, fhir_as):
    from openkap.measures.models import LicensedWording

    LicensedWording.objects.create(organization=org, instrument_id="madrs", texts={"q1": "SECRET LICENSED TEXT"},
                                   updated_by=admin)
    assert b"SECRET LICENSED TEXT" not in fhir_as(nurse, org).get("Questionnaire/madrs").content


def _phq9_response(patient_id, answers, **extra):
    return {
        "resourceType": "QuestionnaireResponse", "status": "completed",
        "questionnaire": "https://openkap.org/fhir/Questionnaire/phq9",
        "subject": {"reference": f"Patient/{patient_id}"}, "authored": "2026-12-01T10:00:00Z",
        "item": [{"linkId": k, "answer": [{"valueInteger": v}]} for k, v in answers.items()], **extra,
    }


PHQ9_Q9_POSITIVE = {"q1": 2, "q2": 2, "q3": 1, "q4": 2, "q5": 1, "q6": 2, "q7": 1, "q8": 0, "q9": 2}


def test_post_response_is_scored_and_raises_the_urgent_task(patient, therapist, org, fhir_as):
    client = fhir_as(therapist, org)
    response = client.post("QuestionnaireResponse", _phq9_response(patient.id, PHQ9_Q9_POSITIVE))
    assert response.status_code == 201, response.content
    res = validate(response.json())
    stored = MeasureResponse.objects.get(pk=res["id"])
    assert (stored.total, stored.band, stored.via) == (13.0, "moderate", "api")  # 2+2+1+2+1+2+1+0+2
    assert stored.has_safety_flag
    task = Task.objects.get(patient=patient)
    assert task.priority == "urgent"
    # The same response reads back, and its score is an Observation derived from it.
    assert validate(client.get(f"QuestionnaireResponse/{stored.id}").json())["item"][8]["answer"][0][
        "valueCoding"]["code"] == "2"
    total = validate(client.get(f"Observation/mr-{stored.id}").json())
    assert total["derivedFrom"] == [{"reference": f"QuestionnaireResponse/{stored.id}"}]
    assert validate(client.get(f"QuestionnaireResponse?patient={patient.id}&questionnaire=phq9").json())["total"] == 1


def test_answers_as_codings_are_accepted(patient, therapist, org, fhir_as):
    body = _phq9_response(patient.id, {})
    body["item"] = [{"linkId": f"q{n}", "answer": [{"valueCoding": {"code": "0"}}]} for n in range(1, 10)]
    assert fhir_as(therapist, org).post("QuestionnaireResponse", body).status_code == 201
    assert not Task.objects.exists()


@pytest.mark.parametrize(("change", "element"), [
    (lambda b: b["item"][2]["answer"][0].update(valueInteger=7), "QuestionnaireResponse.item[2].answer[0]"),
    (lambda b: b["item"][3]["answer"][0].update(valueInteger="x"), "QuestionnaireResponse.item[3].answer[0]"),
    (lambda b: b["item"][4].update(linkId="q99"), "QuestionnaireResponse.item[4].linkId"),
    (lambda b: b["item"].pop(), "QuestionnaireResponse.item"),
    (lambda b: b.update(questionnaire="Questionnaire/nope"), "QuestionnaireResponse.questionnaire"),
    (lambda b: b.update(status="in-progress"), "QuestionnaireResponse.status"),
    (lambda b: b.update(subject={"reference": "Group/1"}), "QuestionnaireResponse.subject"),
    (lambda b: b.update(authored="2026-12-01T10:00:00"), "QuestionnaireResponse.authored"),
    (lambda b: b.update(authored="2999-12-01T10:00:00Z"), "QuestionnaireResponse.authored"),
])
def test_invalid_response_is_422_naming_the_item_and_writes_nothing(patient, therapist, org, fhir_as, change, element):
    body = _phq9_response(patient.id, PHQ9_Q9_POSITIVE)
    change(body)
    found = issues(fhir_as(therapist, org).post("QuestionnaireResponse", body), 422)
    assert element in [e for i in found for e in i.get("expression", [])], found
    assert not MeasureResponse.objects.exists()
    assert not Task.objects.exists()


def test_response_for_another_organisations_patient_is_404(other_patient, therapist, org, fhir_as):
    issues(fhir_as(therapist, org).post("QuestionnaireResponse", _phq9_response(other_patient.id, PHQ9_Q9_POSITIVE)),
           404)
    assert not MeasureResponse.objects.exists()
