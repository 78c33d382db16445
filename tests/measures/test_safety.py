"""A positive safety flag raises an urgent task in the same transaction, shows a banner
on the chart until resolved, and the patient sees the clinic's crisis resources."""

from __future__ import annotations

import threading

import pytest
from django.core import mail
from django.core.exceptions import ValidationError
from django.db import connection, transaction

from openkap.accounts.authz import Denied
from openkap.audit.models import AuditEvent
from openkap.measures import services
from openkap.measures.models import MeasureAssignment, MeasureDraft, MeasureResponse
from openkap.measures.services import safety
from openkap.tasks import selectors as tasks_selectors
from openkap.tasks import services as tasks_services
from openkap.tasks.models import Task
from tests.measures.factories import PHQ9_ITEM9_POSITIVE, PHQ9_NO_FLAG

pytestmark = pytest.mark.django_db



def _enter(by, patient, answers=PHQ9_ITEM9_POSITIVE, instrument="phq9", **kw):
    return services.response_enter(by=by, patient_id=patient.id, instrument_id=instrument, answers=answers, **kw)


def test_flag_creates_urgent_task_for_the_care_team(therapist, prescriber, patient, org, as_actor):
    response = _enter(as_actor(therapist, org), patient)
    assert response.has_safety_flag
    assert response.flag_ids == ["phq9_item9"]
    task = Task.objects.get(patient=patient)
    assert task.kind == "safety_flag"
    assert task.priority == Task.Priority.URGENT
    assert task.is_open
    assert set(task.assignees.values_list("user_id", flat=True)) == {therapist.id, prescriber.id}
    assert task.assigned_role == ""
    assert "item 9 = 1" in task.title
    assert task.data["response_id"] == response.id
    assert AuditEvent.objects.filter(object_type="task", object_id=str(task.id), action="create").exists()
    assert AuditEvent.objects.filter(object_type="measure_response", object_id=str(response.id)).exists()


def test_no_flag_no_task(therapist, patient, org, as_actor):
    _enter(as_actor(therapist, org), patient, PHQ9_NO_FLAG)
    assert not Task.objects.exists()


def test_flag_task_goes_to_the_nurses_when_there_is_no_care_team(nurse, unassigned_patient, org, as_actor):
    _enter(as_actor(nurse, org), unassigned_patient)
    task = Task.objects.get(patient=unassigned_patient)
    assert task.assigned_role == "nurse"
    assert not task.assignees.exists()


def test_nurse_resolves_the_fallback_task_and_the_admin_cannot_open_it(nurse, admin, unassigned_patient, org, as_actor):
    """Issue 21.4: a safety task is clinical content; the admin's registry role does not reach it."""
    _enter(as_actor(nurse, org), unassigned_patient)
    task = Task.objects.get()
    with pytest.raises(Denied):
        tasks_services.task_resolve(by=as_actor(admin, org), task_id=task.id, note="Called the patient; safety plan reviewed.")
    assert task.id not in [t.id for t in tasks_selectors.tasks_list(by=as_actor(admin, org), scope="all")]
    tasks_services.task_resolve(by=as_actor(nurse, org), task_id=task.id, note="Called the patient; safety plan reviewed.")
    task.refresh_from_db()
    assert task.resolved_by == nurse


def test_a_therapist_off_the_team_needs_break_glass_for_a_safety_task(
    nurse, therapist, unassigned_patient, org, as_actor
):
    from openkap.patients import services as patient_services

    _enter(as_actor(nurse, org), unassigned_patient)
    task = Task.objects.get()
    by = as_actor(therapist, org)
    with pytest.raises(Denied) as refused:
        tasks_services.task_for(by, task.id)
    assert refused.value.care_team  # the 403 page offers break-glass
    assert task.id not in [t.id for t in tasks_selectors.tasks_list(by=by, scope="all")]
    patient_services.break_glass(by=by, patient_id=unassigned_patient.id, reason="Patient on the phone, distressed")
    assert tasks_services.task_for(by, task.id) == task
    assert task.id in [t.id for t in tasks_selectors.tasks_list(by=by, scope="all")]


def test_rollback_leaves_neither_response_nor_task(therapist, patient, org, episode, as_actor, monkeypatch):
    services.sync_schedule(episode, by=None)
    assignment = MeasureAssignment.objects.get(episode=episode, occasion="baseline", instrument_id="phq9")

    def fail(*args, **kwargs):
        raise RuntimeError("mail queue down")

    # The last step of raising the task: if anything after the response fails, all of it goes.
    monkeypatch.setattr(tasks_services, "_notify_assignees_on_commit", fail)
    with pytest.raises(RuntimeError):
        _enter(as_actor(therapist, org), patient, assignment_id=assignment.id)
    assert not MeasureResponse.objects.exists()
    assert not Task.objects.exists()
    assignment.refresh_from_db()
    assert assignment.completed_at is None
    assert not AuditEvent.objects.filter(object_type__in=["task", "measure_response"]).exists()


