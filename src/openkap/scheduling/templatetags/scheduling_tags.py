"""Scheduling pieces shown on other apps' pages: the chart tab, the clinician's day
on the Today page and the portal card; and the calendar's booking slots."""

from __future__ import annotations

import html
from datetime import timedelta
from typing import Any

from django import template
from django.utils import timezone
from django.utils.html import conditional_escape
from django.utils.safestring import SafeString, mark_safe

from openkap.accounts.authz import Denied
from openkap.core.authz import Perm
from openkap.patients.models import Patient
from openkap.patients.selectors import portal_patient
from openkap.scheduling import selectors
from openkap.scheduling.models import Appointment

register = template.Library()


@register.inclusion_tag("scheduling/_chart_tab.html", takes_context=True)
def appointments_tab(context: dict[str, Any], patient: Patient) -> dict[str, Any]:
    """The chart's Appointments tab with the patient's no-show and cancellation counts
    (the chart view has already checked and audited access to the patient)."""
    request = context.get("request")
    # The Appointments tab has counted them already and passes them on; the chart read the
    # two the strip shows with the patient.
    counted: Any = context.get("attendance")
    no_shows = getattr(patient, "chart_no_shows", None)
    if counted is None and no_shows is not None:
        counted = {"no_shows": no_shows, "late_cancellations": getattr(patient, "chart_late_cancellations", 0)}
    return {
        "patient": patient,
        "attendance": selectors.attendance(patient.id) if counted is None else counted,
        "current": bool(request and request.resolver_match and request.resolver_match.view_name == "scheduling:patient_appointments"),
    }


@register.inclusion_tag("scheduling/_my_day.html", takes_context=True)
def my_day(context: dict[str, Any]) -> dict[str, Any]:
    """The signed-in clinician's appointments today (the list read is audited)."""
    actor = context.get("actor")
    if not actor or not actor.can(Perm.SCHEDULE_VIEW) or not actor.can(Perm.CLINICAL_VIEW):
        return {"show": False}
    start = timezone.localtime().replace(hour=0, minute=0, second=0, microsecond=0)
    items, seen = selectors.appointments_between(
        by=actor, start=start, end=start + timedelta(days=1), user_id=actor.user.id
    )
    return {
        "show": True,
        "items": [a for a in items if a.status != Appointment.Status.CANCELLED],
        "seen": seen,
    }


@register.inclusion_tag("scheduling/_portal_card.html", takes_context=True)
def portal_appointments_card(context: dict[str, Any]) -> dict[str, Any]:
    """The next appointments on the patient's home page."""
    request = context.get("request")
    actor = getattr(request, "actor", None)
    if not actor:
        return {"upcoming": None}
    try:
        patient = portal_patient(actor)  # the actor's own record in this organisation
    except Denied:
        return {"upcoming": None}
    return {"upcoming": selectors.portal_next(by=actor, patient=patient)}


@register.simple_tag
def calendar_slots(slots: list[tuple[str, str, str]], book_url: str) -> SafeString:
    """The calendar's empty half-hours that book (156 on a day of six rooms), each value
    escaped as ``{{ }}`` escapes it: a template loop over them cost more than the rest of
    the grid (ADR 0113)."""
    url = conditional_escape(book_url)
    return mark_safe("".join(  # noqa: S308 - every value escaped above or here
        f'<a class="cal-slot" tabindex="-1" aria-hidden="true" data-slot="{_escape(label)}" '
        f'href="{url}?{_escape(query)}" style="{_escape(style)}"></a>'
        for style, query, label in slots))


def _escape(value: str) -> str:
    """``conditional_escape`` without its checks for lazy and safe text on a plain string
    (the slots are built as plain strings): a third of the tag's time (ADR 0118)."""
    return html.escape(value) if type(value) is str else conditional_escape(value)
