"""Reads of medicine sessions: checked and audited like every read of patient data."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from functools import partial
from typing import Any

from django.core.exceptions import ValidationError
from django.db.models import (
    Exists,
    Min,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    prefetch_related_objects,
)
from django.http import Http404
from django.template.defaultfilters import floatformat
from django.utils import timezone

from openkap.accounts.authz import Actor, require
from openkap.accounts.models import Site
from openkap.audit.models import AuditAction
from openkap.audit.services import audit_record
from openkap.compiled import CompiledRead
from openkap.core import dosing as dose_core
from openkap.core import vitals as vitals_core
from openkap.core.authz import ORGANIZATION_WIDE_ROLES, Perm
from openkap.core.digest import sha256_hex
from openkap.core.dosing.preview import SamplePatient, dose_preview
from openkap.core.protocols import (
    Protocol,
    ProtocolError,
    example_ids,
    load_example,
    loads_protocol,
    safety_limit_gaps,
)
from openkap.core.protocols.fields import group_messages, to_fields
from openkap.core.protocols.reference_limits import anaesthetic_ceiling_errors, reference_warnings
from openkap.core.routes import ROUTE_LABELS, Route, administration_mode
from openkap.dosing import session_facts
from openkap.dosing.access import session_for
from openkap.dosing.inventory import LotChoice, lot_choices
from openkap.dosing.models import (
    ACTIVE_STATUSES,
    AdministrationEvent,
    Alarm,
    DoseOrder,
    DosePreparation,
    DosingSession,
    Observation,
    PreDoseChecklist,
    ProtocolVersion,
    RecordDocument,
    RefusedDoseOrder,
    RemsForm,
    VitalSigns,
)
from openkap.dosing.validation import (
    clean_text,
    event_time,
    example_text,
    order_input_values,
    protocol_content_with,
)
from openkap.pathway import selectors as pathway
from openkap.pathway.models import Episode, TreatmentPlan
from openkap.patients.models import Patient, WeightMeasurement
from openkap.patients.selectors import Chart, care_team_of, patient_for, visible_patients
from openkap.tasks.models import Task

# --- the protocol library -------------------------------------------------------------------


@dataclass(frozen=True)
class LibraryEntry:
    protocol_id: str
    versions: list[ProtocolVersion]

    @property
    def in_use(self) -> ProtocolVersion | None:
        return next((v for v in self.versions if v.is_approved), None)

    @property
    def latest(self) -> ProtocolVersion:
        return self.versions[0]


def protocol_library(*, by: Actor) -> list[LibraryEntry]:
    require(by, Perm.PROTOCOL_VIEW)
    entries: dict[str, list[ProtocolVersion]] = {}
    for v in ProtocolVersion.objects.filter(organization=by.organization).select_related("approved_by").order_by(
        "protocol_id", "-version"
    ):
        entries.setdefault(v.protocol_id, []).append(v)
    return [LibraryEntry(pid, versions) for pid, versions in entries.items()]


def examples_missing(by: Actor) -> list[str]:
    """Shipped example protocols the library does not have yet."""
    have = set(ProtocolVersion.objects.filter(organization=by.organization).values_list("protocol_id", flat=True))
    return [e for e in example_ids() if e not in have]


def example_title(example_id: str) -> str:
    return load_example(example_id).title


def protocol_version_get(*, by: Actor, version_id: int) -> ProtocolVersion:
    require(by, Perm.PROTOCOL_VIEW)
    version = (
        ProtocolVersion.objects.filter(id=version_id, organization=by.organization)
        .select_related("created_by", "approved_by", "based_on").first()
    )
    if version is None:
        raise Http404("No such protocol version in your organisation.")
    return version


@dataclass(frozen=True)
class ProtocolCheck:
    """What the editor shows before saving: refusals by field, warnings against the
    reference's suggested limits, and the dose lines for sample patients."""

    errors: dict[str, list[str]]
    warnings: list[str]
    samples: list[SamplePatient]
    content: str | None  # the protocol JSON the fields make, when they could be read


