"""Moving a booked appointment: the checks of a booking, history, reminders and feeds."""

import threading
import time as clock
from datetime import datetime, timedelta

import pytest
from django.core import mail
from django.core.exceptions import ValidationError
from django.http import Http404
from django.test import override_settings

from openkap.accounts.authz import Denied
from openkap.accounts.models import Room
from openkap.audit.models import AuditAction, AuditEvent
from openkap.audit.services import AuditedRefusal, record_refusal
from openkap.dosing.models import DosingSession
from openkap.scheduling import services
from openkap.scheduling.models import Appointment, AppointmentMove, Participant
from openkap.scheduling.services import booking as booking_services
from tests.scheduling.conftest import at, dosing, prep


@pytest.fixture
def move(as_actor, org):
    """Move as a member of the cast: move(user, appointment, **fields)."""

    def _move(user, appointment, **fields):
        fields.setdefault("reason", "The patient asked for another day.")
        return services.appointment_reschedule(by=as_actor(user, org), appointment_id=appointment.id, **fields)

    return _move


def snapshot(appointment):
    """Everything a refused move must leave as it was."""
    a = Appointment.objects.get(pk=appointment.pk)
    staff = sorted(Participant.objects.filter(appointment=a).values_list("user_id", "role"))
    return (a.start, a.end, a.site_id, a.room_id, a.status, a.sequence, a.reminder_sent_at, staff)


def writes():
    """Counts of every row a move may write."""
    return (AuditEvent.objects.count(), AppointmentMove.objects.count(), Participant.objects.count())


# --- a move ----------------------------------------------------------------------------------


def test_a_move_keeps_the_appointment_and_records_who_when_from_to_and_why(book, move, therapist, patient, therapy_room):
    a = book(therapist, **prep(patient, therapy_room, therapist, at(1, 10)))
    moved = move(therapist, a, start=at(2, 14), reason="Patient's train cancelled.")
    assert moved.id == a.id
    a.refresh_from_db()
    # The length is kept: 60 minutes from the new start.
    assert (a.start, a.end) == (at(2, 14), at(2, 15))
    assert (a.room_id, a.status, a.sequence) == (therapy_room.id, Appointment.Status.BOOKED, 1)
    history = AppointmentMove.objects.get(appointment=a)
    assert (history.moved_by_id, history.reason) == (therapist.id, "Patient's train cancelled.")
    assert (history.from_start, history.from_end, history.to_start, history.to_end) == (at(1, 10), at(1, 11), at(2, 14), at(2, 15))
    assert (history.from_room_id, history.to_room_id) == (therapy_room.id, therapy_room.id)
    assert history.from_participants == history.to_participants == [[therapist.id, "lead"]]
    event = AuditEvent.objects.filter(action=AuditAction.UPDATE, object_type="appointment", object_id=str(a.id)).get()
    assert event.reason == "Patient's train cancelled."
    assert event.patient_id == patient.id
    assert event.detail["moved"] == history.id
    assert datetime.fromisoformat(event.detail["from"]["start"]) == at(1, 10)
    assert datetime.fromisoformat(event.detail["to"]["start"]) == at(2, 14)


def test_a_move_can_change_room_and_staff(book, move, therapist, nurse, patient, therapy_room, org, site):
    other_room = Room.objects.create(organization=org, site=site, name="Therapy room B", kind="therapy")
    a = book(therapist, **prep(patient, therapy_room, therapist, at(1, 10)))
    move(therapist, a, start=at(1, 10), room_id=other_room.id, participants=[(nurse.id, "lead"), (therapist.id, "support")])
    a.refresh_from_db()
    assert a.room_id == other_room.id
    assert sorted(a.participants.values_list("user_id", "role")) == sorted([(nurse.id, "lead"), (therapist.id, "support")])
    history = a.moves.get()
    assert history.to_participants == sorted([[nurse.id, "lead"], [therapist.id, "support"]])


