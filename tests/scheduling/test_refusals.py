"""A booking or move refused by a guard or a conflict stays on the audit record, with
its reasons, although its transaction rolls back; nothing else is written."""

import json

import pytest
from django.test import Client
from django.urls import reverse

from openkap.accounts import services as account_services
from openkap.audit.models import AuditAction, AuditEvent
from openkap.audit.services import AuditedRefusal, record_refusal
from openkap.dosing.models import DosingSession
from openkap.pathway import selectors as pathway_selectors
from openkap.scheduling.models import Appointment, AppointmentMove, Participant
from tests.scheduling.conftest import at, dosing, prep


def rows():
    return (Appointment.objects.count(), Participant.objects.count(), DosingSession.objects.count(),
            AppointmentMove.objects.count())


def refusals():
    return AuditEvent.objects.filter(action=AuditAction.REFUSED, object_type="appointment")


def test_a_conflict_refusal_is_audited_once_with_its_reasons_and_nothing_else(book, therapist, nurse, patient, unassigned_patient, therapy_room):
    first = book(therapist, **prep(patient, therapy_room, therapist, at(1, 10)))
    last, before = AuditEvent.objects.latest("id").id, rows()
    with pytest.raises(AuditedRefusal) as exc:
        book(nurse, **prep(unassigned_patient, therapy_room, nurse, at(1, 10, 30)))
    assert not AuditEvent.objects.filter(id__gt=last).exists()  # rolled back with the booking
    record_refusal(exc.value)
    event = AuditEvent.objects.get(id__gt=last)
    assert (event.action, event.object_type, event.object_id) == (AuditAction.REFUSED, "appointment", "")
    assert (event.actor_id, event.patient_id, event.break_glass) == (nurse.id, unassigned_patient.id, False)
    assert event.detail["refused"] == "booking"
    assert event.detail["kind"] == "preparation"
    assert f"appointment #{first.id}" in event.detail["errors"]["room"][0]
    assert f"appointment #{first.id}" in event.reason
    assert rows() == before


def test_a_dosing_guard_refusal_in_the_booking_form_is_audited(therapist, nurse, client_for, patient, dosing_room, episode):
    last, before = AuditEvent.objects.latest("id").id, rows()
    response = client_for(therapist).post(reverse("scheduling:book"), {
        "patient": patient.id, "kind": "dosing", "location": f"room:{dosing_room.id}",
        "start": at(2, 9).strftime("%Y-%m-%dT%H:%M"), "monitor": nurse.id,
    })
    assert response.status_code == 422
    [event] = AuditEvent.objects.filter(id__gt=last)
    assert (event.action, event.actor_id, event.patient_id, event.via) == (AuditAction.REFUSED, therapist.id, patient.id, "web")
    assert event.detail["errors"]["episode"] == pathway_selectors.dosing_booking_unmet(episode)
    assert "Escort (driver) not arranged." in event.reason
    assert rows() == before


def test_an_interval_refusal_through_the_api_is_audited(book, therapist, nurse, patient, dosing_room, guards_met, org, as_actor):
    book(therapist, **dosing(patient, dosing_room, nurse, at(2, 9)))
    _, token = account_services.api_token_create(by=as_actor(therapist, org), name="t")
    last, before = AuditEvent.objects.latest("id").id, rows()
    body = {"patient_id": patient.id, "kind": "dosing", "start": at(3, 9).isoformat(), "room_id": dosing_room.id,
            "participants": [{"user_id": nurse.id, "role": "monitor"}]}
    response = Client().post("/api/v1/scheduling/appointments", data=json.dumps(body), content_type="application/json",
                             HTTP_AUTHORIZATION=f"Bearer {token}")
    assert response.status_code == 422
    assert "Only 1 day since the last session" in response.json()["errors"]["start"][0]
    event = AuditEvent.objects.get(id__gt=last)
    assert (event.action, event.via, event.patient_id) == (AuditAction.REFUSED, "api", patient.id)
    assert "Only 1 day since the last session" in event.reason
    assert rows() == before


def test_a_refused_move_in_the_form_is_audited_and_changes_nothing(book, therapist, nurse, client_for, patient, unassigned_patient, therapy_room):
    other = book(nurse, **prep(unassigned_patient, therapy_room, nurse, at(1, 10)))
    a = book(therapist, **prep(patient, therapy_room, therapist, at(1, 14)))
    last, before = AuditEvent.objects.latest("id").id, rows()
    response = client_for(therapist).post(reverse("scheduling:reschedule", args=[a.id]), {
        "start": at(1, 10).strftime("%Y-%m-%dT%H:%M"), "minutes": 60, "location": f"room:{therapy_room.id}",
        "lead": therapist.id, "reason": "Earlier suits her.",
    })
    assert response.status_code == 422
    assert f"appointment #{other.id}" in response.content.decode()
    refusal = refusals().get(id__gt=last)
    assert (refusal.object_id, refusal.detail["refused"]) == (str(a.id), "reschedule")
    # Besides the refusal only the read of the appointment the form is built from.
    assert set(AuditEvent.objects.filter(id__gt=last).values_list("action", "object_type")) == {
        (AuditAction.REFUSED, "appointment"), (AuditAction.VIEW, "appointment")
    }
    a.refresh_from_db()
    assert (a.start, a.sequence) == (at(1, 14), 0)
    assert rows() == before


def test_refusals_before_the_patient_is_known_are_left_to_the_access_log(book, therapist, nurse, unassigned_patient, therapy_room, outsider, other_org, as_actor):
    from django.core.exceptions import PermissionDenied
    from django.http import Http404

    from openkap.scheduling import services

    with pytest.raises(Http404):
        services.appointment_book(by=as_actor(outsider, other_org), **prep(unassigned_patient, therapy_room, outsider, at(1, 10)))
    with pytest.raises(PermissionDenied):
        book(therapist, **prep(unassigned_patient, therapy_room, therapist, at(1, 10)))
    assert not refusals().exists()
