"""Reads of scheduling. Patient data (who, instructions) is checked and audited here."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from urllib.parse import urlencode

from django.core.paginator import Page, Paginator
from django.db.models import (
    Count,
    F,
    OuterRef,
    Prefetch,
    Q,
    QuerySet,
    Subquery,
    prefetch_related_objects,
)
from django.db.models.functions import Coalesce
from django.http import Http404
from django.utils import timezone
from django.utils.functional import cached_property

from openkap.accounts.authz import Actor, require
from openkap.accounts.models import Membership, Room, Site, User
from openkap.addresses import around_id
from openkap.audit.models import AuditAction
from openkap.audit.services import audit_record
from openkap.compiled import CompiledRead, CompiledRows
from openkap.core.authz import CLINICAL_ROLES, ORGANIZATION_WIDE_ROLES, Perm
from openkap.patients.models import CareTeamMember, Patient
from openkap.patients.selectors import patient_for
from openkap.scheduling.models import (
    DEFAULT_MINUTES,
    Appointment,
    AppointmentKind,
    AppointmentMove,
    AppointmentType,
    CalendarFeed,
    Participant,
)
from openkap.scheduling.services import LATE_CANCELLATION

SLOT_MINUTES = 15
DAY_FROM = time(7, 0)
DAY_TO = time(20, 0)


# --- appointment types ---------------------------------------------------------------


@dataclass(frozen=True)
class TypeRow:
    kind: str
    label: str
    default_minutes: int
    customised: bool


def appointment_types(*, by: Actor) -> list[TypeRow]:
    require(by, Perm.SCHEDULE_VIEW)
    rows = {r.kind: r.default_minutes for r in AppointmentType.objects.filter(organization=by.organization)}
    return [
        # The label in the reader's language, as text (the API's schema wants a string).
        TypeRow(kind, str(label), rows.get(kind, DEFAULT_MINUTES[kind]), kind in rows)
        for kind, label in AppointmentKind.choices
    ]


# --- who may see whom -------------------------------------------------------------------


def visible_patient_ids(by: Actor, patient_ids: set[int]) -> set[int]:
    """Of these patients, the ones whose names the actor may see: all of them for
    admins and nurses, the care team's for other clinicians."""
    if not patient_ids:
        return set()
    if by.roles & ORGANIZATION_WIDE_ROLES and by.can(Perm.PATIENT_VIEW):
        return set(patient_ids)
    if not by.can(Perm.PATIENT_VIEW):
        return set()
    return set(
        CareTeamMember.objects.filter(
            user=by.user, patient_id__in=patient_ids, ended_at__isnull=True
        ).values_list("patient_id", flat=True)
    )


def _audit_seen(by: Actor, what: str, seen: set[int], detail: dict[str, object]) -> None:
    audit_record(
        by=by, action=AuditAction.VIEW, object_type=what,
        detail=detail | {"patient_ids": sorted(seen)},
    )


# The calendar's reads, each page the same few: compiled once (ADR 0096, 0118).
_CLINICAL_MEMBERSHIPS = CompiledRead(Membership, lambda organization_id: Membership.objects.filter(
    organization_id=organization_id, is_active=True, user__is_active=True,
    role__in=sorted(r.value for r in CLINICAL_ROLES),
).select_related("user").order_by("user__full_name", "role"), "organization_id")
_CALENDAR_SITES = CompiledRead(Site, lambda organization_id: Site.objects.filter(
    organization_id=organization_id, is_active=True).order_by("name"), "organization_id")
_CALENDAR_ROOMS = CompiledRead(Room, lambda organization_id, site_id: Room.objects.filter(
    organization_id=organization_id, site_id=site_id, is_active=True).order_by("kind", "name"),
    "organization_id", "site_id")
_FIRST_OF_THE_DAY = CompiledRead(Appointment, lambda organization_id, user_id, start, end: Appointment.objects.filter(
    organization_id=organization_id, participants__user_id=user_id, start__gte=start, start__lt=end,
    site__is_active=True,
).exclude(status=Appointment.Status.CANCELLED).select_related("site").order_by("start")[:1],
    "organization_id", "user_id", datetimes=("start", "end"))


