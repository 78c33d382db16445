"""Facts of one dosing session read from its rows: the suicide screen, the open pre-dose
measures, the blood pressure before and after the dose, the missed vitals checks, where an infusion stands, the fingerprint
of what its record prints, the order and preparation in force, the protocol version sessions run on,
the days sessions count for in the minimum interval, the dose order's inputs and the core's order
on them, what still stands in the way of discharge.

Not audited and no permission check: the caller (a service inside its transaction, or a
page over a session it read through an audited selector) has already checked access.
Services and selectors both import this module, so it imports neither."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.utils import timezone

from openkap.compiled import CompiledRead
from openkap.core import blood_pressure as bp_core
from openkap.core import dosing as dose_core
from openkap.core import missed_vitals
from openkap.core import vitals as vitals_core
from openkap.core.dosing.order import interval_day, interval_moment
from openkap.core.protocols import Protocol
from openkap.core.routes import Route
from openkap.dosing.models import (
    AdministrationEvent,
    DoseOrder,
    DosePreparation,
    DosingSession,
    ProtocolVersion,
    RecordDocument,
    Verification,
    VitalSigns,
)
from openkap.dosing.validation import CLOCK_SKEW
from openkap.measures.models import MeasureAssignment, MeasureResponse, Occasion
from openkap.patients.models import Patient, WeightMeasurement

SCREEN_MAX_AGE = timedelta(days=7)
# The task a blood pressure still high at discharge opens (the service writes it, the page reads it).
BP_TASK_KIND = "bp_still_high"
SCREEN_INSTRUMENTS = ("phq9", "asq", "cssrs-slv", "cssrs-recent")


def current_suicide_screen(patient: Patient, at: datetime) -> MeasureResponse | None:
    """The latest suicide-risk screen (PHQ-9 item 9, ASQ, C-SSRS) of the last 7 days."""
    return (
        MeasureResponse.objects.filter(
            patient=patient, instrument_id__in=SCREEN_INSTRUMENTS, correction__isnull=True,
            completed_at__gte=at - SCREEN_MAX_AGE, completed_at__lte=at + CLOCK_SKEW,
        )
        .order_by("-completed_at", "-id")
        .first()
    )


def open_pre_dose_measures(session: DosingSession) -> list[MeasureAssignment]:
    """The session's scheduled pre-dose measures not yet completed (or cancelled)."""
    return list(
        MeasureAssignment.objects.filter(
            episode_id=session.episode_id, occasion=Occasion.BEFORE_DOSING, occasion_key=f"dosing:{session.id}",
            completed_at__isnull=True, cancelled_at__isnull=True,
        ).order_by("id")
    )


def pregnancy_relevant(patient: Patient) -> bool:
    """Whether the checklist asks about pregnancy (anyone not recorded male at birth)."""
    return patient.sex_at_birth != Patient.SexAtBirth.MALE


def pre_dose_bp(session: DosingSession) -> VitalSigns | None:
    """The latest measured blood pressure before the dose (the checklist's baseline, or a
    recheck since)."""
    qs = session.vitals.filter(systolic__isnull=False, diastolic__isnull=False)
    if session.administration_started_at is not None:
        qs = qs.filter(taken_at__lte=session.administration_started_at)
    return qs.order_by("-taken_at", "-id").first()


def missed_vitals_of(session: DosingSession, at: datetime) -> tuple[int, ...]:
    """The protocol's scheduled vitals checks with no reading up to ``at``."""
    start = session.administration_started_at
    if start is None or session.protocol_version is None:
        return ()
    recorded = [
        _minutes(v.taken_at, start) for v in session.vitals.filter(taken_at__lte=at + CLOCK_SKEW)
    ]
    return missed_vitals.missed_checks(session.protocol_version.protocol.vitals_schedule_min, recorded, _minutes(at, start))


def discharge_bp(session: DosingSession, at: datetime) -> bp_core.DischargeBpAssessment | None:
    """The SPRAVATO label's discharge rule on the session's readings (esketamine only):
    a reading about 40 minutes after the dose, then blood pressure back within 140/90 or
    the pre-dose reading, or decreasing."""
    if session.protocol_version is None or session.protocol_version.protocol.route is not Route.INTRANASAL_ESKETAMINE:
        return None
    start = session.administration_started_at
    if start is None:
        return None
    before = pre_dose_bp(session)
    after = [
        bp_core.BpReading(_minutes(v.taken_at, start), v.systolic, v.diastolic)
        for v in session.vitals.filter(systolic__isnull=False, diastolic__isnull=False,
                                       taken_at__gt=start, taken_at__lte=at + CLOCK_SKEW)
        if v.systolic is not None and v.diastolic is not None
    ]
    return bp_core.assess_discharge(
        (before.systolic, before.diastolic) if before and before.systolic and before.diastolic else None, after,
    )


def _minutes(later: datetime, earlier: datetime) -> float:
    return (later - earlier).total_seconds() / 60


@dataclass(frozen=True)
class InfusionState:
    started: bool
    running: bool
    ended: bool
    rate: Decimal | None


