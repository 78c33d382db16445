import datetime as dt
import json

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from openkap.accounts import services as account_services
from openkap.audit.models import AuditEvent
from openkap.scheduling.models import Appointment
from tests.scheduling.conftest import at


def token_for(user, org, as_actor):
    return account_services.api_token_create(by=as_actor(user, org), name="test")[1]


def call(method, path, token, body=None):
    return Client().generic(
        method, f"/api/v1/scheduling{path}", data=json.dumps(body) if body is not None else "",
        content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {token}",
    )


@pytest.fixture
def therapist_token(therapist, org, as_actor):
    return token_for(therapist, org, as_actor)


def booking(patient, room, user, start, kind="preparation", role="lead"):
    return {"patient_id": patient.id, "kind": kind, "start": start.isoformat(), "room_id": room.id,
            "participants": [{"user_id": user.id, "role": role}], "patient_instructions": "Bring water."}


def test_api_lists_appointment_types(therapist_token):
    data = call("GET", "/appointment-types", therapist_token).json()
    assert {t["kind"]: t["default_minutes"] for t in data}["dosing"] == 180


def test_api_books_checks_lists_and_cancels(therapist_token, therapist, patient, therapy_room):
    check = call("POST", "/availability", therapist_token, booking(patient, therapy_room, therapist, at(1, 10))).json()
    assert check["bookable"] is True
    assert check["problems"] == {}
    assert AuditEvent.objects.filter(object_type="booking_check", patient_id=patient.id, via="api").exists()
    response = call("POST", "/appointments", therapist_token, booking(patient, therapy_room, therapist, at(1, 10)))
    assert response.status_code == 201, response.content
    created = response.json()
    assert created["patient_name"] == patient.display_name
    assert AuditEvent.objects.filter(object_type="appointment", via="api").exists()
    again = call("POST", "/availability", therapist_token, booking(patient, therapy_room, therapist, at(1, 10, 30))).json()
    assert again["bookable"] is False
    assert f"appointment #{created['id']}" in again["problems"]["room"][0]
    day = call("GET", f"/appointments?date={at(1, 0).date().isoformat()}", therapist_token).json()
    assert [a["id"] for a in day] == [created["id"]]
    week = call("GET", f"/appointments?date={at(1, 0).date().isoformat()}&span=week&room_id={therapy_room.id}", therapist_token).json()
    assert [a["id"] for a in week] == [created["id"]]
    cancelled = call("POST", f"/appointments/{created['id']}/cancel", therapist_token, {"reason": "Rescheduling"})
    assert cancelled.json()["status"] == "cancelled"


def test_api_conflict_is_422_with_the_field(therapist_token, therapist, patient, unassigned_patient, therapy_room, nurse, org, as_actor):
    call("POST", "/appointments", therapist_token, booking(patient, therapy_room, therapist, at(1, 10)))
    response = call("POST", "/appointments", token_for(nurse, org, as_actor), booking(unassigned_patient, therapy_room, nurse, at(1, 10)))
    assert response.status_code == 422
    assert "room" in response.json()["errors"]
    assert Appointment.objects.count() == 1


def test_api_dosing_refusal_lists_what_is_missing(therapist_token, nurse, patient, dosing_room, episode):
    body = booking(patient, dosing_room, nurse, at(2, 9), kind="dosing", role="monitor")
    check = call("POST", "/availability", therapist_token, body).json()
    assert check["bookable"] is False
    assert "Escort (driver) not arranged." in check["problems"]["episode"]
    assert check["minimum_minutes"] is None
    response = call("POST", "/appointments", therapist_token, body)
    assert response.status_code == 422
    assert "Escort (driver) not arranged." in response.json()["errors"]["episode"]
    assert not Appointment.objects.exists()


def test_api_dosing_check_gives_the_protocols_minimum(therapist_token, nurse, patient, dosing_room, guards_met):
    body = booking(patient, dosing_room, nurse, at(2, 9), kind="dosing", role="monitor")
    check = call("POST", "/availability", therapist_token, body).json()
    assert (check["bookable"], check["minimum_minutes"], check["protocol_id"]) == (True, 150, "intranasal-esketamine-spravato")
    created = call("POST", "/appointments", therapist_token, body).json()
    assert created["dosing_session_id"] is not None


