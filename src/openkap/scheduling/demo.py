"""Demo schedule: this week and next at both sites, booked through the services.

The therapist and the nurse work in Brooklyn on Monday, Wednesday and Friday
and in the Hudson Valley on Tuesday and Thursday; the prescriber holds
screenings and medical reviews at the same site. Patients get appointments
that fit where their episode is (screening, medical review, preparation,
integration, follow-up); upcoming dosing sessions are booked only for episodes
whose booking guard passes, exactly as a clinician would have to. Past
appointments are completed, with one no-show and one late cancellation so
the attendance tracking has something to show. Idempotent: nothing is added
once the current week has appointments other than dosing sessions.

Every dosing session of the demo, past, today's or upcoming, is booked through
the booking service, which creates its session record: ``book_dosing`` is what
the measures and dosing demos use for theirs (the held series and this week's
sessions, and today's at Brooklyn, which are theirs alone).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from django.core.exceptions import ValidationError
from django.utils import timezone

from openkap.accounts.authz import Actor, build_actor
from openkap.accounts.models import Room, Site, User
from openkap.core.authz import Role
from openkap.core.pathway.episode import State
from openkap.demo import DemoContext
from openkap.dosing.models import DosingSession
from openkap.pathway import selectors as pathway
from openkap.pathway.models import Episode
from openkap.patients.models import Patient
from openkap.scheduling import services
from openkap.scheduling.models import Appointment, AppointmentKind, AppointmentType, Participant

INSTRUCTIONS = {
    AppointmentKind.SCREENING: (
        "Please bring a list of your current medicines (with doses) and any recent blood pressure "
        "readings. Fill in the questionnaires in the portal before you come."
    ),
    AppointmentKind.PREPARATION: (
        "Bring your notebook and any questions about the medicine session. We will write down "
        "your intentions and your coping and safety plan together."
    ),
    AppointmentKind.INTEGRATION: (
        "Bring your journal notes from the medicine session, if you made any. Wear something comfortable."
    ),
    AppointmentKind.FOLLOW_UP: "",
    AppointmentKind.MEDICAL_REVIEW: "Please take your blood pressure at home the morning before, if you can.",
}

# What an open episode needs next, by its state.
KIND_FOR_STATE = {
    State.INTAKE: AppointmentKind.SCREENING,
    State.SCREENING: AppointmentKind.SCREENING,
    State.ELIGIBILITY: AppointmentKind.MEDICAL_REVIEW,
    State.PLANNED: AppointmentKind.PREPARATION,
    State.PREPARATION: AppointmentKind.PREPARATION,
    State.ACTIVE: AppointmentKind.INTEGRATION,
    State.REASSESSMENT: AppointmentKind.MEDICAL_REVIEW,
    State.MAINTENANCE: AppointmentKind.FOLLOW_UP,
}


@dataclass(frozen=True)
class Slot:
    at: time
    minutes: int
    kind: str
    lead: Role
    room: str  # room name at the day's site; "" for video or phone
    support: Role | None = None


# One clinic day. The nurse monitors a dosing session in the morning and one in the
# afternoon, when the therapist sits with the patient.
DAY = (
    Slot(time(9, 0), 60, AppointmentKind.PREPARATION, Role.THERAPIST, "Therapy room A"),
    Slot(time(9, 0), 90, AppointmentKind.SCREENING, Role.PRESCRIBER, "Therapy room B"),
    Slot(time(8, 30), 150, AppointmentKind.DOSING, Role.NURSE, "Medicine room 3"),
    Slot(time(10, 30), 60, AppointmentKind.INTEGRATION, Role.THERAPIST, "Therapy room A"),
    Slot(time(11, 0), 30, AppointmentKind.MEDICAL_REVIEW, Role.PRESCRIBER, "Therapy room B"),
    Slot(time(11, 45), 30, AppointmentKind.FOLLOW_UP, Role.PRESCRIBER, ""),
    Slot(time(13, 0), 180, AppointmentKind.DOSING, Role.NURSE, "Medicine room 2", Role.THERAPIST),
    Slot(time(13, 30), 90, AppointmentKind.SCREENING, Role.PRESCRIBER, "Therapy room B"),
    Slot(time(16, 30), 60, AppointmentKind.INTEGRATION, Role.THERAPIST, ""),
    Slot(time(15, 30), 30, AppointmentKind.FOLLOW_UP, Role.PRESCRIBER, "Therapy room B"),
)
WEEKDAY_SITE = {0: 0, 1: 1, 2: 0, 3: 1, 4: 0}  # Monday..Friday -> index in context.sites
# Dosing sessions start on the hour or the half hour between these.
FIRST_DOSING, LAST_DOSING = time(7, 0), time(18, 0)


def half_hours(day: date, first: time = FIRST_DOSING, last: time = LAST_DOSING) -> list[datetime]:
    """The round times from ``first`` to ``last`` on ``day``, in the clinic's zone, earliest first."""
    times = []
    moment = datetime.combine(day, first)
    while moment.time() <= last and moment.date() == day:
        times.append(timezone.make_aware(moment))
        moment += timedelta(minutes=30)
    return times