def protocol_check(*, by: Actor, fields: Mapping[str, object] | None = None, version_id: int | None = None,
                   example_id: str | None = None) -> ProtocolCheck:
    """Check an edit without saving it (nothing is written: a preview is not a record)."""
    require(by, Perm.PROTOCOL_VIEW)
    base = (protocol_version_get(by=by, version_id=version_id).content if version_id is not None
            else example_text(str(example_id)))
    try:
        content = protocol_content_with(base, fields or {})
    except ValidationError as exc:
        return ProtocolCheck(exc.message_dict, [], [], None)
    try:
        protocol = loads_protocol(content)
    except ProtocolError as exc:
        return ProtocolCheck(group_messages(list(exc.errors)), [], [], content)
    refused = safety_limit_gaps(protocol) + anaesthetic_ceiling_errors(protocol)
    return ProtocolCheck(
        group_messages(refused), reference_warnings(protocol),
        [] if refused else dose_preview(protocol, today=timezone.localdate()), content,
    )


def protocol_fields(content: str) -> dict[str, str]:
    """A protocol's fields as the editor shows them."""
    return to_fields(json.loads(content, parse_float=Decimal))


# --- one session ---------------------------------------------------------------------------

STAGE_LABELS = {
    "check_in": "Waiting for check-in",
    "checklist": "Pre-dose checklist",
    "order": "Waiting for the dose order",
    "prepare": "Preparation",
    "verify": "Second-clinician check",
    "administer": "Ready to administer",
    "administering": "Administering",
    "monitor": "Monitoring",
    "discharged": "Discharged",
    "not_dosed": "Ended without a dose",
    "cancelled": "Cancelled",
}


@dataclass
class SessionView:
    session: DosingSession
    patient: Patient
    chart: Chart
    protocol_version: ProtocolVersion | None
    stage: str
    order: DoseOrder | None
    cancelled_orders: list[DoseOrder]
    refused_orders: list[RefusedDoseOrder]
    preparation: DosePreparation | None
    events: list[AdministrationEvent]
    vitals: list[VitalSigns]
    alarms: list[Alarm]
    mode: str
    due: vitals_core.VitalsDue | None
    elapsed_since_dose_min: float | None
    via_break_glass: bool
    # Sedation and dissociation are observed at the protocol's times too (its vitals schedule).
    observation_due: vitals_core.VitalsDue | None = None
    infusion: session_facts.InfusionState | None = None
    next_device: int | None = None
    next_device_at: datetime | None = None
    extra: dict[str, object] = field(default_factory=dict)
    observations: list[Observation] = field(default_factory=list)

    @property
    def protocol(self) -> Protocol | None:
        return self.protocol_version.protocol if self.protocol_version else None

    @property
    def stage_label(self) -> str:
        return STAGE_LABELS[self.stage]

    @property
    def open_alarms(self) -> list[Alarm]:
        return [a for a in self.alarms if a.is_open]

    @property
    def verification(self):
        return getattr(self.preparation, "verification", None) if self.preparation else None

    @property
    def monitoring_vitals(self) -> list[VitalSigns]:
        return [v for v in self.vitals if v.minutes_after_dose is not None]


def stage_of(session: DosingSession, order: DoseOrder | None, prep: DosePreparation | None) -> str:
    return _stage(session, lambda: hasattr(session, "checklist"), order is not None, prep is not None,
                  lambda: hasattr(prep, "verification"))


def _stage(session: DosingSession, has_checklist: Callable[[], bool], has_order: bool, has_prep: bool,
           verified: Callable[[], bool]) -> str:
    """The step a session is at; the checklist and verification are asked only when the
    step depends on them (a session page reads them from the database on demand)."""
    s = DosingSession.Status
    closed = {s.DISCHARGED: "discharged", s.NOT_DOSED: "not_dosed", s.CANCELLED: "cancelled"}
    status = s(session.status)
    if status in closed:
        return closed[status]
    if session.status == s.SCHEDULED:
        return "check_in"
    if session.status == s.MONITORING:
        return "monitor"
    if session.status == s.DOSING:
        return "administering"
    if not has_checklist():
        return "checklist"
    if not has_order:
        return "order"
    if not has_prep:
        return "prepare"
    if not verified():
        return "verify"
    return "administer"


_CHART_WEIGHTS = CompiledRead(WeightMeasurement, lambda patient_id: WeightMeasurement.objects.filter(
    patient_id=patient_id).select_related("recorded_by")[:5], "patient_id")