def test_api_no_show_before_the_start_is_422(therapist_token, therapist, patient, therapy_room):
    created = call("POST", "/appointments", therapist_token, booking(patient, therapy_room, therapist, at(1, 10))).json()
    response = call("POST", f"/appointments/{created['id']}/no-show", therapist_token)
    assert response.status_code == 422
    assert "status" in response.json()["errors"]


def test_api_calendar_feeds(therapist_token, patient):
    mine = call("POST", "/calendar-feeds", therapist_token, {})
    assert mine.status_code == 201
    url = mine.json()["url"]
    assert "/calendar/okcal_" in url
    path = url.split("://", 1)[1].split("/", 1)[1]
    assert Client().get("/" + path).status_code == 200
    revoked = call("POST", f"/calendar-feeds/{mine.json()['id']}/revoke", therapist_token)
    assert revoked.json()["revoked_at"] is not None
    assert Client().get("/" + path).status_code == 404
    theirs = call("POST", "/calendar-feeds", therapist_token, {"patient_id": patient.id})
    assert theirs.json()["patient_id"] == patient.id


def test_api_names_only_visible_patients(therapist_token, nurse, unassigned_patient, therapy_room, book):
    book(nurse, patient_id=unassigned_patient.id, kind="preparation", start=at(1, 10), room_id=therapy_room.id,
         participants=[(nurse.id, "lead")], patient_instructions="Private")
    day = call("GET", f"/appointments?date={at(1, 0).date().isoformat()}", therapist_token).json()
    assert day[0]["patient_name"] is None
    assert day[0]["patient_instructions"] is None


def test_api_another_organisation_and_roles(outsider, other_org, researcher, org, as_actor, therapist_token, therapist, patient, therapy_room):
    created = call("POST", "/appointments", therapist_token, booking(patient, therapy_room, therapist, at(1, 10))).json()
    outsider_token = token_for(outsider, other_org, as_actor)
    assert call("POST", f"/appointments/{created['id']}/cancel", outsider_token, {"reason": "Not mine"}).status_code == 404
    assert call("POST", "/appointments", outsider_token, booking(patient, therapy_room, outsider, at(2, 10))).status_code == 404
    assert call("GET", f"/patients/{patient.id}/appointments", outsider_token).status_code == 404
    researcher_token = token_for(researcher, org, as_actor)
    assert call("GET", "/appointment-types", researcher_token).status_code == 403
    assert call("POST", "/appointments", researcher_token, booking(patient, therapy_room, therapist, at(2, 10))).status_code == 403
    assert call("GET", f"/appointments?date={at(1, 0).date().isoformat()}", outsider_token).json() == []


def test_api_patient_appointments_with_attendance(therapist_token, therapist, patient, therapy_room):
    call("POST", "/appointments", therapist_token, booking(patient, therapy_room, therapist, at(1, 10)))
    data = call("GET", f"/patients/{patient.id}/appointments", therapist_token).json()
    assert len(data["upcoming"]) == 1
    assert (data["past"], data["past_count"], data["past_page"], data["past_pages"]) == ([], 0, 1, 1)
    assert data["attendance"] == {"completed": 0, "no_shows": 0, "cancellations": 0, "late_cancellations": 0}


def test_every_past_appointment_is_reachable_a_page_at_a_time(
    therapist_token, therapist, patient, therapy_room, client_for
):
    """Past the first 50 the past appointments page on (the list used to stop at 50 without a word)."""
    from openkap.scheduling.selectors import PAST_PER_PAGE
    from tests.scheduling.test_booking import _past_booking

    now = timezone.now()
    made = [_past_booking(therapist, patient, therapy_room, now - dt.timedelta(hours=3 * (i + 1))).id
            for i in range(PAST_PER_PAGE + 3)]
    url = f"/patients/{patient.id}/appointments"
    first = call("GET", url, therapist_token).json()
    second = call("GET", url + "?page=2", therapist_token).json()
    assert (first["past_count"], first["past_page"], first["past_pages"]) == (53, 1, 2)
    assert (len(first["past"]), second["past_page"], len(second["past"])) == (50, 2, 3)
    # Newest first across the pages, each once; a page past the last is the last; the
    # upcoming list and the attendance do not depend on the page.
    assert [a["id"] for a in first["past"] + second["past"]] == made
    assert call("GET", url + "?page=7", therapist_token).json()["past"] == second["past"]
    assert call("GET", url + "?page=0", therapist_token).status_code == 422
    assert (second["upcoming"], second["attendance"]) == (first["upcoming"], first["attendance"])
    events = AuditEvent.objects.filter(object_type="appointments", patient_id=patient.id).order_by("id")
    assert [e.detail for e in events] == [{}, {"past_page": 2}, {"past_page": 2}]
    html = client_for(therapist).get(reverse("scheduling:patient_appointments", args=[patient.id]) + "?page=2")
    assert "Page 2 of 2 (53 past and cancelled)" in html.content.decode()


