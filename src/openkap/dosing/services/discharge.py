"""Discharge: criteria, missed vitals, the blood pressure at discharge, and what follows it (tasks, experience measures)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from openkap.accounts.authz import Actor
from openkap.accounts.services import reauthenticate_signer
from openkap.audit.models import AuditAction
from openkap.core import blood_pressure as bp_core
from openkap.core import missed_vitals
from openkap.core.authz import Perm, Role
from openkap.dosing import events
from openkap.dosing.access import session_for
from openkap.dosing.models import (
    Discharge,
    DosingSession,
)
from openkap.dosing.session_facts import (
    BP_TASK_KIND,
    DischargeAssessment,
    discharge_bp,
    discharge_unmet,
    missed_vitals_of,
    session_protocol,
)
from openkap.dosing.validation import CLOCK_SKEW, MAX_TEXT, clean_text, event_time
from openkap.measures import services as measures
from openkap.tasks import services as tasks
from openkap.tasks.models import Task

from .common import (
    AFTERCARE,
    PATIENT_MEASURES_AFTER,
    DischargeBlocked,
    _audit,
    _collect,
    _minutes,
    _raise,
    _require_status,
)
from .rems import _rems_form_create


def _monitoring_over(session: DosingSession, at: datetime) -> bool:
    end = session.administration_ended_at
    return end is not None and _minutes(at, end) >= session_protocol(session).min_monitoring_minutes


def _bp_still_high_task(by: Actor, session: DosingSession, assessment: bp_core.DischargeBpAssessment) -> Task | None:
    """At the end of monitoring with the blood pressure still high: an urgent task to the
    prescribers of the care team (the clinic's prescribers without one), raised once."""
    if Task.objects.filter(kind=BP_TASK_KIND, subject_type="dosing_session", subject_id=str(session.id),
                           resolved_at__isnull=True).exists():
        return None
    team = list(session.patient.care_team.filter(ended_at__isnull=True, role=Role.PRESCRIBER.value)
                .values_list("user_id", flat=True))
    return tasks.task_create(
        by=by, organization=session.organization, kind=BP_TASK_KIND, patient=session.patient,
        priority=Task.Priority.URGENT,
        title="Blood pressure still high at the end of SPRAVATO monitoring: seek expert help",
        detail=assessment.message, subject_type="dosing_session", subject_id=session.id,
        assignee_ids=sorted(set(team)), assigned_role="" if team else Role.PRESCRIBER.value,
        due_at=timezone.now(), notify=True,
    )


def session_discharge(
    *, by: Actor, session_id: int, password: str, alert_and_oriented: object, ambulating: object,
    nausea_controlled: object, escort_present: object, escort_name: str, escort_phone: str,
    aftercare_instructions: str = "", missed_vitals_reason: str = "", at: datetime | None = None,
) -> Discharge:
    """Discharge to a named escort, signed. Refused with every reason while any of the
    protocol's criteria is unmet."""
    session_for(by, session_id, Perm.DOSING_RECORD)
    errors: dict[str, list[str]] = {}
    texts: dict[str, str] = {}
    for name, value, limit, what, required in (
        ("escort_name", escort_name, 200, "the escort's name", True),
        ("escort_phone", escort_phone, 30, "the escort's phone number", True),
        ("aftercare_instructions", aftercare_instructions or AFTERCARE, MAX_TEXT, "the aftercare instructions", True),
        ("missed_vitals_reason", missed_vitals_reason, MAX_TEXT, "why vitals checks were missed", False),
    ):
        try:
            texts[name] = clean_text(value, name, required=required, max_length=limit, what=what)
        except ValidationError as exc:
            _collect(errors, exc)
    answers: dict[str, bool | None] = {}
    for name, answer in (("alert_and_oriented", alert_and_oriented), ("ambulating", ambulating),
                        ("nausea_controlled", nausea_controlled), ("escort_present", escort_present)):
        answers[name] = answer if isinstance(answer, bool) else None
    _raise(errors)
    reauthenticate_signer(by, password)
    try:
        return _session_discharge(by=by, session_id=session_id, answers=answers, texts=texts, at=at)
    except DischargeBlocked:
        # Refused with the blood pressure still high at the end of monitoring: the task
        # is raised after the refusal's rollback (issue 12).
        with transaction.atomic():
            session, _ = session_for(by, session_id, Perm.DOSING_RECORD, lock=True)
            when = event_time(at)
            bp = discharge_bp(session, when)
            if bp is not None and bp.status is bp_core.DischargeBp.STILL_HIGH and _monitoring_over(session, when):
                _bp_still_high_task(by, session, bp)
        raise


def _session_discharge(*, by: Actor, session_id: int, answers: dict[str, Any], texts: dict[str, str],
                       at: datetime | None) -> Discharge:
    with transaction.atomic():
        session, glass = session_for(by, session_id, Perm.DOSING_RECORD, lock=True)
        _require_status(session, [DosingSession.Status.MONITORING], "be discharged")
        assert session.administration_ended_at is not None
        when = event_time(at, not_before=session.administration_ended_at, after_what="the end of administration")
        unmet = discharge_unmet(session, DischargeAssessment(**answers), when)
        missed = missed_vitals_of(session, when)
        # A rule of its own beside the protocol's discharge criteria: the record must say
        # why scheduled checks are missing (or, if the protocol says so, not close without them).
        gap = missed_vitals.missed_vitals_refusal(missed, session_protocol(session).missed_vitals, texts["missed_vitals_reason"])
        if gap:
            unmet.append(gap)
        if unmet:
            raise DischargeBlocked(unmet)
        if not missed:
            texts["missed_vitals_reason"] = ""
        final = session.vitals.filter(taken_at__lte=when + CLOCK_SKEW).order_by("-taken_at", "-id").first()
        assert final is not None
        discharge = Discharge.objects.create(
            organization=by.organization, session=session, discharged_at=when, final_vitals=final,
            minutes_monitored=int(_minutes(when, session.administration_ended_at)),
            missed_vitals_min=list(missed), signed_by=by.user, signer_name=by.user.full_name, **{k: bool(v) for k, v in answers.items()}, **texts,
        )
        session.status, session.discharged_at = DosingSession.Status.DISCHARGED, when
        session.save(update_fields=["status", "discharged_at"])
        measures.sync_schedule(session.episode, by=by)  # follow-ups count from the discharge
        _audit(by, AuditAction.CREATE, "dosing_discharge", discharge, session, glass, signed=True,
               minutes_monitored=discharge.minutes_monitored, missed_vitals_min=list(missed))
        events.session_closed.send(DosingSession, by=by, session=session, step="discharge", break_glass=glass)
        _assign_experience_measures(by, session)
        if session_protocol(session).rems_required:
            _rems_form_create(by, session, discharge)
    return discharge


def _assign_experience_measures(by: Actor, session: DosingSession) -> None:
    """MEQ-30 and EBI for the patient to complete afterwards in the portal."""
    for instrument_id in PATIENT_MEASURES_AFTER:
        measures.measure_assign(by=by, patient_id=session.patient_id, instrument_id=instrument_id,
                                episode_id=session.episode_id)