def _calendar_appointments(organization_id: int, start: datetime, end: datetime) -> QuerySet[Appointment]:
    return (
        Appointment.objects.filter(organization_id=organization_id, start__lt=end, end__gt=start)
        .exclude(status=Appointment.Status.CANCELLED)
        .select_related("patient", "room", "site")
        .order_by("start")
    )


_SITE_DAY = CompiledRead(Appointment, lambda organization_id, site_id, start, end: _calendar_appointments(
    organization_id, start, end).filter(site_id=site_id), "organization_id", "site_id", datetimes=("start", "end"))
# Who is booked for each appointment, by appointment then as booked (the prefetch this
# replaces read them in that order: the index on the appointment, then the row id).
_PARTICIPANTS = CompiledRead(Participant, lambda appointment_ids: Participant.objects.filter(
    appointment_id__in=appointment_ids).select_related("user").order_by("appointment_id", "id"),
    lists=("appointment_ids",))


def clinical_staff(organization_id: int) -> list[tuple[User, list[str]]]:
    """Therapists, nurses and prescribers of the organisation, with their roles."""
    staff: dict[int, tuple[User, list[str]]] = {}
    for m in _CLINICAL_MEMBERSHIPS.read(organization_id=organization_id):
        staff.setdefault(m.user_id, (m.user, []))[1].append(m.role)
    return list(staff.values())


# --- the calendar ---------------------------------------------------------------------


@dataclass
class Column:
    key: str
    label: str
    sub: str = ""
    book_query: str = ""


@dataclass
class Block:
    appointment: Appointment
    column: int
    row_start: int
    row_end: int
    title: str
    visible: bool
    staff: str
    room: str
    # What the block writes, made once here: the template's `time` filter and
    # get_*_display cost most of the grid (ADR 0118).
    starts: str = ""  # "HH:MM", local time
    ends: str = ""
    kind_label: str = ""
    status_label: str = ""  # empty for a booked appointment
    href: str = ""  # the appointment's page, where the patient's name shows

    @property
    def style(self) -> str:
        return f"grid-column: {self.column}; grid-row: {self.row_start} / {self.row_end}"

    @property
    def short(self) -> bool:
        return self.row_end - self.row_start <= 2  # half an hour or less: one line


@dataclass
class Calendar:
    view: str  # "day" or "week"
    mode: str  # "rooms" or "people" (day view)
    anchor: date
    days: list[date]
    site: Site | None
    sites: list[Site]
    columns: list[Column]
    blocks: list[Block]
    hours: list[tuple[str, str]]  # (grid style, label)
    slots: list[tuple[str, str, str]]  # (grid style, booking query, label) per half hour
    rows: int
    resource: str
    resources: list[tuple[str, str]] = field(default_factory=list)

    def _link(self, day: date) -> str:
        params = {"date": day.isoformat(), "view": self.view, "mode": self.mode, "resource": self.resource}
        if self.site is not None:
            params["site"] = str(self.site.id)
        return "?" + urlencode({k: v for k, v in params.items() if v})

    @property
    def previous_link(self) -> str:
        return self._link(self.anchor - timedelta(days=7 if self.view == "week" else 1))

    @property
    def next_link(self) -> str:
        return self._link(self.anchor + timedelta(days=7 if self.view == "week" else 1))

    @property
    def today_link(self) -> str:
        return self._link(timezone.localdate())

    @property
    def title(self) -> str:
        if self.view == "week":
            whose = dict(self.resources).get(self.resource, "")
            if self.resource.startswith("room:") and self.site is not None:
                whose = f"{self.site.name} · {whose}"
            return f"Week of {self.days[0]:%a %d %b %Y}" + (f" · {whose}" if whose else "")
        return f"{self.anchor:%A %d %B %Y}" + (f" · {self.site.name}" if self.site else "")


