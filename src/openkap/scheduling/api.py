from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from django.conf import settings
from django.urls import reverse
from django.utils import timezone
from ninja import Query, Router, Schema, Status
from pydantic import Field

from openkap.accounts.requests import ApiRequest
from openkap.api.schemas import MAX_ID, ErrorOut, ObjectId, PageNumber
from openkap.scheduling import selectors, services
from openkap.scheduling.models import Appointment

router = Router(tags=["scheduling"])

ERRORS = {400: ErrorOut, 401: ErrorOut, 403: ErrorOut, 404: ErrorOut, 422: ErrorOut}
Kind = Literal["screening", "preparation", "dosing", "integration", "follow_up", "medical_review"]
ParticipantRole = Literal["lead", "monitor", "support"]
OptionalId = Annotated[int | None, Field(None, ge=1, le=MAX_ID)]


class AppointmentTypeOut(Schema):
    kind: str
    label: str
    default_minutes: int
    customised: bool


class ParticipantIn(Schema):
    user_id: int = Field(ge=1, le=MAX_ID)
    role: ParticipantRole


class BookingIn(Schema):
    patient_id: int = Field(ge=1, le=MAX_ID)
    kind: Kind
    start: dt.datetime = Field(description="ISO 8601; without an offset, the clinic's time zone")
    end: dt.datetime | None = Field(None, description="Leave out for the type's usual length (dosing: the protocol's)")
    site_id: OptionalId = None
    room_id: OptionalId = Field(None, description="Leave out for video or phone (never for dosing)")
    participants: list[ParticipantIn] = Field(min_length=1, max_length=services.MAX_PARTICIPANTS)
    patient_instructions: str = Field("", max_length=services.MAX_INSTRUCTIONS)
    odd_hour_confirmed: bool = Field(False, description="Set to book outside usual clinic hours (07:00-20:00)")


class ParticipantOut(Schema):
    user_id: int
    name: str
    role: str


class AppointmentOut(Schema):
    id: int
    kind: str
    status: str
    start: dt.datetime
    end: dt.datetime
    site_id: int
    room_id: int | None
    patient_id: int
    patient_name: str | None = Field(description="Only when you may see the patient; otherwise null")
    participants: list[ParticipantOut]
    dosing_session_id: int | None
    patient_instructions: str | None = Field(description="Only when you may see the patient")


class CheckOut(Schema):
    bookable: bool
    end: dt.datetime | None
    minimum_minutes: int | None = Field(description="For a dosing session: check-in + administration + monitoring")
    protocol_id: str | None
    problems: dict[str, list[str]]


class RescheduleIn(Schema):
    start: dt.datetime = Field(description="ISO 8601; without an offset, the clinic's time zone")
    end: dt.datetime | None = Field(None, description="Leave out to keep the appointment's length")
    site_id: OptionalId = Field(None, description="With no room_id: by video or phone at this site")
    room_id: OptionalId = Field(None, description="Leave out, with site_id, to keep the place")
    participants: Annotated[
        list[ParticipantIn], Field(min_length=1, max_length=services.MAX_PARTICIPANTS)
    ] | None = Field(None, description="Leave out to keep the staff; given, it replaces them all")
    reason: str = Field(min_length=3, max_length=1000)
    odd_hour_confirmed: bool = Field(False, description="Set to move it outside usual clinic hours (07:00-20:00)")


class MoveOut(Schema):
    moved_at: dt.datetime
    moved_by: str
    reason: str
    from_start: dt.datetime
    from_end: dt.datetime
    from_site_id: int
    from_room_id: int | None
    to_start: dt.datetime
    to_end: dt.datetime
    to_site_id: int
    to_room_id: int | None


class AppointmentDetailOut(AppointmentOut):
    moves: list[MoveOut] = Field(description="Every reschedule, oldest first")


class CancelIn(Schema):
    reason: str = Field(min_length=3, max_length=1000)
    by_patient: bool = False


class FeedIn(Schema):
    patient_id: OptionalId = Field(None, description="Leave out for your own clinician feed")


class FeedOut(Schema):
    id: int
    patient_id: int | None
    created_at: dt.datetime
    url: str = Field(description="The secret address; returned only once, at creation")


