"""The FHIR R4 REST API: CapabilityStatement, reads, searches, paging, errors as
OperationOutcome, access across roles and organisations, the audit trail. Every
resource received is validated with fhir.resources (R4B models)."""

from __future__ import annotations

import json
from datetime import date, timedelta

import pytest
from django.test import Client
from django.utils import timezone

from openkap.audit.models import AuditEvent
from openkap.fhir.framework import REGISTRY
from openkap.patients.models import Patient
from tests.fhir.conftest import FhirClient, validate

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("daytime_clinic")]  # sessions earlier today


def outcome(response, status: int) -> dict:
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/fhir+json")
    body = validate(response.json())
    assert body["resourceType"] == "OperationOutcome"
    return body


def ok(response) -> dict:
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("application/fhir+json")
    assert response["Cache-Control"] == "no-store"
    return validate(response.json())


# --- metadata ------------------------------------------------------------------------------


def test_capability_statement_lists_exactly_the_registry():
    response = Client().get("/fhir/R4/metadata")
    statement = ok(response)
    assert statement["fhirVersion"] == "4.0.1"
    listed = {r["type"]: r for r in statement["rest"][0]["resource"]}
    assert set(listed) == set(REGISTRY)
    for name, rt in REGISTRY.items():
        assert [i["code"] for i in listed[name]["interaction"]] == rt.interactions
        assert {p["name"] for p in listed[name].get("searchParam", [])} == (
            {"_id", "_lastUpdated"} | {p.name for p in rt.params} if rt.search else set())


def test_every_search_parameter_listed_is_accepted(nurse, org, patient, fhir_as, record):
    """The statement claims nothing the server refuses: each listed parameter parses."""
    client = fhir_as(nurse, org)
    statement = Client().get("/fhir/R4/metadata").json()
    samples = {"token": "x", "string": "x", "uri": "https://x.org/q", "date": "ge2020-01-01", "reference": str(patient.id)}
    for resource in statement["rest"][0]["resource"]:
        for param in resource.get("searchParam", []):
            extra = "" if param["type"] == "reference" else f"&patient={patient.id}"
            if resource["type"] not in ("Observation", "DocumentReference"):  # these two need a patient
                extra = ""
            response = client.get(f"{resource['type']}?{param['name']}={samples[param['type']]}{extra}")
            assert response.status_code == 200, (resource["type"], param["name"], response.content)


# --- authentication and errors -------------------------------------------------------------


def test_anonymous_gets_401_outcome(patient):
    response = Client().get(f"/fhir/R4/Patient/{patient.id}")
    outcome(response, 401)
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_bad_token_gets_401(patient):
    outcome(FhirClient("okap_not-a-real-token").get(f"Patient/{patient.id}"), 401)


def test_unknown_type_and_path_get_404_outcome(nurse, org, fhir_as):
    client = fhir_as(nurse, org)
    assert outcome(client.get("Spaceship"), 404)["issue"][0]["code"] == "not-supported"
    outcome(client.get("patient/1"), 404)
    outcome(client.get("Patient/1/_history/2"), 404)


def test_xml_format_is_refused_with_406(nurse, org, fhir_as):
    client = fhir_as(nurse, org)
    outcome(client.get("Patient?_format=xml"), 406)
    outcome(client.get("Patient", HTTP_ACCEPT="application/fhir+xml"), 406)
    ok(client.get("Patient?_format=json"))
    ok(client.get("Patient?_format=application/fhir%2Bjson"))


@pytest.mark.parametrize("query", [
    "Patient?colour=blue", "Patient?_count=many", "Patient?_count=-1", "Patient?birthdate=yesterday",
    "Patient?birthdate=xx2020", "Patient?_lastUpdated=2020-13-01", "Patient?_summary=text",
    "Patient?name:exact=Maya", "Patient?_offset=-3", "Encounter?patient=Practitioner/1",
    "Observation?patient=1&patient=2", "Observation?patient=1&date=2020-02-30",
])
def test_malformed_search_parameters_get_400_naming_them(nurse, org, fhir_as, query):
    body = outcome(fhir_as(nurse, org).get(query), 400)
    assert body["issue"][0]["code"] in {"invalid", "required"}


