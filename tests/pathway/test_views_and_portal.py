"""The Pathway tab and its pages, the patient's portal pages, and the JSON API."""

from __future__ import annotations

import json
import re

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from openkap.accounts import services as account_services
from openkap.audit.models import AuditAction, AuditEvent
from openkap.core.authz import Role
from openkap.pathway import services
from openkap.pathway.models import (
    Commitment,
    CommitmentCheck,
    ConsentDocument,
    ConsentSignature,
    EpisodeTransition,
    Intention,
    JournalEntry,
)
from tests.conftest import PASSWORD, make_user
from tests.test_url_authorization import web_routes


@pytest.fixture
def portal(patient, org):
    user = make_user("maya@example.org", "Maya Lindqvist", org, Role.PATIENT)
    patient.user = user
    patient.save(update_fields=["user"])
    client = Client()
    client.force_login(user, backend="openkap.accounts.backends.EmailBackend")
    return client


# --- staff pages ----------------------------------------------------------------------------


def test_pathway_tab_shows_booking_allowed_when_ready(walk_to, patient, therapist, client_for):
    walk_to("ready")
    page = client_for(therapist).get(reverse("pathway:overview", args=[patient.id])).content.decode()
    assert 'data-testid="dosing-booking"' in page
    assert "Allowed" in page
    assert "Start the dosing series" in page


def test_pathway_tab_lists_what_is_missing_and_refuses_with_reasons(walk_to, patient, therapist, client_for):
    episode = walk_to("ready")
    ConsentSignature.objects.filter(episode=episode).delete()
    client = client_for(therapist)
    page = client.get(reverse("pathway:overview", args=[patient.id])).content.decode()
    assert "Not allowed yet" in page
    assert "Consent not signed." in page
    response = client.post(reverse("pathway:transition", args=[patient.id]), {"name": "start_series"})
    assert response.status_code == 422
    assert "Not done: nothing was changed." in response.content.decode()
    assert not EpisodeTransition.objects.filter(name="start_series").exists()


def test_transition_from_the_page_records_the_reason(walk_to, patient, therapist, client_for):
    walk_to("planned")
    response = client_for(therapist).post(reverse("pathway:transition", args=[patient.id]),
                                          {"name": "discontinue", "reason": "Chose another treatment."})
    assert response.status_code == 302
    assert EpisodeTransition.objects.get(name="discontinue").reason == "Chose another treatment."


def test_intake_form_shows_errors_next_to_fields(patient, therapist, client_for, by_therapist):
    services.episode_open(by=by_therapist, patient_id=patient.id)
    response = client_for(therapist).post(reverse("pathway:intake", args=[patient.id]), {
        "diagnoses": "33.2 Depression", "systolic_bp": "120", "weight_unit": "kg", "complete": "1",
    })
    assert response.status_code == 422
    page = response.content.decode()
    assert "not an ICD-10-CM code" in page
    assert "Enter both numbers" in page


def test_eligibility_page_sign_with_wrong_password_shows_the_refusal(walk_to, patient, prescriber, client_for):
    walk_to("eligibility")
    response = client_for(prescriber).post(reverse("pathway:eligibility", args=[patient.id]), {
        "outcome": "eligible", "reasons": "TRD", "password": "not it",
    })
    assert response.status_code == 422
    assert "That is not your password." in response.content.decode()
    assert AuditEvent.objects.filter(action=AuditAction.LOGIN_FAILED, actor_email=prescriber.email).count() == 1
    response = client_for(prescriber).post(reverse("pathway:eligibility", args=[patient.id]), {
        "outcome": "eligible", "reasons": "TRD", "password": PASSWORD,
    })
    assert response.status_code == 302


@pytest.mark.parametrize(
    "route",
    [r for r in web_routes() if r.name.startswith("pathway:") and "<id:patient_id>" in r.pattern],
    ids=lambda r: r.name,
)
def test_therapist_outside_the_care_team_gets_403(route, unassigned_patient, therapist, client_for):
    path = "/" + re.sub(r"<id:(\w+)>", lambda m: str(unassigned_patient.id if m.group(1) == "patient_id" else 1),
                        route.pattern)
    client = client_for(therapist)
    response = client.get(path)
    if response.status_code == 405:
        response = client.post(path)
    assert response.status_code == 403