class FeedStatusOut(Schema):
    id: int
    patient_id: int | None
    created_at: dt.datetime
    revoked_at: dt.datetime | None


def _out(a: Appointment, visible: bool) -> AppointmentOut:
    return AppointmentOut(
        id=a.id, kind=a.kind, status=a.status, start=a.start, end=a.end, site_id=a.site_id,
        room_id=a.room_id, patient_id=a.patient_id,
        patient_name=a.patient.display_name if visible else None,
        participants=[
            ParticipantOut(user_id=p.user_id, name=p.user.full_name, role=p.role) for p in a.participants.all()
        ],
        dosing_session_id=a.dosing_session_id,
        patient_instructions=a.patient_instructions if visible else None,
    )


def _booking_args(payload: BookingIn) -> dict[str, object]:
    return {
        "patient_id": payload.patient_id, "kind": payload.kind, "start": payload.start, "end": payload.end,
        "site_id": payload.site_id, "room_id": payload.room_id,
        "participants": [(p.user_id, p.role) for p in payload.participants],
        "patient_instructions": payload.patient_instructions, "odd_hour_confirmed": payload.odd_hour_confirmed,
    }


@router.get("/appointment-types", response={200: list[AppointmentTypeOut], **ERRORS}, summary="Appointment types and their usual lengths")
def list_types(request: ApiRequest) -> list[selectors.TypeRow]:
    return selectors.appointment_types(by=request.auth)


@router.get("/appointments", response={200: list[AppointmentOut], **ERRORS}, summary="Appointments of a day or a week")
def list_appointments(
    request: ApiRequest,
    date: Annotated[dt.date, Query(description="The day, or any day of the week")],
    span: Literal["day", "week"] = "day",
    site_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    room_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    user_id: Annotated[int | None, Query(ge=1, le=MAX_ID, description="A member of staff")] = None,
) -> list[AppointmentOut]:
    if not 2000 <= date.year <= 2099:
        date = timezone.localdate()
    first = date - dt.timedelta(days=date.weekday()) if span == "week" else date
    start = timezone.make_aware(dt.datetime.combine(first, dt.time(0, 0)))
    end = timezone.make_aware(dt.datetime.combine(first + dt.timedelta(days=7 if span == "week" else 1), dt.time(0, 0)))
    items, seen = selectors.appointments_between(
        by=request.auth, start=start, end=end, site_id=site_id, room_id=room_id, user_id=user_id,
    )
    return [_out(a, a.patient_id in seen) for a in items]


@router.post("/availability", response={200: CheckOut, **ERRORS}, summary="Check a booking without making it (conflicts, dosing guards)")
def check(request: ApiRequest, payload: BookingIn) -> CheckOut:
    result = services.appointment_check(by=request.auth, **_booking_args(payload))  # type: ignore[arg-type]
    window = result.dosing_window
    return CheckOut(
        bookable=result.bookable, end=result.end, problems=result.problems,
        minimum_minutes=window.total_minutes if window else None,
        protocol_id=window.protocol_id if window else None,
    )


@router.post("/appointments", response={201: AppointmentOut, **ERRORS}, summary="Book an appointment")
def book(request: ApiRequest, payload: BookingIn) -> Status:
    appointment = services.appointment_book(by=request.auth, **_booking_args(payload))  # type: ignore[arg-type]
    return Status(201, _out(appointment, True))


@router.get("/appointments/{appointment_id}", response={200: AppointmentDetailOut, **ERRORS}, summary="One appointment with its history of moves")
def appointment(request: ApiRequest, appointment_id: ObjectId) -> AppointmentDetailOut:
    a = selectors.appointment_get(by=request.auth, appointment_id=appointment_id)
    moves = [
        MoveOut(
            moved_at=m.moved_at, moved_by=m.moved_by.full_name, reason=m.reason, from_start=m.from_start,
            from_end=m.from_end, from_site_id=m.from_site_id, from_room_id=m.from_room_id, to_start=m.to_start,
            to_end=m.to_end, to_site_id=m.to_site_id, to_room_id=m.to_room_id,
        )
        for m in a.moves.all()
    ]
    return AppointmentDetailOut(**_out(a, True).model_dump(), moves=moves)


