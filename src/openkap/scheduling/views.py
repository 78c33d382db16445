from __future__ import annotations

from datetime import date

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.forms import Form
from django.http import Http404, HttpResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext
from django.views.decorators.http import require_GET, require_POST

from openkap.accounts.authz import Actor
from openkap.accounts.requests import WebRequest
from openkap.audit.services import record_refusal
from openkap.core.authz import CLINICAL_ROLES, Perm
from openkap.dosing.models import DosingSession
from openkap.patients.documents import pdf_response
from openkap.patients.models import Patient
from openkap.patients.selectors import chart_header, patient_allows, patient_for, patient_search
from openkap.scheduling import documents, ics, selectors, services
from openkap.scheduling.forms import (
    FIELD_OF_ERROR,
    AppointmentTypeForm,
    BookingForm,
    CancelForm,
    RescheduleForm,
)
from openkap.scheduling.models import AppointmentKind
from openkap.web.decorators import apply_errors, patient_view, staff_view
from openkap.web.paging import page_number


def _int(value: str | None) -> int | None:
    return int(value) if value and value.isdigit() and len(value) < 19 else None


def _date(value: str | None) -> date:
    try:
        day = date.fromisoformat(value or "")
    except ValueError:
        return timezone.localdate()
    return day if 2000 <= day.year <= 2099 else timezone.localdate()


def feed_url(raw: str) -> str:
    return settings.SITE_URL.rstrip("/") + reverse("scheduling:ics_feed", args=[raw])


# --- the calendar ------------------------------------------------------------------------


@staff_view(Perm.SCHEDULE_VIEW)
def calendar(request: WebRequest, actor: Actor) -> HttpResponse:
    cal = selectors.calendar(
        by=actor,
        anchor=_date(request.GET.get("date")),
        view=request.GET.get("view", "day"),
        site_id=_int(request.GET.get("site")),
        mode=request.GET.get("mode", "rooms"),
        resource=request.GET.get("resource", "")[:40],
    )
    template = "scheduling/_calendar.html" if request.headers.get("HX-Request") else "scheduling/calendar.html"
    return TemplateResponse(
        request, template,
        {"cal": cal, "today": timezone.localdate(), "can_book": actor.can(Perm.APPOINTMENT_BOOK),
         "can_manage": actor.can(Perm.SCHEDULE_MANAGE)},
    )


# --- booking ---------------------------------------------------------------------------------


def _booking_initial(request: WebRequest) -> dict[str, object]:
    initial: dict[str, object] = {}
    if kind := request.GET.get("kind"):
        initial["kind"] = kind
    if start := request.GET.get("start"):
        initial["start"] = start[:16]
    if room := _int(request.GET.get("room")):
        initial["location"] = f"room:{room}"
    elif site := _int(request.GET.get("site")):
        initial["location"] = f"site:{site}"
    for role in ("lead", "monitor", "support"):
        if value := _int(request.GET.get(role)):
            initial[role] = value
    actor = request.actor
    if actor and not any(role in initial for role in ("lead", "monitor", "support")) and actor.roles & CLINICAL_ROLES:
        initial["lead"] = actor.user.id  # a clinician usually books their own sessions
    return initial


def _refusal_on_form(form: Form, exc: ValidationError) -> list[str]:
    """A refused booking or move: its reasons next to the form's fields, except the
    pathway's (returned, listed apart as what is missing). The refusal is audited."""
    record_refusal(exc)
    errors = exc.message_dict
    guard_unmet = errors.pop("episode", [])
    renamed: dict[str, list[str]] = {}
    for key, messages_ in errors.items():
        renamed.setdefault(FIELD_OF_ERROR.get(key, key), []).extend(messages_)
    if renamed:
        apply_errors(form, ValidationError(renamed))
    return guard_unmet


@staff_view(Perm.APPOINTMENT_BOOK)
def book(request: WebRequest, actor: Actor) -> HttpResponse:
    form = BookingForm(request.POST or None, actor=actor, initial=_booking_initial(request))
    patient_id = _int(request.POST.get("patient") if request.method == "POST" else request.GET.get("patient"))
    patient: Patient | None = None
    if patient_id is not None:
        patient, _ = patient_for(actor, patient_id, Perm.APPOINTMENT_BOOK)
        form.initial["patient"] = patient.id
    guard_unmet: list[str] = []
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                appointment = services.appointment_book(
                    by=actor, patient_id=form.cleaned_data["patient"], kind=form.cleaned_data["kind"],
                    patient_instructions=form.cleaned_data["patient_instructions"], **form.slot(),
                )
            except ValidationError as exc:
                guard_unmet = _refusal_on_form(form, exc)
            else:
                start_local = timezone.localtime(appointment.start)
                messages.success(
                    request,
                    f"{appointment.get_kind_display()} booked for {appointment.patient.display_name} "
                    f"on {start_local:%a %d %b %Y} at {start_local:%H:%M}.",
                )
                return redirect(
                    f"{reverse('scheduling:calendar')}?date={start_local.date().isoformat()}&site={appointment.site_id}"
                )
        status = 422
    return TemplateResponse(
        request, "scheduling/book.html",
        {"form": form, "patient": patient, "guard_unmet": guard_unmet,
         "is_dosing": form.data.get("kind") == AppointmentKind.DOSING},
        status=status,
    )