def test_write_to_a_read_only_type_is_405(nurse, org, fhir_as):
    outcome(fhir_as(nurse, org).post("Encounter", {"resourceType": "Encounter"}), 405)


# --- Patient -------------------------------------------------------------------------------

# US Core 6.1 Patient must-support elements this server fills (race, ethnicity and
# communication are not recorded by OpenKAP).
US_CORE_PATIENT_MUST_SUPPORT = ("identifier", "name", "gender", "birthDate", "telecom", "address")


def test_patient_read_has_us_core_must_support_and_is_audited(patient, nurse, org, fhir_as):
    Patient.objects.filter(pk=patient.pk).update(phone="(555) 010-1234", email="maya@example.org",
                                                 address="1 Elm St\nAlbany NY 12207")
    res = ok(fhir_as(nurse, org).get(f"Patient/{patient.id}"))
    for element in US_CORE_PATIENT_MUST_SUPPORT:
        assert res.get(element), element
    assert res["identifier"][0]["value"] == "T00000018"
    assert res["name"][0] == {"use": "official", "family": "Lindqvist", "given": ["Maya"]}
    assert (res["gender"], res["birthDate"]) == ("female", "1988-04-12")
    assert res["extension"][0]["valueCode"] == "F"
    event = AuditEvent.objects.filter(object_type="fhir.Patient").get()
    assert (event.action, event.via, event.patient_id, event.actor_id) == ("view", "fhir", patient.id, nurse.id)


def test_another_organisations_patient_is_404(other_patient, nurse, org, fhir_as):
    outcome(fhir_as(nurse, org).get(f"Patient/{other_patient.id}"), 404)
    outcome(fhir_as(nurse, org).get(f"Encounter?patient={other_patient.id}"), 404)
    outcome(fhir_as(nurse, org).get(f"Observation?patient={other_patient.id}"), 404)


def test_therapist_outside_the_care_team_gets_403_and_it_is_audited(unassigned_patient, therapist, org, fhir_as):
    outcome(fhir_as(therapist, org).get(f"Patient/{unassigned_patient.id}"), 403)
    event = AuditEvent.objects.get(action="permission_denied")
    assert (event.via, event.patient_id) == ("fhir", unassigned_patient.id)


def test_therapist_search_sees_only_the_care_team(patient, unassigned_patient, therapist, org, fhir_as):
    bundle = ok(fhir_as(therapist, org).get("Patient"))
    assert [e["resource"]["id"] for e in bundle["entry"]] == [str(patient.id)]


def test_researcher_and_admin_scope(patient, researcher, admin, org, fhir_as):
    outcome(fhir_as(researcher, org).get("Patient"), 403)
    outcome(fhir_as(researcher, org).get(f"Patient/{patient.id}"), 403)
    ok(fhir_as(admin, org).get(f"Patient/{patient.id}"))  # the registry
    outcome(fhir_as(admin, org).get(f"Observation?patient={patient.id}"), 403)  # not clinical content


def _many_patients(org, n: int) -> list[Patient]:
    return [Patient.objects.create(
        organization=org, mrn=f"T9{i:07d}", legal_given_name=f"Given{i}", legal_family_name="Pager",
        date_of_birth=date(1980, 1, 1) + timedelta(days=i), sex_at_birth="male", search_name=f"given{i} pager",
    ) for i in range(n)]


def test_paging_follows_next_and_previous_links(org, nurse, fhir_as):
    made = _many_patients(org, 5)
    client = fhir_as(nurse, org)
    seen, url = [], "Patient?family=Pager&_count=2"
    pages = 0
    while url:
        bundle = ok(client.get(url))
        assert bundle["total"] == 5
        seen += [e["resource"]["id"] for e in bundle.get("entry", [])]
        links = {link["relation"]: link["url"] for link in bundle["link"]}
        if pages:
            assert "previous" in links
        url = links.get("next", "").replace("http://testserver", "")
        pages += 1
    assert pages == 3
    assert seen == [str(p.id) for p in made]


