"""The intake worklist: order, accept (patient, episode, measure responses, duplicate
check), decline / refer elsewhere with a letter; audited; in the web UI and the API;
checked across organisations and roles."""

from __future__ import annotations

import json
from datetime import date

import pytest
from django.core import mail
from django.core.exceptions import ValidationError
from django.test import Client

from openkap.accounts import services as account_services
from openkap.audit.models import AuditEvent
from openkap.measures.models import MeasureResponse
from openkap.pathway.models import Episode
from openkap.patients.models import CareTeamMember, Patient
from openkap.referrals import selectors, services
from openkap.referrals.models import Referral
from openkap.tasks.models import Task
from tests.referrals.factories import PHQ9, clinician_referral, self_referral

pytestmark = pytest.mark.django_db


def _api(user, org, as_actor):
    _, raw = account_services.api_token_create(by=as_actor(user, org), name="t")
    client = Client()
    client.defaults["HTTP_AUTHORIZATION"] = f"Bearer {raw}"
    return client


def _post(client, url, body):
    return client.post(url, json.dumps(body), content_type="application/json")


def test_worklist_is_most_urgent_first_then_oldest(org, therapist, as_actor):
    routine_old = self_referral(org, person={"email": "a@example.org"})
    review = self_referral(org, person={"email": "b@example.org"}, red_flags=["pregnancy"])
    urgent = self_referral(org, person={"email": "c@example.org"}, phq9={**PHQ9, "q9": 1})
    emergency = self_referral(org, person={"email": "d@example.org"},
                              asq={"q1": 1, "q2": 1, "q3": 0, "q4": 0, "q5": 1})
    routine_new = self_referral(org, person={"email": "e@example.org"})
    rows = selectors.worklist(by=as_actor(therapist, org))
    assert [r.id for r in rows] == [emergency.id, urgent.id, review.id, routine_old.id, routine_new.id]
    assert AuditEvent.objects.filter(object_type="referral", action="search", actor_id=therapist.id).exists()


def test_worklist_page_shows_scores_and_flags(org, therapist, client_for):
    self_referral(org, phq9={**PHQ9, "q9": 2}, red_flags=["high_blood_pressure"])
    page = client_for(therapist).get("/referrals/")
    text = page.content.decode()
    assert page.status_code == 200
    assert "Urgent" in text
    assert "Díaz, Rosa" in text
    assert ">2</strong>" in text  # item 9
    assert "High blood pressure that is not under control" in text
    assert "14" in text
    assert "Moderate" in text


def test_accept_creates_patient_episode_and_measure_responses(org, therapist, as_actor, client_for):
    referral = self_referral(org, phq9={**PHQ9, "q9": 1})
    response = client_for(therapist).post(f"/referrals/{referral.id}/accept/", {"note": "Called her today."})
    referral.refresh_from_db()
    assert referral.status == "accepted"
    assert referral.decided_by == therapist
    patient = referral.patient
    assert response.status_code == 302
    assert response["Location"] == f"/patients/{patient.id}/"
    assert (patient.legal_given_name, patient.legal_family_name, patient.date_of_birth) == (
        "Rosa", "Díaz", date(1985, 3, 21))
    assert patient.email == "rosa@example.org"
    assert patient.mrn.startswith("T")
    episode = Episode.objects.get(patient=patient)
    assert referral.episode == episode
    assert episode.state == "intake"
    stored = {r.instrument_id: r for r in MeasureResponse.objects.filter(patient=patient)}
    assert set(stored) == {"phq9", "gad7", "asq"}
    assert stored["phq9"].total == 9
    assert stored["gad7"].total == 14
    assert stored["phq9"].episode == episode
    assert stored["phq9"].completed_at == referral.created_at
    assert stored["phq9"].occasion == "ad_hoc"
    # The positive item 9 follows the person into the chart: a safety task for the care team.
    assert Task.objects.filter(patient=patient, kind="safety_flag").exists()
    assert CareTeamMember.objects.filter(patient=patient, user=therapist).exists()
    event = AuditEvent.objects.get(object_type="referral", action="update")
    assert event.actor_id == therapist.id
    assert event.patient_id == patient.id
    assert event.reason == "Called her today."


