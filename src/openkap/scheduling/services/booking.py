"""Booking: parsing a request, conflicts, the dosing guard and interval, and the booking itself."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.utils import timezone, translation

from openkap.accounts.authz import Actor, require
from openkap.accounts.models import Membership, Room, Site, User
from openkap.audit.models import AuditAction
from openkap.audit.services import AuditedRefusal, audit_record
from openkap.core.authz import CLINICAL_ROLES, ORGANIZATION_WIDE_ROLES, Perm, Role
from openkap.core.dosing import Stop

# The dose order's own interval rule, reused so that booking and ordering cannot disagree.
from openkap.core.dosing.order import check_interval
from openkap.core.protocols import Protocol
from openkap.dosing import services as dosing
from openkap.dosing import session_facts
from openkap.dosing.models import DosingSession
from openkap.pathway import selectors as pathway
from openkap.pathway.models import Episode
from openkap.patients.models import Patient
from openkap.patients.selectors import is_on_care_team, patient_for
from openkap.scheduling import rules
from openkap.scheduling.models import (
    Appointment,
    AppointmentKind,
    AppointmentType,
    Participant,
)

from .common import (
    EARLIEST,
    LATEST,
    MAX_BOOKING_AHEAD,
    MAX_INSTRUCTIONS,
    MAX_MINUTES,
    MAX_PARTICIPANTS,
    MIN_MINUTES,
    MONITOR_ROLES,
    USUAL_HOURS,
    ParticipantSpec,
)


@dataclass(frozen=True)
class BookingRequest:
    """A booking whose every field has been checked; conflicts come next."""

    patient: Patient
    episode: Episode | None
    kind: str
    start: datetime
    end: datetime
    site: Site
    room: Room | None
    participants: tuple[tuple[User, str], ...]
    instructions: str
    dosing_window: rules.DosingWindow | None
    # The protocol the session will run on (dosing only): its minimum interval applies.
    interval_protocol: Protocol | None = None
    # Its version in the clinic's library; None when the shipped example stands in.
    protocol_version: int | None = None


def _aware(value: datetime | None, field: str, errors: dict[str, list[str]]) -> datetime | None:
    """An instant in UTC. A time without an offset is read in the clinic's zone; one
    that the clock skips (the spring change) is refused. UTC from here on, because
    Python's arithmetic on local times is wall-clock and goes wrong across a change."""
    if value is None:
        return None
    try:
        if timezone.is_naive(value):
            local = timezone.make_aware(value)
            if timezone.localtime(local.astimezone(UTC)).replace(tzinfo=None) != value:
                errors.setdefault(field, []).append("This time does not exist in the clinic's time zone.")
                return None
            value = local
        value = value.astimezone(UTC)
    except (ValueError, OverflowError):
        errors.setdefault(field, []).append("Give a date between 2000 and 2100.")
        return None
    if not EARLIEST <= value <= LATEST:
        errors.setdefault(field, []).append("Give a date between 2000 and 2100.")
        return None
    return value


def _staff_roles(organization_id: int, user_ids: Iterable[int]) -> dict[int, set[Role]]:
    roles: dict[int, set[Role]] = {}
    for user_id, role in Membership.objects.filter(
        organization_id=organization_id, user_id__in=list(user_ids), is_active=True,
        user__is_active=True, role__in=[r.value for r in CLINICAL_ROLES],
    ).values_list("user_id", "role"):
        roles.setdefault(user_id, set()).add(Role(role))
    return roles


def _plan_protocols(
    organization_id: int, episode: Episode | None
) -> tuple[rules.DosingWindow, Protocol | None, int | None]:
    """The protocol the session will run on decides how long the room and the
    monitoring clinician are held and the minimum interval between sessions: the
    clinic's version of the plan's protocol (``session_facts.protocol_in_use``, the one check-in
    attaches), else the shipped example the plan names or its route's example.
    Without a plan, the most demanding example. Returns the window, the protocol
    and the library version's number (None for an example)."""
    if episode is None:
        return rules.longest_example_window(), None, None
    snapshot = pathway.episode_snapshot(episode)
    version = session_facts.protocol_in_use(organization_id, snapshot.plan_protocol_id) if snapshot.plan_protocol_id else None
    if version is not None:
        return rules.dosing_window(version.protocol), version.protocol, version.version
    example = rules.protocol_for_plan(snapshot.plan_protocol_id, snapshot.plan_route)
    window = rules.dosing_window(example) if example is not None else rules.longest_example_window()
    return window, example, None