def book_dosing(front_desk: Actor, patient: Patient, starts: Iterable[datetime], *, site: Site,
                monitors: Sequence[User]) -> Appointment:
    """Book a dosing session through the booking service at the first of ``starts``
    when a medicine room of ``site``, one of ``monitors`` and the patient are free;
    one that has begun is booked as a late entry. The service creates the session
    record and checks the pathway's guard and the protocol's interval. Raises the
    last refusal when no start fits."""
    rooms = list(Room.objects.filter(site=site, kind=Room.Kind.DOSING, is_active=True).order_by("name"))
    usual = timedelta(minutes=AppointmentType.objects.minutes_of(front_desk.organization.id, AppointmentKind.DOSING))
    refusal = ValidationError("No medicine room and monitoring clinician are free at the times offered.")
    for start in starts:
        busy = Appointment.objects.filter(start__lt=start + usual, end__gt=start).exclude(
            status=Appointment.Status.CANCELLED
        )
        if busy.filter(patient=patient).exists():
            continue
        rooms_taken = set(busy.values_list("room_id", flat=True))
        staff_taken = set(Participant.objects.filter(appointment__in=busy).values_list("user_id", flat=True))
        room = next((r for r in rooms if r.id not in rooms_taken), None)
        monitor = next((u for u in monitors if u.id not in staff_taken), None)
        if room is None or monitor is None:
            continue
        try:
            return services._book(
                by=front_desk, patient_id=patient.id, kind=AppointmentKind.DOSING, start=start,
                room_id=room.id, participants=[(monitor.id, "monitor")], allow_past=True,
            )
        except ValidationError as exc:
            refusal = exc  # refused at this start (a window longer than usual, say): try the next
    raise refusal


def seed(context: DemoContext) -> None:
    org = context.organization
    today = timezone.localdate()
    monday = today - timedelta(days=today.weekday())
    week_start = timezone.make_aware(datetime.combine(monday, time(0, 0)))
    if Appointment.objects.filter(organization=org, start__gte=week_start).exclude(kind=AppointmentKind.DOSING).exists():
        return
    front_desk = build_actor(context.staff[Role.ADMIN], org, user_agent="seed-demo")
    staff = context.staff
    pools = _patient_pools(context)
    if not any(pools.values()):
        return
    rotation = Rotation(pools)
    rooms = {(r.site_id, r.name): r for r in Room.objects.filter(organization=org, is_active=True)}
    now = timezone.now()
    booked: list[Appointment] = []
    for day in (monday + timedelta(days=i) for i in range(14)):
        if day.weekday() not in WEEKDAY_SITE or len(context.sites) <= WEEKDAY_SITE[day.weekday()]:
            continue
        site = context.sites[WEEKDAY_SITE[day.weekday()]]
        seen_today: set[int] = set()
        for slot in DAY:
            start = timezone.make_aware(datetime.combine(day, slot.at))
            if slot.kind == AppointmentKind.DOSING and (start < now or day == today):
                continue  # past sessions were held (their records are the other demos'); today's are the dosing demo's
            found = rotation.next(slot.kind, day, seen_today)
            if found is None:
                continue
            patient, kind = found
            appointment = _try_book(front_desk, patient, slot, kind, start, site, rooms, staff)
            if appointment is not None:
                seen_today.add(patient.id)
                booked.append(appointment)
    _settle_the_past(front_desk, booked, now)