def test_accept_finds_a_duplicate_by_name_and_birth_date(org, therapist, prescriber, as_actor, client_for):
    existing = Patient.objects.create(
        organization=org, mrn="T00000034", legal_given_name="ROSA", legal_family_name="Diaz",
        date_of_birth=date(1985, 3, 21), sex_at_birth="female", search_name="rosa diaz",
    )
    CareTeamMember.objects.create(organization=org, patient=existing, user=therapist, role="therapist")
    referral = self_referral(org)
    client = client_for(therapist)
    page = client.post(f"/referrals/{referral.id}/accept/")
    assert page.status_code == 409
    assert "T00000034" in page.content.decode()
    assert Patient.objects.count() == 1
    assert Referral.objects.get().status == "new"
    # Choosing the existing patient: no new record, an episode opened on theirs.
    client.post(f"/referrals/{referral.id}/accept/", {"existing_patient_id": existing.id})
    referral.refresh_from_db()
    assert referral.patient == existing
    assert Patient.objects.count() == 1
    assert Episode.objects.get(patient=existing) == referral.episode


def test_accept_as_a_different_person_registers_anew(org, therapist, as_actor):
    Patient.objects.create(
        organization=org, mrn="T00000034", legal_given_name="Rosa", legal_family_name="Díaz",
        date_of_birth=date(1985, 3, 21), sex_at_birth="female", search_name="rosa díaz",
    )
    referral = self_referral(org)
    by = as_actor(therapist, org)
    with pytest.raises(services.DuplicateFound):
        services.referral_accept(by=by, referral_id=referral.id)
    with pytest.raises(ValidationError):
        services.referral_accept(by=by, referral_id=referral.id, existing_patient_id=999_999)
    done = services.referral_accept(by=by, referral_id=referral.id, different_person=True)
    assert Patient.objects.count() == 2
    assert done.patient.mrn != "T00000034"


def test_same_name_other_birth_date_is_not_a_duplicate(org, therapist, as_actor):
    Patient.objects.create(
        organization=org, mrn="T00000034", legal_given_name="Rosa", legal_family_name="Díaz",
        date_of_birth=date(1985, 3, 22), sex_at_birth="female", search_name="rosa díaz",
    )
    referral = self_referral(org)
    assert selectors.duplicates_of(referral) == []
    assert services.referral_accept(by=as_actor(therapist, org), referral_id=referral.id).patient.mrn != "T00000034"


def test_a_decided_referral_cannot_be_decided_again(org, therapist, as_actor):
    referral = self_referral(org)
    by = as_actor(therapist, org)
    services.referral_accept(by=by, referral_id=referral.id)
    with pytest.raises(ValidationError):
        services.referral_accept(by=by, referral_id=referral.id)
    with pytest.raises(ValidationError):
        services.referral_close(by=by, referral_id=referral.id, outcome="declined", letter="x" * 40)
    assert Patient.objects.count() == 1


def test_decline_with_edited_letter_in_the_persons_language(org, prescriber, client_for, committed):
    referral = self_referral(org, person={"preferred_language": "es"})
    client = client_for(prescriber)
    form = client.get(f"/referrals/{referral.id}/close/?outcome=declined")
    assert form.status_code == 200
    letter = selectors.default_letter(referral, "declined")
    assert letter.startswith("Estimado/a Rosa:")
    assert "988 Línea de Prevención del Suicidio y Crisis" in letter
    edited = letter + "\n\nP.S. Dr. Prescriber would be glad to talk with your GP."
    with committed():
        done = client.post(f"/referrals/{referral.id}/close/", {
            "outcome": "declined", "letter": edited, "send": "on", "note": "Active psychosis."})
    assert done.status_code == 302
    referral.refresh_from_db()
    assert referral.status == "declined"
    assert referral.letter == edited.strip()
    assert referral.decision_note == "Active psychosis."
    assert mail.outbox[-1].to == ["rosa@example.org"]
    assert "P.S. Dr. Prescriber" in mail.outbox[-1].body
    assert AuditEvent.objects.filter(object_type="referral", action="update", actor_id=prescriber.id).exists()


def test_refer_elsewhere_needs_the_place_and_a_letter(org, therapist, client_for):
    referral = self_referral(org)
    client = client_for(therapist)
    page = client.post(f"/referrals/{referral.id}/close/", {"outcome": "referred_elsewhere", "letter": "short"})
    assert page.status_code == 422
    text = page.content.decode()
    assert "at least 20 characters" in text
    assert "Say where the person is referred" in text
    assert Referral.objects.get().status == "new"
    ok = client.post(f"/referrals/{referral.id}/close/", {
        "outcome": "referred_elsewhere", "referred_to": "Capital District Psychiatric Center",
        "letter": selectors.default_letter(referral, "referred_elsewhere", "Capital District Psychiatric Center")})
    assert ok.status_code == 302
    assert Referral.objects.get().referred_to == "Capital District Psychiatric Center"