def _round_up(minutes: int, step: int = 15) -> int:
    return -(-minutes // step) * step


Errors = dict[str, list[str]]


def _add(errors: Errors, field: str, message: str) -> None:
    errors.setdefault(field, []).append(message)


def _check_start(start: datetime | None, allow_past: bool, odd_hour_confirmed: bool, errors: Errors) -> None:
    if start is None and "start" not in errors:
        _add(errors, "start", "Give the start date and time.")
    if start is not None and not allow_past and start < timezone.now():
        _add(errors, "start", "This time has passed: choose a start in the future.")
    if start is not None and start > timezone.now() + MAX_BOOKING_AHEAD:
        # 2099 typed for 2026, or a day and month swapped: no clinic books that far out.
        _add(errors, "start", f"{timezone.localtime(start):%a %b %-d, %Y} is more than 18 months ahead: check the year.")
    if start is not None and not allow_past and not odd_hour_confirmed:
        local = timezone.localtime(start).time()
        if not USUAL_HOURS[0] <= local < USUAL_HOURS[1]:
            _add(errors, "odd_hour", (
                f"{local:%H:%M} is outside usual clinic hours ({USUAL_HOURS[0]:%H:%M} to {USUAL_HOURS[1]:%H:%M}): "
                "check the time, or confirm that the appointment is at this hour."
            ))


def _place(by: Actor, site_id: int | None, room_id: int | None, is_dosing: bool,
           errors: Errors) -> tuple[Site | None, Room | None]:
    """The room (and its site), or a site alone; a dosing session needs a medicine session room."""
    room = None
    site = None
    if room_id is not None:
        room = (
            Room.objects.select_related("site")
            .filter(id=room_id, organization=by.organization, is_active=True, site__is_active=True)
            .first()
        )
        if room is None:
            _add(errors, "room", "Choose a room of your clinic.")
        else:
            site = room.site
            if site_id is not None and site_id != site.id:
                _add(errors, "room", f"{room.name} is at {site.name}, not at the site chosen.")
    if room is None and room_id is None:
        if site_id is None:
            _add(errors, "site", "Choose a site or a room.")
        else:
            site = Site.objects.filter(id=site_id, organization=by.organization, is_active=True).first()
            if site is None:
                _add(errors, "site", "Choose a site of your clinic.")
    if is_dosing and room_id is None:
        _add(errors, "room", "A dosing session needs a medicine session room.")
    elif is_dosing and room is not None and room.kind != Room.Kind.DOSING:
        _add(errors, "room", f"{room.name} is a {room.get_kind_display().lower()}: a dosing session needs a medicine session room.")
    return site, room


def _dosing_guard(
    by: Actor, episode: Episode | None, errors: Errors
) -> tuple[rules.DosingWindow | None, Protocol | None, int | None]:
    """The pathway's guard for a dosing booking, and the plan's protocol (its window and interval)."""
    if episode is None:
        _add(errors, "episode", "The patient has no open episode of care, so no dosing session can be booked.")
    else:
        for message in pathway.dosing_booking_unmet(episode):
            _add(errors, "episode", message)
    return _plan_protocols(by.organization.id, episode)


def _end(by: Actor, kind: str, start: datetime, end: datetime | None, usual_minutes: int | None,
         window: rules.DosingWindow | None, errors: Errors) -> datetime | None:
    """The given end, or the usual length (at least the protocol's window), within limits."""
    if end is None and "end" not in errors:
        minutes = usual_minutes or AppointmentType.objects.minutes_of(by.organization.id, kind)
        if window is not None:
            minutes = max(minutes, _round_up(window.total_minutes))
        end = start + timedelta(minutes=minutes)
    if end is not None:
        length = (end - start).total_seconds() / 60
        if length < MIN_MINUTES:
            _add(errors, "end", f"The appointment must end at least {MIN_MINUTES} minutes after it starts.")
        elif length > MAX_MINUTES:
            _add(errors, "end", f"An appointment lasts at most {MAX_MINUTES // 60} hours.")
        elif window is not None and length < window.total_minutes:
            _add(errors, "end", f"A dosing session needs at least {window.total_minutes} minutes: {window.explain()}.")
    return end


def _staff(by: Actor, specs: list[ParticipantSpec], is_dosing: bool, errors: Errors) -> list[tuple[User, str]]:
    """Clinicians of the clinic, one role each; a dosing session has a monitoring nurse or prescriber."""
    staff: list[tuple[User, str]] = []
    if not specs:
        _add(errors, "lead", "Book at least one member of staff.")
    elif len(specs) > MAX_PARTICIPANTS:
        _add(errors, "participants", f"Book at most {MAX_PARTICIPANTS} members of staff.")
    else:
        user_ids = [user_id for user_id, _ in specs]
        if len(set(user_ids)) != len(user_ids):
            _add(errors, "participants", "Each member of staff can take only one role in an appointment.")
        roles = _staff_roles(by.organization.id, user_ids)
        users = {u.id: u for u in User.objects.filter(id__in=list(roles))}
        for user_id, role in specs:
            if role not in Participant.Role.values:
                _add(errors, "participants", "Choose lead, monitor or support for each member of staff.")
            elif user_id not in users:
                _add(errors, role, "Choose a clinician (therapist, nurse or prescriber) of your clinic.")
            elif role == Participant.Role.MONITOR and not roles[user_id] & MONITOR_ROLES:
                _add(errors, role, f"{users[user_id].full_name} is not a nurse or prescriber: the monitoring clinician must be one.")
            else:
                staff.append((users[user_id], role))
    if is_dosing and not any(role == Participant.Role.MONITOR for _, role in specs):
        _add(errors, "monitor", "A dosing session needs a monitoring clinician (nurse or prescriber) for the whole session.")
    return staff


def _instructions(given: str, is_dosing: bool, episode: Episode | None, errors: Errors, language: str) -> str:
    instructions = (given or "").strip()
    if is_dosing and not instructions and episode is not None:
        # The fasting, medicines-to-hold and escort instructions of the preparation, in
        # the patient's language: the portal and the reminder email show them as stored.
        with translation.override(language or "en"):
            instructions = pathway.pre_session_instructions(episode).as_text()
    if len(instructions) > MAX_INSTRUCTIONS:
        _add(errors, "patient_instructions", f"Keep the instructions under {MAX_INSTRUCTIONS} characters.")
    return instructions


def _parse_booking(
    by: Actor,
    patient: Patient,
    *,
    kind: str,
    start: datetime | None,
    end: datetime | None,
    site_id: int | None,
    room_id: int | None,
    participants: Sequence[ParticipantSpec],
    patient_instructions: str,
    allow_past: bool,
    usual_minutes: int | None = None,
    odd_hour_confirmed: bool = False,
) -> BookingRequest:
    """Check every field and collect every problem, so one refusal lists them all.
    Without an end, the appointment lasts ``usual_minutes`` (a move keeps its length),
    else the type's usual length."""
    errors: Errors = {}
    if kind not in AppointmentKind.values:
        _add(errors, "kind", "Choose one of the appointment types.")
    is_dosing = kind == AppointmentKind.DOSING
    start = _aware(start, "start", errors)
    end = _aware(end, "end", errors)
    _check_start(start, allow_past, odd_hour_confirmed, errors)
    site, room = _place(by, site_id, room_id, is_dosing, errors)
    episode = pathway.current_episode(patient)
    window, interval_protocol, protocol_version = (
        _dosing_guard(by, episode, errors) if is_dosing else (None, None, None)
    )
    if start is not None and kind in AppointmentKind.values:
        end = _end(by, kind, start, end, usual_minutes, window, errors)
    specs = list(participants)
    staff = _staff(by, specs, is_dosing, errors)
    instructions = _instructions(patient_instructions, is_dosing, episode, errors, patient.preferred_language)
    if errors:
        raise ValidationError(errors)
    # Each was checked above: a missing one is an error already raised.
    assert start is not None
    assert end is not None
    assert site is not None
    return BookingRequest(
        patient=patient, episode=episode, kind=kind, start=start, end=end, site=site, room=room,
        participants=tuple(staff), instructions=instructions, dosing_window=window,
        interval_protocol=interval_protocol, protocol_version=protocol_version,
    )


def _lock_key(kind: str, object_id: int) -> int:
    digest = hashlib.blake2b(f"openkap.scheduling:{kind}:{object_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def _lock_resources(req: BookingRequest) -> None:
    """Serialise bookings that share a room, a member of staff or the patient.

    PostgreSQL: a transaction-scoped advisory lock per resource, taken in a fixed
    order so two bookings cannot deadlock. SQLite: every write transaction here is
    BEGIN IMMEDIATE (settings), so the database lock already serialises them.
    """
    if connection.vendor != "postgresql":
        return
    keys = {("patient", req.patient.id)} | {("user", user.id) for user, _ in req.participants}
    if req.room is not None:
        keys.add(("room", req.room.id))
    with connection.cursor() as cursor:
        for key in sorted(_lock_key(kind, object_id) for kind, object_id in keys):
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [key])


def patient_name_visible(by: Actor, patient_id: int) -> bool:
    """Whether the actor may see who an appointment is for (names are patient data)."""
    return bool(by.roles & ORGANIZATION_WIDE_ROLES) or is_on_care_team(user_id=by.user.id, patient_id=patient_id)


def describe(by: Actor, appointment: Appointment) -> str:
    start = timezone.localtime(appointment.start)
    end = timezone.localtime(appointment.end)
    who = (
        appointment.patient.display_name
        if patient_name_visible(by, appointment.patient_id)
        else "another patient"
    )
    return (
        f"{appointment.get_kind_display()} for {who}, {start:%a %d %b} {start:%H:%M}–{end:%H:%M} "
        f"(appointment #{appointment.id})"
    )


def _conflicts(by: Actor, req: BookingRequest, moving: Appointment | None = None) -> dict[str, list[str]]:
    busy = Appointment.objects.filter(start__lt=req.end, end__gt=req.start).exclude(
        status=Appointment.Status.CANCELLED
    )
    if moving is not None:
        busy = busy.exclude(pk=moving.pk)
    errors: dict[str, list[str]] = {}
    if req.room is not None:
        for other in busy.filter(room=req.room).select_related("patient").order_by("start"):
            errors.setdefault("room", []).append(f"{req.room.name} is already booked: {describe(by, other)}.")
    roles = {user.id: role for user, role in req.participants}
    taken = (
        Participant.objects.filter(appointment__in=busy, user_id__in=list(roles))
        .select_related("appointment__patient", "user")
        .order_by("appointment__start")
    )
    for p in taken:
        if p.appointment.organization_id == by.organization.id:
            what = describe(by, p.appointment)
        else:
            what = "an appointment with another organisation"
        errors.setdefault(roles[p.user_id], []).append(f"{p.user.full_name} is already booked: {what}.")
    for other in busy.filter(patient=req.patient).select_related("patient").order_by("start"):
        errors.setdefault("patient", []).append(
            f"{req.patient.display_name} already has an appointment then: {describe(by, other)}."
        )
    return errors


def _interval_problems(req: BookingRequest, exclude_session_id: int | None) -> list[str]:
    """The protocol's minimum days from the patient's previous dosing session on the
    route to this one, and from this one to the next. Booked sessions count as well as
    held ones; so does a session without a protocol yet, as at the dose order."""
    protocol = req.interval_protocol
    if protocol is None:
        return []
    day = timezone.localdate(req.start)
    days = session_facts.interval_days(req.patient, protocol.route.value, exclude_session_id=exclude_session_id)
    previous = max((d for d in days if d <= day), default=None)
    following = min((d for d in days if d > day), default=None)
    problems: list[str] = []
    if previous is not None:
        stops: list[Stop] = []
        check_interval(protocol, previous, day, stops)
        problems += [stop.message for stop in stops]
    if following is not None:
        stops = []
        check_interval(protocol, day, following, stops)
        if stops:
            gap = (following - day).days
            problems.append(
                f"Only {gap} day{'' if gap == 1 else 's'} before the next dosing session ({following.isoformat()}); "
                f"this protocol needs at least {protocol.min_interval_days} days."
            )
    return problems


def _problems(
    by: Actor, req: BookingRequest, *, moving: Appointment | None = None, session: DosingSession | None = None
) -> dict[str, list[str]]:
    """What stops the booking once its fields are sound: conflicts, and for a dosing
    session the protocol's interval (``session``: the booking's own, left out)."""
    errors = _conflicts(by, req, moving)
    if interval := _interval_problems(req, session.pk if session is not None else None):
        errors.setdefault("start", []).extend(interval)
    return errors


def _refused(
    by: Actor, exc: ValidationError, *, what: str, patient_id: int, glass: bool,
    appointment_id: int | None = None, **detail: Any,
) -> AuditedRefusal:
    """The refusal, to be audited after the rollback with every reason given."""
    errors = exc.message_dict if hasattr(exc, "error_dict") else {"__all__": exc.messages}
    return AuditedRefusal(errors, audit={
        "by": by, "action": AuditAction.REFUSED, "object_type": "appointment",
        "object_id": appointment_id if appointment_id is not None else "", "patient_id": patient_id,
        "break_glass": glass, "reason": " ".join(m for messages in errors.values() for m in messages),
        "detail": {"refused": what, "errors": errors, **detail},
    })


def _iso(value: object) -> str | None:
    return value.isoformat() if isinstance(value, datetime) else None


def _book(
    *,
    by: Actor,
    patient_id: int,
    kind: str,
    start: datetime | None,
    end: datetime | None = None,
    site_id: int | None = None,
    room_id: int | None = None,
    participants: Sequence[ParticipantSpec] = (),
    patient_instructions: str = "",
    allow_past: bool = False,
    odd_hour_confirmed: bool = False,
) -> Appointment:
    """``appointment_book`` with one more switch, ``allow_past``: a late entry of an
    appointment that has already begun (the demo clinic's history is recorded so).
    Every other check still applies, and the audit row says it was a late entry. The
    web forms and the API never set it: they book through ``appointment_book``."""
    require(by, Perm.APPOINTMENT_BOOK)
    with transaction.atomic():
        patient, glass = patient_for(by, patient_id, Perm.APPOINTMENT_BOOK)
        try:
            req = _parse_booking(
                by, patient, kind=kind, start=start, end=end, site_id=site_id, room_id=room_id,
                participants=participants, patient_instructions=patient_instructions, allow_past=allow_past,
                odd_hour_confirmed=odd_hour_confirmed,
            )
            _lock_resources(req)
            problems = _problems(by, req)
            if problems:
                raise ValidationError(problems)
        except ValidationError as exc:
            raise _refused(
                by, exc, what="booking", patient_id=patient.id, glass=glass, kind=kind, start=_iso(start),
                room_id=room_id, site_id=site_id,
            ) from exc
        appointment = Appointment.objects.create(
            organization=by.organization, patient=patient, episode=req.episode, kind=req.kind,
            site=req.site, room=req.room, start=req.start, end=req.end,
            patient_instructions=req.instructions, created_by=by.user,
        )
        Participant.objects.bulk_create(
            Participant(organization=by.organization, appointment=appointment, user=user, role=role)
            for user, role in req.participants
        )
        detail: dict[str, Any] = {
            "kind": req.kind, "start": req.start.isoformat(), "end": req.end.isoformat(),
            "room_id": req.room.id if req.room else None,
            "participants": [[user.id, role] for user, role in req.participants],
        }
        if req.start < appointment.created_at:
            detail["late_entry"] = True
        if req.kind == AppointmentKind.DOSING:
            # The guard passed, so the episode (and its protocol's window) exist.
            assert req.episode is not None
            assert req.dosing_window is not None
            session = dosing.session_book(
                by=by, patient=patient, episode=req.episode, site=req.site, room=req.room, start=req.start,
                appointment_id=appointment.id, break_glass=glass,
            )
            appointment.dosing_session = session
            appointment.save(update_fields=["dosing_session"])
            detail |= {
                "dosing_session_id": session.id, "protocol": req.dosing_window.protocol_id,
                "protocol_version": req.protocol_version,
            }
        audit_record(
            by=by, action=AuditAction.CREATE, object_type="appointment", object_id=appointment.id,
            patient_id=patient.id, break_glass=glass, detail=detail,
        )
        _remind_after_commit(appointment)
    return appointment


def _remind_after_commit(appointment: Appointment) -> None:
    """Queue the reminder for the appointment's time once the transaction commits."""
    if appointment.start > timezone.now():
        from openkap.scheduling.tasks import enqueue_reminder

        appointment_id, appointment_start = appointment.id, appointment.start
        transaction.on_commit(lambda: enqueue_reminder(appointment_id, appointment_start), robust=True)


def appointment_book(
    *,
    by: Actor,
    patient_id: int,
    kind: str,
    start: datetime | None,
    end: datetime | None = None,
    site_id: int | None = None,
    room_id: int | None = None,
    participants: Sequence[ParticipantSpec] = (),
    patient_instructions: str = "",
    odd_hour_confirmed: bool = False,
) -> Appointment:
    """Book an appointment: the room, every member of staff and the patient must be
    free for the whole time; a dosing session also needs every pathway guard met, a
    medicine room and a monitoring clinician for the protocol's whole monitoring
    time, and creates its DosingSession in the same transaction."""
    return _book(
        by=by, patient_id=patient_id, kind=kind, start=start, end=end, site_id=site_id,
        room_id=room_id, participants=participants, patient_instructions=patient_instructions,
        odd_hour_confirmed=odd_hour_confirmed,
    )


@dataclass(frozen=True)
class BookingCheck:
    bookable: bool
    end: datetime | None
    problems: dict[str, list[str]]
    dosing_window: rules.DosingWindow | None


def appointment_check(
    *,
    by: Actor,
    patient_id: int,
    kind: str,
    start: datetime | None,
    end: datetime | None = None,
    site_id: int | None = None,
    room_id: int | None = None,
    participants: Sequence[ParticipantSpec] = (),
    patient_instructions: str = "",
    odd_hour_confirmed: bool = False,
) -> BookingCheck:
    """Would this booking go through now? The same checks as booking; writes nothing."""
    require(by, Perm.APPOINTMENT_BOOK)
    patient, glass = patient_for(by, patient_id, Perm.APPOINTMENT_BOOK)
    # The answer tells where the patient's pathway stands: a read of patient data.
    audit_record(
        by=by, action=AuditAction.VIEW, object_type="booking_check", object_id=patient.id,
        patient_id=patient.id, break_glass=glass, detail={"kind": kind},
    )
    try:
        req = _parse_booking(
            by, patient, kind=kind, start=start, end=end, site_id=site_id, room_id=room_id,
            participants=participants, patient_instructions=patient_instructions, allow_past=False,
            odd_hour_confirmed=odd_hour_confirmed,
        )
    except ValidationError as exc:
        return BookingCheck(False, None, exc.message_dict, None)
    problems = _problems(by, req)
    return BookingCheck(not problems, req.end, problems, req.dosing_window)
