from datetime import UTC

import pytest
from django.test import Client
from django.urls import reverse
from icalendar import Calendar

from openkap.accounts.models import Membership
from openkap.audit.models import AuditAction, AuditEvent
from openkap.scheduling import services
from openkap.scheduling.models import CalendarFeed
from tests.scheduling.conftest import at


@pytest.fixture
def booked(book, therapist, nurse, patient, therapy_room, site):
    first = book(therapist, patient_id=patient.id, kind="preparation", start=at(1, 10), room_id=therapy_room.id,
                 participants=[(therapist.id, "lead")], patient_instructions="Bring your intentions.")
    second = book(therapist, patient_id=patient.id, kind="integration", start=at(3, 14, 30), site_id=site.id,
                  participants=[(therapist.id, "lead"), (nurse.id, "support")])
    return first, second


def fetch(raw: str):
    return Client().get(reverse("scheduling:ics_feed", args=[raw]))


def events(response) -> list:
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/calendar")
    return list(Calendar.from_ical(response.content).walk("VEVENT"))


def test_clinician_feed_is_a_valid_calendar_in_utc(booked, therapist, org, as_actor, patient):
    first, second = booked
    feed, raw = services.calendar_feed_create(by=as_actor(therapist, org))
    found = events(fetch(raw))
    assert [e.decoded("dtstart") for e in found] == [first.start, second.start]
    for event, appointment in zip(found, booked, strict=True):
        start, end = event.decoded("dtstart"), event.decoded("dtend")
        assert start.utcoffset().total_seconds() == 0  # written as UTC ("Z")
        assert start.tzinfo == UTC or str(start.tzinfo) == "UTC"
        assert (start, end) == (appointment.start, appointment.end)
        assert str(event["uid"]).startswith(f"appointment-{appointment.id}@")
    assert str(found[0]["summary"]) == "Preparation session · Therapy room A"
    assert str(found[1]["summary"]) == "Integration session · no room (video or phone)"
    body = fetch(raw).content.decode()
    # The clinician's calendar app never learns who the patient is.
    assert patient.legal_family_name not in body
    assert patient.mrn not in body
    assert "Bring your intentions" not in body
    assert CalendarFeed.objects.get(pk=feed.pk).last_used_at is not None


def test_patient_feed_says_only_appointment_at_the_clinic(booked, therapist, org, as_actor, patient):
    _, raw = services.calendar_feed_create(by=as_actor(therapist, org), patient_id=patient.id)
    found = events(fetch(raw))
    assert [str(e["summary"]) for e in found] == ["Appointment at Test KAP Clinic"] * 2
    assert "1 Main St" in str(found[0]["location"])
    body = fetch(raw).content.decode()
    for word in ("Preparation", "Integration", "Dosing", "ketamine", patient.legal_family_name, "Theo"):
        assert word not in body


def test_cancelled_appointments_show_as_cancelled(booked, therapist, org, as_actor):
    first, _ = booked
    services.appointment_cancel(by=as_actor(therapist, org), appointment_id=first.id, reason="Unwell")
    _, raw = services.calendar_feed_create(by=as_actor(therapist, org))
    statuses = [str(e["status"]) for e in events(fetch(raw))]
    assert statuses == ["CANCELLED", "CONFIRMED"]


def test_revoked_or_replaced_address_answers_404(booked, therapist, org, as_actor):
    actor = as_actor(therapist, org)
    _feed, raw = services.calendar_feed_create(by=actor)
    assert fetch(raw).status_code == 200
    _, newer = services.calendar_feed_create(by=actor)
    assert fetch(raw).status_code == 404
    assert fetch(newer).status_code == 200
    services.calendar_feed_revoke(by=actor, feed_id=CalendarFeed.objects.get(revoked_at__isnull=True).id)
    assert fetch(newer).status_code == 404
    assert AuditEvent.objects.filter(action=AuditAction.TOKEN_REVOKED, object_type="calendar_feed").count() == 2


@pytest.mark.parametrize("raw", ["okcal_nope", "nope", "okcal_" + "x" * 200, "%2e%2e"])
def test_unknown_addresses_answer_404(db, raw):
    assert fetch(raw).status_code == 404


def test_only_the_hash_is_stored(therapist, org, as_actor):
    feed, raw = services.calendar_feed_create(by=as_actor(therapist, org))
    assert raw not in feed.token_hash
    assert not CalendarFeed.objects.filter(token_hash=raw).exists()
    assert AuditEvent.objects.filter(action=AuditAction.TOKEN_CREATED, object_id=str(feed.id)).exists()


def test_a_clinician_who_left_loses_the_feed(therapist, org, as_actor):
    _, raw = services.calendar_feed_create(by=as_actor(therapist, org))
    Membership.objects.filter(user=therapist).update(is_active=False)
    assert fetch(raw).status_code == 404


def test_the_feed_token_opens_nothing_else(booked, therapist, org, as_actor, patient):
    _, raw = services.calendar_feed_create(by=as_actor(therapist, org))
    client = Client()
    assert client.get(reverse("scheduling:ics_feed", args=[raw])).status_code == 200
    # No session was made: the staff pages still ask for a sign-in.
    assert client.get(reverse("scheduling:calendar")).status_code == 302
    assert client.get(f"/patients/{patient.id}/").status_code == 302
    # And it is no API token.
    assert client.get("/api/v1/me", HTTP_AUTHORIZATION=f"Bearer {raw}").status_code == 401


def test_patient_feeds_need_booking_rights_for_the_patient(therapist, researcher, outsider, other_org, org, as_actor, unassigned_patient, patient):
    from django.http import Http404

    from openkap.accounts.authz import Denied

    with pytest.raises(Denied):
        services.calendar_feed_create(by=as_actor(therapist, org), patient_id=unassigned_patient.id)
    with pytest.raises(Denied):
        services.calendar_feed_create(by=as_actor(researcher, org))
    with pytest.raises(Http404):
        services.calendar_feed_create(by=as_actor(outsider, other_org), patient_id=patient.id)
    feed, _ = services.calendar_feed_create(by=as_actor(therapist, org), patient_id=patient.id)
    with pytest.raises(Http404):
        services.calendar_feed_revoke(by=as_actor(outsider, other_org), feed_id=feed.id)