@require_GET
@staff_view(Perm.APPOINTMENT_BOOK)
def patient_picker(request: WebRequest, actor: Actor) -> HttpResponse:
    """htmx: patients matching the search, as choices for the booking form."""
    query = request.GET.get("q", "")[:100].strip()
    page = patient_search(by=actor, query=query, page=1, per_page=8) if len(query) >= 2 else None
    return TemplateResponse(request, "scheduling/_patient_picker.html", {"page": page, "q": query})


# --- one appointment --------------------------------------------------------------------------


@staff_view(Perm.SCHEDULE_VIEW)
def appointment(request: WebRequest, actor: Actor, appointment_id: int) -> HttpResponse:
    appt = selectors.appointment_get(by=actor, appointment_id=appointment_id)
    return TemplateResponse(
        request, "scheduling/appointment.html",
        {"a": appt, "cancel_form": CancelForm(), "can_book": actor.can(Perm.APPOINTMENT_BOOK),
         "started": appt.start <= timezone.now(),
         # A dosing session under way stays where it is.
         "can_move": appt.dosing_session is None or appt.dosing_session.status == DosingSession.Status.SCHEDULED},
    )


@staff_view(Perm.APPOINTMENT_BOOK)
def reschedule(request: WebRequest, actor: Actor, appointment_id: int) -> HttpResponse:
    """Move the appointment. htmx asks for the form alone, into the appointment page;
    without it the form is a page of its own."""
    appt = selectors.appointment_get(by=actor, appointment_id=appointment_id)
    form = RescheduleForm(request.POST or None, actor=actor, appointment=appt)
    guard_unmet: list[str] = []
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                moved = services.appointment_reschedule(
                    by=actor, appointment_id=appt.id, reason=form.cleaned_data["reason"], **form.slot()
                )
            except ValidationError as exc:
                guard_unmet = _refusal_on_form(form, exc)
            else:
                start_local = timezone.localtime(moved.start)
                messages.success(request, f"Moved to {start_local:%a %d %b %Y} at {start_local:%H:%M}.")
                return redirect("scheduling:appointment", appointment_id=appt.id)
        status = 422
    template = "scheduling/_reschedule.html" if request.headers.get("HX-Request") else "scheduling/reschedule.html"
    return TemplateResponse(
        request, template, {"a": appt, "form": form, "guard_unmet": guard_unmet}, status=status
    )


def _after_action(request: WebRequest, appointment_id: int) -> HttpResponse:
    return redirect("scheduling:appointment", appointment_id=appointment_id)


@require_POST
@staff_view(Perm.APPOINTMENT_BOOK)
def cancel(request: WebRequest, actor: Actor, appointment_id: int) -> HttpResponse:
    # The service checks access before the reason, so another clinic's id answers 404.
    form = CancelForm(request.POST)
    form.is_valid()
    try:
        services.appointment_cancel(
            by=actor, appointment_id=appointment_id, reason=request.POST.get("reason", "")[:2000],
            by_patient=bool(form.cleaned_data.get("by_patient")),
        )
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, "Appointment cancelled.")
    return _after_action(request, appointment_id)


@require_POST
@staff_view(Perm.APPOINTMENT_BOOK)
def no_show(request: WebRequest, actor: Actor, appointment_id: int) -> HttpResponse:
    try:
        services.appointment_mark_no_show(by=actor, appointment_id=appointment_id)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, "Recorded as a no-show.")
    return _after_action(request, appointment_id)


@require_POST
@staff_view(Perm.APPOINTMENT_BOOK)
def complete(request: WebRequest, actor: Actor, appointment_id: int) -> HttpResponse:
    try:
        services.appointment_complete(by=actor, appointment_id=appointment_id)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, "Recorded as completed.")
    return _after_action(request, appointment_id)


# --- appointment types ---------------------------------------------------------------------


@staff_view(Perm.SCHEDULE_MANAGE)
def appointment_types(request: WebRequest, actor: Actor) -> HttpResponse:
    form = AppointmentTypeForm(request.POST or None)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                services.appointment_type_set_minutes(
                    by=actor, kind=form.cleaned_data["kind"], minutes=form.cleaned_data["minutes"]
                )
            except ValidationError as exc:
                apply_errors(form, exc)
            else:
                messages.success(request, "Saved.")
                return redirect("scheduling:types")
        status = 422
        messages.error(request, " ".join(str(m) for errors in form.errors.values() for m in errors))
    return TemplateResponse(
        request, "scheduling/types.html", {"types": selectors.appointment_types(by=actor)}, status=status
    )