def test_roles_nurse_reads_admin_does_not(org, nurse, admin, researcher, client_for):
    referral = self_referral(org)
    assert client_for(nurse).get(f"/referrals/{referral.id}/").status_code == 200
    assert client_for(nurse).post(f"/referrals/{referral.id}/accept/").status_code == 403
    for user in (admin, researcher):
        assert client_for(user).get("/referrals/").status_code == 403
        assert client_for(user).get(f"/referrals/{referral.id}/").status_code == 403
    assert Referral.objects.get().status == "new"


def test_another_organisation_sees_nothing(org, other_org, outsider, as_actor, client_for):
    referral = clinician_referral(org)
    client = client_for(outsider)
    for url in (f"/referrals/{referral.id}/", f"/referrals/{referral.id}/letter.pdf",
                f"/referrals/{referral.id}/close/"):
        assert client.get(url).status_code == 404
    assert client.post(f"/referrals/{referral.id}/accept/").status_code == 404
    assert "Rosa" not in client.get("/referrals/").content.decode()
    api = _api(outsider, other_org, as_actor)
    assert api.get("/api/v1/referrals").json() == []
    assert api.get(f"/api/v1/referrals/{referral.id}").status_code == 404
    assert _post(api, f"/api/v1/referrals/{referral.id}/accept", {}).status_code == 404
    assert Referral.objects.get().status == "new"


def test_api_list_read_accept_and_close(org, therapist, as_actor):
    api = _api(therapist, org, as_actor)
    urgent = self_referral(org, phq9={**PHQ9, "q9": 1})
    routine = self_referral(org, person={"email": "x@example.org", "given_name": "Sam"})
    listed = api.get("/api/v1/referrals").json()
    assert [r["id"] for r in listed] == [urgent.id, routine.id]
    assert listed[0]["urgency"] == "urgent"
    assert listed[0]["phq9_item9"] == 1
    assert listed[0]["phq9_total"] == 9
    one = api.get(f"/api/v1/referrals/{urgent.id}").json()
    assert one["instruments"]["gad7"]["total"] == 14
    assert one["reasons"]
    template = api.get(f"/api/v1/referrals/{routine.id}/letter-template?outcome=declined").json()
    assert template["language"] == "en"
    assert "Dear Sam" in template["letter"]
    accepted = _post(api, f"/api/v1/referrals/{urgent.id}/accept", {"note": "ok"})
    assert accepted.status_code == 200
    body = accepted.json()
    assert body["referral"]["status"] == "accepted"
    assert len(body["measure_response_ids"]) == 3
    assert Episode.objects.get(id=body["episode_id"]).patient_id == body["patient_id"]
    # The same person again: 409 with the match, then accepted into it.
    again = self_referral(org, person={"email": "rosa2@example.org"})
    conflict = _post(api, f"/api/v1/referrals/{again.id}/accept", {})
    assert conflict.status_code == 409
    assert conflict.json()["matches"][0]["id"] == body["patient_id"]
    joined = _post(api, f"/api/v1/referrals/{again.id}/accept", {"existing_patient_id": body["patient_id"]})
    assert joined.status_code == 200
    assert joined.json()["patient_id"] == body["patient_id"]
    closed = _post(api, f"/api/v1/referrals/{routine.id}/close",
                   {"outcome": "declined", "letter": template["letter"], "send": False})
    assert closed.status_code == 200
    assert closed.json()["status"] == "declined"
    bad = _post(api, f"/api/v1/referrals/{routine.id}/close", {"outcome": "maybe", "letter": "x"})
    assert bad.status_code == 422


def test_api_letter_download_and_roles(org, therapist, nurse, admin, as_actor):
    referral = clinician_referral(org)
    pdf = _api(nurse, org, as_actor).get(f"/api/v1/referrals/{referral.id}/letter")
    assert pdf.status_code == 200
    assert pdf["Content-Type"] == "application/pdf"
    assert pdf.content.startswith(b"%PDF-")
    assert _post(_api(nurse, org, as_actor), f"/api/v1/referrals/{referral.id}/accept", {}).status_code == 403
    assert _api(admin, org, as_actor).get("/api/v1/referrals").status_code == 403
    assert AuditEvent.objects.filter(object_type="referral_letter", action="export").count() == 1


def test_the_urgent_task_links_to_the_referral(org, therapist, client_for):
    referral = self_referral(org, phq9={**PHQ9, "q9": 2})
    task = Task.objects.get(kind=services.RISK_TASK_KIND)
    page = client_for(therapist).get(f"/tasks/{task.id}/")
    assert page.status_code == 200
    assert f'href="/referrals/{referral.id}/"' in page.content.decode()


def test_accept_keeps_the_persons_language(org, therapist, as_actor):
    referral = self_referral(org, person={"preferred_language": "es"})
    done = services.referral_accept(by=as_actor(therapist, org), referral_id=referral.id)
    assert done.patient.preferred_language == "es"