def _slot_start(days: list[date], column: int, view: str, minute: int) -> str:
    day = days[column] if view == "week" else days[0]
    return f"{day.isoformat()}T{minute // 60:02d}:{minute % 60:02d}"


def _local_start(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, time(0, 0)))


def _minute_of_day(moment: datetime, day: date) -> int:
    local = timezone.localtime(moment)
    if local.date() < day:
        return 0
    if local.date() > day:
        return 24 * 60
    return local.hour * 60 + local.minute


def _where_the_actor_works(by: Actor, day: date) -> Site | None:
    """The site of the actor's first appointment that day: where a clinician wants to look."""
    start = _local_start(day)
    first = _FIRST_OF_THE_DAY.first(organization_id=by.organization.id, user_id=by.user.id, start=start,
                                    end=start + timedelta(days=1))
    return first.site if first else None


def _calendar_site(by: Actor, anchor: date, sites: list[Site], site_id: int | None, mode: str,
                   view: str) -> Site | None:
    """The site asked for; else, where a room grid or a week needs one, where the actor works."""
    site = next((s for s in sites if s.id == site_id), None)
    if site is None and site_id is None and (mode == "rooms" or view == "week") and sites:
        site = _where_the_actor_works(by, anchor) or sites[0]
    elif site is None and (mode == "rooms" or view == "week") and sites:
        site = sites[0]
    return site


Placements = list[tuple[Appointment, int]]
People = dict[int, list[Participant]]  # each appointment's participants, with their users


def _people_of(appointments: list[Appointment]) -> People:
    people: People = {a.id: [] for a in appointments}
    if appointments:
        for p in _PARTICIPANTS.read(appointment_ids=list(people)):
            people[p.appointment_id].append(p)
    return people


def _day_columns(appointments: list[Appointment], people: People, site: Site | None, mode: str, rooms: list[Room],
                 staff: list[tuple[User, list[str]]]) -> tuple[list[Column], Placements]:
    """A day: one column per room of the site (and one for appointments without a room),
    or one per clinician."""
    placements: Placements = []
    if mode == "rooms":
        index = {r.id: i for i, r in enumerate(rooms)}
        columns = [Column(f"room:{r.id}", r.name, r.get_kind_display(), f"room={r.id}") for r in rooms]
        if any(a.room_id is None for a in appointments) and site is not None:
            columns.append(Column("none", "No room", "video or phone", f"site={site.id}"))
        for a in appointments:
            col = index.get(a.room_id) if a.room_id else len(columns) - 1
            if col is not None:
                placements.append((a, col))
        return columns, placements
    index = {u.id: i for i, (u, _) in enumerate(staff)}
    columns = [Column(f"user:{u.id}", u.full_name, ", ".join(roles), f"lead={u.id}") for u, roles in staff]
    for a in appointments:
        for p in people[a.id]:
            if p.user_id in index:
                placements.append((a, index[p.user_id]))
    return columns, placements


def _week_columns(by: Actor, qs: QuerySet[Appointment], days: list[date], rooms: list[Room],
                  resource: str) -> tuple[list[Appointment], list[Column], Placements, str]:
    """A week of one room or one clinician (the actor, if a clinician), a column a day."""
    kind, _, raw_id = resource.partition(":")
    if kind not in {"room", "user"} or not raw_id.isdigit():
        is_clinician = bool(by.roles & CLINICAL_ROLES)
        resource = f"user:{by.user.id}" if is_clinician else (f"room:{rooms[0].id}" if rooms else "")
        kind, _, raw_id = resource.partition(":")
    object_id = int(raw_id) if raw_id.isdigit() and len(raw_id) < 19 else 0
    qs = qs.filter(room_id=object_id) if kind == "room" else qs.filter(participants__user_id=object_id)
    book = f"room={object_id}" if kind == "room" else f"lead={object_id}"
    columns = [Column(d.isoformat(), f"{d:%a %d %b}", "", book) for d in days]
    placements: Placements = []
    appointments = list(qs)
    for a in appointments:
        for i, d in enumerate(days):
            if _minute_of_day(a.start, d) < 24 * 60 and _minute_of_day(a.end, d) > 0:
                placements.append((a, i))
    return appointments, columns, placements, resource