def _patient_pools(context: DemoContext) -> dict[str, list[Patient]]:
    """Patients by the kind of appointment they need now: open episodes by state,
    dosing only where the booking guard passes, the rest of the therapist's and
    prescriber's patients for follow-ups."""
    org = context.organization
    pools: dict[str, list[Patient]] = {kind: [] for kind in AppointmentKind.values}
    portal = Patient.objects.filter(organization=org, user__isnull=False).order_by("id").first()
    with_episode: set[int] = set()
    for episode in Episode.objects.filter(organization=org, state__in=[s.value for s in KIND_FOR_STATE]).select_related("patient").order_by("id"):
        if episode.patient_id in with_episode:
            continue
        with_episode.add(episode.patient_id)
        pools[KIND_FOR_STATE[State(episode.state)]].append(episode.patient)
        has_session = episode.dosing_sessions.filter(
            status=DosingSession.Status.SCHEDULED, scheduled_start__gt=timezone.now()
        ).exists()
        if not has_session and not pathway.dosing_booking_unmet(episode):
            pools[AppointmentKind.DOSING].append(episode.patient)
    others = list(
        Patient.objects.filter(organization=org, care_team__user=context.staff[Role.THERAPIST], care_team__ended_at__isnull=True)
        .exclude(id__in=with_episode).distinct().order_by("id")[:40]
    )
    context.rng.shuffle(others)
    half = len(others) // 2
    pools[AppointmentKind.FOLLOW_UP] += others[:half]
    pools[AppointmentKind.INTEGRATION] += others[half:]
    if portal is not None and portal.id not in with_episode:
        # The portal patient sees upcoming sessions with their instructions.
        pools[AppointmentKind.INTEGRATION].insert(0, portal)
        pools[AppointmentKind.PREPARATION].insert(0, portal)
    return pools


class Rotation:
    """Takes patients from each pool in turn, never the same patient twice a day and
    dosing at most once a week. A slot whose pool is empty goes to a follow-up or
    integration patient, as that kind."""

    FALLBACK = (AppointmentKind.FOLLOW_UP, AppointmentKind.INTEGRATION)

    def __init__(self, pools: dict[str, list[Patient]]) -> None:
        self.pools = pools
        self.cursor: dict[str, int] = {}
        self.last_dosing: dict[int, date] = {}

    def _free(self, patient: Patient, kind: str, day: date, seen_today: set[int]) -> bool:
        if patient.id in seen_today:
            return False
        last = self.last_dosing.get(patient.id)
        return kind != AppointmentKind.DOSING or last is None or (day - last).days >= 7

    def next(self, kind: str, day: date, seen_today: set[int]) -> tuple[Patient, str] | None:
        kinds = [kind] if self.pools[kind] or kind == AppointmentKind.DOSING else list(self.FALLBACK)
        for key in kinds:
            pool = self.pools[key]
            for step in range(len(pool)):
                index = (self.cursor.get(key, 0) + step) % len(pool)
                if self._free(pool[index], key, day, seen_today):
                    self.cursor[key] = index + 1
                    if key == AppointmentKind.DOSING:
                        self.last_dosing[pool[index].id] = day
                    return pool[index], key
        return None


def _try_book(front_desk, patient: Patient, slot: Slot, kind: str, start: datetime, site: Site,
              rooms: dict[tuple[int, str], Room], staff: dict[Role, User]) -> Appointment | None:
    room = rooms.get((site.id, slot.room)) if slot.room else None
    participants = [(staff[slot.lead].id, "monitor" if kind == AppointmentKind.DOSING else "lead")]
    if slot.support is not None:
        participants.append((staff[slot.support].id, "support"))
    try:
        return services._book(
            by=front_desk, patient_id=patient.id, kind=kind, start=start,
            # A slot taken by another kind keeps that kind's usual length.
            end=start + timedelta(minutes=slot.minutes) if kind == slot.kind else None,
            site_id=None if room else site.id, room_id=room.id if room else None,
            participants=participants,
            # Dosing: blank, so the patient's own preparation instructions are used.
            patient_instructions=INSTRUCTIONS.get(AppointmentKind(kind), ""), allow_past=True,
        )
    except ValidationError:
        return None  # a clash with what another part of the demo booked: leave the slot free


def _settle_the_past(front_desk, booked: list[Appointment], now: datetime) -> None:
    """Past appointments happened, except one no-show and one late cancellation."""
    past = sorted((a for a in booked if a.end <= now), key=lambda a: a.start)
    for number, appointment in enumerate(past):
        if number == 3:
            services.appointment_mark_no_show(by=front_desk, appointment_id=appointment.id)
        else:
            services.appointment_complete(by=front_desk, appointment_id=appointment.id)
    upcoming = [a for a in booked if a.start > now + timedelta(hours=2) and a.kind != AppointmentKind.DOSING]
    if len(upcoming) > 6:
        # The first is within a day or two: a late cancellation if it is under 24 hours.
        services.appointment_cancel(
            by=front_desk, appointment_id=upcoming[0].id,
            reason="Patient called: a family emergency; will call back to rebook.", by_patient=True,
        )
        services.appointment_cancel(
            by=front_desk, appointment_id=upcoming[6].id, reason="Clinician unwell; the patient was offered another day.",
        )