def test_psychotherapy_note_pages(patient, therapist, prescriber, client_for):
    client = client_for(therapist)
    response = client.post(reverse("pathway:psychotherapy_notes", args=[patient.id]),
                           {"session_date": timezone.localdate().isoformat(), "text": "Grief, first spoken."})
    assert response.status_code == 302
    note_url = response.url
    assert "Grief, first spoken." in client.get(note_url).content.decode()
    assert client_for(prescriber).get(note_url).status_code == 404
    note_id = int(note_url.rstrip("/").rsplit("/", 1)[1])
    client.post(reverse("pathway:psychotherapy_note_grant", args=[patient.id, note_id]), {"user": prescriber.id})
    assert client_for(prescriber).get(note_url).status_code == 200


def test_consent_documents_admin_pages(admin, client_for):
    client = client_for(admin)
    assert "No consent document yet" in client.get(reverse("pathway:consent_documents")).content.decode()
    response = client.post(reverse("pathway:consent_document_new"),
                           {"route": "oral", "title": "Consent", "text": "Too short."})
    assert response.status_code == 422
    assert "too short" in response.content.decode()


def test_therapist_sees_the_journal_in_the_chart(walk_to, patient, portal, therapist, client_for):
    walk_to("ready")
    portal.post(reverse("pathway:portal_journal"), {"text": "I slept well after the session."})
    portal.post(reverse("pathway:portal_commitment"), {"practice-text": "Morning walk"})
    commitment = Commitment.objects.get()
    portal.post(reverse("pathway:portal_commitment_tick", args=[commitment.id]), {"done": "1"})
    page = client_for(therapist).get(reverse("pathway:journal", args=[patient.id])).content.decode()
    assert "I slept well after the session." in page
    assert "Morning walk" in page
    assert "1/14" in page


# --- the portal ----------------------------------------------------------------------------


def test_patient_writes_intentions_and_signs_consent_in_the_portal(walk_to, patient, portal):
    episode = walk_to("ready")
    ConsentSignature.objects.filter(episode=episode).delete()
    portal.post(reverse("pathway:portal_intention"), {"text": "Let go of the shame."})
    assert Intention.objects.filter(by_patient=True, text="Let go of the shame.").exists()
    page = portal.get(reverse("pathway:portal_consent")).content.decode()
    document = ConsentDocument.objects.get()
    assert document.sha256 in page
    response = portal.post(reverse("pathway:portal_consent"), {
        "document_sha256": document.sha256, "has_read": "on", "typed_name": "Maya Lindqvist"})
    assert response.status_code == 302
    assert ConsentSignature.objects.get(episode=episode).channel == "portal"
    portal.post(reverse("pathway:portal_consent"), {"withdraw": "1", "reason": "Not ready."})
    assert ConsentSignature.objects.get(episode=episode).withdrawn_at is not None


def test_portal_care_page_shows_instructions_and_safety_plan(walk_to, portal):
    walk_to("ready")
    page = portal.get(reverse("pathway:portal_care")).content.decode()
    assert "Nothing to eat for 2 hours before." in page
    assert "Walk the dog, call my sister." in page


def test_commitments_tick_within_a_week_and_only_ones_own(patient, portal, org, other_patient, by_therapist):
    services.episode_open(by=by_therapist, patient_id=patient.id)
    portal.post(reverse("pathway:portal_commitment"), {"practice-text": "Five minutes of breathing"})
    commitment = Commitment.objects.get()
    portal.post(reverse("pathway:portal_commitment_tick", args=[commitment.id]), {"done": "1"})
    portal.post(reverse("pathway:portal_commitment_tick", args=[commitment.id]), {"done": "1"})
    assert CommitmentCheck.objects.count() == 1
    portal.post(reverse("pathway:portal_commitment_tick", args=[commitment.id]), {"done": "0"})
    assert CommitmentCheck.objects.count() == 0
    theirs = Commitment.objects.create(organization=other_patient.organization, patient=other_patient, text="x")
    assert portal.post(reverse("pathway:portal_commitment_tick", args=[theirs.id])).status_code == 404