def test_a_move_to_video_needs_only_the_site(book, move, therapist, patient, therapy_room, site):
    a = book(therapist, **prep(patient, therapy_room, therapist, at(1, 10)))
    move(therapist, a, start=at(1, 16), site_id=site.id)
    a.refresh_from_db()
    assert (a.room_id, a.site_id) == (None, site.id)


def test_a_move_overlapping_its_own_old_time_is_no_conflict(book, move, therapist, patient, therapy_room):
    a = book(therapist, **prep(patient, therapy_room, therapist, at(1, 10)))
    move(therapist, a, start=at(1, 10, 30))
    a.refresh_from_db()
    assert (a.start, a.end) == (at(1, 10, 30), at(1, 11, 30))


def test_a_new_length_can_be_given(book, move, therapist, patient, therapy_room):
    a = book(therapist, **prep(patient, therapy_room, therapist, at(1, 10)))
    move(therapist, a, start=at(1, 13), end=at(1, 14, 30))
    a.refresh_from_db()
    assert a.minutes == 90


# --- refusals ----------------------------------------------------------------------------------


def test_a_conflicting_move_is_refused_naming_the_other_and_changes_nothing(book, move, therapist, nurse, patient, unassigned_patient, therapy_room):
    other = book(nurse, **prep(unassigned_patient, therapy_room, nurse, at(1, 10)))
    a = book(therapist, **prep(patient, therapy_room, therapist, at(1, 14)))
    before, counts = snapshot(a), writes()
    with pytest.raises(AuditedRefusal) as exc:
        move(therapist, a, start=at(1, 10, 30))
    message = exc.value.message_dict["room"][0]
    assert "Therapy room A is already booked" in message
    assert f"appointment #{other.id}" in message
    assert snapshot(a) == before
    assert writes() == counts


def test_the_refused_move_is_audited_with_its_reasons_and_nothing_else(book, move, therapist, nurse, patient, unassigned_patient, therapy_room):
    other = book(nurse, **prep(unassigned_patient, therapy_room, nurse, at(1, 10)))
    a = book(therapist, **prep(patient, therapy_room, therapist, at(1, 14)))
    last = AuditEvent.objects.latest("id").id
    with pytest.raises(AuditedRefusal) as exc:
        move(therapist, a, start=at(1, 10, 30), reason="Earlier suits her.")
    # What the web and API error handlers do once the transaction has rolled back.
    record_refusal(exc.value)
    event = AuditEvent.objects.get(id__gt=last)
    assert (event.action, event.object_type, event.object_id) == (AuditAction.REFUSED, "appointment", str(a.id))
    assert (event.actor_id, event.patient_id) == (therapist.id, patient.id)
    assert event.detail["refused"] == "reschedule"
    assert f"appointment #{other.id}" in event.detail["errors"]["room"][0]
    assert "Therapy room A is already booked" in event.reason
    # Recorded once, however many handlers see it.
    record_refusal(exc.value)
    assert AuditEvent.objects.filter(id__gt=last).count() == 1


def test_the_staff_and_the_patient_must_be_free_at_the_new_time(book, move, therapist, nurse, patient, unassigned_patient, therapy_room, org, site):
    other_room = Room.objects.create(organization=org, site=site, name="Therapy room B", kind="therapy")
    book(nurse, **prep(unassigned_patient, other_room, therapist, at(1, 10)))
    book(therapist, patient_id=patient.id, kind="integration", start=at(2, 10), site_id=site.id,
         participants=[(nurse.id, "lead")])
    a = book(therapist, **prep(patient, therapy_room, therapist, at(3, 10)))
    with pytest.raises(ValidationError) as exc:
        move(therapist, a, start=at(1, 10))
    assert exc.value.message_dict["lead"][0].startswith("Theo Therapist is already booked")
    with pytest.raises(ValidationError) as exc:
        move(therapist, a, start=at(2, 10))
    assert "already has an appointment then" in exc.value.message_dict["patient"][0]