def test_summary_count_id_and_last_updated(org, nurse, fhir_as, patient):
    made = _many_patients(org, 3)
    Patient.objects.filter(pk=made[0].pk).update(updated_at=timezone.now() - timedelta(days=400))
    client = fhir_as(nurse, org)
    bundle = ok(client.get("Patient?_summary=count"))
    assert bundle["total"] == 4
    assert "entry" not in bundle
    bundle = ok(client.get(f"Patient?_id={made[1].id},{made[2].id}"))
    assert {e["resource"]["id"] for e in bundle["entry"]} == {str(made[1].id), str(made[2].id)}
    year_ago = (timezone.now() - timedelta(days=365)).date().isoformat()
    assert ok(client.get(f"Patient?_lastUpdated=lt{year_ago}"))["total"] == 1
    assert ok(client.get(f"Patient?_lastUpdated=ge{year_ago}"))["total"] == 3
    assert ok(client.get("Patient?_count=0"))["total"] == 4


def test_patient_search_parameters(org, nurse, fhir_as, patient, unassigned_patient):
    client = fhir_as(nurse, org)

    def ids(query):
        return {e["resource"]["id"] for e in ok(client.get(query)).get("entry", [])}

    assert ids("Patient?identifier=T00000018") == {str(patient.id)}
    assert ids(f"Patient?identifier=urn:openkap:organization:{org.id}:mrn|T00000026") == {str(unassigned_patient.id)}
    assert ids("Patient?identifier=urn:other|T00000026") == set()
    assert ids("Patient?family=lind") == {str(patient.id)}
    assert ids("Patient?name=noah") == {str(unassigned_patient.id)}
    assert ids("Patient?gender=male") == {str(unassigned_patient.id)}
    assert ids("Patient?birthdate=1988-04-12") == {str(patient.id)}
    assert ids("Patient?birthdate=1988") == {str(patient.id)}
    assert ids("Patient?birthdate=lt1980-01-01") == {str(unassigned_patient.id)}
    assert ids("Patient?birthdate=ge1980-01-01&birthdate=le1990") == {str(patient.id)}


def test_search_is_audited_with_result_ids(patient, nurse, org, fhir_as):
    fhir_as(nurse, org).get("Patient?family=Lindqvist")
    event = AuditEvent.objects.get(object_type="fhir.Patient")
    assert (event.action, event.via) == ("search", "fhir")
    assert event.detail["result_ids"] == [str(patient.id)]


# --- Observation ---------------------------------------------------------------------------

# US Core 6.1 Observation must-support (survey and vital-signs profiles).
US_CORE_OBSERVATION_MUST_SUPPORT = ("status", "category", "code", "subject", "effectiveDateTime")


def _every_page(client, url, *, total):
    """The resources of every page, following the Bundle's next links; each page states the total."""
    resources = []
    while url:
        bundle = ok(client.get(url))
        assert bundle["total"] == total
        resources += [e["resource"] for e in bundle.get("entry", [])]
        url = next((link["url"].replace("http://testserver", "") for link in bundle["link"]
                    if link["relation"] == "next"), None)
    return resources


def _observations(client, query) -> dict[str, dict]:
    return {e["resource"]["id"]: e["resource"] for e in ok(client.get(query)).get("entry", [])}