def test_patients_cannot_open_staff_pages_and_staff_cannot_open_the_portal(patient, portal, therapist, client_for):
    assert portal.get(reverse("pathway:overview", args=[patient.id])).status_code == 403
    assert client_for(therapist).get(reverse("pathway:portal_journal")).status_code == 403


def test_journal_entry_is_the_patient_s_own(patient, portal):
    portal.post(reverse("pathway:portal_journal"), {"text": "Felt the music carry me."})
    entry = JournalEntry.objects.get()
    assert entry.patient_id == patient.id


# --- the API --------------------------------------------------------------------------------


def _call(method, path, token, body=None):
    return Client().generic(method, path, data=json.dumps(body) if body is not None else "",
                            content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {token}")


@pytest.fixture
def tokens(therapist, prescriber, org, as_actor):
    return {who.email.split("@")[0]: account_services.api_token_create(by=as_actor(who, org), name="t")[1]
            for who in (therapist, prescriber)}


def test_api_transition_refusal_lists_reasons_and_changes_nothing(walk_to, patient, tokens):
    episode = walk_to("ready")
    ConsentSignature.objects.filter(episode=episode).delete()
    base = f"/api/v1/patients/{patient.id}/pathway"
    response = _call("POST", f"{base}/transitions", tokens["therapist"], {"name": "start_series"})
    assert response.status_code == 422
    assert response.json()["errors"] == {"__all__": ["Consent not signed."]}
    data = _call("GET", base, tokens["therapist"]).json()
    assert data["state"] == "preparation"
    assert data["dosing_booking_allowed"] is False
    assert data["dosing_booking_unmet"] == ["Consent not signed."]


def test_api_walks_screening_and_signs_with_the_password(walk_to, patient, tokens):
    walk_to("eligibility")
    base = f"/api/v1/patients/{patient.id}/pathway"
    checklist = _call("GET", f"{base}/checklist", tokens["therapist"]).json()
    assert checklist["complete"]
    assert all(item["sources"] for item in checklist["items"])
    bad = _call("POST", f"{base}/eligibility", tokens["prescriber"],
                {"outcome": "eligible", "reasons": "TRD", "password": "nope"})
    assert bad.status_code == 422
    assert bad.json()["errors"]["password"] == ["That is not your password."]
    assert AuditEvent.objects.filter(action=AuditAction.LOGIN_FAILED).count() == 1
    good = _call("POST", f"{base}/eligibility", tokens["prescriber"],
                 {"outcome": "eligible", "reasons": "TRD", "password": PASSWORD})
    assert good.status_code == 201
    assert good.json()["in_force"]
    assert _call("POST", f"{base}/eligibility", tokens["therapist"],
                 {"outcome": "eligible", "reasons": "TRD", "password": PASSWORD}).status_code == 403
    moved = _call("POST", f"{base}/transitions", tokens["therapist"], {"name": "confirm_eligibility"})
    assert moved.json()["state"] == "planned"


def test_api_reads_preparation_consent_integration_and_journal(walk_to, patient, tokens):
    walk_to("ready")
    base = f"/api/v1/patients/{patient.id}/pathway"
    prep = _call("GET", f"{base}/preparation", tokens["therapist"]).json()
    assert prep["safety_plan"]["complete"]
    assert prep["arrangements"]["escort_arranged"]
    consent = _call("GET", f"{base}/consent", tokens["therapist"]).json()
    assert consent["current"]
    assert consent["document"]["version"] == 1
    assert _call("GET", f"{base}/integration-notes", tokens["therapist"]).json()["window_days"] == 7
    assert _call("GET", f"/api/v1/patients/{patient.id}/journal", tokens["therapist"]).json() == {
        "entries": [], "entries_count": 0, "page": 1, "pages": 1, "commitments": []}
    plans = _call("GET", f"{base}/plans", tokens["therapist"]).json()
    assert [p["version"] for p in plans] == [1]


def test_worklist_filters_by_state_shows_only_visible_patients_and_is_audited(
    walk_to, unassigned_patient, therapist, client_for, by_therapist
):
    from openkap.audit.models import AuditAction, AuditEvent
    from openkap.pathway.models import Episode

    walk_to("ready")
    Episode.objects.create(organization=unassigned_patient.organization, patient=unassigned_patient,
                           opened_by=therapist)
    client = client_for(therapist)
    page = client.get(reverse("pathway:worklist")).content.decode()
    assert "Lindqvist, Maya" in page
    assert "ready to book" in page
    assert "Quist" not in page
    assert "No open episodes in this state" in client.get(reverse("pathway:worklist") + "?state=intake").content.decode()
    assert AuditEvent.objects.filter(action=AuditAction.SEARCH, object_type="episode").count() == 2


def test_admin_publishes_a_consent_version_from_the_one_in_force(admin, client_for):
    from tests.pathway.helpers import CONSENT_TEXT

    client = client_for(admin)
    response = client.post(reverse("pathway:consent_document_new"),
                           {"route": "oral", "title": "Consent: oral ketamine", "text": CONSENT_TEXT * 2})
    assert response.status_code == 302
    first = ConsentDocument.objects.get()
    form = client.get(reverse("pathway:consent_document_new") + f"?from={first.id}").content.decode()
    assert "Consent: oral ketamine" in form
    assert client.get(reverse("pathway:consent_document_new") + "?from=" + "9" * 30).status_code == 200
    page = client.get(reverse("pathway:consent_document", args=[first.id])).content.decode()
    assert first.sha256 in page


def test_old_plan_versions_stay_viewable(walk_to, patient, prescriber, therapist, client_for):
    walk_to("planned")
    client_for(prescriber).post(reverse("pathway:plan", args=[patient.id]), {
        "indication": "TRD", "route": "intranasal_esketamine", "protocol_id": "intranasal-esketamine-spravato",
        "dose_level": "psychedelic", "dosing_sessions_planned": "4", "integration_cadence_days": "5",
        "goals": "Fewer sessions at a higher dose.", "change_reason": "Patient prefers fewer visits.",
        "password": PASSWORD,
    })
    client = client_for(therapist)
    assert "v2 in force" in client.get(reverse("pathway:plan", args=[patient.id])).content.decode()
    old = client.get(reverse("pathway:plan_version", args=[patient.id, 1])).content.decode()
    assert "version 1" in old
    assert "6, each followed by integration within 7 days" in old
    assert client.get(reverse("pathway:plan_version", args=[patient.id, 9])).status_code == 404


def test_the_whole_journal_is_reachable_a_page_at_a_time(walk_to, patient, org, tokens, therapist, client_for):
    """Past the first 100 entries the journal pages on (it used to stop at 100 without a word)."""
    from openkap.accounts.authz import build_actor

    walk_to("ready")
    user = make_user("maya@example.org", "Maya Lindqvist", org, Role.PATIENT)
    patient.user = user
    patient.save(update_fields=["user"])
    written = [services.journal_write(by=build_actor(user, org), text=f"Entry {i}.").id for i in range(103)]
    url = f"/api/v1/patients/{patient.id}/journal"
    first = _call("GET", url, tokens["therapist"]).json()
    second = _call("GET", url + "?page=2", tokens["therapist"]).json()
    assert (first["entries_count"], first["page"], first["pages"], len(first["entries"])) == (103, 1, 2, 100)
    assert (second["page"], len(second["entries"])) == (2, 3)
    # Newest first across the pages, every entry exactly once; a page past the last is the last.
    assert [e["id"] for e in first["entries"] + second["entries"]] == written[::-1]
    assert _call("GET", url + "?page=9", tokens["therapist"]).json()["entries"] == second["entries"]
    assert _call("GET", url + "?page=0", tokens["therapist"]).status_code == 422
    page = client_for(therapist).get(reverse("pathway:journal", args=[patient.id]) + "?page=2").content.decode()
    assert "Entry 2." in page
    assert "Entry 3." not in page
    assert "Page 2 of 2 (103 entries)" in page
    portal = client_for(user).get(reverse("pathway:portal_journal") + "?page=2").content.decode()
    assert "Entry 0." in portal
    assert "Entry 99." not in portal
    assert "Newer entries" in portal