def test_task_failure_rolls_back_the_response(therapist, patient, org, as_actor, monkeypatch):
    real = tasks_services.task_create

    def broken(**kwargs):
        real(**kwargs)
        raise ValidationError("database said no")

    monkeypatch.setattr(safety, "task_create", broken)
    with pytest.raises(ValidationError):
        _enter(as_actor(therapist, org), patient)
    assert MeasureResponse.objects.count() == 0
    assert Task.objects.count() == 0


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_flag_and_task_commit_in_one_postgresql_transaction(org, therapist, prescriber, patient, as_actor, monkeypatch):
    """Seen from another database session, the response and its task appear together at
    commit, never one without the other. The submission is held open just after the task
    is written (the last step inside the transaction) while this session looks."""
    inside, go = threading.Event(), threading.Event()
    real_notify = tasks_services._notify_assignees_on_commit

    def hold(*args):
        real_notify(*args)
        inside.set()
        assert go.wait(10)

    monkeypatch.setattr(tasks_services, "_notify_assignees_on_commit", hold)
    errors: list[BaseException] = []

    def submit():
        try:
            _enter(as_actor(therapist, org), patient)
        except BaseException as exc:  # reported to the main thread
            errors.append(exc)
        finally:
            connection.close()

    worker = threading.Thread(target=submit)
    worker.start()
    assert inside.wait(10)
    # The other session has written both rows but not committed: neither is visible here.
    assert MeasureResponse.objects.count() == 0
    assert Task.objects.count() == 0
    go.set()
    worker.join(10)
    assert not errors
    response = MeasureResponse.objects.get()
    task = Task.objects.get()
    assert task.data["response_id"] == response.id


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_postgresql_rollback_leaves_neither(org, therapist, prescriber, patient, as_actor, monkeypatch):
    def fail(*args, **kwargs):
        raise RuntimeError("mail queue down")

    monkeypatch.setattr(tasks_services, "_notify_assignees_on_commit", fail)
    with pytest.raises(RuntimeError):
        _enter(as_actor(therapist, org), patient)
    assert not transaction.get_connection().in_atomic_block  # really committed/rolled back, not wrapped
    assert MeasureResponse.objects.count() == 0
    assert Task.objects.count() == 0


def test_emergency_flag_gives_emergency_priority(therapist, patient, org, as_actor):
    # C-SSRS recent, yes to item 4 (intent without plan): imminent risk.
    _enter(as_actor(therapist, org), patient, {"q1": 1, "q2": 1, "q3": 1, "q4": 1, "q5": 0, "q6": 0},
           instrument="cssrs-recent")
    task = Task.objects.get()
    assert task.priority == Task.Priority.EMERGENCY
    assert "high risk" in task.title


def test_incomplete_response_keeps_its_flags(therapist, patient, org, as_actor):
    answers = {**PHQ9_ITEM9_POSITIVE, "q3": None, "q9": 2}
    with pytest.raises(ValidationError, match="phq9_item9"):
        _enter(as_actor(therapist, org), patient, answers)
    assert not MeasureResponse.objects.exists()
    # Issue 12: the refusal keeps the flag: the urgent task is raised all the same.
    assert Task.objects.get().data["response_id"] is None
    response = _enter(as_actor(therapist, org), patient, answers, allow_incomplete=True)
    assert not response.is_scored
    assert response.total is None
    assert response.result["missing"] == ["q3"]
    assert response.has_safety_flag
    assert response.highest_severity == "urgent"
    # Storing the same answers next does not raise the flag twice; the task names them.
    assert Task.objects.get().data["response_id"] == response.id


def test_a_flag_in_a_draft_raises_the_task_at_once_and_only_once(patient, portal_user, org, episode, as_actor):
    services.sync_schedule(episode, by=None)
    assignment = MeasureAssignment.objects.get(episode=episode, occasion="baseline", instrument_id="phq9")
    me = as_actor(portal_user, org)
    services.portal_answer(by=me, assignment_id=assignment.id, answers={"q1": 1})
    assert not Task.objects.exists()
    for item, value in list(PHQ9_ITEM9_POSITIVE.items())[1:]:
        services.portal_answer(by=me, assignment_id=assignment.id, answers={item: value})
    task = Task.objects.get()
    assert task.data["partial"] is True
    assert task.subject_type == "measure_assignment"
    assert MeasureDraft.objects.filter(assignment=assignment).exists()
    response = services.portal_submit(by=me, assignment_id=assignment.id)
    assert response.has_safety_flag
    assert Task.objects.count() == 1  # the same flag is not raised twice
    task.refresh_from_db()
    assert task.data["response_id"] == response.id  # and the task now names the submitted response
    assert task.data["partial"] is False
    assert "submitted on" in task.detail
    assert not MeasureDraft.objects.filter(assignment=assignment).exists()