def test_questionnaire_total_and_items_with_loinc(record, patient, therapist, org, fhir_as):
    obs = _observations(fhir_as(therapist, org), f"Observation?patient={patient.id}&category=survey")
    phq9 = record["phq9"]
    total = obs[f"mr-{phq9.id}"]
    # PHQ-9 total LOINC 44261-6, item 9 44260-8 (loinc.org; panel 44249-1).
    assert total["code"]["coding"][0] == {"system": "http://loinc.org", "code": "44261-6",
                                          "display": "PHQ-9 total score"}
    assert total["valueQuantity"]["value"] == 12  # 2+2+1+2+1+2+1+0+1
    assert total["interpretation"][0]["text"] == "Moderate"
    assert len(total["hasMember"]) == 9
    q9 = obs[f"mr-{phq9.id}-q9"]
    assert q9["code"]["coding"][0]["code"] == "44260-8"
    assert q9["valueInteger"] == 1
    for res in obs.values():
        for element in US_CORE_OBSERVATION_MUST_SUPPORT:
            assert res.get(element), (res["id"], element)
        assert res["category"][0]["coding"][0]["code"] == "survey"


def test_instrument_without_loinc_uses_the_local_code_system(patient, therapist, org, fhir_as, record):
    from openkap.accounts.authz import build_actor
    from openkap.measures import services as measures

    measures.response_enter(by=build_actor(therapist, org), patient_id=patient.id, instrument_id="gad7",
                            answers={f"q{n}": 1 for n in range(1, 8)}, completed_at=timezone.now(),
                            occasion="baseline")
    bundle = ok(fhir_as(therapist, org).get(
        f"Observation?patient={patient.id}&code=https://openkap.org/fhir/CodeSystem/measures|gad7"))
    assert bundle["total"] == 1
    assert bundle["entry"][0]["resource"]["valueQuantity"]["value"] == 7


def test_vital_signs_with_loinc_and_ucum(record, patient, nurse, org, fhir_as):
    obs = _observations(fhir_as(nurse, org), f"Observation?patient={patient.id}&category=vital-signs")
    v = record["vitals"]
    bp = obs[f"vs-{v.id}-bp"]
    assert bp["code"]["coding"][0]["code"] == "85354-9"
    assert [(c["code"]["coding"][0]["code"], c["valueQuantity"]["value"], c["valueQuantity"]["code"])
            for c in bp["component"]] == [("8480-6", 128, "mm[Hg]"), ("8462-4", 82, "mm[Hg]")]
    assert (obs[f"vs-{v.id}-hr"]["code"]["coding"][0]["code"], obs[f"vs-{v.id}-hr"]["valueQuantity"]["code"]) == \
        ("8867-4", "/min")
    spo2_codes = [c["code"] for c in obs[f"vs-{v.id}-spo2"]["code"]["coding"]]
    assert spo2_codes == ["2708-6", "59408-5"]
    assert obs[f"vs-{v.id}-spo2"]["valueQuantity"]["code"] == "%"
    assert obs[f"vs-{v.id}-rr"]["code"]["coding"][0]["code"] == "9279-1"
    assert obs[f"vs-{v.id}-bp"]["encounter"]["reference"] == f"Encounter/{record['session'].id}"
    partial = record["partial_vitals"]
    assert {k for k in obs if k.startswith(f"vs-{partial.id}-")} == {f"vs-{partial.id}-hr"}
    weight = obs[f"wt-{record['weight'].id}"]
    # 154 lb x 0.45359237 = 69.853 kg, stored rounded to 0.01 kg.
    assert weight["code"]["coding"][0]["code"] == "29463-7"
    assert weight["valueQuantity"] == {"value": 69.85, "unit": "kg", "system": "http://unitsofmeasure.org",
                                       "code": "kg"}
    height = obs[f"ht-{record['height'].id}"]
    # 65 in x 2.54 = 165.1 cm exactly.
    assert (height["code"]["coding"][0]["code"], height["valueQuantity"]["value"], height["valueQuantity"]["code"]) == \
        ("8302-2", 165.1, "cm")
    for res in obs.values():
        for element in US_CORE_OBSERVATION_MUST_SUPPORT:
            assert res.get(element), (res["id"], element)