def infusion_state(events: list[AdministrationEvent]) -> InfusionState:
    """Where an infusion stands after these events of one preparation, in order."""
    started = running = ended = False
    rate: Decimal | None = None
    for e in events:
        if e.kind == AdministrationEvent.Kind.INFUSION_START:
            started = running = True
            rate = e.rate_ml_per_h
        elif e.kind == AdministrationEvent.Kind.RATE_CHANGE:
            rate = e.rate_ml_per_h
        elif e.kind == AdministrationEvent.Kind.PAUSE:
            running = False
        elif e.kind == AdministrationEvent.Kind.RESUME:
            running = True
        elif e.kind in (AdministrationEvent.Kind.STOP, AdministrationEvent.Kind.COMPLETE):
            running, ended = False, True
    return InfusionState(started, running, ended, rate)


def devices_given(events: list[AdministrationEvent]) -> list[AdministrationEvent]:
    return [e for e in events if e.kind == AdministrationEvent.Kind.DEVICE]


def _hash_rows(digest: Any, model: type[models.Model], rows: models.QuerySet[Any]) -> None:
    fields = [f.attname for f in model._meta.concrete_fields]
    digest.update(model._meta.label.encode())
    for row in rows.order_by("pk").values_list(*fields):
        digest.update(repr(row).encode())


def record_fingerprint(session_id: int) -> str:
    """SHA-256 over every row the session record prints: the session, its patient,
    protocol version and site, each dosing table that points at the session (found
    from the model, so a table added later counts without a change here) and the
    preparations' verifications. Any change to them gives another fingerprint."""
    digest = hashlib.sha256()
    session = DosingSession.objects.filter(pk=session_id)
    _hash_rows(digest, DosingSession, session)
    _hash_rows(digest, Patient, Patient.objects.filter(pk__in=session.values("patient_id")))
    _hash_rows(digest, ProtocolVersion, ProtocolVersion.objects.filter(pk__in=session.values("protocol_version_id")))
    for relation in DosingSession._meta.related_objects:
        model = relation.related_model
        if model is RecordDocument or not isinstance(model, type) or model._meta.app_label != "dosing":
            continue
        _hash_rows(digest, model, model._default_manager.filter(**{relation.field.name: session_id}))
    _hash_rows(digest, Verification, Verification.objects.filter(
        preparation__in=DosePreparation.objects.filter(session_id=session_id).values("pk")))
    return digest.hexdigest()


def of_session(read: CompiledRead[Any], session: DosingSession) -> list[Any]:
    """A compiled read of one session's rows (``session_id``), each holding the session as
    the rows of its related manager (``session.orders`` and so on) hold it."""
    rows = read.read(session_id=session.id)
    for row in rows:
        row.session = session
    return rows


# The order and preparation in force, compiled once per process (ADR 0096, 0113): every
# session page and step reads them.
_ACTIVE_ORDER = CompiledRead(DoseOrder, lambda session_id: DoseOrder.objects.filter(
    session_id=session_id, cancelled_at__isnull=True).select_related("protocol_version")[:1], "session_id")
_ACTIVE_PREPARATION = CompiledRead(DosePreparation, lambda session_id: DosePreparation.objects.filter(
    session_id=session_id, voided_at__isnull=True, order__cancelled_at__isnull=True).select_related(
    "lot__product", "order", "order__protocol_version", "prepared_by", "verification__verified_by")[:1],
    "session_id")


def active_order(session: DosingSession) -> DoseOrder | None:
    return next(iter(of_session(_ACTIVE_ORDER, session)), None)


def active_preparation(session: DosingSession) -> DosePreparation | None:
    return next(iter(of_session(_ACTIVE_PREPARATION, session)), None)


def protocol_in_use(organization_id: int, protocol_id: str) -> ProtocolVersion | None:
    """The version sessions run on: the latest approved; else the latest draft, so that
    the order's hard stop says the protocol is not approved."""
    versions = ProtocolVersion.objects.filter(organization_id=organization_id, protocol_id=protocol_id)
    return (
        versions.filter(status=ProtocolVersion.Status.APPROVED).order_by("-version").first()
        or versions.order_by("-version").first()
    )


def session_protocol(session: DosingSession) -> Protocol:
    if session.protocol_version is None:
        raise ValidationError({"__all__": "The session has no protocol: check the patient in first."})
    return session.protocol_version.protocol


def session_interval_day(session: DosingSession) -> date:
    """The day the session counts for in the minimum interval (the core's rule)."""
    return interval_day(
        administered_at=session.administration_started_at, started_at=session.started_at,
        scheduled_start=session.scheduled_start, tz=timezone.get_current_timezone(),
    )


def interval_days(patient: Patient, route: str, *, exclude_session_id: int | None = None) -> list[date]:
    """The days of the patient's booked or held sessions on the route (cancelled and
    undosed ones aside). A session without a protocol yet counts, as at the dose order."""
    sessions = (
        DosingSession.objects.filter(patient=patient)
        .exclude(status__in=[DosingSession.Status.CANCELLED, DosingSession.Status.NOT_DOSED])
        .filter(Q(protocol_version__route=route) | Q(protocol_version__isnull=True))
    )
    if exclude_session_id is not None:
        sessions = sessions.exclude(pk=exclude_session_id)
    return [session_interval_day(s) for s in sessions]


