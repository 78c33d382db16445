"""Facts of one dosing session read from its rows: the suicide screen, the open pre-dose
measures, the blood pressure before and after the dose, the missed vitals checks, where an infusion stands, the fingerprint
of what its record prints, the order and preparation in force, the protocol version sessions run on.

Not audited and no permission check: the caller (a service inside its transaction, or a
page over a session it read through an audited selector) has already checked access.
Services and selectors both import this module, so it imports neither."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django.db import models

from openkap.core import blood_pressure as bp_core
from openkap.core import missed_vitals
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
from openkap.patients.models import Patient

SCREEN_MAX_AGE = timedelta(days=7)
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


def active_order(session: DosingSession) -> DoseOrder | None:
    return session.orders.filter(cancelled_at__isnull=True).select_related("protocol_version").first()


def active_preparation(session: DosingSession) -> DosePreparation | None:
    return (
        session.preparations.filter(voided_at__isnull=True, order__cancelled_at__isnull=True)
        .select_related("lot__product", "order", "order__protocol_version").first()
    )


def protocol_in_use(organization_id: int, protocol_id: str) -> ProtocolVersion | None:
    """The version sessions run on: the latest approved; else the latest draft, so that
    the order's hard stop says the protocol is not approved."""
    versions = ProtocolVersion.objects.filter(organization_id=organization_id, protocol_id=protocol_id)
    return (
        versions.filter(status=ProtocolVersion.Status.APPROVED).order_by("-version").first()
        or versions.order_by("-version").first()
    )
