"""Objects the URL-enumeration test needs for scheduling's URL parameters."""

from __future__ import annotations

from datetime import datetime, time, timedelta

from django.utils import timezone


def url_objects(*, patient, therapist, org) -> dict[str, object]:
    """A booked appointment of ``patient`` (on the therapist's care team), tomorrow."""
    from openkap.accounts.authz import build_actor
    from openkap.accounts.models import Room, Site
    from openkap.scheduling.services import appointment_book

    site = Site.objects.create(
        organization=org, name="Scheduling test site", address_line1="2 Main St", city="Albany", state="NY",
        postal_code="12207", dea_registration="AB1234563",
    )
    room = Room.objects.create(organization=org, site=site, name="Therapy room", kind=Room.Kind.THERAPY)
    start = timezone.make_aware(datetime.combine(timezone.localdate() + timedelta(days=1), time(10, 0)))
    appointment = appointment_book(
        by=build_actor(therapist, org), patient_id=patient.id, kind="preparation", start=start,
        room_id=room.id, participants=[(therapist.id, "lead")],
    )
    return {"appointment_id": appointment.id}