@pytest.mark.parametrize("status", ["cancelled", "completed", "no_show"])
def test_only_a_booked_appointment_can_be_moved(book, move, therapist, patient, therapy_room, status):
    a = book(therapist, **prep(patient, therapy_room, therapist, at(1, 10)))
    Appointment.objects.filter(pk=a.pk).update(status=status)
    before = snapshot(a)
    with pytest.raises(ValidationError) as exc:
        move(therapist, a, start=at(2, 10))
    assert "only a booked appointment can be moved" in exc.value.message_dict["status"][0]
    assert snapshot(a) == before


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"start": None}, "start"),
        ({"start": at(-1, 10)}, "start"),
        ({"start": at(2, 10), "reason": " "}, "reason"),
        ({"start": at(2, 10), "room_id": 10**12}, "room"),
        ({"start": at(2, 10), "participants": []}, "lead"),
        ({"start": "unchanged"}, "start"),  # nothing would change
    ],
)
def test_bad_moves_are_refused_with_the_field(book, move, therapist, patient, therapy_room, fields, field):
    a = book(therapist, **prep(patient, therapy_room, therapist, at(1, 10)))
    if fields["start"] == "unchanged":  # its own start, not one computed at collection (before a midnight)
        fields = {"start": a.start}
    before, counts = snapshot(a), writes()
    with pytest.raises(ValidationError) as exc:
        move(therapist, a, **fields)
    assert field in exc.value.message_dict
    assert (snapshot(a), writes()) == (before, counts)


def test_moves_across_organisations_and_care_teams(book, move, therapist, nurse, outsider, other_org, unassigned_patient, therapy_room, as_actor):
    a = book(nurse, **prep(unassigned_patient, therapy_room, nurse, at(1, 10)))
    with pytest.raises(Http404):
        services.appointment_reschedule(by=as_actor(outsider, other_org), appointment_id=a.id, start=at(2, 10), reason="Not mine")
    with pytest.raises(Denied):
        move(therapist, a, start=at(2, 10))
    a.refresh_from_db()
    assert a.start == at(1, 10)


# --- dosing appointments ----------------------------------------------------------------------------


def test_a_dosing_appointment_moves_with_its_session(book, move, therapist, nurse, patient, dosing_room, second_dosing_room, guards_met):
    a = book(therapist, **dosing(patient, dosing_room, nurse, at(2, 9)))
    session_id = a.dosing_session_id
    move(therapist, a, start=at(4, 10), room_id=second_dosing_room.id)
    a.refresh_from_db()
    assert a.dosing_session_id == session_id
    session = DosingSession.objects.get(pk=session_id)
    assert (session.scheduled_start, session.room_id, session.status) == (at(4, 10), second_dosing_room.id, "scheduled")
    assert DosingSession.objects.count() == 1
    assert AuditEvent.objects.filter(action=AuditAction.UPDATE, object_type="dosing_session", object_id=str(session_id),
                                     detail__appointment_move_id=a.moves.get().id).exists()


def test_a_dosing_move_meets_the_booking_guard(book, move, therapist, nurse, patient, dosing_room, guards_met, monkeypatch):
    from openkap.pathway import selectors

    a = book(therapist, **dosing(patient, dosing_room, nurse, at(2, 9)))
    monkeypatch.setattr(selectors, "dosing_booking_unmet", lambda ep: ["Consent not signed for this route."])
    before = snapshot(a)
    with pytest.raises(ValidationError) as exc:
        move(therapist, a, start=at(4, 9))
    assert exc.value.message_dict["episode"] == ["Consent not signed for this route."]
    assert snapshot(a) == before
    assert DosingSession.objects.get().scheduled_start == at(2, 9)