def chart_of(patient: Patient, glass: bool) -> Chart:
    weights = _CHART_WEIGHTS.read(patient_id=patient.id)
    for weight in weights:
        weight.patient = patient  # as patient.weights gives them
    care_team = care_team_of(patient)
    return Chart(
        patient=patient, latest_weight=weights[0] if weights else None, weights=weights, care_team=care_team,
        age=patient.age_on(timezone.localdate()), via_break_glass=glass,
    )


def _minutes(later: datetime, earlier: datetime) -> float:
    return (later - earlier).total_seconds() / 60


def vitals_due_of(session: DosingSession, vitals: list[VitalSigns], protocol: Protocol | None,
                  now: datetime) -> vitals_core.VitalsDue | None:
    """Where the session stands against the protocol's vitals schedule (from the dose)."""
    start = session.administration_started_at
    if protocol is None or start is None or not session.is_active:
        return None
    recorded = [v.minutes_after_dose for v in vitals if v.minutes_after_dose is not None]
    return vitals_core.vitals_due(protocol.vitals_schedule_min, recorded, _minutes(now, start))


def _build(session: DosingSession, glass: bool) -> SessionView:
    now = timezone.now()
    order = session_facts.active_order(session)
    prep = session_facts.active_preparation(session)
    version = session.protocol_version
    protocol = version.protocol if version else None
    vitals = session_facts.of_session(_SESSION_VITALS, session)
    events = session_facts.of_session(_SESSION_EVENTS, session)
    view = SessionView(
        session=session, patient=session.patient, chart=chart_of(session.patient, glass), protocol_version=version,
        stage=stage_of(session, order, prep), order=order,
        cancelled_orders=session_facts.of_session(_SESSION_CANCELLED_ORDERS, session),
        refused_orders=session_facts.of_session(_SESSION_REFUSED_ORDERS, session),
        preparation=prep, events=events, vitals=vitals,
        alarms=session_facts.of_session(_SESSION_ALARMS, session),
        mode=administration_mode(protocol.route) if protocol else "single",
        due=vitals_due_of(session, vitals, protocol, now),
        elapsed_since_dose_min=_minutes(now, session.administration_started_at)
        if session.administration_started_at and session.is_active else None,
        via_break_glass=glass,
    )
    # Read once, for the page and the API as well as for what is due.
    view.observations = session_facts.of_session(_SESSION_OBSERVATIONS, session)
    if view.due is not None and protocol is not None and session.administration_started_at is not None:
        observed = [o.minutes_after_dose for o in view.observations if o.minutes_after_dose is not None]
        view.observation_due = vitals_core.vitals_due(
            protocol.vitals_schedule_min, observed, _minutes(now, session.administration_started_at))
    if view.mode == "infusion" and prep is not None:
        view.infusion = session_facts.infusion_state([e for e in events if e.preparation_id == prep.id])
    if view.mode == "devices" and prep is not None and prep.units:
        given = session_facts.devices_given([e for e in events if e.preparation_id == prep.id])
        stopped = any(e.kind == AdministrationEvent.Kind.STOP for e in events)
        if len(given) < prep.units and not stopped:
            view.next_device = len(given) + 1
            product = protocol.product(prep.product_code) if protocol else None
            rest = (product.interval_between_units_min if product else None) or 0
            view.next_device_at = given[-1].at + timedelta(minutes=rest) if given else None
    return view


def _session_query() -> QuerySet[DosingSession]:
    return DosingSession.objects.select_related(
        "patient", "episode", "site", "room", "protocol_version", "checked_in_by",
    )


# The session page's reads, compiled once per process (ADR 0096): building and compiling
# them cost more than running them (ADR 0113).
_SESSION = CompiledRead(DosingSession, lambda session_id, organization_id: _session_query().filter(
    id=session_id, organization_id=organization_id), "session_id", "organization_id")
_SESSION_VITALS = CompiledRead(VitalSigns, lambda session_id: VitalSigns.objects.filter(
    session_id=session_id).select_related("recorded_by").order_by("taken_at", "id"), "session_id")
_SESSION_EVENTS = CompiledRead(AdministrationEvent, lambda session_id: AdministrationEvent.objects.filter(
    session_id=session_id).select_related("recorded_by", "witness").order_by("at", "id"), "session_id")
