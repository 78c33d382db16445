"""Arrival: check-in, the weight at the session and the pre-dose checklist (screen, vitals, CNS-active medicines)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from openkap.accounts.authz import Actor
from openkap.audit.models import AuditAction
from openkap.core import vitals as vitals_core
from openkap.core.authz import Perm
from openkap.core.instruments import get_instrument
from openkap.core.protocols import Protocol
from openkap.core.routes import Route
from openkap.dosing.access import session_for
from openkap.dosing.models import (
    ACTIVE_STATUSES,
    DosingSession,
    PreDoseChecklist,
    PregnancyStatus,
    VitalSigns,
)
from openkap.dosing.session_facts import (
    current_suicide_screen,
    open_pre_dose_measures,
    pregnancy_relevant,
    protocol_in_use,
    session_protocol,
)
from openkap.dosing.validation import MAX_TEXT, clean_text, event_time
from openkap.measures import services as measures
from openkap.measures.models import MeasureAssignment, MeasureResponse
from openkap.pathway import selectors as pathway
from openkap.patients.models import Patient, WeightMeasurement
from openkap.patients.services import weight_record

from .common import (
    CNS_ACTIVE,
    STANDARD_ITEMS,
    _audit,
    _collect,
    _raise,
    _require_status,
)
from .monitoring import _raise_alarms, _vitals_errors, _vitals_values


def session_check_in(*, by: Actor, session_id: int, at: datetime | None = None) -> DosingSession:
    """The patient has arrived: the session begins on the treatment plan's protocol."""
    with transaction.atomic():
        session, glass = session_for(by, session_id, Perm.DOSING_RECORD, lock=True)
        _require_status(session, [DosingSession.Status.SCHEDULED], "be checked in")
        when = event_time(at)
        booked_day = timezone.localdate(session.scheduled_start)
        if timezone.localdate(when) != booked_day:
            raise ValidationError(
                {"__all__": f"This session is booked for {booked_day:%Y-%m-%d}: move the appointment first."}
            )
        episode = pathway.current_episode(session.patient)
        if episode is None or episode.id != session.episode_id:
            raise ValidationError({"__all__": "The session's episode of care is no longer open."})
        plan = pathway.plan_in_force(episode)
        if plan is None:
            raise ValidationError({"__all__": "The episode has no signed treatment plan naming a protocol."})
        version = protocol_in_use(by.organization.id, plan.protocol_id)
        if version is None:
            raise ValidationError({"__all__": (
                f"The plan's protocol {plan.protocol_id} is not in the protocol library: "
                "add it and have a prescriber approve it."
            )})
        session.status = DosingSession.Status.CHECKED_IN
        session.started_at, session.checked_in_by = when, by.user
        session.protocol_version = version
        session.save(update_fields=["status", "started_at", "checked_in_by", "protocol_version"])
        measures.sync_schedule(episode, by=by)  # pre-dose measures are now due by the check-in
        _audit(by, AuditAction.UPDATE, "dosing_session", session, session, glass, step="check_in",
               protocol=version.protocol_id, version=version.version)
    return session


def _screen_summary(response: MeasureResponse) -> str:
    when = timezone.localtime(response.completed_at)
    parts = [f"{response.instrument_id.upper()} on {when:%Y-%m-%d %H:%M}"]
    if response.instrument_id == "phq9":
        parts.append(f"item 9 = {response.answers.get('q9')}")
    if response.total is not None:
        parts.append(f"total {response.total:g}")
    parts.append("safety flag: " + ", ".join(response.flag_ids) if response.has_safety_flag else "no safety flag")
    return "; ".join(parts)


def _instrument_names(ids: Iterable[str]) -> list[str]:
    return [get_instrument(i).short_name for i in ids]


Errors = dict[str, list[str]]
CHECKLIST_TEXTS = (
    ("fasting_note", False, 300, "the fasting note"),
    ("escort_name", True, 200, "the escort's name"),
    ("escort_phone", True, 30, "the escort's phone number"),
    ("escort_relationship", False, 60, "the relationship"),
    ("new_medications", True, MAX_TEXT, "new medications (or 'none')"),
    ("intention", True, MAX_TEXT, "the patient's intention for the session"),
    ("baseline_bp_note", False, MAX_TEXT, "the note"),
    ("suicide_risk_note", False, MAX_TEXT, "the note"),
    ("pre_dose_measures_note", False, MAX_TEXT, "the reason"),
)