def test_a_dosing_move_keeps_the_monitoring_window(book, move, therapist, nurse, patient, dosing_room, guards_met):
    a = book(therapist, **dosing(patient, dosing_room, nurse, at(2, 9), end=at(2, 11, 30)))
    with pytest.raises(ValidationError) as exc:
        move(therapist, a, start=at(4, 9), end=at(4, 11))
    assert "A dosing session needs at least 150 minutes" in exc.value.message_dict["end"][0]
    with pytest.raises(ValidationError) as exc:
        move(therapist, a, start=at(4, 9), participants=[(therapist.id, "lead")])
    assert "needs a monitoring clinician" in exc.value.message_dict["monitor"][0]
    move(therapist, a, start=at(4, 9))
    a.refresh_from_db()
    assert a.minutes == 150


def test_a_dosing_session_under_way_cannot_be_moved(book, move, therapist, nurse, patient, dosing_room, guards_met):
    a = book(therapist, **dosing(patient, dosing_room, nurse, at(2, 9)))
    DosingSession.objects.filter(pk=a.dosing_session_id).update(status=DosingSession.Status.CHECKED_IN)
    with pytest.raises(ValidationError) as exc:
        move(therapist, a, start=at(4, 9))
    assert "already checked in" in exc.value.message_dict["status"][0]


# --- reminders and calendar feeds ------------------------------------------------------------------


def test_the_reminder_is_queued_again_for_the_new_time_and_the_old_one_skips(book, move, therapist, patient, therapy_room, django_capture_on_commit_callbacks):
    from django_tasks_db.models import DBTaskResult

    from openkap.scheduling.tasks import send_appointment_reminder

    patient.email = "maya@example.com"
    patient.save()
    with override_settings(TASKS={"default": {"BACKEND": "django_tasks_db.DatabaseBackend", "QUEUES": ["default"]}}):
        with django_capture_on_commit_callbacks(execute=True):
            a = book(therapist, **prep(patient, therapy_room, therapist, at(3, 10)))
        with django_capture_on_commit_callbacks(execute=True):
            move(therapist, a, start=at(5, 15))
        queued = list(DBTaskResult.objects.order_by("enqueued_at", "id"))
    assert [q.run_after for q in queued] == [at(3, 10) - timedelta(hours=24), at(5, 15) - timedelta(hours=24)]
    old, new = (q.args_kwargs["args"] for q in queued)
    assert send_appointment_reminder.call(*old) == "skipped: moved"
    assert mail.outbox == []
    assert send_appointment_reminder.call(*new) == "sent"
    assert "15:00" in mail.outbox[0].subject


def test_a_reminder_already_sent_is_sent_again_for_the_new_time(book, move, therapist, patient, therapy_room, django_capture_on_commit_callbacks):
    patient.email = "maya@example.com"
    patient.save()
    # The immediate backend of the tests runs the reminder as soon as it is queued.
    with django_capture_on_commit_callbacks(execute=True):
        a = book(therapist, **prep(patient, therapy_room, therapist, at(1, 10)))
    a.refresh_from_db()
    assert a.reminder_sent_at is not None
    with django_capture_on_commit_callbacks(execute=True):
        move(therapist, a, start=at(2, 11))
    assert len(mail.outbox) == 2
    assert f"{at(2, 11):%d %B} at 11:00" in mail.outbox[1].subject


def test_a_refused_move_queues_nothing(book, move, therapist, nurse, patient, unassigned_patient, therapy_room, django_capture_on_commit_callbacks):
    book(nurse, **prep(unassigned_patient, therapy_room, nurse, at(1, 10)))
    a = book(therapist, **prep(patient, therapy_room, therapist, at(1, 14)))
    with django_capture_on_commit_callbacks(execute=True) as callbacks, pytest.raises(ValidationError):
        move(therapist, a, start=at(1, 10))
    assert callbacks == []