_SESSION_CANCELLED_ORDERS = CompiledRead(DoseOrder, lambda session_id: DoseOrder.objects.filter(
    session_id=session_id, cancelled_at__isnull=False).order_by("ordered_at"), "session_id")
_SESSION_REFUSED_ORDERS = CompiledRead(RefusedDoseOrder, lambda session_id: RefusedDoseOrder.objects.filter(
    session_id=session_id).select_related("attempted_by"), "session_id")
_SESSION_ALARMS = CompiledRead(Alarm, lambda session_id: Alarm.objects.filter(
    session_id=session_id).select_related("acknowledged_by", "vitals").order_by("raised_at", "id"), "session_id")
_SESSION_OBSERVATIONS = CompiledRead(Observation, lambda session_id: Observation.objects.filter(session_id=session_id),
                                     "session_id")


def session_view(*, by: Actor, session_id: int, chart_facts: bool = False) -> SessionView:
    """The session page: checked (404 across organisations, 403 outside the care team) and
    audited. ``chart_facts``: a page showing the chart header gets its patient with the
    banner's facts (ADR 0089); the API does not show them."""
    require(by, Perm.DOSING_VIEW)
    session = _SESSION.first(session_id=session_id, organization_id=by.organization.id)
    if session is None:
        raise Http404("No such dosing session in your organisation.")
    patient, glass = patient_for(by, session.patient_id, Perm.DOSING_VIEW, chart_facts=chart_facts)
    if chart_facts:
        session.patient = patient  # the same row, read again by patient_for, with the facts
    audit_record(by=by, action=AuditAction.VIEW, object_type="dosing_session", object_id=session.id,
                 patient_id=session.patient_id, break_glass=glass)
    return _build(session, glass)


def alarm_session_id(*, by: Actor, alarm_id: int) -> int:
    """The session an alarm belongs to (404 outside the organisation)."""
    session_id = Alarm.objects.filter(id=alarm_id, organization=by.organization).values_list(
        "session_id", flat=True).first()
    if session_id is None:
        raise Http404("No such alarm in your organisation.")
    return session_id


def session_lots(*, by: Actor, session_id: int) -> list[LotChoice]:
    """The site's lots for the session's order, usable first, with why others are not."""
    session, _ = session_for(by, session_id, Perm.DOSING_VIEW)
    order = session_facts.active_order(session)
    version = order.protocol_version if order else session.protocol_version
    if version is None:
        return []
    return lot_choices(version.protocol, session.site)


# --- the monitoring board and the day's list -------------------------------------------------


@dataclass
class BoardRow:
    session: DosingSession
    stage: str
    elapsed_min: float | None
    since_dose_min: float | None
    last_vitals: VitalSigns | None
    due: vitals_core.VitalsDue | None
    open_alarms: list[Alarm]

    @property
    def stage_label(self) -> str:
        return STAGE_LABELS[self.stage]

    @property
    def next_due_at(self) -> datetime | None:
        start = self.session.administration_started_at
        if self.due is None or self.due.next_due_min is None or start is None:
            return None
        return start + timedelta(minutes=self.due.next_due_min)

    @property
    def overdue(self) -> bool:
        return bool(self.due and self.due.overdue)

    @property
    def critical(self) -> bool:
        return any(a.severity == vitals_core.Severity.CRITICAL for a in self.open_alarms)


@dataclass
class Arrival:
    session: DosingSession
    # The treatment plan's route: what the nurse prepares the room for.
    route_label: str


@dataclass
class Board:
    site: Site
    sites: list[Site]
    rows: list[BoardRow]
    arriving: list[Arrival]
    generated_at: datetime


def _day_bounds(day: date) -> tuple[datetime, datetime]:
    start = timezone.make_aware(datetime.combine(day, time(0, 0)))
    return start, start + timedelta(days=1)


def _visible(by: Actor, qs: QuerySet[DosingSession]) -> QuerySet[DosingSession]:
    """Nurses and admins see every patient of the clinic; others their care team's."""
    if by.roles & ORGANIZATION_WIDE_ROLES:
        return qs
    return qs.filter(patient__in=visible_patients(by))


def _route_label(plan: TreatmentPlan | None) -> str:
    return ROUTE_LABELS[Route(plan.route)] if plan else "no signed plan"