def test_a_more_severe_answer_raises_a_new_task(patient, portal_user, org, episode, as_actor):
    services.sync_schedule(episode, by=None)
    assignment = MeasureAssignment.objects.get(episode=episode, occasion="baseline", instrument_id="phq9")
    me = as_actor(portal_user, org)
    services.portal_answer(by=me, assignment_id=assignment.id, answers=PHQ9_ITEM9_POSITIVE)
    services.portal_answer(by=me, assignment_id=assignment.id, answers={"q9": 3})
    assert list(Task.objects.order_by("id").values_list("data__flag_keys", flat=True)) == [
        ["phq9_item9:review"], ["phq9_item9:urgent"]
    ]


def test_resolving_a_task_needs_a_note_and_is_audited(therapist, patient, org, as_actor):
    _enter(as_actor(therapist, org), patient)
    task = Task.objects.get()
    with pytest.raises(ValidationError) as exc:
        tasks_services.task_resolve(by=as_actor(therapist, org), task_id=task.id, note="  ok ")
    assert "note" in exc.value.message_dict
    tasks_services.task_resolve(by=as_actor(therapist, org), task_id=task.id, note="Phoned patient, C-SSRS low risk, plan made.")
    task.refresh_from_db()
    assert task.resolved_at
    assert task.resolved_by == therapist
    event = AuditEvent.objects.get(object_type="task", object_id=str(task.id), action="update")
    assert "C-SSRS" in event.reason
    with pytest.raises(ValidationError):
        tasks_services.task_resolve(by=as_actor(therapist, org), task_id=task.id, note="resolving twice is refused")


def test_banner_on_the_chart_until_resolved(therapist, patient, org, as_actor, client_for):
    _enter(as_actor(therapist, org), patient)
    client = client_for(therapist)
    page = client.get(f"/patients/{patient.id}/").content.decode()
    assert 'data-testid="safety-banner"' in page
    assert "item 9 = 1" in page
    task = Task.objects.get()
    response = client.post(f"/tasks/{task.id}/", {"note": ""})
    assert response.status_code == 422
    response = client.post(f"/tasks/{task.id}/", {"note": "Spoke with patient, safe, seen tomorrow."})
    assert response.status_code == 302
    assert 'data-testid="safety-banner"' not in client.get(f"/patients/{patient.id}/").content.decode()


def test_care_team_is_emailed_without_patient_details(therapist, prescriber, patient, org, as_actor,
                                                      django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        _enter(as_actor(therapist, org), patient)
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert set(message.to) == {therapist.email, prescriber.email}
    assert message.body.startswith("An urgent task was raised")
    assert patient.legal_family_name not in message.body
    assert patient.mrn not in message.body


def test_patient_sees_the_clinics_crisis_resources_after_a_flagged_submission(
    patient, portal_user, org, episode, client_for
):
    org.crisis_resources = "Call the Test Clinic crisis line 555-0100, or 988."
    org.save()
    services.sync_schedule(episode, by=None)
    assignment = MeasureAssignment.objects.get(episode=episode, occasion="baseline", instrument_id="phq9")
    client = client_for(portal_user)
    url = f"/portal/questionnaires/{assignment.id}/"
    for item, value in PHQ9_ITEM9_POSITIVE.items():
        client.post(url, {"step": item, "answer": str(value), "action": "next"})
    page = client.get(url).content.decode()
    assert "555-0100" in page  # shown as soon as item 9 is answered, before submitting
    client.post(url, {"step": "extra-q10", "action": "skip"})
    response = client.post(url, {"step": "review", "action": "submit"}, follow=True)
    html = response.content.decode()
    assert "Please reach out now" in html
    assert "555-0100" in html
    assert Task.objects.filter(patient=patient, resolved_at__isnull=True).count() == 1


def test_each_flagged_response_without_an_assignment_raises_its_own_task(therapist, patient, org, as_actor):
    _enter(as_actor(therapist, org), patient)
    _enter(as_actor(therapist, org), patient)
    # Two separate responses (no assignment): two tasks, none lost.
    assert Task.objects.count() == 2