# --- the patient's appointments in the chart ----------------------------------------------------


@staff_view(Perm.PATIENT_VIEW)
def patient_appointments(request: WebRequest, actor: Actor, patient_id: int) -> HttpResponse:
    return _patient_appointments(request, actor, patient_id)


def _patient_appointments(
    request: WebRequest, actor: Actor, patient_id: int, new_url: str | None = None
) -> HttpResponse:
    data = selectors.patient_appointments(by=actor, patient_id=patient_id, past_page=page_number(request))
    # The appointments' read is checked and audited: the header does not read the chart again.
    chart = chart_header(by=actor, patient=data.patient, via_break_glass=data.via_break_glass)
    can_book = actor.can(Perm.APPOINTMENT_BOOK) and patient_allows(actor, data.patient, Perm.APPOINTMENT_BOOK)
    return TemplateResponse(
        request, "scheduling/patient_appointments.html",
        {"chart": chart, "patient": chart.patient, "data": data, "attendance": data.attendance, "can_book": can_book,
         "feed": services.active_feed(by=actor, patient_id=patient_id) if can_book else None,
         "new_url": new_url},
    )


@require_GET
@staff_view(Perm.CLINICAL_VIEW)
def patient_letter(request: WebRequest, actor: Actor, patient_id: int) -> HttpResponse:
    """The appointment letter to hand the patient, in the patient's language."""
    return pdf_response(*documents.appointment_letter_pdf(by=actor, patient_id=patient_id))


@require_GET
@patient_view
def portal_letter(request: WebRequest, actor: Actor, patient: Patient) -> HttpResponse:
    return pdf_response(*documents.appointment_letter_pdf(by=actor))


@require_POST
@staff_view(Perm.APPOINTMENT_BOOK)
def patient_feed(request: WebRequest, actor: Actor, patient_id: int) -> HttpResponse:
    """Make (or replace) the patient's calendar address, or turn it off."""
    if request.POST.get("action") == "revoke":
        patient_for(actor, patient_id, Perm.APPOINTMENT_BOOK)
        feed = services.active_feed(by=actor, patient_id=patient_id)
        if feed is not None:
            services.calendar_feed_revoke(by=actor, feed_id=feed.id)
        messages.success(request, "The patient's calendar address is turned off.")
        return redirect("scheduling:patient_appointments", patient_id=patient_id)
    # The address is shown once, in this answer: only its hash is kept.
    _, raw = services.calendar_feed_create(by=actor, patient_id=patient_id)
    return _patient_appointments(request, actor, patient_id, new_url=feed_url(raw))


# --- the clinician's own calendar feed ---------------------------------------------------------


@staff_view(Perm.SCHEDULE_VIEW)
def my_feed(request: WebRequest, actor: Actor) -> HttpResponse:
    new_url = None
    if request.method == "POST":
        if request.POST.get("action") == "revoke":
            feed = services.active_feed(by=actor)
            if feed is not None:
                services.calendar_feed_revoke(by=actor, feed_id=feed.id)
            messages.success(request, "Your calendar address is turned off.")
            return redirect("scheduling:my_feed")
        _, raw = services.calendar_feed_create(by=actor)
        new_url = feed_url(raw)
    return TemplateResponse(
        request, "scheduling/my_feed.html", {"feed": services.active_feed(by=actor), "new_url": new_url}
    )


# --- the secret ICS address (no sign-in) ----------------------------------------------------------


@require_GET
def ics_feed(request: WebRequest, token: str) -> HttpResponse:
    """Public by design: the secret token is the key and opens this calendar only."""
    feed = services.calendar_feed_authenticate(token)
    if feed is None:
        raise Http404("No such calendar.")
    body = ics.feed_calendar(feed, selectors.feed_appointments(feed))
    response = HttpResponse(body, content_type="text/calendar; charset=utf-8")
    response["Content-Disposition"] = 'inline; filename="appointments.ics"'
    response["Cache-Control"] = "no-store"
    response["X-Robots-Tag"] = "noindex"
    return response


# --- the patient portal -----------------------------------------------------------------------------


@patient_view
def portal_appointments(request: WebRequest, actor: Actor, patient: Patient) -> HttpResponse:
    new_url = None
    if request.method == "POST":
        if request.POST.get("action") == "revoke":
            services.portal_calendar_feed_revoke(by=actor, patient=patient)
            messages.success(request, gettext("Your calendar address is turned off."))
            return redirect("scheduling:portal_appointments")
        _, raw = services.portal_calendar_feed_create(by=actor, patient=patient)
        new_url = feed_url(raw)
    upcoming = selectors.portal_upcoming(by=actor, patient=patient)
    has_feed = services.active_feed(by=actor, patient_id=patient.id) is not None
    return TemplateResponse(
        request, "scheduling/portal_appointments.html",
        {"upcoming": upcoming, "organization": actor.organization, "has_feed": has_feed,
         "new_url": new_url},
    )