def test_observation_search_by_code_date_and_read(record, patient, nurse, org, fhir_as):
    client = fhir_as(nurse, org)
    hr = _observations(client, f"Observation?patient=Patient/{patient.id}&code=http://loinc.org|8867-4")
    assert len(hr) == 2
    today = timezone.localdate().isoformat()
    recent = _observations(client, f"Observation?patient={patient.id}&date=ge{today}&code=8867-4,85354-9")
    assert len(recent) == 3
    old = _observations(client, f"Observation?patient={patient.id}&date=lt{today}")
    assert {r["category"][0]["coding"][0]["code"] for r in old.values()} == {"survey"}
    read = ok(client.get(f"Observation/vs-{record['vitals'].id}-bp"))
    assert read["id"] == f"vs-{record['vitals'].id}-bp"
    outcome(client.get(f"Observation/vs-{record['vitals'].id}-height"), 404)
    outcome(client.get("Observation/xx-1"), 404)
    outcome(client.get("Observation/mr-999999"), 404)


def test_observation_pages_are_the_reference_mapping_in_time_order(record, patient, nurse, org, fhir_as):
    """Vitals are matched on their columns and built only for the page returned: every page
    together is exactly what the reference mapping gives, in (time, id) order."""
    from openkap.dosing.models import VitalSigns
    from openkap.fhir import mapping
    from openkap.measures.selectors import current_responses

    session = record["session"]
    for minutes in (5, 10, 15):  # interleave with the fixture's readings
        VitalSigns.objects.create(organization=org, session=session, taken_at=session.started_at + timedelta(
            minutes=minutes), systolic=130 + minutes, diastolic=80, spo2=97, recorded_by=nurse)
    expected = [o for r in current_responses(patient) for o in mapping.measure_observations(r)]
    for v in VitalSigns.objects.filter(session__patient=patient):
        expected += mapping.vital_observations(v, patient.id)
    expected += [mapping.weight_observation(w) for w in patient.weights.all()]
    expected += [mapping.height_observation(h) for h in patient.heights.all()]
    expected.sort(key=lambda r: (mapping.observation_time(r), r["id"]))
    client = fhir_as(nurse, org)
    assert _every_page(client, f"Observation?patient={patient.id}&_count=4", total=len(expected)) == json.loads(
        json.dumps(expected))
    spo2 = [r for r in expected if r["id"].endswith("-spo2")]
    assert list(_observations(client, f"Observation?patient={patient.id}&code=59408-5&category=vital-signs")) == [
        r["id"] for r in spo2]
    assert _observations(client, f"Observation?patient={patient.id}&code=59408-5&category=survey") == {}
    assert _observations(client, f"Observation?patient={patient.id}&code=59408-5&status=amended") == {}
    first = spo2[0]["id"]
    assert list(_observations(client, f"Observation?patient={patient.id}&_id={first},mr-0")) == [first]


@pytest.mark.parametrize("count", [1, 3, 4, 50])
@pytest.mark.parametrize("params", ["", "&category=vital-signs", "&code=8867-4,85354-9"])
def test_pages_read_only_the_rows_they_need_and_stay_exact_within_a_second(record, patient, nurse, org, fhir_as,
                                                                           count, params):
    """A search without dates, ids or _lastUpdated reads only the vitals rows its page needs
    and has the database count the rest (ADR 0071). Rows sharing a second sort by id, so a
    page cut inside such a second must still give exactly the reference's order."""
    from openkap.dosing.models import VitalSigns
    from openkap.fhir import mapping
    from openkap.measures.selectors import current_responses

    session = record["session"]
    second = session.started_at.replace(microsecond=0) + timedelta(minutes=7)
    # Within the second, the later the reading the smaller its id: time order is not id order.
    for n, (systolic, heart_rate) in enumerate([(130, None), (None, 71), (128, 72), (None, None)]):
        VitalSigns.objects.create(organization=org, session=session, taken_at=second + timedelta(
            milliseconds=900 - 100 * n), systolic=systolic, diastolic=80, heart_rate=heart_rate, spo2=97,
            recorded_by=nurse)
    VitalSigns.objects.create(organization=org, session=session, taken_at=second + timedelta(minutes=1),
                              heart_rate=90, recorded_by=nurse)
    expected = [o for r in current_responses(patient) for o in mapping.measure_observations(r)]
    for v in VitalSigns.objects.filter(session__patient=patient):
        expected += mapping.vital_observations(v, patient.id)
    expected += [mapping.weight_observation(w) for w in patient.weights.all()]
    expected += [mapping.height_observation(h) for h in patient.heights.all()]
    if "category" in params:
        expected = [r for r in expected if r["category"][0]["coding"][0]["code"] == "vital-signs"]
    if "code" in params:
        expected = [r for r in expected if r["code"]["coding"][0]["code"] in {"8867-4", "85354-9"}]
    expected.sort(key=lambda r: (mapping.observation_time(r), r["id"]))
    client = fhir_as(nurse, org)
    assert ok(client.get(f"Observation?patient={patient.id}{params}&_summary=count"))["total"] == len(expected)
    assert _every_page(client, f"Observation?patient={patient.id}{params}&_count={count}", total=len(expected)) == (
        json.loads(json.dumps(expected)))


