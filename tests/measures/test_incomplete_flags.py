"""Issue 12: a safety flag raised by the answered items survives a response that cannot
be scored (the service, the staff page, the API, the portal), and answers are strict."""

from __future__ import annotations

import json

import pytest
from django.core.exceptions import ValidationError

from openkap.audit.models import AuditEvent
from openkap.measures import services
from openkap.measures.models import MeasureAssignment, MeasureResponse
from openkap.tasks.models import Task
from tests.measures.test_views_and_api import _api, _post

pytestmark = pytest.mark.django_db

# PHQ-9 (Kroenke 2001) has no rule for missing items: q1 blank means no total, while
# item 9 = 3 is a positive suicide-risk answer that must reach the care team (DESIGN §2).
BLANK_Q1_ITEM9 = {"q1": None, "q2": 0, "q3": 0, "q4": 0, "q5": 0, "q6": 0, "q7": 0, "q8": 0, "q9": 3}


def test_service_refuses_incomplete_but_raises_the_flag_task(therapist, prescriber, patient, org, as_actor):
    with pytest.raises(ValidationError) as caught:
        services.response_enter(by=as_actor(therapist, org), patient_id=patient.id, instrument_id="phq9",
                                answers=BLANK_Q1_ITEM9)
    message = " ".join(caught.value.message_dict["answers"])
    assert "unanswered q1" in message
    assert "phq9_item9 (urgent)" in message
    assert not MeasureResponse.objects.exists()
    task = Task.objects.get(patient=patient)
    assert (task.kind, task.priority, task.data["partial"]) == ("safety_flag", "urgent", True)
    assert set(task.assignees.values_list("user_id", flat=True)) == {therapist.id, prescriber.id}
    assert AuditEvent.objects.filter(object_type="task", object_id=str(task.id), action="create").exists()


def test_service_incomplete_without_a_flag_raises_no_task(therapist, patient, org, as_actor):
    answers = {**BLANK_Q1_ITEM9, "q9": 0}
    with pytest.raises(ValidationError):
        services.response_enter(by=as_actor(therapist, org), patient_id=patient.id, instrument_id="phq9",
                                answers=answers)
    assert not Task.objects.exists()


def test_api_incomplete_names_the_flag_and_raises_the_task(therapist, org, patient, as_actor):
    api = _api(therapist, org, as_actor)
    response = _post(api, f"/api/v1/patients/{patient.id}/measures/responses",
                     {"instrument_id": "phq9", "answers": BLANK_Q1_ITEM9})
    assert response.status_code == 422
    assert "phq9_item9 (urgent)" in json.dumps(response.json())
    assert not MeasureResponse.objects.exists()
    assert Task.objects.filter(patient=patient, kind="safety_flag", priority="urgent").count() == 1


def test_staff_page_incomplete_names_the_flag(therapist, patient, client_for):
    data = {f"item_{k}": "" if v is None else str(v) for k, v in BLANK_Q1_ITEM9.items()}
    page = client_for(therapist).post(f"/patients/{patient.id}/measures/enter/phq9/", data)
    assert page.status_code == 422
    assert "phq9_item9 (urgent)" in page.content.decode()
    assert Task.objects.filter(patient=patient, kind="safety_flag").count() == 1


@pytest.mark.parametrize("bad", [1.0, True, "1", "+1", 1.5])
def test_api_refuses_answers_that_are_not_json_integers(therapist, org, patient, as_actor, bad):
    api = _api(therapist, org, as_actor)
    answers = {**BLANK_Q1_ITEM9, "q1": bad}
    response = _post(api, f"/api/v1/patients/{patient.id}/measures/responses",
                     {"instrument_id": "phq9", "answers": answers})
    assert response.status_code == 422
    assert not MeasureResponse.objects.exists()


@pytest.mark.parametrize("bad", ["+1", "1_0", "\u0661", " 1", "1.0", True, 1.0])
def test_service_refuses_non_plain_answers(therapist, patient, org, as_actor, bad):
    answers = {**BLANK_Q1_ITEM9, "q1": bad, "q9": 0}
    with pytest.raises(ValidationError, match="not an answer"):
        services.response_enter(by=as_actor(therapist, org), patient_id=patient.id, instrument_id="phq9",
                                answers=answers)
    assert not MeasureResponse.objects.exists()


def test_portal_flag_in_unfinished_answers_keeps_its_task_when_submit_is_refused(
    portal_user, patient, org, episode, as_actor, client_for
):
    services.sync_schedule(episode, by=None)
    phq9 = MeasureAssignment.objects.get(episode=episode, occasion="baseline", instrument_id="phq9")
    by = as_actor(portal_user, org)
    services.portal_answer(by=by, assignment_id=phq9.id, answers={k: v for k, v in BLANK_Q1_ITEM9.items() if v is not None})
    with pytest.raises(ValidationError, match="Please answer question 1"):
        services.portal_submit(by=by, assignment_id=phq9.id)
    task = Task.objects.get(patient=patient, kind="safety_flag")
    assert task.is_open
    assert task.data["flag_keys"] == ["phq9_item9:urgent"]
    page = client_for(portal_user).get(f"/portal/questionnaires/{phq9.id}/").content.decode()
    assert "You do not have to wait" in page  # the crisis resources, at once


def test_api_auditc_without_sex_is_a_possible_positive(therapist, org, patient, as_actor):
    patient.sex_at_birth = ""
    patient.save(update_fields=["sex_at_birth"])
    api = _api(therapist, org, as_actor)
    response = _post(api, f"/api/v1/patients/{patient.id}/measures/responses",
                     {"instrument_id": "auditc", "answers": {"q1": 1, "q2": 1, "q3": 1}})
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["band"], body["band_label"][:9]) == ("positive", "Possible:")
    assert any("sex was not given" in n for n in body["result"]["notes"])
