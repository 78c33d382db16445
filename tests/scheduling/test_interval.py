"""The protocol's minimum interval between dosing sessions, at booking and at a move.

The plan of ``guards_met`` is intranasal esketamine, whose example protocol asks for
at least 2 days between sessions: 1 day is refused, 2 days are allowed.
"""

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from openkap.audit.services import AuditedRefusal
from openkap.dosing import services as dosing_services
from openkap.dosing.models import DosingSession
from openkap.scheduling import services
from openkap.scheduling.models import Appointment
from tests.scheduling.conftest import at, dosing

pytestmark = pytest.mark.usefixtures("daytime_clinic")  # sessions charted earlier today


def day(days: int) -> str:
    return (timezone.localdate() + timedelta(days=days)).isoformat()


def test_one_day_after_the_previous_session_is_refused_naming_its_date(book, therapist, nurse, patient, dosing_room, guards_met):
    first = book(therapist, **dosing(patient, dosing_room, nurse, at(2, 9)))
    with pytest.raises(AuditedRefusal) as exc:
        book(therapist, **dosing(patient, dosing_room, nurse, at(3, 9)))
    assert exc.value.message_dict == {
        "start": [f"Only 1 day since the last session ({day(2)}); this protocol needs at least 2 days."]
    }
    assert list(Appointment.objects.all()) == [first]
    assert DosingSession.objects.count() == 1


def test_two_days_after_the_previous_session_is_allowed(book, therapist, nurse, patient, dosing_room, guards_met):
    book(therapist, **dosing(patient, dosing_room, nurse, at(2, 9)))
    book(therapist, **dosing(patient, dosing_room, nurse, at(4, 9)))
    assert DosingSession.objects.count() == 2


def test_the_same_day_as_another_session_is_refused(book, therapist, nurse, patient, dosing_room, second_dosing_room, guards_met):
    book(therapist, **dosing(patient, dosing_room, nurse, at(2, 15), end=at(2, 17, 30)))
    with pytest.raises(ValidationError) as exc:
        book(therapist, **dosing(patient, second_dosing_room, therapist, at(2, 8), participants=[(nurse.id, "monitor")], end=at(2, 10, 30)))
    assert exc.value.message_dict["start"] == [f"Only 0 days since the last session ({day(2)}); this protocol needs at least 2 days."]


def test_one_day_before_the_next_session_is_refused_and_two_allowed(book, therapist, nurse, patient, dosing_room, guards_met):
    book(therapist, **dosing(patient, dosing_room, nurse, at(6, 9)))
    with pytest.raises(ValidationError) as exc:
        book(therapist, **dosing(patient, dosing_room, nurse, at(5, 9)))
    assert exc.value.message_dict["start"] == [
        f"Only 1 day before the next dosing session ({day(6)}); this protocol needs at least 2 days."
    ]
    book(therapist, **dosing(patient, dosing_room, nurse, at(4, 9)))


def test_a_booking_between_two_sessions_too_close_to_both_gives_both_reasons(book, therapist, nurse, patient, dosing_room, guards_met):
    book(therapist, **dosing(patient, dosing_room, nurse, at(2, 9)))
    book(therapist, **dosing(patient, dosing_room, nurse, at(4, 9)))
    with pytest.raises(ValidationError) as exc:
        book(therapist, **dosing(patient, dosing_room, nurse, at(3, 9)))
    reasons = exc.value.message_dict["start"]
    assert reasons == [
        f"Only 1 day since the last session ({day(2)}); this protocol needs at least 2 days.",
        f"Only 1 day before the next dosing session ({day(4)}); this protocol needs at least 2 days.",
    ]


def test_a_cancelled_session_does_not_count(book, therapist, nurse, patient, dosing_room, guards_met, org, as_actor):
    first = book(therapist, **dosing(patient, dosing_room, nurse, at(2, 9)))
    with pytest.raises(ValidationError):  # while it stands, the next day is too close
        book(therapist, **dosing(patient, dosing_room, nurse, at(3, 9)))
    services.appointment_cancel(by=as_actor(therapist, org), appointment_id=first.id, reason="Escort unavailable")
    second = book(therapist, **dosing(patient, dosing_room, nurse, at(3, 9)))
    assert (second.status, second.start) == (Appointment.Status.BOOKED, at(3, 9))
    sessions = dict(DosingSession.objects.values_list("appointment__id", "status"))
    assert sessions == {first.id: DosingSession.Status.CANCELLED, second.id: DosingSession.Status.SCHEDULED}