def test_observation_search_needs_a_patient(nurse, org, fhir_as):
    body = outcome(fhir_as(nurse, org).get("Observation?category=survey"), 400)
    assert body["issue"][0]["expression"] == ["patient"]


def test_another_organisation_cannot_read_an_observation(record, outsider, other_org, fhir_as):
    outcome(fhir_as(outsider, other_org).get(f"Observation/mr-{record['phq9'].id}"), 404)


# --- Encounter -----------------------------------------------------------------------------

# US Core 6.1 Encounter must-support elements this server fills.
US_CORE_ENCOUNTER_MUST_SUPPORT = ("identifier", "status", "class", "type", "subject", "participant",
                                  "period", "location", "serviceProvider")


def test_encounter_read_and_search(record, patient, nurse, therapist, org, fhir_as, outsider, other_org):
    session = record["session"]
    res = ok(fhir_as(therapist, org).get(f"Encounter/{session.id}"))
    for element in US_CORE_ENCOUNTER_MUST_SUPPORT:
        assert res.get(element), element
    assert res["status"] == "in-progress"
    assert res["location"][0]["location"]["reference"] == f"Location/room-{session.room_id}"
    client = fhir_as(nurse, org)
    assert ok(client.get(f"Encounter?patient={patient.id}&status=in-progress"))["total"] == 1
    assert ok(client.get("Encounter?status=finished"))["total"] == 0
    assert ok(client.get(f"Encounter?date=ge{timezone.localdate().isoformat()}"))["total"] == 1
    assert ok(client.get("Encounter?date=lt2000-01-01"))["total"] == 0
    outcome(fhir_as(outsider, other_org).get(f"Encounter/{session.id}"), 404)


def test_encounter_search_of_a_therapist_covers_only_the_care_team(record, unassigned_patient, therapist, org,
                                                                   fhir_as, site, nurse):
    from openkap.dosing.models import DosingSession
    from tests.measures.factories import open_episode

    DosingSession.objects.create(organization=org, patient=unassigned_patient, site=site,
                                 episode=open_episode(unassigned_patient, nurse),
                                 scheduled_start=timezone.now(), created_by=nurse)
    assert ok(fhir_as(therapist, org).get("Encounter"))["total"] == 1
    assert ok(fhir_as(nurse, org).get("Encounter"))["total"] == 2


# --- Practitioner, Organization, Location --------------------------------------------------