def _add(errors: Errors, field: str, message: str) -> None:
    errors.setdefault(field, []).append(message)


def _checklist_texts(data: Mapping[str, Any], errors: Errors) -> dict[str, str]:
    texts: dict[str, str] = {}
    for name, required, limit, what in CHECKLIST_TEXTS:
        try:
            texts[name] = clean_text(data.get(name), name, required=required, max_length=limit, what=what)
        except ValidationError as exc:
            _collect(errors, exc)
    phone = texts.get("escort_phone", "")
    if phone and sum(c.isdigit() for c in phone) < 7:
        _add(errors, "escort_phone", "Enter a phone number the escort can be reached on.")
    return texts


def _baseline_vitals(data: Mapping[str, Any], errors: Errors) -> dict[str, Any]:
    """Every measure, each valid. A baseline above 140/90 is recorded as measured; the
    prescriber documents the decision with the signed order (issue 12), and a
    crisis-range one refuses the order."""
    values = _vitals_values(data)
    for m in vitals_core.Measure:
        if values[m.value] is None:
            _add(errors, m.value, f"Baseline {vitals_core.MEASURES[m].label.lower()} is required.")
    for field, messages in _vitals_errors(values).items():
        for message in messages:
            if message not in errors.get(field, []):
                _add(errors, field, message)
    return values


def _pregnancy_status(data: Mapping[str, Any], patient: Patient, errors: Errors) -> str:
    pregnancy = str(data.get("pregnancy_status") or "")
    if pregnancy not in PregnancyStatus.values:
        _add(errors, "pregnancy_status", "Record the pregnancy status (or 'not applicable').")
    elif pregnancy_relevant(patient) and pregnancy == PregnancyStatus.NOT_APPLICABLE:
        _add(errors, "pregnancy_status", "Pregnancy status is relevant for this patient: record it.")
    elif pregnancy in (PregnancyStatus.PREGNANT, PregnancyStatus.POSSIBLY_PREGNANT):
        _add(errors, "pregnancy_status", (
            "Ketamine and esketamine are not given in pregnancy: hold the dose, inform the "
            "prescriber and end the session without a dose."
        ))
    return pregnancy


def _cns_active(data: Mapping[str, Any], errors: Errors) -> list[str]:
    cns = data.get("cns_active_medications") or []
    if not isinstance(cns, list | tuple) or any(c not in CNS_ACTIVE for c in cns):
        _add(errors, "cns_active_medications", "Choose from the listed CNS-active medicines.")
        return []
    return list(cns)


def _reviewed_screen(patient: Patient, when: datetime, data: Mapping[str, Any], texts: Mapping[str, str],
                     errors: Errors) -> MeasureResponse | None:
    screen = current_suicide_screen(patient, when)
    if screen is None:
        _add(errors, "suicide_risk_reviewed", (
            "No suicide-risk screen (PHQ-9, ASQ or C-SSRS) in the last 7 days: have the "
            "patient complete one (Measures tab) before dosing."
        ))
    elif data.get("suicide_risk_reviewed") is not True:
        _add(errors, "suicide_risk_reviewed", f"Review the current screen ({_screen_summary(screen)}) and confirm.")
    elif screen.has_safety_flag and not texts.get("suicide_risk_note"):
        _add(errors, "suicide_risk_note", "The screen has a safety flag: write the clinician's assessment before dosing.")
    return screen


def _pre_dose_measures(session: DosingSession, texts: Mapping[str, str], errors: Errors) -> list[MeasureAssignment]:
    """The session's open pre-dose measures: each done, or a written reason to dose without it."""
    missing = open_pre_dose_measures(session)
    if missing and not texts.get("pre_dose_measures_note"):
        _add(errors, "pre_dose_measures_note", (
            f"Pre-dose measures not completed: {', '.join(_instrument_names(a.instrument_id for a in missing))}. "
            "Complete them (Measures tab) or write why the dose goes ahead without them."
        ))
    return missing


def _current_consent(session: DosingSession, protocol: Protocol, errors: Errors) -> pathway.ConsentStatus:
    consent = pathway.consent_status(session.episode, Route(protocol.route.value))
    if not consent.current:
        if consent.withdrawn:
            why = "the patient withdrew consent"
        elif consent.signature is None:
            why = "no signed consent for this route"
        else:
            why = f"the signed version is not the one in force ({consent.document.version_label if consent.document else 'none'})"
        _add(errors, "__all__", f"Consent is not current: {why}.")
    return consent


