"""During the session: vitals with their alarms, observations (MOAA/S, CADSS) and adverse events."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import Http404
from django.utils import timezone

from openkap.accounts.authz import Actor, require
from openkap.audit.models import AuditAction
from openkap.core import blood_pressure as bp_core
from openkap.core import vitals as vitals_core
from openkap.core.authz import Perm
from openkap.core.protocols import Protocol
from openkap.dosing.access import session_for
from openkap.dosing.models import (
    ACTIVE_STATUSES,
    AdverseEvent,
    Alarm,
    DosingSession,
    Observation,
    VitalSigns,
)
from openkap.dosing.session_facts import discharge_bp, session_protocol
from openkap.dosing.validation import MAX_TEXT, clean_text, event_time
from openkap.measures import services as measures

from .common import (
    _audit,
    _collect,
    _minutes,
    _raise,
    _require_status,
)
from .discharge import _bp_still_high_task, _monitoring_over


def _vitals_values(data: Mapping[str, Any]) -> dict[str, Any]:
    return {m.value: data.get(m.value) for m in vitals_core.Measure}


def _vitals_errors(values: Mapping[str, Any]) -> dict[str, list[str]]:
    errors: dict[str, list[str]] = {}
    for e in vitals_core.validate_vitals(**values):
        errors.setdefault(e.field, []).append(e.message)
    return errors




def _raise_alarms(by: Actor, session: DosingSession, vitals: VitalSigns, protocol: Protocol,
                  glass: bool) -> list[Alarm]:
    readings = vitals_core.Vitals(**{m.value: getattr(vitals, m.value) for m in vitals_core.Measure})
    alarms = []
    for alarm in vitals_core.evaluate_alarms(readings, protocol.alarm_rules):
        row = Alarm.objects.create(
            organization=by.organization, session=session, vitals=vitals, code=alarm.code,
            severity=alarm.severity.value, measure=alarm.measure.value, value=alarm.value,
            message=alarm.message[:300], raised_at=vitals.taken_at,
        )
        _audit(by, AuditAction.CREATE, "dosing_alarm", row, session, glass, code=alarm.code,
               severity=alarm.severity.value, value=alarm.value)
        alarms.append(row)
    return alarms


def vitals_record(*, by: Actor, session_id: int, systolic: object = None, diastolic: object = None,
                  heart_rate: object = None, spo2: object = None, respiratory_rate: object = None,
                  at: datetime | None = None, note: str = "") -> tuple[VitalSigns, list[Alarm]]:
    """A set of vitals, validated as physiologically possible; the protocol's alarm rules
    raise an alarm per threshold crossed, open until acknowledged."""
    values = {"systolic": systolic, "diastolic": diastolic, "heart_rate": heart_rate, "spo2": spo2,
              "respiratory_rate": respiratory_rate}
    if all(v is None for v in values.values()):
        raise ValidationError({"__all__": "Enter at least one reading."})
    _raise(_vitals_errors(values))
    note = clean_text(note, "note", max_length=300, what="the note")
    with transaction.atomic():
        session, glass = session_for(by, session_id, Perm.DOSING_RECORD, lock=True)
        _require_status(session, ACTIVE_STATUSES, "take vitals")
        assert session.started_at is not None
        when = event_time(at, not_before=session.started_at, after_what="check-in")
        start = session.administration_started_at
        vitals = VitalSigns.objects.create(
            organization=by.organization, session=session, taken_at=when,
            minutes_after_dose=round(_minutes(when, start), 1) if start and when >= start else None,
            recorded_by=by.user, note=note, **values,
        )
        _audit(by, AuditAction.CREATE, "vital_signs", vitals, session, glass,
               **{k: v for k, v in values.items() if v is not None})
        alarms = _raise_alarms(by, session, vitals, session_protocol(session), glass)
        if vitals.systolic is not None and session.status == DosingSession.Status.MONITORING and _monitoring_over(
            session, when
        ):
            bp = discharge_bp(session, when)
            if bp is not None and bp.status is bp_core.DischargeBp.STILL_HIGH:
                _bp_still_high_task(by, session, bp)
    return vitals, alarms


def alarm_acknowledge(*, by: Actor, alarm_id: int, action: str, note: str = "") -> Alarm:
    """A clinician saw the alarm and says what was done."""
    note = clean_text(note, "note", max_length=1000, what="the note")
    if action not in Alarm.Action.values:
        raise ValidationError({"action": "Choose the action taken."})
    if action == Alarm.Action.OTHER and not note:
        raise ValidationError({"note": "Describe the action taken."})
    with transaction.atomic():
        require(by, Perm.DOSING_RECORD)
        alarm = Alarm.objects.select_for_update().filter(id=alarm_id, organization=by.organization).first()
        if alarm is None:
            raise Http404("No such alarm in your organisation.")
        session, glass = session_for(by, alarm.session_id, Perm.DOSING_RECORD)
        if not alarm.is_open:
            raise ValidationError({"__all__": "This alarm is already acknowledged."})
        alarm.acknowledged_at, alarm.acknowledged_by = timezone.now(), by.user
        alarm.action, alarm.action_note = action, note
        alarm.save(update_fields=["acknowledged_at", "acknowledged_by", "action", "action_note"])
        _audit(by, AuditAction.UPDATE, "dosing_alarm", alarm, session, glass, acknowledged=True, taken=action)
    return alarm


CADSS_INSTRUMENTS = ("cadss6", "cadss")


def observation_record(*, by: Actor, session_id: int, at: datetime | None = None, moaas: object = None,
                       cadss_answers: Mapping[str, Any] | None = None, cadss_instrument: str = "cadss6",
                       respiration_normal: object = None, note: str = "") -> Observation:
    """Sedation (MOAA/S 0-5), dissociation (CADSS, stored as a staff-entered measures
    response) and the respiratory check, at the protocol's times or as needed."""
    note = clean_text(note, "note", max_length=300, what="the note")
    if moaas is not None and (isinstance(moaas, bool) or not isinstance(moaas, int) or not 0 <= moaas <= 5):
        raise ValidationError({"moaas": "MOAA/S is a whole number from 0 (no response) to 5 (awake)."})
    if respiration_normal is not None and not isinstance(respiration_normal, bool):
        raise ValidationError({"respiration_normal": "Say whether breathing is normal."})
    if cadss_answers and cadss_instrument not in CADSS_INSTRUMENTS:
        raise ValidationError({"cadss_instrument": "Use CADSS-6 or the full CADSS."})
    if moaas is None and not cadss_answers and respiration_normal is None:
        raise ValidationError({"__all__": "Record sedation, dissociation or the respiratory check."})
    with transaction.atomic():
        session, glass = session_for(by, session_id, Perm.DOSING_RECORD, lock=True)
        _require_status(session, ACTIVE_STATUSES, "record observations")
        assert session.started_at is not None
        when = event_time(at, not_before=session.started_at, after_what="check-in")
        response = None
        if cadss_answers:
            response = measures.response_enter(
                by=by, patient_id=session.patient_id, instrument_id=cadss_instrument, answers=cadss_answers,
                completed_at=when, occasion="ad_hoc",
            )
        start = session.administration_started_at
        observation = Observation.objects.create(
            organization=by.organization, session=session, at=when,
            minutes_after_dose=round(_minutes(when, start), 1) if start and when >= start else None,
            moaas=moaas, cadss_response=response, cadss_instrument=cadss_instrument if response else "",
            cadss_total=response.total if response else None, respiration_normal=respiration_normal,
            note=note, recorded_by=by.user,
        )
        _audit(by, AuditAction.CREATE, "dosing_observation", observation, session, glass, moaas=moaas,
               cadss=response.id if response else None, respiration_normal=respiration_normal)
    return observation