def test_a_held_session_counts_from_its_administration_and_only_on_its_route(book, therapist, nurse, prescriber, patient, dosing_room, site, guards_met, org, as_actor):
    """As at the dose order: a session given earlier today on the route counts (so does
    one without a protocol); one on another route does not."""
    im = dosing_services.protocol_example_import(by=as_actor(prescriber, org), example_id="im-ketamine")
    given = timezone.now() - timedelta(hours=1)
    held = DosingSession.objects.create(
        organization=org, patient=patient, episode=guards_met, site=site, room=dosing_room,
        status=DosingSession.Status.DISCHARGED, scheduled_start=given - timedelta(days=3), started_at=given,
        administration_started_at=given, protocol_version=im, created_by=therapist,
    )
    book(therapist, **dosing(patient, dosing_room, nurse, at(1, 9)))  # another route: allowed
    Appointment.objects.all().delete()
    DosingSession.objects.exclude(pk=held.pk).delete()
    DosingSession.objects.filter(pk=held.pk).update(protocol_version=None)
    with pytest.raises(ValidationError) as exc:
        book(therapist, **dosing(patient, dosing_room, nurse, at(1, 9)))
    assert exc.value.message_dict["start"] == [
        f"Only 1 day since the last session ({day(0)}); this protocol needs at least 2 days."
    ]


def test_the_clinics_own_version_of_the_protocol_sets_the_interval(book, therapist, nurse, prescriber, patient, dosing_room, guards_met, org, as_actor):
    """The interval the dose order will check: the clinic's version of the plan's protocol."""
    by = as_actor(prescriber, org)
    draft = dosing_services.protocol_example_import(by=by, example_id="intranasal-esketamine-spravato")
    dosing_services.protocol_draft_update(
        by=by, version_id=draft.id, content=draft.content.replace('"min_interval_days": 2', '"min_interval_days": 7'),
    )
    book(therapist, **dosing(patient, dosing_room, nurse, at(2, 9)))
    with pytest.raises(ValidationError) as exc:
        book(therapist, **dosing(patient, dosing_room, nurse, at(8, 9)))
    assert exc.value.message_dict["start"] == [
        f"Only 6 days since the last session ({day(2)}); this protocol needs at least 7 days."
    ]
    book(therapist, **dosing(patient, dosing_room, nurse, at(9, 9)))


def test_other_kinds_of_appointment_ignore_the_interval(book, therapist, nurse, patient, dosing_room, therapy_room, guards_met, org, as_actor):
    book(therapist, **dosing(patient, dosing_room, nurse, at(2, 9)))
    # A dosing session the next day would be refused; an integration session is booked.
    check = services.appointment_check(by=as_actor(therapist, org), **dosing(patient, dosing_room, nurse, at(3, 9)))
    assert check.problems["start"][0].startswith("Only 1 day since the last session")
    integration = book(therapist, patient_id=patient.id, kind="integration", start=at(3, 10), room_id=therapy_room.id,
                       participants=[(therapist.id, "lead")])
    assert (integration.kind, integration.status, integration.start) == ("integration", Appointment.Status.BOOKED, at(3, 10))
    assert DosingSession.objects.count() == 1


def test_the_availability_check_reports_the_interval(book, therapist, nurse, patient, dosing_room, guards_met, org, as_actor):
    book(therapist, **dosing(patient, dosing_room, nurse, at(2, 9)))
    check = services.appointment_check(by=as_actor(therapist, org), **dosing(patient, dosing_room, nurse, at(3, 9)))
    assert check.bookable is False
    assert check.problems["start"][0].startswith("Only 1 day since the last session")


def test_a_move_keeps_the_interval_but_not_from_itself(book, therapist, nurse, patient, dosing_room, guards_met, org, as_actor):
    first = book(therapist, **dosing(patient, dosing_room, nurse, at(2, 9)))
    second = book(therapist, **dosing(patient, dosing_room, nurse, at(6, 9)))
    by = as_actor(therapist, org)
    # Its own session is not "the previous one": one day later is fine.
    services.appointment_reschedule(by=by, appointment_id=first.id, start=at(3, 9), reason="Clinic closed that day")
    with pytest.raises(ValidationError) as exc:
        services.appointment_reschedule(by=by, appointment_id=second.id, start=at(4, 9), reason="Sooner")
    assert exc.value.message_dict["start"] == [
        f"Only 1 day since the last session ({day(3)}); this protocol needs at least 2 days."
    ]
    services.appointment_reschedule(by=by, appointment_id=second.id, start=at(5, 9), reason="Sooner")
    second.refresh_from_db()
    assert second.start == at(5, 9)
