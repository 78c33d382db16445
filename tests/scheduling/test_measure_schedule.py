"""Issue 21.6: the measure schedule follows the pathway's events in the services that
make them (episode opened, dosing session booked, moved, cancelled, no-show), so that
reading measures writes nothing."""

from __future__ import annotations

from datetime import timedelta

import pytest

from openkap.audit.models import AuditEvent
from openkap.measures.models import MeasureAssignment
from openkap.scheduling import services
from tests.scheduling.conftest import at, dosing

pytestmark = pytest.mark.django_db


def _open(episode, occasion):
    return MeasureAssignment.objects.filter(
        episode=episode, occasion=occasion, completed_at__isnull=True, cancelled_at__isnull=True
    )


def test_opening_the_episode_schedules_the_baseline(episode):
    baseline = _open(episode, "baseline")
    assert set(baseline.values_list("instrument_id", flat=True)) == {
        "phq9", "gad7", "cssrs-recent", "pcl5", "auditc", "dast10"
    }
    assert {a.due_at for a in baseline} == {episode.opened_at}
    assert AuditEvent.objects.filter(object_type="measure_schedule", object_id=str(episode.id)).exists()


def test_booking_a_dosing_session_schedules_its_pre_dose_measures_from_the_booking(book, therapist, nurse, patient,
                                                                                    dosing_room, guards_met):
    a = book(therapist, **dosing(patient, dosing_room, nurse, at(1, 9)))
    session = a.dosing_session
    before = _open(guards_met, "before_dosing").filter(occasion_key=f"dosing:{session.id}")
    assert set(before.values_list("instrument_id", flat=True)) == {"phq9", "gad7", "cssrs-slv"}
    phq9 = before.get(instrument_id="phq9")
    # Tomorrow's session: due from the booking (not 3 days before, i.e. before it existed).
    assert phq9.due_at == session.created_at
    assert phq9.overdue_at == at(1, 9)
    assert phq9.occasion_label == "Before dosing session 1"
    assert "before the dosing session on" in phq9.due_words
    assert _open(guards_met, "follow_up").count() == 6  # phq9 + gad7 at 1, 3 and 6 months
    # The baseline is now overdue by the first session at the latest.
    assert {b.overdue_at for b in _open(guards_met, "baseline")} == {at(1, 9)}


def test_moving_the_session_moves_its_measures_and_cancelling_cancels_them(book, therapist, nurse, patient, dosing_room,
                                                                           guards_met, org, as_actor):
    a = book(therapist, **dosing(patient, dosing_room, nurse, at(1, 9)))
    services.appointment_reschedule(by=as_actor(therapist, org), appointment_id=a.id, start=at(8, 9),
                                    reason="Patient travelling")
    phq9 = _open(guards_met, "before_dosing").get(instrument_id="phq9")
    assert (phq9.due_at, phq9.overdue_at) == (at(8, 9) - timedelta(days=3), at(8, 9))
    services.appointment_cancel(by=as_actor(therapist, org), appointment_id=a.id, reason="Patient unwell")
    assert not _open(guards_met, "before_dosing").exists()
    assert set(
        MeasureAssignment.objects.filter(episode=guards_met, occasion="before_dosing").values_list("cancel_reason", flat=True)
    ) == {"Dosing session cancelled"}
    # No session left: no series to follow up either.
    assert not _open(guards_met, "follow_up").exists()


def test_a_series_booked_again_after_cancelling_is_followed_up_again(book, therapist, nurse, patient, dosing_room,
                                                                      guards_met, org, as_actor):
    a = book(therapist, **dosing(patient, dosing_room, nurse, at(1, 9)))
    services.appointment_cancel(by=as_actor(therapist, org), appointment_id=a.id, reason="Patient unwell")
    assert not _open(guards_met, "follow_up").exists()
    book(therapist, **dosing(patient, dosing_room, nurse, at(3, 9)))
    follow_ups = _open(guards_met, "follow_up")
    assert follow_ups.count() == 6
    assert min(f.due_at for f in follow_ups) == at(3, 9) + timedelta(days=30)