def _board_sites(site_id: int, organization_id: int) -> QuerySet[Site]:
    """The site and the switcher's active sites, in one query."""
    return Site.objects.filter(Q(is_active=True) | Q(id=site_id), organization_id=organization_id).order_by("name")


# What the board (page, refresh, fingerprint, API, audit) reads of a session and its joins.
BOARD_SESSION_FIELDS = (
    "patient_id", "episode_id", "status", "scheduled_start", "started_at", "administration_started_at",
    "patient__legal_given_name", "patient__legal_family_name", "patient__preferred_name", "room__name",
    "protocol_version__content",
)


def _board_sessions(site_id: int, start: datetime, end: datetime, by: Actor | None = None) -> QuerySet[DosingSession]:
    """A site's active sessions and those booked between ``start`` and ``end`` not yet
    checked in, each with what its stage depends on (four prefetch queries before, ADR
    0098): the checklist, an order not cancelled, the first preparation not voided and its
    check. ``by``: only the patients they may see in lists (nurses and admins see all)."""
    arriving_q = Q(status=DosingSession.Status.SCHEDULED, scheduled_start__gte=start, scheduled_start__lt=end)
    first_prep = (DosePreparation.objects.filter(session=OuterRef("pk"), voided_at__isnull=True)
                  .order_by("prepared_at", "id"))
    # Only the rows the board shows (the session page's query also joins the episode, site
    # and check-in user: a third of the board's model instances, ADR 0101), and of them
    # only the columns it shows or works from (70 a session before, ADR 0115).
    qs: QuerySet[DosingSession] = (DosingSession.objects.select_related("patient", "room", "protocol_version")
          .only(*BOARD_SESSION_FIELDS).filter(Q(status__in=ACTIVE_STATUSES) | arriving_q, site_id=site_id))
    if by is not None:
        qs = _visible(by, qs)
    return qs.annotate(_checklist=Exists(PreDoseChecklist.objects.filter(session=OuterRef("pk"))),
                       _order=Exists(DoseOrder.objects.filter(session=OuterRef("pk"), cancelled_at__isnull=True)),
                       _prep=Subquery(first_prep.values("id")[:1]),
                       _verified=Subquery(first_prep.values("verification__id")[:1]))


# Every nurse's board refreshes every 15 seconds: its reads are compiled once (ADR 0101).
_BOARD_SITES = CompiledRead(Site, _board_sites, "site_id", "organization_id")
_BOARD_SESSIONS = CompiledRead(DosingSession, _board_sessions, "site_id", datetimes=("start", "end"))
_BOARD_VITALS = CompiledRead(
    VitalSigns, lambda session_ids: VitalSigns.objects.filter(session_id__in=session_ids).order_by("taken_at", "id"),
    lists=("session_ids",))
_BOARD_ALARMS = CompiledRead(
    Alarm, lambda session_ids: Alarm.objects.filter(session_id__in=session_ids, acknowledged_at__isnull=True)
    .order_by("raised_at", "id"), lists=("session_ids",))


def _by_session(rows: Iterable[Any]) -> dict[int, list[Any]]:
    grouped: dict[int, list[Any]] = {}
    for row in rows:
        grouped.setdefault(row.session_id, []).append(row)
    return grouped


