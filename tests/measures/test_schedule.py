"""The episode's measure schedule: baseline, before each dosing session, after each
integration session, follow-up at 1, 3 and 6 months; editable per plan; due/overdue."""

from __future__ import annotations

from datetime import timedelta
from io import StringIO

import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.utils import timezone

from openkap.dosing.models import DosingSession
from openkap.measures import services
from openkap.measures.models import AssignmentStatus, MeasureAssignment

pytestmark = pytest.mark.django_db


def _open(episode, occasion=None):
    qs = MeasureAssignment.objects.filter(episode=episode, cancelled_at__isnull=True)
    return qs.filter(occasion=occasion) if occasion else qs


def test_baseline_from_the_default_plan_and_idempotent(episode):
    assert services.sync_schedule(episode, by=None) == 6
    assert set(_open(episode, "baseline").values_list("instrument_id", flat=True)) == {
        "phq9", "gad7", "cssrs-recent", "pcl5", "auditc", "dast10"
    }
    assert services.sync_schedule(episode, by=None) == 0
    baseline = _open(episode, "baseline").first()
    assert baseline.due_at == episode.opened_at
    # Opened 20 days ago, 14-day window: overdue now.
    assert baseline.status == AssignmentStatus.OVERDUE


def test_dosing_session_brings_before_dosing_measures_and_follow_ups(episode, dosing_session):
    services.sync_schedule(episode, by=None)
    before = _open(episode, "before_dosing")
    assert set(before.values_list("instrument_id", flat=True)) == {"phq9", "gad7", "cssrs-slv"}
    a = before.get(instrument_id="phq9")
    assert a.occasion_key == f"dosing:{dosing_session.id}"
    # Booked two days ahead: due from the booking, not 3 days before the session.
    assert a.due_at == dosing_session.created_at
    assert a.overdue_at == dosing_session.scheduled_start
    assert a.status == AssignmentStatus.DUE  # session in 2 days
    follow_ups = sorted(set(_open(episode, "follow_up").values_list("occasion_key", flat=True)))
    assert follow_ups == ["1m", "3m", "6m"]
    one_month = _open(episode, "follow_up").filter(occasion_key="1m").first()
    assert timedelta(days=29) < one_month.due_at - dosing_session.scheduled_start < timedelta(days=32)
    assert one_month.status == AssignmentStatus.UPCOMING


def test_moved_session_moves_its_measures_and_cancelled_session_cancels_them(episode, dosing_session):
    services.sync_schedule(episode, by=None)
    dosing_session.scheduled_start += timedelta(days=7)
    dosing_session.save()
    services.sync_schedule(episode, by=None)
    a = _open(episode, "before_dosing").get(instrument_id="phq9")
    assert a.overdue_at == dosing_session.scheduled_start
    assert a.status == AssignmentStatus.UPCOMING
    dosing_session.status = DosingSession.Status.CANCELLED
    dosing_session.save()
    services.sync_schedule(episode, by=None)
    assert not _open(episode, "before_dosing").exists()
    assert MeasureAssignment.objects.get(episode=episode, occasion="before_dosing", instrument_id="phq9").cancel_reason


def test_after_integration_measures_are_due_at_once(therapist, org, episode, dosing_session, as_actor):
    held = timezone.now()
    created = services.schedule_after_integration(
        by=as_actor(therapist, org), episode_id=episode.id, dosing_session_id=dosing_session.id, held_at=held
    )
    assert {a.instrument_id for a in created} == {"phq9", "gad7"}
    assert all(a.status == AssignmentStatus.DUE for a in created)
    again = services.schedule_after_integration(
        by=as_actor(therapist, org), episode_id=episode.id, dosing_session_id=dosing_session.id, held_at=held
    )
    assert again == []
    with pytest.raises(ValidationError):
        services.schedule_after_integration(
            by=as_actor(therapist, org), episode_id=episode.id, dosing_session_id=dosing_session.id + 99,
            held_at=held,
        )


def test_plan_edit_adds_and_cancels(therapist, org, episode, as_actor):
    services.sync_schedule(episode, by=None)
    plan = services.measure_plan_update(
        by=as_actor(therapist, org), episode_id=episode.id,
        plan={"baseline": ["phq9", "GAD-7", "cssrs-recent", "qidssr16"], "before_dosing": ["phq9"]},
    )
    assert plan["baseline"] == ["cssrs-recent", "gad7", "phq9", "qidssr16"]
    assert plan["after_integration"] == []
    baseline = set(_open(episode, "baseline").values_list("instrument_id", flat=True))
    assert baseline == {"phq9", "gad7", "cssrs-recent", "qidssr16"}
    cancelled = MeasureAssignment.objects.get(episode=episode, instrument_id="pcl5")
    assert cancelled.cancelled_by == therapist
    with pytest.raises(ValidationError):
        services.measure_plan_update(by=as_actor(therapist, org), episode_id=episode.id, plan={"baseline": ["nope"]})
    with pytest.raises(ValidationError):
        services.measure_plan_update(by=as_actor(therapist, org), episode_id=episode.id, plan={"ad_hoc": ["phq9"]})


def test_reassessment_is_scheduled_on_request(therapist, org, episode, as_actor):
    created = services.schedule_reassessment(by=as_actor(therapist, org), episode_id=episode.id)
    assert {a.instrument_id for a in created} == {"phq9", "gad7", "cssrs-recent"}


def test_ad_hoc_assignment_needs_an_open_episode(therapist, org, patient, as_actor):
    with pytest.raises(ValidationError):
        services.measure_assign(by=as_actor(therapist, org), patient_id=patient.id, instrument_id="gad7")


def test_ad_hoc_assignment_and_cancel(therapist, org, patient, episode, as_actor):
    by = as_actor(therapist, org)
    a = services.measure_assign(by=by, patient_id=patient.id, instrument_id="PHQ-9")
    b = services.measure_assign(by=by, patient_id=patient.id, instrument_id="phq9")
    assert a.instrument_id == "phq9"
    assert a.occasion == "ad_hoc"
    assert a.id != b.id
    with pytest.raises(ValidationError):
        services.assignment_cancel(by=by, assignment_id=a.id, reason="")
    services.assignment_cancel(by=by, assignment_id=a.id, reason="Entered on paper instead")
    a.refresh_from_db()
    assert a.status == AssignmentStatus.CANCELLED
    with pytest.raises(ValidationError):
        services.measure_assign(by=by, patient_id=patient.id, instrument_id="phq9",
                                due_at=timezone.now() + timedelta(days=800))


def test_the_upgrade_command_schedules_open_episodes_once(episode, dosing_session):
    # Made without the services (as before the schedule followed the events).
    assert not MeasureAssignment.objects.filter(episode=episode).exists()
    out = StringIO()
    call_command("measure_schedules", stdout=out)
    assert "1 open episode(s) checked, 15 measure(s) scheduled." in out.getvalue()
    assert MeasureAssignment.objects.filter(episode=episode, occasion="before_dosing").count() == 3
    call_command("measure_schedules", stdout=out)
    assert out.getvalue().endswith("1 open episode(s) checked, 0 measure(s) scheduled.\n")