def _latest_weights(patient: Patient) -> tuple[WeightMeasurement | None, WeightMeasurement | None]:
    """The latest weight and the one before it (for the change-since-last warning)."""
    weights = list(patient.weights.order_by("-measured_on", "-recorded_at", "-id")[:2])
    return (weights[0] if weights else None, weights[1] if len(weights) > 1 else None)


def _last_session_date(session: DosingSession, route: str) -> date | None:
    """The patient's previous session on the route in which a dose was given. A record
    without a protocol (entered before this app kept one) counts: the safe side."""
    previous = (
        DosingSession.objects.filter(patient_id=session.patient_id).exclude(id=session.id).held()
        .filter(Q(protocol_version__route=route) | Q(protocol_version__isnull=True))
    )
    latest = None
    for s in previous:
        when = interval_moment(
            administered_at=s.administration_started_at, started_at=s.started_at, scheduled_start=s.scheduled_start)
        day = session_interval_day(s)
        if when <= (session.started_at or timezone.now()) and (latest is None or day > latest):
            latest = day
    return latest


@dataclass(frozen=True)
class OrderInputs:
    protocol: Protocol
    approved: bool
    weight: WeightMeasurement | None
    previous: WeightMeasurement | None
    session_date: date
    last_session_date: date | None
    # For ideal or adjusted body weight (issue 12): the latest height and the sex at birth.
    height: dose_core.Height | None = None
    sex: str | None = None


def _sex_for_dosing(patient: Patient) -> str | None:
    return patient.sex_at_birth if patient.sex_at_birth in ("female", "male") else None


def order_inputs(session: DosingSession, version: ProtocolVersion) -> OrderInputs:
    weight, previous = _latest_weights(session.patient)
    height = session.patient.heights.first()
    return OrderInputs(
        protocol=version.protocol, approved=version.is_approved, weight=weight, previous=previous,
        session_date=timezone.localdate(session.started_at or timezone.now()),
        last_session_date=_last_session_date(session, version.route),
        height=dose_core.Height(cm=height.height_cm, measured_on=height.measured_on) if height else None,
        sex=_sex_for_dosing(session.patient),
    )


def compute_order(inputs: OrderInputs, *, dose_mg_per_kg: Decimal | None, dose_mg: Decimal | None,
                  override_reason: str) -> dose_core.DoseOrder | dose_core.DoseRefusal:
    """``core.dosing.order_dose`` on the session's facts: the weight with its date from
    the patient's latest measurement, the interval from the previous session."""
    w = inputs.weight
    return dose_core.order_dose(
        protocol=inputs.protocol,
        protocol_approved=inputs.approved,
        weight=dose_core.Weight(kg=w.weight_kg, measured_on=w.measured_on) if w else None,
        previous_weight_kg=inputs.previous.weight_kg if inputs.previous else None,
        session_date=inputs.session_date,
        last_session_date=inputs.last_session_date,
        dose_mg_per_kg=dose_mg_per_kg,
        dose_mg=dose_mg,
        override=dose_core.Override(dose_core.PRESCRIBER_ROLE, override_reason) if override_reason else None,
        height=inputs.height,
        sex=inputs.sex,
    )


@dataclass(frozen=True)
class DischargeAssessment:
    alert_and_oriented: bool | None = None
    ambulating: bool | None = None
    nausea_controlled: bool | None = None
    escort_present: bool | None = None


def discharge_unmet(session: DosingSession, assessment: DischargeAssessment, at: datetime) -> list[str]:
    """Why the patient cannot go yet: the protocol's criteria as the core judges them,
    and any alarm still waiting for acknowledgement."""
    protocol = session_protocol(session)
    latest = session.vitals.filter(taken_at__lte=at + CLOCK_SKEW).order_by("-taken_at", "-id").first()
    observation = vitals_core.DischargeObservation(
        minutes_since_administration_end=(
            round(_minutes(at, session.administration_ended_at), 1) if session.administration_ended_at else None
        ),
        latest_vitals=vitals_core.Vitals(**{m.value: getattr(latest, m.value) for m in vitals_core.Measure})
        if latest else None,
        latest_vitals_age_min=round(max(0.0, _minutes(at, latest.taken_at)), 1) if latest else None,
        alert_and_oriented=assessment.alert_and_oriented,
        ambulating=assessment.ambulating,
        nausea_controlled=assessment.nausea_controlled,
        escort_present=assessment.escort_present,
    )
    unmet = [u.message for u in vitals_core.unmet_discharge_criteria(
        criteria=protocol.discharge_criteria, min_monitoring_minutes=protocol.min_monitoring_minutes,
        alarm_rules=protocol.alarm_rules, observation=observation,
    )]
    bp = discharge_bp(session, at)
    if bp is not None and not bp.status.allows_discharge:
        unmet.append(bp.message)
    open_alarms = session.alarms.filter(acknowledged_at__isnull=True).count()
    if open_alarms:
        unmet.append(f"{open_alarms} alarm(s) not yet acknowledged.")
    return unmet