def board(*, by: Actor, site_id: int) -> Board:
    """Every active session of a site, with elapsed time, the last vitals, when the next
    are due (overdue flagged, from the protocol's schedule) and open alarms; and today's
    sessions still to arrive. Audited as a search naming the patients shown."""
    require(by, Perm.DOSING_VIEW)
    site_rows = _BOARD_SITES.read(site_id=site_id, organization_id=by.organization.id)
    site = next((s for s in site_rows if s.id == site_id), None)
    if site is None:
        raise Http404("No such site in your organisation.")
    now = timezone.now()
    start, end = _day_bounds(timezone.localdate())
    if by.roles & ORGANIZATION_WIDE_ROLES:
        sessions = _BOARD_SESSIONS.read(site_id=site.id, start=start, end=end)
    else:
        sessions = list(_board_sessions(site.id, start, end, by))
    active = sorted((s for s in sessions if s.status in ACTIVE_STATUSES),
                    key=lambda s: (s.started_at is None, s.started_at or now, s.id))
    scheduled = sorted((s for s in sessions if s.status == DosingSession.Status.SCHEDULED),
                       key=lambda s: (s.scheduled_start, s.id))
    active_ids = [s.id for s in active]
    vitals_of = _by_session(_BOARD_VITALS.read(session_ids=active_ids)) if active else {}
    alarms_of = _by_session(_BOARD_ALARMS.read(session_ids=active_ids)) if active else {}
    rows = []
    for s in active:
        vitals = vitals_of.get(s.id, [])
        protocol = s.protocol_version.protocol if s.protocol_version else None
        facts: Any = s  # the annotations above
        stage = _stage(s, partial(bool, facts._checklist), facts._order, facts._prep is not None,
                       partial(bool, facts._verified))  # an id, or None
        rows.append(BoardRow(
            session=s, stage=stage,
            elapsed_min=_minutes(now, s.started_at) if s.started_at else None,
            since_dose_min=_minutes(now, s.administration_started_at) if s.administration_started_at else None,
            last_vitals=vitals[-1] if vitals else None,
            due=vitals_due_of(s, vitals, protocol, now),
            open_alarms=alarms_of.get(s.id, []),
        ))
    # Alarms first, then overdue vitals, then the rest by arrival.
    rows.sort(key=lambda r: (not r.open_alarms, not r.overdue, r.session.started_at or now))
    plans = pathway.plans_in_force(s.episode_id for s in scheduled)
    arriving = [Arrival(s, _route_label(plans.get(s.episode_id))) for s in scheduled]
    audit_record(
        by=by, action=AuditAction.SEARCH, object_type="dosing_board", object_id=site.id,
        detail={"patient_ids": sorted({r.session.patient_id for r in rows} | {a.session.patient_id for a in arriving})},
    )
    sites = [s for s in site_rows if s.is_active]
    return Board(site=site, sites=sites, rows=rows, arriving=arriving, generated_at=now)


def board_fingerprint(board: Board, *context: object) -> str:
    """A digest of everything the board's refresh shows, to the minute it shows (the tile
    minutes and "Updated HH:MM"), plus the caller's ``context`` (who asks, what they may
    do). Two refreshes with the same digest render the same board, so the second can be
    answered "304 Not Modified" without rendering (ADR 0052)."""
    def minutes(value: float | None) -> str:
        return "" if value is None else floatformat(value, 0)

    def at(value: datetime | None) -> str:
        return "" if value is None else timezone.localtime(value).strftime("%Y-%m-%d %H:%M")

    facts: list[object] = [board.site.id, board.site.name, at(board.generated_at), timezone.get_current_timezone_name()]
    for r in board.rows:
        s, v, version = r.session, r.last_vitals, r.session.protocol_version
        facts.append((
            s.id, s.patient.display_name, s.room.name if s.room else "", r.stage,
            version.protocol.route.label if version else "", minutes(r.elapsed_min), minutes(r.since_dose_min),
            (v.id, v.systolic, v.diastolic, v.heart_rate, v.spo2, v.respiratory_rate, at(v.taken_at)) if v else None,
            r.overdue, at(r.next_due_at), r.due.next_due_min if r.due else None,
            [(a.id, a.severity, a.message, at(a.raised_at)) for a in r.open_alarms],
        ))
    for a in board.arriving:
        s = a.session
        facts.append((s.id, at(s.scheduled_start), s.patient.display_name, a.route_label, s.room.name if s.room else ""))
    return sha256_hex(repr((facts, context)))


_PATIENT_SESSIONS = CompiledRead(DosingSession, lambda patient_id: DosingSession.objects.filter(
    patient_id=patient_id).select_related("protocol_version", "site", "room").order_by("-scheduled_start", "-id"),
    "patient_id")


def sessions_of_patient(*, by: Actor, patient_id: int) -> tuple[Patient, list[DosingSession], bool]:
    """A patient's dosing sessions, newest first (the chart's Medicine sessions tab); the
    patient with the chart header's facts."""
    patient, glass = patient_for(by, patient_id, Perm.DOSING_VIEW, chart_facts=True)
    sessions = _PATIENT_SESSIONS.read(patient_id=patient.id)
    prefetch_related_objects(sessions, "orders", "adverse_events")
    audit_record(by=by, action=AuditAction.VIEW, object_type="dosing_sessions", object_id=patient.id,
                 patient_id=patient.id, break_glass=glass)
    return patient, sessions, glass