def _grid(days: list[date], view: str, columns: list[Column],
          placements: Placements) -> tuple[int, int, list[tuple[str, str]], list[tuple[str, str, str]]]:
    """The hours shown (the working day, widened to every appointment), their labels and
    the empty half-hour slots that book. Grid positions are ready-made style strings: a
    template would localise every number."""
    first = DAY_FROM.hour * 60
    last = DAY_TO.hour * 60
    for a, col in placements:
        d = days[col] if view == "week" else days[0]
        first = min(first, _minute_of_day(a.start, d) // 60 * 60)
        last = max(last, -(-_minute_of_day(a.end, d) // 60) * 60)
    hours = [
        (f"grid-row: {2 + (m - first) // SLOT_MINUTES} / span 4", f"{m // 60:02d}:00")
        for m in range(first, last, 60)
    ]
    slots = [
        (f"grid-column: {i + 2}; grid-row: {2 + (m - first) // SLOT_MINUTES} / span 2",
         f"{column.book_query}&start={_slot_start(days, i, view, m)}",
         f"{column.label} {m // 60:02d}:{m % 60:02d}")
        for i, column in enumerate(columns)
        for m in range(first, last, 30)
    ]
    return first, last, hours, slots


def _blocks(placements: Placements, people: People, days: list[date], view: str, first: int, last: int,
            seen: set[int]) -> list[Block]:
    """Each appointment placed on the grid; the patient's name only where the actor may see it."""
    blocks = []
    # A label is a translation looked up per call: once per kind and status a page.
    kinds: dict[str, str] = {}
    statuses: dict[str, str] = {Appointment.Status.BOOKED: ""}
    # The appointment page's address reversed once a page, not once a block.
    before, after = around_id("scheduling:appointment")
    for a, col in placements:
        d = days[col] if view == "week" else days[0]
        top = max(_minute_of_day(a.start, d), first)
        bottom = min(_minute_of_day(a.end, d), last)
        visible = a.patient_id in seen
        blocks.append(Block(
            appointment=a,
            column=col + 2,  # grid column 1 holds the hour labels
            row_start=2 + (top - first) // SLOT_MINUTES,  # grid row 1 holds the headers
            row_end=2 + max(-(-(bottom - first) // SLOT_MINUTES), (top - first) // SLOT_MINUTES + 1),
            title=a.patient.display_name if visible else "Booked",
            visible=visible,
            staff=", ".join(p.user.full_name for p in people[a.id]),
            room=a.room.name if a.room else "No room",
            starts=f"{timezone.localtime(a.start):%H:%M}",
            ends=f"{timezone.localtime(a.end):%H:%M}",
            kind_label=kinds[a.kind] if a.kind in kinds else kinds.setdefault(a.kind, a.get_kind_display()),
            status_label=(statuses[a.status] if a.status in statuses
                          else statuses.setdefault(a.status, a.get_status_display())),
            href=f"{before}{a.id}{after}" if visible else "",
        ))
    return blocks


def calendar(
    *,
    by: Actor,
    anchor: date,
    view: str = "day",
    site_id: int | None = None,
    mode: str = "rooms",
    resource: str = "",
) -> Calendar:
    """Day view: one column per room of a site, or per clinician. Week view: one
    column per day, for one room or one clinician. Names only where the actor may
    see the patient; the read is audited with the patients whose names it showed."""
    require(by, Perm.SCHEDULE_VIEW)
    view = view if view in {"day", "week"} else "day"
    mode = mode if mode in {"rooms", "people"} else "rooms"
    organization_id = by.organization.id
    sites = _CALENDAR_SITES.read(organization_id=organization_id)
    site = _calendar_site(by, anchor, sites, site_id, mode, view)
    if view == "week":
        days = [anchor - timedelta(days=anchor.weekday()) + timedelta(days=i) for i in range(7)]
    else:
        days = [anchor]
    start, end = _local_start(days[0]), _local_start(days[-1] + timedelta(days=1))
    rooms = _CALENDAR_ROOMS.read(organization_id=organization_id, site_id=site.id) if site else []
    staff = clinical_staff(organization_id)
    resources = [(f"room:{r.id}", f"{r.name}") for r in rooms] + [
        (f"user:{u.id}", u.full_name) for u, _ in staff
    ]
    if view == "day":
        appointments = (_SITE_DAY.read(organization_id=organization_id, site_id=site.id, start=start, end=end)
                        if site is not None else list(_calendar_appointments(organization_id, start, end)))
        people = _people_of(appointments)
        columns, placements = _day_columns(appointments, people, site, mode, rooms, staff)
    else:
        appointments, columns, placements, resource = _week_columns(
            by, _calendar_appointments(organization_id, start, end), days, rooms, resource)
        people = _people_of(appointments)
    first, last, hours, slots = _grid(days, view, columns, placements)
    seen = visible_patient_ids(by, {a.patient_id for a, _ in placements})
    blocks = _blocks(placements, people, days, view, first, last, seen)
    _audit_seen(by, "calendar", seen, {"view": view, "from": days[0].isoformat(), "site_id": site.id if site else None})
    return Calendar(
        view=view, mode=mode, anchor=anchor, days=days, site=site, sites=sites, columns=columns,
        blocks=blocks, hours=hours, slots=slots, rows=(last - first) // SLOT_MINUTES, resource=resource,
        resources=resources,
    )


# --- lists -------------------------------------------------------------------------------


def appointments_between(
    *,
    by: Actor,
    start: datetime,
    end: datetime,
    site_id: int | None = None,
    room_id: int | None = None,
    user_id: int | None = None,
) -> tuple[list[Appointment], set[int]]:
    """The organisation's appointments in a window (cancelled ones too, for the
    record), and the patients whose names the actor may see; audited."""
    require(by, Perm.SCHEDULE_VIEW)
    qs = Appointment.objects.filter(organization=by.organization, start__lt=end, end__gt=start)
    if site_id is not None:
        qs = qs.filter(site_id=site_id)
    if room_id is not None:
        qs = qs.filter(room_id=room_id)
    if user_id is not None:
        qs = qs.filter(participants__user_id=user_id)
    items = list(
        qs.select_related("patient", "room", "site").prefetch_related("participants__user").order_by("start", "id")[:1000]
    )
    seen = visible_patient_ids(by, {a.patient_id for a in items})
    _audit_seen(by, "appointment_list", seen, {"from": start.isoformat(), "to": end.isoformat()})
    return items, seen


@dataclass(frozen=True)
class Attendance:
    no_shows: int
    cancellations: int
    late_cancellations: int
    completed: int

    @property
    def flagged(self) -> bool:
        return bool(self.no_shows or self.late_cancellations)


def _count_of_patient(condition: Q) -> Coalesce:
    return Coalesce(Subquery(
        Appointment.objects.filter(condition, patient=OuterRef("pk")).order_by().values("patient")
        .annotate(n=Count("id")).values("n")
    ), 0)


# What the chart's tab strip shows (the Appointments tab's badges), as expressions over the
# patient row: the chart reads them with the patient (patients.selectors.CHART_FACTS).
NO_SHOW = Q(status=Appointment.Status.NO_SHOW)
LATE_CANCELLED = Q(status=Appointment.Status.CANCELLED, cancelled_by_patient=True,
                   status_changed_at__gt=F("start") - LATE_CANCELLATION)


def no_shows_of_patient() -> Coalesce:
    return _count_of_patient(NO_SHOW)


def late_cancellations_of_patient() -> Coalesce:
    return _count_of_patient(LATE_CANCELLED)


_ATTENDANCE = {
    "no_shows": Count("id", filter=NO_SHOW),
    "cancellations": Count("id", filter=Q(status=Appointment.Status.CANCELLED)),
    "late": Count("id", filter=LATE_CANCELLED),
    "completed": Count("id", filter=Q(status=Appointment.Status.COMPLETED)),
}


def attendance(patient_id: int) -> Attendance:
    """No-show and cancellation counts of a patient (callers have checked access)."""
    counts = Appointment.objects.filter(patient_id=patient_id).aggregate(**_ATTENDANCE)
    return Attendance(counts["no_shows"], counts["cancellations"], counts["late"], counts["completed"])


# Past and cancelled appointments a page (the first page is what the tab always showed).
PAST_PER_PAGE = 50


@dataclass(frozen=True)
class PatientAppointments:
    patient: Patient
    upcoming: list[Appointment]
    past: Page[Appointment]
    attendance: Attendance
    via_break_glass: bool


def _with_people(qs: QuerySet[Appointment]) -> QuerySet[Appointment]:
    return qs.select_related("site", "room", "dosing_session").prefetch_related("participants__user")


def _of_patient(organization_id: int, patient_id: int) -> QuerySet[Appointment]:
    return Appointment.objects.filter(organization_id=organization_id, patient_id=patient_id).select_related(
        "site", "room", "dosing_session"
    )


def _past(organization_id: int, patient_id: int, now: datetime) -> QuerySet[Appointment]:
    # -id last: appointments at the same start keep their place from page to page.
    return _of_patient(organization_id, patient_id).filter(end__lt=now).order_by("-start", "-id")


# The tab's reads, compiled once (ADR 0096): it shows the same few for every patient.
_UPCOMING = CompiledRead(Appointment, lambda organization_id, patient_id, now: _of_patient(
    organization_id, patient_id).filter(end__gte=now).order_by("start"), "organization_id", "patient_id",
    datetimes=("now",))
_PAST_FIRST_PAGE = CompiledRead(Appointment, lambda organization_id, patient_id, now: _past(
    organization_id, patient_id, now)[:PAST_PER_PAGE], "organization_id", "patient_id", datetimes=("now",))
# The attendance counts and the past list's length (the pager's count) in one read.
_COUNTS = CompiledRows(Appointment, lambda organization_id, patient_id, now: Appointment.objects.filter(
    patient_id=patient_id).values_list("patient_id").annotate(
    **_ATTENDANCE, past=Count("id", filter=Q(organization_id=organization_id, end__lt=now))),
    "organization_id", "patient_id", datetimes=("now",))


class _Counted(Paginator):
    """A pager whose length was read with the attendance counts."""

    def __init__(self, object_list: QuerySet[Appointment], per_page: int, count: int):
        super().__init__(object_list, per_page)
        self.known_count = count

    @cached_property
    def count(self) -> int:
        return self.known_count


def patient_appointments(*, by: Actor, patient_id: int, past_page: int = 1) -> PatientAppointments:
    """Every upcoming appointment, and the past and cancelled ones newest first a page at a
    time (a page past the last is the last, as in the other paged lists)."""
    # With the chart header's facts: the tab shows the header (banner, tab strip).
    patient, glass = patient_for(by, patient_id, Perm.PATIENT_VIEW, chart_facts=True)
    now = timezone.now()
    ids = {"organization_id": by.organization.id, "patient_id": patient.id}
    upcoming = _UPCOMING.read(**ids, now=now)
    # (patient, no-shows, cancellations, late, completed, past); no row: none at all.
    _patient, *attended, past_count = next(iter(_COUNTS.read(**ids, now=now)), (patient.id, 0, 0, 0, 0, 0))
    past = _Counted(_past(**ids, now=now), PAST_PER_PAGE, past_count).get_page(past_page)
    # The first page (what the tab opens on) compiled; a later one as the pager slices it.
    if not past_count:
        past.object_list = []
    elif past.number == 1:
        past.object_list = _PAST_FIRST_PAGE.read(**ids, now=now)
    else:
        past.object_list = list(past.object_list)
    # Both lists' people in one read, and the patient they all belong to without one per row.
    prefetch_related_objects([*upcoming, *past], "participants__user")
    for appointment in (*upcoming, *past):
        appointment.patient = patient
    audit_record(
        by=by, action=AuditAction.VIEW, object_type="appointments", object_id=patient.id,
        patient_id=patient.id, break_glass=glass, detail={"past_page": past.number} if past.number > 1 else None,
    )
    return PatientAppointments(patient, upcoming, past, Attendance(*attended), glass)


def appointment_get(*, by: Actor, appointment_id: int) -> Appointment:
    """One appointment with who it is for: 404 outside the organisation, 403 when the
    actor may not see the patient."""
    require(by, Perm.SCHEDULE_VIEW)
    appointment = (
        _with_people(Appointment.objects.filter(id=appointment_id, organization=by.organization))
        .select_related("patient", "status_changed_by", "created_by")
        .prefetch_related(
            Prefetch("moves", AppointmentMove.objects.select_related("moved_by", "from_room", "to_room", "from_site", "to_site"))
        )
        .first()
    )
    if appointment is None:
        raise Http404("No such appointment in your organisation.")
    _, glass = patient_for(by, appointment.patient_id, Perm.PATIENT_VIEW)
    audit_record(
        by=by, action=AuditAction.VIEW, object_type="appointment", object_id=appointment.id,
        patient_id=appointment.patient_id, break_glass=glass,
    )
    return appointment


def _portal_upcoming(organization_id: int, patient_id: int, now: datetime) -> QuerySet[Appointment]:
    return Appointment.objects.filter(
        organization_id=organization_id, patient_id=patient_id, status=Appointment.Status.BOOKED, end__gte=now,
    ).select_related("site", "room").order_by("start")


PORTAL_CARD_LENGTH = 3
# The portal home's card, on every visit of every patient (ADR 0118).
_PORTAL_NEXT = CompiledRead(Appointment, lambda organization_id, patient_id, now: _portal_upcoming(
    organization_id, patient_id, now)[:PORTAL_CARD_LENGTH], "organization_id", "patient_id", datetimes=("now",))


def portal_upcoming(*, by: Actor, patient: Patient, limit: int = 20) -> list[Appointment]:
    """The patient's own upcoming appointments with their instructions and who they are
    with (audited)."""
    _portal_own(by, patient)
    items = list(_portal_upcoming(by.organization.id, patient.id, timezone.now())
                 .prefetch_related("participants__user")[:limit])
    _audit_portal(by, patient)
    return items


def portal_next(*, by: Actor, patient: Patient) -> list[Appointment]:
    """The home page's card: the patient's next appointments, without who they are with
    (audited as ``portal_upcoming``)."""
    _portal_own(by, patient)
    items = _PORTAL_NEXT.read(organization_id=by.organization.id, patient_id=patient.id, now=timezone.now())
    _audit_portal(by, patient)
    return items


def _portal_own(by: Actor, patient: Patient) -> None:
    if patient.user_id != by.user.id or patient.organization_id != by.organization.id:
        raise Http404("No such patient.")


def _audit_portal(by: Actor, patient: Patient) -> None:
    audit_record(
        by=by, action=AuditAction.VIEW, object_type="appointments", object_id=patient.id,
        patient_id=patient.id, detail={"portal": True},
    )


# --- calendar feeds ----------------------------------------------------------------------

FEED_PAST = timedelta(days=30)
FEED_FUTURE = timedelta(days=365)


def feed_appointments(feed: CalendarFeed) -> list[Appointment]:
    """What a feed shows: its owner's appointments from a month back to a year ahead."""
    now = timezone.now()
    qs = Appointment.objects.filter(
        organization=feed.organization, start__gte=now - FEED_PAST, start__lte=now + FEED_FUTURE
    )
    if feed.patient_id is not None:
        qs = qs.filter(patient_id=feed.patient_id)
    elif feed.user_id is not None:
        qs = qs.filter(participants__user_id=feed.user_id)
    else:  # a feed is a patient's or a staff member's (a check constraint); never both empty
        return []
    return list(qs.select_related("site", "room").order_by("start")[:2000])