def adverse_event_record(
    *, by: Actor, session_id: int, code: str, severity: str, outcome: str, serious: object,
    onset_at: datetime | None = None, description: str = "", action_taken: str = "",
    antiemetic_drug: str = "", antiemetic_dose: str = "", antiemetic_at: datetime | None = None,
) -> AdverseEvent:
    errors: dict[str, list[str]] = {}
    if code not in AdverseEvent.Code.values:
        errors["code"] = ["Choose the event from the list."]
    if severity not in AdverseEvent.Severity.values:
        errors["severity"] = ["Choose mild, moderate or severe."]
    if outcome not in AdverseEvent.Outcome.values:
        errors["outcome"] = ["Choose the outcome."]
    if not isinstance(serious, bool):
        errors["serious"] = ["Say whether the event is serious."]
    texts: dict[str, str] = {}
    for name, value, limit, what in (
        ("description", description, 300, "the description"),
        ("action_taken", action_taken, MAX_TEXT, "the action taken"),
        ("antiemetic_drug", antiemetic_drug, 100, "the antiemetic"),
        ("antiemetic_dose", antiemetic_dose, 40, "the antiemetic dose"),
    ):
        try:
            texts[name] = clean_text(value, name, max_length=limit, what=what)
        except ValidationError as exc:
            _collect(errors, exc)
    if code == AdverseEvent.Code.OTHER and not texts.get("description"):
        errors.setdefault("description", []).append("Describe the event.")
    antiemetic = [texts.get("antiemetic_drug"), texts.get("antiemetic_dose"), antiemetic_at]
    if any(antiemetic) and not all(antiemetic):
        errors.setdefault("antiemetic_drug", []).append("An antiemetic needs the drug, the dose and the time given.")
    _raise(errors)
    with transaction.atomic():
        session, glass = session_for(by, session_id, Perm.DOSING_RECORD, lock=True)
        _require_status(session, ACTIVE_STATUSES, "record adverse events")
        assert session.started_at is not None
        assert isinstance(serious, bool)  # refused above otherwise
        onset = event_time(onset_at, field="onset_at", not_before=session.started_at, after_what="check-in")
        if antiemetic_at is not None:
            event_time(antiemetic_at, field="antiemetic_at", not_before=session.started_at, after_what="check-in")
        event = AdverseEvent.objects.create(
            organization=by.organization, session=session, code=code, severity=severity, outcome=outcome,
            serious=serious, onset_at=onset, antiemetic_at=antiemetic_at, recorded_by=by.user, **texts,
        )
        _audit(by, AuditAction.CREATE, "adverse_event", event, session, glass, code=code, severity=severity,
               serious=serious)
    return event
