"""Issue 21.10: a booking at 03:00 (a typo for 15:00, usually) asks for a confirmation
instead of going through without a word; confirmed, it is booked as asked."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from openkap.audit.models import AuditEvent
from openkap.scheduling import services
from openkap.scheduling.models import Appointment
from tests.scheduling.conftest import at, prep
from tests.scheduling.test_api import booking, call, token_for

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(("hour", "minute"), [(3, 0), (6, 55), (20, 0), (23, 30)])
def test_a_booking_outside_usual_hours_is_refused_until_confirmed(book, therapist, patient, therapy_room, hour, minute):
    with pytest.raises(ValidationError) as exc:
        book(therapist, **prep(patient, therapy_room, therapist, at(1, hour, minute)))
    assert exc.value.message_dict["odd_hour"] == [
        f"{hour:02d}:{minute:02d} is outside usual clinic hours (07:00 to 20:00): check the time, "
        "or confirm that the appointment is at this hour."
    ]
    assert not Appointment.objects.exists()
    a = book(therapist, **prep(patient, therapy_room, therapist, at(1, hour, minute), odd_hour_confirmed=True))
    assert a.start == at(1, hour, minute)


@pytest.mark.parametrize(("hour", "minute"), [(7, 0), (12, 0), (19, 55)])
def test_usual_hours_need_no_confirmation(book, therapist, patient, therapy_room, hour, minute):
    assert book(therapist, **prep(patient, therapy_room, therapist, at(1, hour, minute))).start == at(1, hour, minute)


def test_a_move_to_03_00_asks_too(book, therapist, patient, therapy_room, org, as_actor):
    a = book(therapist, **prep(patient, therapy_room, therapist, at(1, 10)))
    with pytest.raises(ValidationError) as exc:
        services.appointment_reschedule(by=as_actor(therapist, org), appointment_id=a.id, start=at(2, 3),
                                        reason="Patient asked")
    assert "odd_hour" in exc.value.message_dict
    a.refresh_from_db()
    assert a.start == at(1, 10)
    services.appointment_reschedule(by=as_actor(therapist, org), appointment_id=a.id, start=at(2, 3),
                                    reason="Patient asked", odd_hour_confirmed=True)
    a.refresh_from_db()
    assert a.start == at(2, 3)


def test_booking_form_shows_the_question_then_books_when_ticked(therapist, client_for, patient, therapy_room):
    client = client_for(therapist)
    data = {"patient": patient.id, "kind": "preparation", "location": f"room:{therapy_room.id}",
            "start": at(1, 3).strftime("%Y-%m-%dT%H:%M"), "lead": therapist.id}
    refused = client.post(reverse("scheduling:book"), data)
    assert refused.status_code == 422
    html = refused.content.decode()
    assert "03:00 is outside usual clinic hours" in html
    assert 'name="odd_hour"' in html
    assert not Appointment.objects.exists()
    # The form before any error does not carry the question.
    assert 'name="odd_hour"' not in client.get(reverse("scheduling:book") + f"?patient={patient.id}").content.decode()
    booked = client.post(reverse("scheduling:book"), data | {"odd_hour": "on"})
    assert booked.status_code == 302
    assert Appointment.objects.get().start == at(1, 3)


def test_api_asks_for_odd_hour_confirmed(therapist, patient, therapy_room, org, as_actor):
    therapist_token = token_for(therapist, org, as_actor)
    body = booking(patient, therapy_room, therapist, at(1, 3))
    refused = call("POST", "/appointments", therapist_token, body)
    assert refused.status_code == 422
    assert "odd_hour" in refused.content.decode()
    assert AuditEvent.objects.filter(object_type="appointment", detail__refused="booking").exists()
    check = call("POST", "/availability", therapist_token, body).json()
    assert check["bookable"] is False
    assert "odd_hour" in check["problems"]
    created = call("POST", "/appointments", therapist_token, body | {"odd_hour_confirmed": True})
    assert created.status_code == 201, created.content