def _protocol_items(protocol: Protocol, data: Mapping[str, Any], errors: Errors) -> dict[str, bool]:
    """The protocol's own items (the standard ones are the form's fields)."""
    items = data.get("items") or {}
    confirmed: dict[str, bool] = {}
    for item in protocol.pre_dose_checklist:
        if item.code in STANDARD_ITEMS:
            continue
        if not isinstance(items, Mapping) or items.get(item.code) is not True:
            _add(errors, f"item_{item.code}", item.text)
        else:
            confirmed[item.code] = True
    return confirmed


def checklist_complete(*, by: Actor, session_id: int, data: Mapping[str, Any],
                       at: datetime | None = None) -> PreDoseChecklist:
    """The pre-dose checklist, all at once: the protocol's items and the session's own
    (fasting, escort, baseline vitals, pregnancy, medications, suicide-risk screen,
    consent, intention). Every unmet item is listed; nothing is saved until all are met."""
    with transaction.atomic():
        session, glass = session_for(by, session_id, Perm.DOSING_RECORD, lock=True)
        _require_status(session, [DosingSession.Status.CHECKED_IN], "complete the checklist")
        if PreDoseChecklist.objects.filter(session=session).exists():
            raise ValidationError({"__all__": "The checklist is already complete."})
        protocol = session_protocol(session)
        assert session.started_at is not None
        when = event_time(at, not_before=session.started_at, after_what="check-in")
        patient = session.patient
        errors: Errors = {}
        if data.get("fasting_confirmed") is not True:
            codes = {item.code: item.text for item in protocol.pre_dose_checklist}
            _add(errors, "fasting_confirmed", codes.get("fasting", "Confirm the patient has fasted as instructed."))
        texts = _checklist_texts(data, errors)
        values = _baseline_vitals(data, errors)
        pregnancy = _pregnancy_status(data, patient, errors)
        cns = _cns_active(data, errors)
        screen = _reviewed_screen(patient, when, data, texts, errors)
        missing = _pre_dose_measures(session, texts, errors)
        consent = _current_consent(session, protocol, errors)
        confirmed = _protocol_items(protocol, data, errors)
        _raise(errors)
        vitals = VitalSigns.objects.create(
            organization=by.organization, session=session, taken_at=when, recorded_by=by.user,
            note="Baseline (pre-dose checklist)", **values,
        )
        _raise_alarms(by, session, vitals, protocol, glass)
        assert screen is not None
        assert consent.signature is not None
        assert session.protocol_version is not None  # _protocol refused a session without one
        checklist = PreDoseChecklist.objects.create(
            organization=by.organization, session=session, protocol_version=session.protocol_version,
            fasting_confirmed=True, fasting_note=texts["fasting_note"], escort_name=texts["escort_name"],
            escort_phone=texts["escort_phone"], escort_relationship=texts["escort_relationship"],
            baseline_vitals=vitals, baseline_bp_note=texts["baseline_bp_note"], pregnancy_status=pregnancy,
            new_medications=texts["new_medications"], cns_active_medications=sorted(set(cns)),
            suicide_screen=screen, suicide_screen_summary=_screen_summary(screen)[:300],
            suicide_risk_note=texts["suicide_risk_note"],
            pre_dose_measures_missing=[a.instrument_id for a in missing],
            pre_dose_measures_note=texts["pre_dose_measures_note"] if missing else "",
            consent_version=consent.signature.document.version_label, intention=texts["intention"],
            items=confirmed, completed_by=by.user, completed_at=when,
        )
        if missing:
            # Documented as not done before this dose: no longer due, the reason kept.
            MeasureAssignment.objects.filter(id__in=[a.id for a in missing]).update(
                cancelled_at=when, cancelled_by=by.user,
                cancel_reason=f"Dosed without it: {texts['pre_dose_measures_note']}"[:200],
            )
        _audit(by, AuditAction.CREATE, "pre_dose_checklist", checklist, session, glass,
               baseline_vitals=vitals.id, screen=screen.id, items=sorted(confirmed),
               pre_dose_measures_missing=[a.instrument_id for a in missing])
    return checklist


def weight_for_session(*, by: Actor, session_id: int, value: object, unit: str) -> WeightMeasurement:
    """Weigh the patient at the session (kg, or lb converted once by the patients app)."""
    session, _ = session_for(by, session_id, Perm.DOSING_RECORD)
    _require_status(session, ACTIVE_STATUSES, "record a weight")
    return weight_record(by=by, patient_id=session.patient_id, value=str(value), unit=unit)
