"""Audit rows a person can read (issue 21.8): the record in words with a link when the
reader may open it, the patient by name and MRN, a search by MRN, and the same in the API."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.test import Client
from django.urls import reverse

from openkap.accounts.services import api_token_create
from openkap.audit.models import AuditAction
from openkap.audit.records import LABELS, record_label
from openkap.audit.services import audit_record

SRC = Path(__file__).resolve().parents[2] / "src" / "openkap"


def _events(by, patient):
    audit_record(by=by, action=AuditAction.CREATE, object_type="measure_schedule", object_id=12,
                 patient_id=patient.id)
    audit_record(by=by, action=AuditAction.VIEW, object_type="patient", object_id=patient.id, patient_id=patient.id)


def test_record_label_reads_as_words():
    assert record_label("measure_schedule", "12") == "Scheduled questionnaire 12"
    assert record_label("dosing_session", "54") == "Medicine session 54"
    assert record_label("fhir.Observation", "") == "FHIR Observation"
    # A code nobody listed is still words, not an identifier.
    assert record_label("new_kind_of_thing", "3") == "New kind of thing 3"


def test_every_object_type_written_in_the_code_has_words():
    codes = set()
    for path in SRC.rglob("*.py"):
        codes |= set(re.findall(r'object_type="([a-z_]+)"', path.read_text()))
    assert len(codes) > 40
    assert sorted(codes - set(LABELS)) == []


def test_the_admin_reads_words_names_and_links(admin, therapist, org, patient, as_actor, client_for):
    _events(as_actor(therapist, org), patient)
    html = client_for(admin).get(reverse("audit:log")).content.decode()
    assert "Scheduled questionnaire 12" in html
    assert "measure_schedule" not in html
    assert f"#{patient.id}" not in html
    assert patient.mrn in html
    # The chart (registry) is the admin's to open; a questionnaire schedule has no page.
    chart = reverse("patients:chart", args=[patient.id])
    assert f'<a href="{chart}">Patient record {patient.id}</a>' in html


def test_a_record_link_only_where_the_reader_may_open_it(admin, prescriber, org, patient, as_actor):
    from openkap.audit.models import AuditEvent
    from openkap.audit.selectors import audit_rows

    by = as_actor(prescriber, org)
    audit_record(by=by, action=AuditAction.VIEW, object_type="dosing_session", object_id=7, patient_id=patient.id)
    audit_record(by=by, action=AuditAction.UPDATE, object_type="protocol_version", object_id=3)
    events = AuditEvent.objects.filter(object_type__in=["dosing_session", "protocol_version"]).order_by("id")
    rows = {r.event.object_type: r for r in audit_rows(by=as_actor(admin, org), events=events)}
    # Clinical content (a medicine session) is not the admin's; the protocol library is.
    assert rows["dosing_session"].record_href is None
    assert rows["dosing_session"].patient_name == patient.display_name
    assert rows["protocol_version"].record_href == reverse("dosing:protocol", args=[3])


def test_search_by_mrn_finds_only_that_patient(admin, therapist, org, patient, unassigned_patient, other_patient,
                                                as_actor, client_for):
    by = as_actor(therapist, org)
    _events(by, patient)
    audit_record(by=by, action=AuditAction.VIEW, object_type="patient", object_id=unassigned_patient.id,
                 patient_id=unassigned_patient.id)
    client = client_for(admin)
    rows = client.get(reverse("audit:log"), {"mrn": patient.mrn.lower()}).context["rows"]
    assert rows
    assert {r.event.patient_id for r in rows} == {patient.id}
    # Another organisation's MRN finds nothing (not even its events, which are not in this log anyway).
    assert list(client.get(reverse("audit:log"), {"mrn": other_patient.mrn}).context["rows"]) == []


@pytest.fixture
def admin_token(admin, org, as_actor):
    return api_token_create(by=as_actor(admin, org), name="audit")[1]


def _get(token, query=""):
    return Client().get(f"/api/v1/audit/events{query}", HTTP_AUTHORIZATION=f"Bearer {token}")


def test_api_gives_the_same_words_and_names(admin_token, therapist, org, patient, as_actor):
    _events(as_actor(therapist, org), patient)
    response = _get(admin_token, f"?mrn={patient.mrn}")
    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 2
    schedule = next(i for i in body["items"] if i["object_type"] == "measure_schedule")
    assert schedule["record"] == "Scheduled questionnaire 12"
    assert (schedule["patient_name"], schedule["patient_mrn"]) == (patient.display_name, patient.mrn)
    # Reading the log through the API is itself recorded.
    assert _get(admin_token, "?action=view").json()["items"][0]["object_type"] == "audit_log"


def test_api_audit_log_is_for_admins_and_their_organisation(
    admin_token, nurse, therapist, patient, outsider, other_org, org, as_actor
):
    _events(as_actor(therapist, org), patient)
    audit_record(by=as_actor(outsider, other_org), action=AuditAction.VIEW, object_type="patient", object_id=1)
    assert all(i["actor_email"] != outsider.email for i in _get(admin_token).json()["items"])
    nurse_token = api_token_create(by=as_actor(nurse, org), name="n")[1]
    assert _get(nurse_token).status_code == 403
    # The other clinic's admin reads its own log: none of this clinic's events or patients.
    outsider_token = api_token_create(by=as_actor(outsider, other_org), name="o")[1]
    items = _get(outsider_token, f"?mrn={patient.mrn}").json()["items"]
    assert items == []
    assert all(i["patient_id"] != patient.id for i in _get(outsider_token).json()["items"])


@pytest.mark.parametrize("query", ["?page=0", "?date_from=yesterday", "?action=nonsense", "?patient_id=-3",
                                   "?mrn=" + "x" * 41])
def test_api_bad_filters_are_refused_clearly(admin_token, query):
    assert _get(admin_token, query).status_code in (400, 422)