# --- the printable record ----------------------------------------------------------------


def session_record(*, by: Actor, session_id: int) -> SessionView:
    """Everything the session record PDF prints; its export is audited."""
    require(by, Perm.DOSING_VIEW)
    session = _session_query().filter(id=session_id, organization=by.organization).first()
    if session is None:
        raise Http404("No such dosing session in your organisation.")
    _patient, glass = patient_for(by, session.patient_id, Perm.DOSING_VIEW)
    audit_record(by=by, action=AuditAction.EXPORT, object_type="dosing_session_record", object_id=session.id,
                 patient_id=session.patient_id, break_glass=glass)
    return _build(session, glass)


def session_record_to_prepare(*, by: Actor, session_id: int) -> SessionView:
    """What the worker prints for the requester, checked as ``session_record`` (access may
    have been withdrawn since the request); the read is audited when the copy is
    downloaded, not when it is made."""
    require(by, Perm.DOSING_VIEW)
    session = _session_query().filter(id=session_id, organization=by.organization).first()
    if session is None:
        raise Http404("No such dosing session in your organisation.")
    _patient, glass = patient_for(by, session.patient_id, Perm.DOSING_VIEW)
    return _build(session, glass)


@dataclass(frozen=True)
class RecordDocumentState:
    """Where the session record PDF stands, for the page and the API."""

    session: DosingSession
    document: RecordDocument | None
    state: str  # none, queued, rendering, ready, stale, failed

    @property
    def preparing(self) -> bool:
        return self.state in {"queued", "rendering"}


def record_document_state(*, by: Actor, session_id: int, audit: bool = False) -> RecordDocumentState:
    """The state of the session's record PDF. The state alone shows no patient data, so the
    page's polling writes nothing; the page around it (``audit``) and the download are
    audited."""
    session, glass = session_for(by, session_id, Perm.DOSING_VIEW)
    if audit:
        audit_record(by=by, action=AuditAction.VIEW, object_type="dosing_session_record", object_id=session.id,
                     patient_id=session.patient_id, break_glass=glass)
    document = (RecordDocument.objects.filter(session=session, kind=RecordDocument.Kind.SESSION_RECORD)
                .defer("content").select_related("requested_by").first())
    if document is None:
        state = "none"
    elif document.status == RecordDocument.Status.FAILED or document.is_stuck():
        state = "failed"
    elif document.source_hash != session_facts.record_fingerprint(session.id):
        state = "stale"
    else:
        state = document.status
    return RecordDocumentState(session=session, document=document, state=state)


def record_document_download(*, by: Actor, session_id: int) -> RecordDocument | None:
    """The ready, up-to-date PDF (audited as an export, like printing), or None when there
    is none to give."""
    state = record_document_state(by=by, session_id=session_id)
    if state.state != "ready":
        return None
    document = RecordDocument.objects.get(pk=state.document.pk)  # type: ignore[union-attr]
    _patient, glass = patient_for(by, state.session.patient_id, Perm.DOSING_VIEW)
    audit_record(by=by, action=AuditAction.EXPORT, object_type="dosing_session_record", object_id=session_id,
                 patient_id=state.session.patient_id, break_glass=glass,
                 detail={"document": document.id, "sha256": document.sha256, "prepared_at":
                         document.finished_at.isoformat() if document.finished_at else None})
    return document


# --- reads the API offers beside the steps ------------------------------------------------


def dose_order_preview(*, by: Actor, session_id: int, dose_mg_per_kg: object = None, dose_mg: object = None,
                       override_reason: str = "") -> dose_core.DoseOrder | dose_core.DoseRefusal:
    """What ``core.dosing.order_dose`` says of an order on the session's facts; nothing is saved."""
    session, glass = session_for(by, session_id, Perm.DOSING_VIEW)
    if session.protocol_version is None:
        raise ValidationError({"__all__": "Check the patient in first: the session has no protocol yet."})
    version = session_facts.protocol_in_use(by.organization.id, session.protocol_version.protocol_id) or session.protocol_version
    inputs = session_facts.order_inputs(session, version)
    per_kg, mg = order_input_values(dose_mg_per_kg, dose_mg)
    reason = clean_text(override_reason, "override_reason", max_length=1000, what="the reason")
    audit_record(by=by, action=AuditAction.VIEW, object_type="dose_preview", object_id=session.id,
                 patient_id=session.patient_id, break_glass=glass)
    return session_facts.compute_order(inputs, dose_mg_per_kg=per_kg, dose_mg=mg, override_reason=reason)