@router.post("/appointments/{appointment_id}/reschedule", response={200: AppointmentOut, **ERRORS}, summary="Move an appointment (the same checks as booking)")
def reschedule(request: ApiRequest, appointment_id: ObjectId, payload: RescheduleIn) -> AppointmentOut:
    a = services.appointment_reschedule(
        by=request.auth, appointment_id=appointment_id, start=payload.start, end=payload.end,
        site_id=payload.site_id, room_id=payload.room_id, reason=payload.reason,
        odd_hour_confirmed=payload.odd_hour_confirmed, participants=None if payload.participants is None else [(p.user_id, p.role) for p in payload.participants],
    )
    return _out(a, True)


@router.post("/appointments/{appointment_id}/cancel", response={200: AppointmentOut, **ERRORS}, summary="Cancel an appointment")
def cancel(request: ApiRequest, appointment_id: ObjectId, payload: CancelIn) -> AppointmentOut:
    a = services.appointment_cancel(
        by=request.auth, appointment_id=appointment_id, reason=payload.reason, by_patient=payload.by_patient,
    )
    return _out(a, True)


@router.post("/appointments/{appointment_id}/no-show", response={200: AppointmentOut, **ERRORS}, summary="Record a no-show")
def no_show(request: ApiRequest, appointment_id: ObjectId) -> AppointmentOut:
    return _out(services.appointment_mark_no_show(by=request.auth, appointment_id=appointment_id), True)


@router.post("/appointments/{appointment_id}/complete", response={200: AppointmentOut, **ERRORS}, summary="Record an appointment as completed")
def complete(request: ApiRequest, appointment_id: ObjectId) -> AppointmentOut:
    return _out(services.appointment_complete(by=request.auth, appointment_id=appointment_id), True)


@router.post("/calendar-feeds", response={201: FeedOut, **ERRORS}, summary="Make a secret ICS calendar address (yours, or a patient's)")
def create_feed(request: ApiRequest, payload: FeedIn) -> Status:
    feed, raw = services.calendar_feed_create(by=request.auth, patient_id=payload.patient_id)
    url = settings.SITE_URL.rstrip("/") + reverse("scheduling:ics_feed", args=[raw])
    return Status(201, FeedOut(id=feed.id, patient_id=feed.patient_id, created_at=feed.created_at, url=url))


@router.post("/calendar-feeds/{feed_id}/revoke", response={200: FeedStatusOut, **ERRORS}, summary="Turn a calendar address off")
def revoke_feed(request: ApiRequest, feed_id: ObjectId) -> FeedStatusOut:
    feed = services.calendar_feed_revoke(by=request.auth, feed_id=feed_id)
    return FeedStatusOut(id=feed.id, patient_id=feed.patient_id, created_at=feed.created_at, revoked_at=feed.revoked_at)


class AttendanceOut(Schema):
    completed: int
    no_shows: int
    cancellations: int
    late_cancellations: int


class PatientAppointmentsOut(Schema):
    upcoming: list[AppointmentOut]
    # One page of the past and cancelled appointments, newest first; ?page=N for older ones.
    past: list[AppointmentOut]
    past_count: int
    past_page: int
    past_pages: int
    attendance: AttendanceOut


@router.get(
    "/patients/{patient_id}/appointments", response={200: PatientAppointmentsOut, **ERRORS},
    summary=f"A patient's appointments (every upcoming one; past and cancelled ones {selectors.PAST_PER_PAGE} a "
            "page, newest first), no-shows and cancellations",
)
def patient_appointments(request: ApiRequest, patient_id: ObjectId, page: PageNumber = 1) -> PatientAppointmentsOut:
    data = selectors.patient_appointments(by=request.auth, patient_id=patient_id, past_page=page)
    att = data.attendance
    return PatientAppointmentsOut(
        upcoming=[_out(a, True) for a in data.upcoming],
        past=[_out(a, True) for a in data.past],
        past_count=data.past.paginator.count, past_page=data.past.number, past_pages=data.past.paginator.num_pages,
        attendance=AttendanceOut(
            completed=att.completed, no_shows=att.no_shows, cancellations=att.cancellations,
            late_cancellations=att.late_cancellations,
        ),
    )