@pytest.mark.parametrize("start", ["1900-01-01T10:00:00", "9999-12-31T23:59:59+14:00", "2030-03-10T02:30:00"])
def test_api_odd_times_are_422(therapist_token, therapist, patient, therapy_room, start):
    body = booking(patient, therapy_room, therapist, at(1, 10)) | {"start": start}
    assert call("POST", "/appointments", therapist_token, body).status_code == 422


def test_api_moves_an_appointment_and_shows_its_history(therapist_token, therapist, patient, therapy_room):
    created = call("POST", "/appointments", therapist_token, booking(patient, therapy_room, therapist, at(1, 10))).json()
    moved = call("POST", f"/appointments/{created['id']}/reschedule", therapist_token,
                 {"start": at(2, 15).isoformat(), "reason": "Patient asked."})
    assert moved.status_code == 200, moved.content
    data = moved.json()
    assert data["id"] == created["id"]
    assert dt.datetime.fromisoformat(data["start"]) == at(2, 15)
    assert dt.datetime.fromisoformat(data["end"]) == at(2, 16)
    assert [p["user_id"] for p in data["participants"]] == [therapist.id]
    detail = call("GET", f"/appointments/{created['id']}", therapist_token).json()
    [move] = detail["moves"]
    assert (move["reason"], move["moved_by"]) == ("Patient asked.", "Theo Therapist")
    assert dt.datetime.fromisoformat(move["from_start"]) == at(1, 10)
    assert dt.datetime.fromisoformat(move["to_start"]) == at(2, 15)
    assert AuditEvent.objects.filter(object_type="appointment", object_id=str(created["id"]), via="api", reason="Patient asked.").exists()


def test_api_move_refusals_are_422_and_change_nothing(therapist_token, therapist, nurse, patient, unassigned_patient, therapy_room, org, as_actor):
    other = call("POST", "/appointments", token_for(nurse, org, as_actor), booking(unassigned_patient, therapy_room, nurse, at(1, 10))).json()
    created = call("POST", "/appointments", therapist_token, booking(patient, therapy_room, therapist, at(1, 14))).json()
    response = call("POST", f"/appointments/{created['id']}/reschedule", therapist_token,
                    {"start": at(1, 10, 30).isoformat(), "reason": "Earlier."})
    assert response.status_code == 422
    assert f"appointment #{other['id']}" in response.json()["errors"]["room"][0]
    call("POST", f"/appointments/{created['id']}/cancel", therapist_token, {"reason": "Not coming"})
    response = call("POST", f"/appointments/{created['id']}/reschedule", therapist_token,
                    {"start": at(2, 10).isoformat(), "reason": "Try again."})
    assert response.status_code == 422
    assert "only a booked appointment can be moved" in response.json()["errors"]["status"][0]
    assert dt.datetime.fromisoformat(call("GET", f"/appointments/{created['id']}", therapist_token).json()["start"]) == at(1, 14)
    assert call("POST", f"/appointments/{created['id']}/reschedule", therapist_token,
                {"start": at(2, 10).isoformat(), "reason": "x", "participants": []}).status_code == 422


def test_api_move_of_another_organisations_appointment_is_404(therapist_token, therapist, patient, therapy_room, outsider, other_org, as_actor):
    created = call("POST", "/appointments", therapist_token, booking(patient, therapy_room, therapist, at(1, 10))).json()
    outsider_token = token_for(outsider, other_org, as_actor)
    assert call("POST", f"/appointments/{created['id']}/reschedule", outsider_token,
                {"start": at(2, 10).isoformat(), "reason": "Not mine"}).status_code == 404
    assert call("GET", f"/appointments/{created['id']}", outsider_token).status_code == 404
