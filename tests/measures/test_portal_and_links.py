"""Patients answer in the portal (one item per screen, save and resume) or through a
single-use, expiring link that needs no login and opens nothing else."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from openkap.core.digest import sha256_hex
from openkap.measures import services
from openkap.measures.models import MeasureAssignment, MeasureDraft, MeasureLink, MeasureResponse
from tests.measures.factories import PHQ9_NO_FLAG

pytestmark = pytest.mark.django_db


@pytest.fixture
def phq9(episode):
    services.sync_schedule(episode, by=None)
    return MeasureAssignment.objects.get(episode=episode, occasion="baseline", instrument_id="phq9")


def _answer_all(client, url, answers=PHQ9_NO_FLAG):
    for item, value in answers.items():
        response = client.post(url, {"step": item, "answer": str(value), "action": "next"})
        assert response.status_code == 302, response.content[:500]


# --- portal -----------------------------------------------------------------------------


def test_portal_one_item_per_screen_with_progress_and_resume(portal_user, phq9, client_for):
    client = client_for(portal_user)
    url = f"/portal/questionnaires/{phq9.id}/"
    page = client.get(url).content.decode()
    assert "Question 1 of 9" in page
    assert "Little interest or pleasure in doing things" in page
    assert 'name="answer"' in page
    assert page.count('type="radio"') == 4
    # Answer three, leave, come back: resumes at question 4.
    _answer_all(client, url, dict(list(PHQ9_NO_FLAG.items())[:3]))
    assert MeasureDraft.objects.get(assignment=phq9).answers == {"q1": 1, "q2": 2, "q3": 1}
    page = client_for(portal_user).get(url).content.decode()
    assert "Question 4 of 9" in page
    assert "33%" in page
    # A required question cannot be skipped.
    response = client.post(url, {"step": "q4", "action": "next"})
    assert response.status_code == 422
    assert "Choose an answer" in response.content.decode()
    # Back to an earlier answer and change it.
    response = client.post(url, {"step": "q4", "action": "back"})
    assert response.url.endswith("?step=q3")
    client.post(url, {"step": "q3", "answer": "0", "action": "next"})
    _answer_all(client, url, dict(list(PHQ9_NO_FLAG.items())[3:]))
    client.post(url, {"step": "extra-q10", "answer": "1", "action": "next"})
    page = client.get(url).content.decode()
    assert "Check your answers" in page
    response = client.post(url, {"step": "review", "action": "submit"})
    assert response.status_code == 302
    saved = MeasureResponse.objects.get()
    assert saved.via == "portal"
    assert saved.entered_by == portal_user
    assert saved.on_behalf is False
    assert saved.total == 8  # q3 changed from 1 to 0
    assert saved.supplementary == {"q10": 1}
    assert not MeasureDraft.objects.exists()
    # Submitted: the questionnaire is closed, a second submission is refused.
    assert client.get(url).status_code == 302
    assert MeasureResponse.objects.count() == 1


def test_skip_logic_asks_asq_acuity_only_after_a_yes(portal_user, patient, org, episode, therapist, as_actor, client_for):
    a = services.measure_assign(by=as_actor(therapist, org), patient_id=patient.id, instrument_id="asq")
    client = client_for(portal_user)
    url = f"/portal/questionnaires/{a.id}/"
    _answer_all(client, url, {"q1": 0, "q2": 0, "q3": 0, "q4": 0})
    assert "Check your answers" in client.get(url).content.decode()
    client.post(url, {"step": "review", "action": "submit"})
    assert MeasureResponse.objects.get().band == "negative"


def test_clinician_rated_scales_are_refused_to_patients(portal_user, episode, client_for, dosing_session):
    services.sync_schedule(episode, by=None)
    cssrs = MeasureAssignment.objects.get(episode=episode, instrument_id="cssrs-slv")
    client = client_for(portal_user)
    assert client.get(f"/portal/questionnaires/{cssrs.id}/").status_code == 403
    assert client.post(f"/portal/questionnaires/{cssrs.id}/", {"step": "q1", "answer": "0"}).status_code == 403
    assert not MeasureDraft.objects.exists()
    assert "C-SSRS" not in client.get("/portal/questionnaires/").content.decode()


def test_portal_is_only_for_the_patients_own_questionnaires(org, portal_user, therapist, other_patient, client_for):
    from tests.measures.factories import open_episode

    other_episode = open_episode(other_patient, therapist)
    services.sync_schedule(other_episode, by=None)
    theirs = MeasureAssignment.objects.filter(episode=other_episode).first()
    assert client_for(portal_user).get(f"/portal/questionnaires/{theirs.id}/").status_code == 404


def test_staff_cannot_use_the_portal(therapist, phq9, client_for):
    assert client_for(therapist).get(f"/portal/questionnaires/{phq9.id}/").status_code == 403
    assert client_for(therapist).get("/portal/questionnaires/").status_code == 403


def test_patient_cannot_open_staff_measures(portal_user, patient, client_for):
    client = client_for(portal_user)
    assert client.get(f"/patients/{patient.id}/measures/").status_code == 403
    assert client.get("/tasks/").status_code == 403


def test_patient_home_lists_due_questionnaires(portal_user, phq9, client_for):
    page = client_for(portal_user).get("/").content.decode()
    assert 'data-testid="portal-questionnaires"' in page
    assert f"/portal/questionnaires/{phq9.id}/" in page


# --- single-use links ---------------------------------------------------------------------


@pytest.fixture
def link(therapist, org, phq9, as_actor):
    link, raw = services.link_create(by=as_actor(therapist, org), assignment_id=phq9.id)
    return link, raw


def test_link_token_is_stored_hashed(link):
    record, raw = link
    assert raw not in record.token_hash
    assert record.token_hash == sha256_hex(raw)
    assert not MeasureLink.objects.filter(token_hash=raw).exists()


def test_link_completes_without_login_and_only_once(link, phq9):
    _record, raw = link
    client = Client()
    url = f"/q/{raw}/"
    page = client.get(url)
    assert page.status_code == 200
    assert page["Cache-Control"] == "no-store"
    assert page["Referrer-Policy"] == "no-referrer"
    assert "Question 1 of 9" in page.content.decode()
    _answer_all(client, url)
    client.post(url, {"step": "extra-q10", "action": "skip"})
    done = client.post(url, {"step": "review", "action": "submit"})
    assert done.status_code == 200
    assert "Thank you" in done.content.decode()
    saved = MeasureResponse.objects.get()
    assert saved.via == "link"
    assert saved.entered_by is None
    assert saved.assignment == phq9
    # Second use refused, GET or POST.
    again = client.get(url)
    assert again.status_code == 410
    assert "already been used" in again.content.decode()
    assert client.post(url, {"step": "review", "action": "submit"}).status_code == 410
    assert MeasureResponse.objects.count() == 1


def test_expired_link_is_refused(link):
    record, raw = link
    MeasureLink.objects.filter(pk=record.pk).update(expires_at=timezone.now() - timedelta(minutes=1))
    response = Client().get(f"/q/{raw}/")
    assert response.status_code == 410
    assert "expired" in response.content.decode()


def test_unknown_and_withdrawn_links_are_refused(link, therapist, org, as_actor, phq9):
    _record, raw = link
    assert Client().get("/q/not-a-real-token/").status_code == 404
    assert Client().get("/q/" + "x" * 150 + "/").status_code == 404
    services.assignment_cancel(by=as_actor(therapist, org), assignment_id=phq9.id, reason="No longer needed")
    assert Client().get(f"/q/{raw}/").status_code == 410


def test_link_reaches_nothing_else(link, patient, phq9, episode):
    _record, raw = link
    client = Client()
    client.get(f"/q/{raw}/")
    client.post(f"/q/{raw}/", {"step": "q1", "answer": "1", "action": "next"})
    # No session was signed in: every other page asks for a login.
    other = MeasureAssignment.objects.filter(episode=episode).exclude(id=phq9.id).first()
    public_home = client.get("/").content.decode()  # the public site, for anyone
    assert patient.legal_family_name not in public_home
    for path in (f"/patients/{patient.id}/", f"/patients/{patient.id}/measures/", "/portal/questionnaires/",
                 f"/portal/questionnaires/{phq9.id}/", f"/portal/questionnaires/{other.id}/", "/tasks/"):
        response = client.get(path)
        assert response.status_code == 302, path
        assert "/accounts/login/" in response.url, path
    # The page itself names no patient.
    page = client.get(f"/q/{raw}/").content.decode()
    assert patient.legal_family_name not in page
    assert patient.mrn not in page
    # The token opens only its own questionnaire: a different step id of another form is ignored.
    response = client.post(f"/q/{raw}/", {"step": "q7", "answer": "3", "action": "next"})
    assert MeasureDraft.objects.get(assignment=phq9).answers == {"q1": 1}
    assert response.status_code == 200


def test_link_for_a_clinician_rated_scale_is_refused(therapist, org, episode, dosing_session, as_actor):
    from django.core.exceptions import ValidationError

    services.sync_schedule(episode, by=None)
    cssrs = MeasureAssignment.objects.get(episode=episode, instrument_id="cssrs-slv")
    with pytest.raises(ValidationError):
        services.link_create(by=as_actor(therapist, org), assignment_id=cssrs.id)


def test_link_created_from_the_chart_shows_the_url_once(
    therapist, patient, phq9, client_for, mailoutbox, django_capture_on_commit_callbacks
):
    client = client_for(therapist)
    response = client.post(f"/patients/{patient.id}/measures/assignments/{phq9.id}/link/", {"days": "3"})
    assert response.status_code == 200
    url = re.search(r'value="(http[^"]+/q/[^"]+/)"', response.content.decode()).group(1)
    assert MeasureLink.objects.get().token_hash == sha256_hex(url.rstrip("/").rsplit("/", 1)[1])
    assert mailoutbox == []
    patient.email = "maya@example.org"
    patient.save()
    with django_capture_on_commit_callbacks(execute=True):
        client.post(f"/patients/{patient.id}/measures/assignments/{phq9.id}/link/", {"days": "7", "send_email": "on"})
    assert len(mailoutbox) == 1
    assert "/q/" in mailoutbox[0].body


def test_qids_either_or_items_need_one_answer_before_submitting(admin, org, patient, therapist, episode, portal_user,
                                                               as_actor, client_for):
    texts = {f"q{n}": f"QIDS item {n} licensed wording" for n in range(1, 17)}
    services.licensed_wording_save(by=as_actor(admin, org), instrument_id="qidssr16", texts=texts,
                                   licence_reference="UTSW licence")
    a = services.measure_assign(by=as_actor(therapist, org), patient_id=patient.id, instrument_id="qidssr16")
    client = client_for(portal_user)
    url = f"/portal/questionnaires/{a.id}/"
    assert "QIDS item 1 licensed wording" in client.get(url).content.decode()
    for n in range(1, 17):
        if n in (6, 7):
            client.post(url, {"step": f"q{n}", "action": "skip"})  # "either 6 or 7": both left blank
        else:
            client.post(url, {"step": f"q{n}", "answer": "1", "action": "next"})
    response = client.post(url, {"step": "review", "action": "submit"})
    assert response.status_code == 422
    assert "Please answer question 6 or question 7" in response.content.decode()
    client.post(url, {"step": "q6", "answer": "2", "action": "next"})
    client.post(url, {"step": "review", "action": "submit"})
    saved = MeasureResponse.objects.get()
    assert saved.instrument_id == "qidssr16"
    assert saved.is_scored