def test_the_calendar_feeds_show_the_new_time_with_a_new_sequence(book, move, therapist, patient, therapy_room, org, as_actor):
    from django.test import Client
    from django.urls import reverse
    from icalendar import Calendar

    a = book(therapist, **prep(patient, therapy_room, therapist, at(1, 10)))
    _, mine = services.calendar_feed_create(by=as_actor(therapist, org))
    _, theirs = services.calendar_feed_create(by=as_actor(therapist, org), patient_id=patient.id)
    move(therapist, a, start=at(2, 15))
    for raw in (mine, theirs):
        body = Client().get(reverse("scheduling:ics_feed", args=[raw])).content
        [event] = Calendar.from_ical(body).walk("VEVENT")
        assert (event.decoded("dtstart"), event.decoded("dtend")) == (at(2, 15), at(2, 16))
        assert event.decoded("sequence") == 1
        assert str(event["uid"]).startswith(f"appointment-{a.id}@")


# --- concurrency (PostgreSQL) ---------------------------------------------------------------------------


def _race(*attempts):
    """Run the attempts in threads started together; each returns its outcome."""
    from django.db import connections

    barrier = threading.Barrier(len(attempts))
    outcomes: list[str] = []

    def run(attempt):
        try:
            barrier.wait()
            outcomes.append(attempt())
        except ValidationError as exc:
            outcomes.append("refused: " + " ".join(m for ms in exc.message_dict.values() for m in ms))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(a,)) for a in attempts]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return outcomes


# These commit, and the teardown's flush is a TRUNCATE only on PostgreSQL (SQLite's DELETE
# is refused by the audit log's triggers); SQLite serialises writers anyway. The postgres
# marker skips them on SQLite (tests/conftest.py).


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_move_and_a_booking_into_one_room_cannot_both_succeed(therapist, nurse, patient, unassigned_patient, therapy_room, org, monkeypatch):
    from openkap.accounts.authz import build_actor

    a = services.appointment_book(by=build_actor(therapist, org), **prep(patient, therapy_room, therapist, at(1, 14)))
    original = booking_services._conflicts

    def slow_conflicts(*args):
        found = original(*args)
        clock.sleep(0.5)  # without the per-room lock both would pass the check
        return found

    monkeypatch.setattr(booking_services, "_conflicts", slow_conflicts)

    def moving():
        services.appointment_reschedule(by=build_actor(therapist, org), appointment_id=a.id, start=at(1, 10), reason="Earlier")
        return "moved"

    def booking():
        services.appointment_book(by=build_actor(nurse, org), **prep(unassigned_patient, therapy_room, nurse, at(1, 10, 30)))
        return "booked"

    outcomes = _race(moving, booking)
    assert len([o for o in outcomes if o in ("moved", "booked")]) == 1
    assert "already booked" in next(o for o in outcomes if o.startswith("refused"))
    busy = Appointment.objects.filter(room=therapy_room, start__lt=at(1, 11, 30), end__gt=at(1, 10))
    assert busy.count() == 1


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_discharge_and_a_cancel_of_one_dosing_appointment_do_not_deadlock(therapist, nurse, patient, dosing_room, guards_met, org):
    """The discharge holds the session's row and then takes the appointment's; the
    scheduling writes take them in the same order, so the cancel waits, then finds
    the appointment completed."""
    from django.db import transaction

    from openkap.accounts.authz import build_actor

    a = services.appointment_book(by=build_actor(therapist, org), **dosing(patient, dosing_room, nurse, at(1, 9)))
    session_locked = threading.Event()

    def discharging():
        with transaction.atomic():
            session = DosingSession.objects.select_for_update().get(pk=a.dosing_session_id)
            session_locked.set()
            clock.sleep(0.5)  # the cancel reaches its locks meanwhile
            services.appointment_complete_for_session(by=build_actor(nurse, org), session=session, step="discharge")
        return "completed"

    def cancelling():
        session_locked.wait()
        services.appointment_cancel(by=build_actor(therapist, org), appointment_id=a.id, reason="Patient unwell")
        return "cancelled"

    outcomes = _race(discharging, cancelling)
    assert sorted(outcomes) == ["completed", "refused: This appointment is already completed."]
    a.refresh_from_db()
    assert a.status == Appointment.Status.COMPLETED