def test_practitioner_organization_location(prescriber, nurse, org, site, room, fhir_as, other_org):
    client = fhir_as(nurse, org)
    pract = ok(client.get(f"Practitioner/{prescriber.id}"))
    assert pract["identifier"] == [{"system": "http://hl7.org/fhir/sid/us-npi", "value": "1234567893"}]
    assert pract["name"][0]["family"] == "Prescriber"
    assert pract["name"][0]["prefix"] == ["Dr."]
    assert ok(client.get("Practitioner?identifier=1234567893"))["total"] == 1
    assert ok(client.get(f"Organization/{org.id}"))["name"] == "Test KAP Clinic"
    outcome(client.get(f"Organization/{other_org.id}"), 404)
    site_res = ok(client.get(f"Location/site-{site.id}"))
    assert site_res["address"]["state"] == "NY"
    rooms = ok(client.get(f"Location?partof=Location/site-{site.id}"))
    assert [e["resource"]["id"] for e in rooms["entry"]] == [f"room-{room.id}"]
    outcome(client.get("Location/room-999999"), 404)
    outcome(client.get("Location/12"), 404)


def test_every_fhir_route_answers_as_fhir_and_needs_a_token_but_metadata():
    from django.urls import get_resolver

    from tests.test_url_authorization import _walk

    routes = [r for r in _walk(get_resolver().url_patterns) if r.name.startswith("fhir:")]
    assert {r.name for r in routes} >= {"fhir:metadata", "fhir:type", "fhir:instance", "fhir:unknown"}
    for route in routes:
        assert getattr(route.callback, "fhir_bearer", False), route.name
    for path in ("/fhir/R4/Patient", "/fhir/R4/Patient/1", "/fhir/R4/Nothing/here/at/all"):
        assert Client().get(path).status_code in (401, 404)
    assert Client().get("/fhir/R4/Patient").status_code == 401


# --- input refused before a FHIR view runs --------------------------------------------------


@pytest.mark.parametrize(("method", "path", "body"), [
    ("get", "Patient?name=a%00b", None),
    ("get", "Patient/1%00", None),
    ("post", "Patient", '{"resourceType": "Patient", "name": [{"family": "A\\u0000B"}]}'),
    ("post", "Patient", b'{"resourceType": "Patient", "name": [{"family": "A\x00B"}]}'),
    ("put", "Patient/1", '{"resourceType": "Patient", "id": "1", "gender": "fe%00male"}'),
])
def test_nul_bytes_are_refused_as_an_operation_outcome(nurse, org, patient, fhir_as, method, path, body):
    from openkap.patients.models import Patient

    client = fhir_as(nurse, org)
    before = list(Patient.objects.values_list("id", "legal_family_name", "sex_at_birth"))
    response = client.get(path) if body is None else getattr(client, method)(path, body)
    assert response.status_code == 400
    assert response["Content-Type"] == "application/fhir+json; charset=utf-8"
    outcome = validate(response.json())
    assert outcome["resourceType"] == "OperationOutcome"
    assert "NUL" in outcome["issue"][0]["diagnostics"]
    assert list(Patient.objects.values_list("id", "legal_family_name", "sex_at_birth")) == before


def test_nul_elsewhere_keeps_its_own_answer(client):
    """The rejection is unchanged outside /fhir: plain text for pages, JSON for the API,
    an OAuth error at the token endpoint."""
    page = client.get("/patients/?q=a%00b")
    assert page.status_code == 400
    assert page["Content-Type"].startswith("text/html")
    api = client.get("/api/v1/patients?q=a%00b")
    assert api.status_code == 400
    assert api.json()["detail"].startswith("Text may not contain NUL")
    token = client.post("/fhir/R4/auth/token", data="grant_type=client%00", content_type="application/x-www-form-urlencoded")
    assert token.status_code == 400
    assert token.json()["error"] == "invalid_request"


def test_other_refusals_before_the_view_are_operation_outcomes(nurse, org, fhir_as, settings):
    client = fhir_as(nurse, org)
    bad_host = client.get("Patient", HTTP_HOST="evil.example")
    assert bad_host.status_code == 400
    assert validate(bad_host.json())["issue"][0]["code"] == "invalid"
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    too_big = client.post("Patient", '{"resourceType": "Patient", "x": "' + "a" * 2000 + '"}')
    assert too_big.status_code == 400
    assert too_big["Content-Type"].startswith("application/fhir+json")
    assert client.client.get("/patients/", HTTP_HOST="evil.example").status_code == 400  # pages stay pages