def discharge_check(*, by: Actor, session_id: int, assessment: session_facts.DischargeAssessment,
                    at: datetime | None = None) -> list[str]:
    """The discharge criteria still unmet; nothing is saved."""
    session, glass = session_for(by, session_id, Perm.DOSING_VIEW)
    if session.status != DosingSession.Status.MONITORING:
        raise ValidationError({"__all__": f"The session is {session.get_status_display().lower()}: not awaiting discharge."})
    audit_record(by=by, action=AuditAction.VIEW, object_type="discharge_check", object_id=session.id,
                 patient_id=session.patient_id, break_glass=glass)
    return session_facts.discharge_unmet(session, assessment, event_time(at))


def rems_form_get(*, by: Actor, session_id: int) -> RemsForm:
    session, glass = session_for(by, session_id, Perm.DOSING_VIEW)
    form = RemsForm.objects.filter(session=session).first()
    if form is None:
        raise Http404("This session has no REMS monitoring form.")
    audit_record(by=by, action=AuditAction.VIEW, object_type="rems_form", object_id=form.id,
                 patient_id=session.patient_id, break_glass=glass)
    return form


def pk_observations(view: SessionView) -> dict[str, object]:
    """What the PK overlay draws over the predicted curve: vitals and CADSS from the dose."""
    vitals = [{"minute": v.minutes_after_dose, "systolic": v.systolic, "diastolic": v.diastolic,
               "heart_rate": v.heart_rate} for v in view.monitoring_vitals]
    cadss = [{"minute": o.minutes_after_dose, "score": o.cadss_total}
             for o in view.observations
             if o.cadss_total is not None and o.minutes_after_dose is not None]
    return {"vitals": vitals, "dissociation": cadss}


# --- small reads of the pages (the page's own selector checked access and audited) ----------


def protocol_versions_of(*, by: Actor, protocol_id: str) -> list[ProtocolVersion]:
    """Every version of one of the organisation's protocols, newest first."""
    return list(
        ProtocolVersion.objects.filter(organization=by.organization, protocol_id=protocol_id).order_by("-version")
    )


def rems_form_of(session: DosingSession) -> RemsForm | None:
    return RemsForm.objects.filter(session=session).first()


def rems_form_in_organization(*, by: Actor, session_id: int) -> RemsForm | None:
    return RemsForm.objects.filter(session__id=session_id, session__organization=by.organization).first()


def open_bp_task(session: DosingSession) -> Task | None:
    """The open task raised when the blood pressure stayed high at the end of monitoring."""
    return Task.objects.filter(
        kind=session_facts.BP_TASK_KIND, subject_type="dosing_session", subject_id=str(session.id),
        resolved_at__isnull=True,
    ).first()


# --- what the care pathway asks (registered in DosingConfig.ready; ADR 0064) -----------------


def held_sessions(episodes: Iterable[int] | QuerySet[Episode]) -> list[pathway.HeldSession]:
    """The held sessions (``DosingSession.objects.held``) of these episodes, in booking
    order, each with the day of its first integration session. Callers checked access."""
    rows = (
        DosingSession.objects.filter(episode__in=episodes).held()
        .annotate(integrated_on=Min("integration_notes__session_date"))
        .order_by("scheduled_start", "id")
        .values_list("id", "episode_id", "started_at", "scheduled_start", "integrated_on")
    )
    return [pathway.HeldSession(id, episode_id, timezone.localdate(started or booked), integrated)
            for id, episode_id, started, booked, integrated in rows]


def approved_protocol(organization_id: int, protocol_id: str) -> Protocol | None:
    """The newest approved version of an organisation's protocol (the consent states its facts)."""
    version = (
        ProtocolVersion.objects.filter(organization_id=organization_id, protocol_id=protocol_id,
                                       status=ProtocolVersion.Status.APPROVED)
        .order_by("-version").first()
    )
    return version.protocol if version else None
