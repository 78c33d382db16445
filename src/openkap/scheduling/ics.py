"""ICS calendars for the secret feed addresses, built with the icalendar library.

Calendar apps copy events to servers the clinic does not control, so a feed
carries as little as it can: a patient's says only "Appointment at <clinic>"
and where; a clinician's names the kind of session and the room, never the
patient. Times are in UTC, which every calendar app converts to local time.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC

from django.conf import settings
from django.urls import reverse
from django.utils import timezone
from icalendar import Calendar, Event

from openkap.scheduling.models import Appointment, CalendarFeed

PRODID = "-//OpenKAP//Scheduling//EN"


def _address(appointment: Appointment) -> str:
    site = appointment.site
    lines = [site.address_line1, site.address_line2, f"{site.city}, {site.state} {site.postal_code}"]
    return ", ".join(line for line in lines if line)


def feed_calendar(feed: CalendarFeed, appointments: Iterable[Appointment]) -> bytes:
    clinic = feed.organization.name
    cal = Calendar()
    cal.add("prodid", PRODID)
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("method", "PUBLISH")
    cal.add("x-wr-calname", f"{clinic} appointments")
    now = timezone.now().astimezone(UTC)
    host = settings.SITE_URL.split("//")[-1].split("/")[0] or "openkap"
    for a in appointments:
        event = Event()
        event.add("uid", f"appointment-{a.id}@{host}")
        event.add("dtstamp", now)
        # Raised by every move or status change, so calendar apps replace their copy.
        event.add("sequence", a.sequence)
        event.add("dtstart", a.start.astimezone(UTC))
        event.add("dtend", a.end.astimezone(UTC))
        if feed.patient_id is not None:
            event.add("summary", f"Appointment at {clinic}")
            event.add("location", f"{a.site.name}: {_address(a)}")
        else:
            where = a.room.name if a.room else "no room (video or phone)"
            event.add("summary", f"{a.get_kind_display()} · {where}")
            event.add("location", a.site.name)
            event.add("url", settings.SITE_URL.rstrip("/") + reverse("scheduling:appointment", args=[a.id]))
        event.add("status", "CANCELLED" if a.status == Appointment.Status.CANCELLED else "CONFIRMED")
        event.add("transp", "OPAQUE")
        cal.add_component(event)
    return cal.to_ical()
