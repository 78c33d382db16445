"""How long a dosing booking holds the medicine room and the monitoring clinician comes
from the protocol the session will run on: the clinic's version of the plan's protocol
in its library (the one check-in attaches), and the shipped example only when the
library has none. The plan of ``guards_met`` is intranasal esketamine, whose example
asks for 30 min of check-in and 120 min of monitoring (150 min, inside the usual 180)."""

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError

from openkap.audit.models import AuditAction, AuditEvent
from openkap.dosing import services as dosing_services
from openkap.scheduling import services
from tests.conftest import PASSWORD
from tests.scheduling.conftest import at, dosing, prep

EXAMPLE = "intranasal-esketamine-spravato"


def _clinic_version(prescriber_actor, minutes: int, *, approve: bool = True):
    """The clinic's esketamine protocol with ``minutes`` of monitoring after the dose."""
    draft = dosing_services.protocol_example_import(by=prescriber_actor, example_id=EXAMPLE)
    dosing_services.protocol_draft_update(
        by=prescriber_actor, version_id=draft.id,
        content=draft.content.replace('"min_monitoring_minutes": 120', f'"min_monitoring_minutes": {minutes}'),
    )
    if approve:
        return dosing_services.protocol_approve(by=prescriber_actor, version_id=draft.id, password=PASSWORD)
    return draft


@pytest.fixture
def longer(prescriber, org, as_actor):
    """Approved: 210 min of monitoring, so 240 min in all."""
    return _clinic_version(as_actor(prescriber, org), 210)


def test_the_clinics_longer_monitoring_time_sets_the_length_and_the_audit_names_its_version(book, therapist, nurse, patient, dosing_room, guards_met, longer):
    a = book(therapist, **dosing(patient, dosing_room, nurse, at(2, 9)))
    assert a.minutes == 240
    event = AuditEvent.objects.get(action=AuditAction.CREATE, object_type="appointment", object_id=str(a.id))
    assert (event.detail["protocol"], event.detail["protocol_version"]) == (EXAMPLE, longer.version)


def test_an_end_that_covers_only_the_examples_time_is_refused(book, therapist, nurse, patient, dosing_room, guards_met, longer):
    with pytest.raises(ValidationError) as exc:
        book(therapist, **dosing(patient, dosing_room, nurse, at(2, 9), end=at(2, 12)))
    assert exc.value.message_dict["end"][0].startswith(
        "A dosing session needs at least 240 minutes: 30 min check-in and pre-dose checks + 210 min monitoring"
    )


def test_the_room_and_the_nurse_stay_held_for_the_clinics_whole_time(book, therapist, nurse, patient, unassigned_patient, dosing_room, second_dosing_room, guards_met, longer):
    first = book(therapist, **dosing(patient, dosing_room, nurse, at(2, 9)))
    # 12:30 is free after the example's 150 (or the usual 180) minutes, not after the clinic's 240.
    with pytest.raises(ValidationError) as exc:
        book(nurse, **prep(unassigned_patient, dosing_room, nurse, at(2, 12, 30)))
    assert f"appointment #{first.id}" in exc.value.message_dict["room"][0]
    assert f"appointment #{first.id}" in exc.value.message_dict["lead"][0]
    book(nurse, **prep(unassigned_patient, second_dosing_room, nurse, at(2, 13)))


def test_without_a_version_in_the_library_the_example_stands_in(book, therapist, nurse, patient, dosing_room, guards_met):
    a = book(therapist, **dosing(patient, dosing_room, nurse, at(2, 9), end=at(2, 11, 30)))
    assert a.minutes == 150
    event = AuditEvent.objects.get(action=AuditAction.CREATE, object_type="appointment", object_id=str(a.id))
    assert (event.detail["protocol"], event.detail["protocol_version"]) == (EXAMPLE, None)


def test_the_approved_version_in_use_counts_not_a_newer_draft(book, therapist, nurse, prescriber, patient, dosing_room, guards_met, longer, org, as_actor):
    by = as_actor(prescriber, org)
    dosing_services.protocol_revise(
        by=by, version_id=longer.id, content=longer.content.replace('"min_monitoring_minutes": 210', '"min_monitoring_minutes": 150'),
        change_reason="Shorter monitoring, under review.",
    )
    a = book(therapist, **dosing(patient, dosing_room, nurse, at(2, 9)))
    assert a.minutes == 240


def test_a_move_reserves_the_clinics_time_at_the_new_start(book, therapist, nurse, prescriber, patient, unassigned_patient, dosing_room, guards_met, org, as_actor):
    """Booked before the clinic approved its longer monitoring: moved, it keeps its
    length only if that still covers the clinic's time, and its room must be free for it."""
    a = book(therapist, **dosing(patient, dosing_room, nurse, at(2, 9)))
    assert a.minutes == 180
    _clinic_version(as_actor(prescriber, org), 210)
    other = book(nurse, **prep(unassigned_patient, dosing_room, therapist, at(3, 12, 30)))
    by = as_actor(therapist, org)
    with pytest.raises(ValidationError) as exc:
        services.appointment_reschedule(by=by, appointment_id=a.id, start=at(3, 9), reason="Escort free that day")
    assert f"appointment #{other.id}" in exc.value.message_dict["room"][0]
    with pytest.raises(ValidationError) as exc:
        services.appointment_reschedule(by=by, appointment_id=a.id, start=at(3, 8), end=at(3, 11), reason="Earlier")
    assert "at least 240 minutes" in exc.value.message_dict["end"][0]
    moved = services.appointment_reschedule(by=by, appointment_id=a.id, start=at(3, 8), reason="Earlier")
    assert (moved.start, moved.end - moved.start) == (at(3, 8), timedelta(minutes=240))


def test_a_draft_only_library_version_is_what_check_in_would_take(book, therapist, nurse, prescriber, patient, dosing_room, guards_met, org, as_actor):
    """No approved version: the latest draft, which check-in attaches (and the dose
    order then stops at), reserves the room, as it sets the interval."""
    _clinic_version(as_actor(prescriber, org), 210, approve=False)
    a = book(therapist, **dosing(patient, dosing_room, nurse, at(2, 9)))
    assert a.minutes == 240
