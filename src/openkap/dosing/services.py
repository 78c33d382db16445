"""Writes of medicine sessions: the protocol library and each step of a session.

Every function takes keyword arguments and an explicit actor, checks access
(404 across organisations, 403 without the permission or outside the care
team), runs in one transaction and writes its audit row in it. Bad input is a
``ValidationError`` naming what is wrong, and nothing changes. The decisions are
the core's: ``core.protocols`` validates a protocol, ``core.dosing`` orders and
prepares a dose with its hard stops and soft limits, ``core.vitals`` validates
readings, raises alarms and judges discharge. Signatures re-enter the password
(outside the transaction, so a wrong one is audited like a failed sign-in).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Max, Q
from django.http import Http404
from django.utils import timezone

from openkap.accounts.authz import Actor, require
from openkap.accounts.services import reauthenticate_signer, signer_credentials
from openkap.audit.models import AuditAction
from openkap.audit.services import audit_record
from openkap.core import blood_pressure as bp_core
from openkap.core import dosing as dose_core
from openkap.core import missed_vitals
from openkap.core import vitals as vitals_core
from openkap.core.authz import Perm, Role
from openkap.core.protocols import Protocol, ProtocolError, example_ids, safety_limit_gaps
from openkap.core.protocols.loader import loads_protocol
from openkap.core.routes import Route
from openkap.dosing.inventory import core_lot
from openkap.dosing.models import (
    ACTIVE_STATUSES,
    AdministrationEvent,
    AdverseEvent,
    Alarm,
    Discharge,
    DoseOrder,
    DosePreparation,
    DosingSession,
    Observation,
    PreDoseChecklist,
    PregnancyStatus,
    ProtocolVersion,
    RefusedDoseOrder,
    RemsForm,
    Verification,
    VitalSigns,
)
from openkap.ledger import services as ledger
from openkap.ledger.models import Lot
from openkap.measures import services as measures
from openkap.measures.models import MeasureResponse, Task
from openkap.pathway import selectors as pathway
from openkap.patients.models import Patient, WeightMeasurement
from openkap.patients.selectors import patient_for
from openkap.patients.services import weight_record

MAX_TEXT = 4000
MAX_PROTOCOL_CHARS = 100_000
# Late entries (charted after the fact, or on paper during an outage) up to a week.
LATE_ENTRY = timedelta(days=7)
CLOCK_SKEW = timedelta(minutes=2)
# A suicide-risk screen older than this is not current for a dosing session.
SCREEN_MAX_AGE = timedelta(days=7)
SCREEN_INSTRUMENTS = ("phq9", "asq", "cssrs-slv", "cssrs-recent")
# Pre-dose BP above this needs the prescriber's documented weighing of the risk
# (Spravato label, reference §1.5 and §2.1).
BASELINE_BP_LIMIT = (bp_core.REVIEW_SYSTOLIC, bp_core.REVIEW_DIASTOLIC)
BP_DECISION_MIN_CHARS = 10
BP_TASK_KIND = "bp_still_high"
# CNS-active medicines asked about before dosing (REMS monitoring form).
CNS_ACTIVE = {
    "benzodiazepine": "Benzodiazepine",
    "opioid": "Opioid",
    "alcohol": "Alcohol in the last 24 hours",
    "other_depressant": "Other CNS depressant (sedating antihistamine, gabapentinoid, sleep medicine...)",
    "psychostimulant": "Psychostimulant (amphetamine, methylphenidate, modafinil...)",
    "maoi": "MAOI",
}
CNS_DEPRESSANTS = ("benzodiazepine", "opioid", "alcohol", "other_depressant")
# Checklist items every protocol may list that the checklist form asks as fields.
STANDARD_ITEMS = frozenset({
    "fasting", "escort-confirmed", "baseline-vitals", "baseline-bp", "pregnancy-status",
    "medications", "suicide-risk-reviewed", "consent-current", "intention",
})
AFTERCARE = (
    "Do not drive, cycle or operate machinery until the next day after a restful sleep. "
    "Go home with your escort and rest; have someone stay with you this evening. "
    "No alcohol or sedating medicines today. Eat lightly when you feel ready. "
    "If you feel unsafe, or have chest pain, a severe headache or trouble breathing, "
    "call 911; for a mental health crisis call or text 988."
)
PATIENT_MEASURES_AFTER = ("meq30", "ebi")
REMS_TASK_KIND = "rems_monitoring_form"


class DoseRefused(ValidationError):
    """A dose the core refused: the stops and soft limits, with the arithmetic so far."""

    def __init__(self, refusal: dose_core.DoseRefusal, errors: Mapping[str, list[str]]):
        super().__init__(dict(errors))
        self.refusal = refusal


class DischargeBlocked(ValidationError):
    def __init__(self, reasons: list[str]):
        super().__init__({"__all__": reasons})
        self.reasons = reasons


# --- small helpers -----------------------------------------------------------------------


def clean_text(value: object, field: str, *, required: bool = False, max_length: int = MAX_TEXT,
          what: str = "this") -> str:
    text = "" if value is None else str(value).strip()
    if required and not text:
        raise ValidationError({field: f"Enter {what}."})
    if len(text) > max_length:
        raise ValidationError({field: f"Keep {what} under {max_length} characters."})
    return text


def _collect(errors: dict[str, list[str]], exc: ValidationError) -> None:
    for key, messages in (exc.message_dict if hasattr(exc, "error_dict") else {"__all__": exc.messages}).items():
        errors.setdefault(key, []).extend(messages)


def _raise(errors: Mapping[str, list[str]]) -> None:
    if errors:
        raise ValidationError(dict(errors))


def _decimal(value: object, field: str, what: str) -> Decimal:
    if value is None or isinstance(value, bool | float):
        raise ValidationError({field: f"Enter {what} as a number."})
    try:
        number = value if isinstance(value, Decimal) else Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        raise ValidationError({field: f"Enter {what} as a number."}) from None
    if not number.is_finite() or abs(number) >= Decimal(10) ** 8:
        raise ValidationError({field: f"Enter {what} as a number."})
    return number


def _optional_decimal(value: object, field: str, what: str) -> Decimal | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    return _decimal(value, field, what)


def event_time(at: datetime | None, *, field: str = "at", not_before: datetime | None = None,
          after_what: str = "") -> datetime:
    """When something happened: now, or a late entry up to a week old; never in the
    future and never before the step it follows."""
    now = timezone.now()
    if at is None:
        at = now
    if not isinstance(at, datetime) or timezone.is_naive(at):
        raise ValidationError({field: "Give the date and time with its time zone."})
    if at > now + CLOCK_SKEW:
        raise ValidationError({field: "The time cannot be in the future."})
    if at < now - LATE_ENTRY:
        raise ValidationError({field: "Late entries are accepted up to 7 days after the event."})
    if not_before is not None and at < not_before:
        local = timezone.localtime(not_before)
        raise ValidationError({field: f"The time must not be before {after_what} ({local:%Y-%m-%d %H:%M})."})
    return at


def _minutes(later: datetime, earlier: datetime) -> float:
    return (later - earlier).total_seconds() / 60


def _fmt(value: Decimal) -> str:
    text = format(value.normalize(), "f")
    return text


def _audit(by: Actor, action: AuditAction, object_type: str, obj: Any, session: DosingSession,
           glass: bool, **detail: Any) -> None:
    audit_record(
        by=by, action=action, object_type=object_type, object_id=obj.id, patient_id=session.patient_id,
        break_glass=glass, detail={"session": session.id, **detail},
    )


def session_for(by: Actor, session_id: int, perm: Perm, *, lock: bool = False) -> tuple[DosingSession, bool]:
    """The session, 404 outside the actor's organisation; the patient checked for ``perm``."""
    require(by, perm)
    qs = DosingSession.objects.filter(id=session_id, organization=by.organization)
    if lock:
        qs = qs.select_for_update()
    session = qs.first()
    if session is None:
        raise Http404("No such dosing session in your organisation.")
    _patient, glass = patient_for(by, session.patient_id, perm)
    return session, glass


def _require_status(session: DosingSession, allowed: Iterable[str], doing: str) -> None:
    if session.status not in set(allowed):
        raise ValidationError(
            {"__all__": f"The session is {session.get_status_display().lower()}: it cannot {doing} now."}
        )


def _protocol(session: DosingSession) -> Protocol:
    if session.protocol_version is None:
        raise ValidationError({"__all__": "The session has no protocol: check the patient in first."})
    return session.protocol_version.protocol


def _signature(by: Actor) -> dict[str, Any]:
    return {"signer_name": by.user.full_name, "signer_credentials": signer_credentials(by)}


# --- the protocol library -----------------------------------------------------------------


def dump_protocol(value: object, indent: int = 0) -> str:
    """Canonical protocol JSON with exact decimals (``json`` would turn them into floats)."""
    pad, inner = "  " * indent, "  " * (indent + 1)
    if isinstance(value, dict):
        if not value:
            return "{}"
        items = [f"{inner}{json.dumps(k)}: {dump_protocol(v, indent + 1)}" for k, v in value.items()]
        return "{\n" + ",\n".join(items) + f"\n{pad}}}"
    if isinstance(value, list):
        if not value:
            return "[]"
        return "[\n" + ",\n".join(f"{inner}{dump_protocol(v, indent + 1)}" for v in value) + f"\n{pad}]"
    if isinstance(value, Decimal):
        return format(value, "f")
    return json.dumps(value, ensure_ascii=False)


def _parse_content(content: object, version: int) -> tuple[Protocol, str]:
    """Validate protocol JSON text and set its version: (protocol, canonical text)."""
    if not isinstance(content, str) or not content.strip():
        raise ValidationError({"content": "Paste the protocol as JSON."})
    if len(content) > MAX_PROTOCOL_CHARS:
        raise ValidationError({"content": f"A protocol is at most {MAX_PROTOCOL_CHARS} characters."})
    try:
        loads_protocol(content)  # strict: duplicate keys, NaN, unknown fields...
    except ProtocolError as exc:
        if not any(e.startswith("version:") for e in exc.errors):
            raise ValidationError({"content": list(exc.errors)}) from None
    data = json.loads(content, parse_float=Decimal)
    if not isinstance(data, dict):
        raise ValidationError({"content": "A protocol is a JSON object."})
    data["version"] = version
    text = dump_protocol(data) + "\n"
    try:
        protocol = loads_protocol(text)
    except ProtocolError as exc:
        raise ValidationError({"content": list(exc.errors)}) from None
    return protocol, text


def _library_version(by: Actor, version_id: int, *, lock: bool = False) -> ProtocolVersion:
    qs = ProtocolVersion.objects.filter(id=version_id, organization=by.organization)
    if lock:
        qs = qs.select_for_update()
    version = qs.first()
    if version is None:
        raise Http404("No such protocol version in your organisation.")
    return version


def _next_version(by: Actor, protocol_id: str) -> int:
    top = ProtocolVersion.objects.filter(organization=by.organization, protocol_id=protocol_id).aggregate(
        top=Max("version")
    )["top"]
    return (top or 0) + 1


def _store_version(by: Actor, protocol: Protocol, text: str, *, based_on: ProtocolVersion | None,
                   change_reason: str) -> ProtocolVersion:
    try:
        with transaction.atomic():
            version = ProtocolVersion.objects.create(
                organization=by.organization, protocol_id=protocol.id, version=protocol.version,
                title=protocol.title[:300], route=protocol.route.value, content=text,
                sha256=hashlib.sha256(text.encode()).hexdigest(), based_on=based_on,
                change_reason=change_reason, created_by=by.user,
            )
    except IntegrityError:
        raise ValidationError(
            {"content": f"Version {protocol.version} of {protocol.id} was saved by someone else just now: reload and try again."}
        ) from None
    audit_record(
        by=by, action=AuditAction.CREATE, object_type="protocol_version", object_id=version.id,
        detail={"protocol": protocol.id, "version": protocol.version, "sha256": version.sha256,
                "based_on": based_on.id if based_on else None},
    )
    return version


def protocol_draft_create(*, by: Actor, content: str, change_reason: str = "") -> ProtocolVersion:
    """A new protocol for the library, as a draft (version 1, or the next number when an
    earlier protocol of the same id exists: then it is a revision and needs a reason)."""
    require(by, Perm.PROTOCOL_MANAGE)
    change_reason = clean_text(change_reason, "change_reason", what="the reason for the change")
    with transaction.atomic():
        # Parse once to learn the id, then again with the version it will carry.
        first, _ = _parse_content(content, 1)
        previous = (
            ProtocolVersion.objects.select_for_update()
            .filter(organization=by.organization, protocol_id=first.id)
            .order_by("-version").first()
        )
        if previous is not None and not change_reason:
            raise ValidationError(
                {"change_reason": f"The library already has {first.id} (v{previous.version}): say what changes."}
            )
        protocol, text = _parse_content(content, _next_version(by, first.id))
        return _store_version(by, protocol, text, based_on=previous, change_reason=change_reason)


def protocol_example_import(*, by: Actor, example_id: str) -> ProtocolVersion:
    """A draft copy of one of the protocols shipped with OpenKAP, to review and approve."""
    require(by, Perm.PROTOCOL_MANAGE)
    if example_id not in example_ids():
        raise ValidationError({"example_id": "Choose one of the shipped example protocols."})
    from importlib import resources

    text = resources.files("openkap.core.protocols.examples").joinpath(f"{example_id}.json").read_text("utf-8")
    exists = ProtocolVersion.objects.filter(organization=by.organization, protocol_id=example_id).exists()
    return protocol_draft_create(
        by=by, content=text,
        change_reason="Re-imported from the example shipped with OpenKAP." if exists else "",
    )


def protocol_revise(*, by: Actor, version_id: int, content: str, change_reason: str) -> ProtocolVersion:
    """A change to a protocol: always a new draft version; the one it changes stays as it was."""
    require(by, Perm.PROTOCOL_MANAGE)
    change_reason = clean_text(change_reason, "change_reason", required=True, what="what changes and why")
    with transaction.atomic():
        base = _library_version(by, version_id)
        protocol, text = _parse_content(content, _next_version(by, base.protocol_id))
        if protocol.id != base.protocol_id:
            raise ValidationError(
                {"content": f"A revision keeps the id {base.protocol_id}; a new id is a new protocol."}
            )
        return _store_version(by, protocol, text, based_on=base, change_reason=change_reason)


def protocol_draft_update(*, by: Actor, version_id: int, content: str, change_reason: str = "") -> ProtocolVersion:
    """Edit a draft before it is approved (approved versions never change)."""
    require(by, Perm.PROTOCOL_MANAGE)
    change_reason = clean_text(change_reason, "change_reason", what="the reason for the change")
    with transaction.atomic():
        version = _library_version(by, version_id, lock=True)
        if version.is_approved:
            raise ValidationError({"content": "An approved version never changes: make a new version."})
        protocol, text = _parse_content(content, version.version)
        if protocol.id != version.protocol_id:
            raise ValidationError({"content": f"Keep the id {version.protocol_id}; a new id is a new protocol."})
        before = version.sha256
        version.content, version.title, version.route = text, protocol.title[:300], protocol.route.value
        version.sha256 = hashlib.sha256(text.encode()).hexdigest()
        version.change_reason = change_reason or version.change_reason
        version.updated_at = timezone.now()
        version.save()
        version.__dict__.pop("protocol", None)
        audit_record(
            by=by, action=AuditAction.UPDATE, object_type="protocol_version", object_id=version.id,
            detail={"protocol": version.protocol_id, "version": version.version, "before": before,
                    "after": version.sha256},
        )
    return version


def protocol_approve(*, by: Actor, version_id: int, password: str) -> ProtocolVersion:
    """A prescriber of the organisation approves a draft, signing with their password.
    From then on it can be dosed from, and it never changes."""
    require(by, Perm.PROTOCOL_APPROVE)
    _library_version(by, version_id)
    reauthenticate_signer(by, password)
    with transaction.atomic():
        version = _library_version(by, version_id, lock=True)
        if version.is_approved:
            raise ValidationError({"__all__": f"{version.protocol_id} v{version.version} is already approved."})
        try:
            gaps = safety_limit_gaps(loads_protocol(version.content))
        except ProtocolError as exc:
            raise ValidationError({"content": list(exc.errors)}) from None
        if gaps:
            # Issue 12: no approval without the ceilings a dose is checked against.
            raise ValidationError({"content": [f"Before approval: {gap}." for gap in gaps]})
        sig = _signature(by)
        version.status = ProtocolVersion.Status.APPROVED
        version.approved_by, version.approved_at = by.user, timezone.now()
        version.approver_name, version.approver_credentials = sig["signer_name"], sig["signer_credentials"]
        version.save()
        audit_record(
            by=by, action=AuditAction.UPDATE, object_type="protocol_version", object_id=version.id,
            detail={"protocol": version.protocol_id, "version": version.version, "approved": True,
                    "sha256": version.sha256, "signed": True},
        )
    return version


def protocol_in_use(organization_id: int, protocol_id: str) -> ProtocolVersion | None:
    """The version sessions run on: the latest approved; else the latest draft, so that
    the order's hard stop says the protocol is not approved."""
    versions = ProtocolVersion.objects.filter(organization_id=organization_id, protocol_id=protocol_id)
    return (
        versions.filter(status=ProtocolVersion.Status.APPROVED).order_by("-version").first()
        or versions.order_by("-version").first()
    )


# --- check-in and the pre-dose checklist ---------------------------------------------------


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
        _audit(by, AuditAction.UPDATE, "dosing_session", session, session, glass, step="check_in",
               protocol=version.protocol_id, version=version.version)
    return session


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


def screen_summary(response: MeasureResponse) -> str:
    when = timezone.localtime(response.completed_at)
    parts = [f"{response.instrument_id.upper()} on {when:%Y-%m-%d %H:%M}"]
    if response.instrument_id == "phq9":
        parts.append(f"item 9 = {response.answers.get('q9')}")
    if response.total is not None:
        parts.append(f"total {response.total:g}")
    parts.append("safety flag: " + ", ".join(response.flag_ids) if response.has_safety_flag else "no safety flag")
    return "; ".join(parts)


def pregnancy_relevant(patient: Patient) -> bool:
    return patient.sex_at_birth != Patient.SexAtBirth.MALE


def _vitals_values(data: Mapping[str, Any]) -> dict[str, Any]:
    return {m.value: data.get(m.value) for m in vitals_core.Measure}


def _vitals_errors(values: Mapping[str, Any]) -> dict[str, list[str]]:
    errors: dict[str, list[str]] = {}
    for e in vitals_core.validate_vitals(**values):
        errors.setdefault(e.field, []).append(e.message)
    return errors


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
        protocol = _protocol(session)
        assert session.started_at is not None
        when = event_time(at, not_before=session.started_at, after_what="check-in")
        patient = session.patient
        errors: dict[str, list[str]] = {}

        def err(field: str, message: str) -> None:
            errors.setdefault(field, []).append(message)

        codes = {item.code: item.text for item in protocol.pre_dose_checklist}
        if data.get("fasting_confirmed") is not True:
            err("fasting_confirmed", codes.get("fasting", "Confirm the patient has fasted as instructed."))
        texts: dict[str, str] = {}
        for name, required, limit, what in (
            ("fasting_note", False, 300, "the fasting note"),
            ("escort_name", True, 200, "the escort's name"),
            ("escort_phone", True, 30, "the escort's phone number"),
            ("escort_relationship", False, 60, "the relationship"),
            ("new_medications", True, MAX_TEXT, "new medications (or 'none')"),
            ("intention", True, MAX_TEXT, "the patient's intention for the session"),
            ("baseline_bp_note", False, MAX_TEXT, "the note"),
            ("suicide_risk_note", False, MAX_TEXT, "the note"),
        ):
            try:
                texts[name] = clean_text(data.get(name), name, required=required, max_length=limit, what=what)
            except ValidationError as exc:
                _collect(errors, exc)
        phone = texts.get("escort_phone", "")
        if phone and sum(c.isdigit() for c in phone) < 7:
            err("escort_phone", "Enter a phone number the escort can be reached on.")
        values = _vitals_values(data)
        for m in vitals_core.Measure:
            if values[m.value] is None:
                err(m.value, f"Baseline {vitals_core.MEASURES[m].label.lower()} is required.")
        for field, messages in _vitals_errors(values).items():
            for message in messages:
                if message not in errors.get(field, []):
                    err(field, message)
        # A baseline above 140/90 is recorded as measured; the prescriber documents the
        # decision with the signed order (issue 12), a crisis-range one refuses the order.
        pregnancy = str(data.get("pregnancy_status") or "")
        if pregnancy not in PregnancyStatus.values:
            err("pregnancy_status", "Record the pregnancy status (or 'not applicable').")
        elif pregnancy_relevant(patient) and pregnancy == PregnancyStatus.NOT_APPLICABLE:
            err("pregnancy_status", "Pregnancy status is relevant for this patient: record it.")
        elif pregnancy in (PregnancyStatus.PREGNANT, PregnancyStatus.POSSIBLY_PREGNANT):
            err("pregnancy_status", (
                "Ketamine and esketamine are not given in pregnancy: hold the dose, inform the "
                "prescriber and end the session without a dose."
            ))
        cns = data.get("cns_active_medications") or []
        if not isinstance(cns, list | tuple) or any(c not in CNS_ACTIVE for c in cns):
            err("cns_active_medications", "Choose from the listed CNS-active medicines.")
            cns = []
        screen = current_suicide_screen(patient, when)
        if screen is None:
            err("suicide_risk_reviewed", (
                "No suicide-risk screen (PHQ-9, ASQ or C-SSRS) in the last 7 days: have the "
                "patient complete one (Measures tab) before dosing."
            ))
        elif data.get("suicide_risk_reviewed") is not True:
            err("suicide_risk_reviewed", f"Review the current screen ({screen_summary(screen)}) and confirm.")
        elif screen.has_safety_flag and not texts.get("suicide_risk_note"):
            err("suicide_risk_note", "The screen has a safety flag: write the clinician's assessment before dosing.")
        consent = pathway.consent_status(session.episode, Route(protocol.route.value))
        if not consent.current:
            if consent.withdrawn:
                why = "the patient withdrew consent"
            elif consent.signature is None:
                why = "no signed consent for this route"
            else:
                why = f"the signed version is not the one in force ({consent.document.version_label if consent.document else 'none'})"
            err("__all__", f"Consent is not current: {why}.")
        items = data.get("items") or {}
        confirmed: dict[str, bool] = {}
        for item in protocol.pre_dose_checklist:
            if item.code in STANDARD_ITEMS:
                continue
            if not isinstance(items, Mapping) or items.get(item.code) is not True:
                err(f"item_{item.code}", item.text)
            else:
                confirmed[item.code] = True
        _raise(errors)
        vitals = VitalSigns.objects.create(
            organization=by.organization, session=session, taken_at=when, recorded_by=by.user,
            note="Baseline (pre-dose checklist)", **values,
        )
        _raise_alarms(by, session, vitals, protocol, glass)
        assert screen is not None
        assert consent.signature is not None
        checklist = PreDoseChecklist.objects.create(
            organization=by.organization, session=session, protocol_version=session.protocol_version,
            fasting_confirmed=True, fasting_note=texts["fasting_note"], escort_name=texts["escort_name"],
            escort_phone=texts["escort_phone"], escort_relationship=texts["escort_relationship"],
            baseline_vitals=vitals, baseline_bp_note=texts["baseline_bp_note"], pregnancy_status=pregnancy,
            new_medications=texts["new_medications"], cns_active_medications=sorted(set(cns)),
            suicide_screen=screen, suicide_screen_summary=screen_summary(screen)[:300],
            suicide_risk_note=texts["suicide_risk_note"],
            consent_version=consent.signature.document.version_label, intention=texts["intention"],
            items=confirmed, completed_by=by.user, completed_at=when,
        )
        _audit(by, AuditAction.CREATE, "pre_dose_checklist", checklist, session, glass,
               baseline_vitals=vitals.id, screen=screen.id, items=sorted(confirmed))
    return checklist


# --- the dose order -----------------------------------------------------------------------


def latest_weights(patient: Patient) -> tuple[WeightMeasurement | None, WeightMeasurement | None]:
    """The latest weight and the one before it (for the change-since-last warning)."""
    weights = list(patient.weights.order_by("-measured_on", "-recorded_at", "-id")[:2])
    return (weights[0] if weights else None, weights[1] if len(weights) > 1 else None)


def last_session_date(session: DosingSession, route: str) -> date | None:
    """The patient's previous session on the route in which a dose was given. A record
    without a protocol (entered before this app kept one) counts: the safe side."""
    previous = (
        DosingSession.objects.filter(patient_id=session.patient_id).exclude(id=session.id).held()
        .filter(Q(protocol_version__route=route) | Q(protocol_version__isnull=True))
    )
    latest = None
    for s in previous:
        when = s.administration_started_at or s.started_at or s.scheduled_start
        day = timezone.localdate(when)
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
    weight, previous = latest_weights(session.patient)
    height = session.patient.heights.first()
    return OrderInputs(
        protocol=version.protocol, approved=version.is_approved, weight=weight, previous=previous,
        session_date=timezone.localdate(session.started_at or timezone.now()),
        last_session_date=last_session_date(session, version.route),
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


def refusal_errors(refusal: dose_core.DoseRefusal, *, reason_given: bool) -> dict[str, list[str]]:
    errors: dict[str, list[str]] = {}
    if refusal.stops:
        errors["__all__"] = [f"Hard stop (cannot be overridden): {s.message}" for s in refusal.stops]
    if refusal.soft_limits:
        soft = [f"Soft limit: {s.message}" for s in refusal.soft_limits]
        if refusal.overridable and not reason_given:
            soft.append("A prescriber may override with a written reason.")
        errors["override_reason"] = soft
    if refusal.override_rejected:
        errors.setdefault("override_reason", []).append(refusal.override_rejected)
    return errors


def order_input_values(dose_mg_per_kg: object, dose_mg: object) -> tuple[Decimal | None, Decimal | None]:
    per_kg = _optional_decimal(dose_mg_per_kg, "dose_mg_per_kg", "the dose in mg/kg")
    mg = _optional_decimal(dose_mg, "dose_mg", "the dose in mg")
    if per_kg is not None and mg is not None:
        raise ValidationError({"dose_mg": "Order in mg/kg or in mg, not both."})
    return per_kg, mg


def dose_order_sign(*, by: Actor, session_id: int, password: str, dose_mg_per_kg: object = None,
                    dose_mg: object = None, override_reason: str = "", at: datetime | None = None,
                    bp_decision: str = "") -> DoseOrder:
    """The prescriber's signed order. Without a dose the protocol's default is ordered.
    Hard stops refuse; soft limits refuse unless ``override_reason`` is given."""
    session_for(by, session_id, Perm.DOSE_ORDER)
    override_reason = clean_text(override_reason, "override_reason", max_length=1000, what="the reason")
    bp_decision = clean_text(bp_decision, "bp_decision", max_length=MAX_TEXT, what="the decision")
    reauthenticate_signer(by, password)
    per_kg, mg = order_input_values(dose_mg_per_kg, dose_mg)
    try:
        return _dose_order_sign(by=by, session_id=session_id, per_kg=per_kg, mg=mg,
                                override_reason=override_reason, at=at, bp_decision=bp_decision)
    except DoseRefused as exc:
        if exc.refusal.stops:
            _refused_order_record(by=by, session_id=session_id, refusal=exc.refusal, per_kg=per_kg, mg=mg,
                                  override_reason=override_reason)
        raise


def _refused_order_record(*, by: Actor, session_id: int, refusal: dose_core.DoseRefusal,
                          per_kg: Decimal | None, mg: Decimal | None, override_reason: str) -> None:
    """After the refusal rolled back: the hard-stopped order stays on the session's record."""
    with transaction.atomic():
        session, glass = session_for(by, session_id, Perm.DOSE_ORDER, lock=True)
        refused = RefusedDoseOrder.objects.create(
            organization=by.organization, session=session, attempted_by=by.user,
            ordered=(f"{per_kg:f} mg/kg" if per_kg is not None else f"{mg:f} mg" if mg is not None else "")[:60],
            override_reason=override_reason, result=refusal.to_dict(),
        )
        _audit(by, AuditAction.CREATE, "refused_dose_order", refused, session, glass,
               stops=[s.code.value for s in refusal.stops])


def pre_dose_bp(session: DosingSession) -> VitalSigns | None:
    """The latest measured blood pressure before the dose (the checklist's baseline, or a
    recheck since)."""
    qs = session.vitals.filter(systolic__isnull=False, diastolic__isnull=False)
    if session.administration_started_at is not None:
        qs = qs.filter(taken_at__lte=session.administration_started_at)
    return qs.order_by("-taken_at", "-id").first()


def bp_gate_applies(protocol: Protocol) -> bool:
    """Esketamine by its label; other routes where the protocol's checklist asks for a
    baseline BP at or below 140/90 (the examples all do)."""
    return protocol.route is Route.INTRANASAL_ESKETAMINE or any(
        item.code == "baseline-bp" for item in protocol.pre_dose_checklist
    )


def pre_dose_bp_check(session: DosingSession, protocol: Protocol, bp_decision: str) -> tuple[str, str]:
    """(reading, decision to record), or ValidationError: a crisis-range reading refuses
    the order on every route; above 140/90 needs the prescriber's documented decision."""
    vitals = pre_dose_bp(session)
    if vitals is None or vitals.systolic is None or vitals.diastolic is None:
        raise ValidationError({"__all__": "No blood pressure has been measured before the dose."})
    reading = f"{vitals.systolic}/{vitals.diastolic}"
    assessment = bp_core.assess_pre_dose(vitals.systolic, vitals.diastolic)
    if assessment.status is bp_core.PreDoseBp.CRISIS:
        raise ValidationError({"__all__": assessment.message})
    if assessment.status is bp_core.PreDoseBp.NEEDS_DECISION and bp_gate_applies(protocol):
        if len(bp_decision) < BP_DECISION_MIN_CHARS:
            raise ValidationError({"bp_decision": (
                f"{assessment.message} Write the decision (at least {BP_DECISION_MIN_CHARS} characters), "
                "or end the session without a dose."
            )})
        return reading, bp_decision
    return reading, ""


def _dose_order_sign(*, by: Actor, session_id: int, per_kg: Decimal | None, mg: Decimal | None,
                     override_reason: str, at: datetime | None, bp_decision: str = "") -> DoseOrder:
    with transaction.atomic():
        session, glass = session_for(by, session_id, Perm.DOSE_ORDER, lock=True)
        _require_status(session, [DosingSession.Status.CHECKED_IN], "take a dose order")
        checklist = PreDoseChecklist.objects.filter(session=session).first()
        if checklist is None:
            raise ValidationError({"__all__": "Complete the pre-dose checklist before the order."})
        when = event_time(at, not_before=checklist.completed_at, after_what="the pre-dose checklist")
        if session.orders.filter(cancelled_at__isnull=True).exists():
            raise ValidationError({"__all__": "The session already has an order: cancel it to order again."})
        assert session.protocol_version is not None
        version = protocol_in_use(by.organization.id, session.protocol_version.protocol_id) or session.protocol_version
        inputs = order_inputs(session, version)
        reading, bp_decision = pre_dose_bp_check(session, inputs.protocol, bp_decision)
        result = compute_order(inputs, dose_mg_per_kg=per_kg, dose_mg=mg, override_reason=override_reason)
        if isinstance(result, dose_core.DoseRefusal):
            raise DoseRefused(result, refusal_errors(result, reason_given=bool(override_reason)))
        if override_reason and not result.overridden:
            override_reason = ""  # nothing needed overriding: no override is recorded
        assert inputs.weight is not None
        order = DoseOrder.objects.create(
            organization=by.organization, session=session, protocol_version=version,
            weight=inputs.weight, weight_kg=inputs.weight.weight_kg, weight_measured_on=inputs.weight.measured_on,
            previous_weight_kg=inputs.previous.weight_kg if inputs.previous else None,
            ordered_mg_per_kg=result.ordered_mg_per_kg, dose_mg=_exact(result.dose_mg, "0.0001"),
            dose_mg_per_kg=result.dose_mg_per_kg.quantize(Decimal("0.0001"), ROUND_HALF_EVEN),
            max_mg=result.max_mg.quantize(Decimal("0.000001"), ROUND_HALF_EVEN),
            override_reason=override_reason, overridden=[s.code.value for s in result.overridden],
            pre_dose_bp=reading, bp_decision=bp_decision,
            result={**result.to_dict(), "last_session_date": inputs.last_session_date.isoformat()
                    if inputs.last_session_date else None},
            ordered_at=when, signed_by=by.user, signed_at=timezone.now(), **_signature(by),
        )
        if order.dose_mg > order.max_mg:
            # Unreachable (the core refuses first), but a rounded maximum must never let one through.
            raise ValidationError({"__all__": "The dose is above the protocol's absolute maximum."})
        if session.protocol_version_id != version.id:
            session.protocol_version = version
            session.save(update_fields=["protocol_version"])
        _audit(by, AuditAction.CREATE, "dose_order", order, session, glass, dose_mg=str(order.dose_mg),
               protocol=version.protocol_id, version=version.version, overridden=order.overridden, signed=True)
    return order


def _exact(value: Decimal, places: str) -> Decimal:
    quantized = value.quantize(Decimal(places), ROUND_HALF_EVEN)
    if quantized != value:
        raise ValidationError({"__all__": f"{value} cannot be stored exactly; check the protocol's rounding."})
    return quantized


def dose_order_cancel(*, by: Actor, session_id: int, reason: str) -> DoseOrder:
    """Withdraw the order before the dose is verified (e.g. to re-order after a new weight)."""
    reason = clean_text(reason, "reason", required=True, max_length=1000, what="why the order is cancelled")
    with transaction.atomic():
        session, glass = session_for(by, session_id, Perm.DOSE_ORDER, lock=True)
        _require_status(session, [DosingSession.Status.CHECKED_IN], "change its order")
        order = session.orders.filter(cancelled_at__isnull=True).first()
        if order is None:
            raise ValidationError({"__all__": "There is no order to cancel."})
        if Verification.objects.filter(preparation__order=order, preparation__voided_at__isnull=True).exists():
            raise ValidationError({"__all__": "The dose is already verified: end the session without a dose instead."})
        now = timezone.now()
        for prep in order.preparations.filter(voided_at__isnull=True):
            prep.voided_at, prep.voided_by, prep.void_reason = now, by.user, f"Order cancelled: {reason}"
            prep.save(update_fields=["voided_at", "voided_by", "void_reason"])
        order.cancelled_at, order.cancelled_by, order.cancel_reason = now, by.user, reason
        order.save(update_fields=["cancelled_at", "cancelled_by", "cancel_reason"])
        _audit(by, AuditAction.UPDATE, "dose_order", order, session, glass, cancelled=True, reason=reason)
    return order


def active_order(session: DosingSession) -> DoseOrder | None:
    return session.orders.filter(cancelled_at__isnull=True).select_related("protocol_version").first()


def core_order(order: DoseOrder) -> dose_core.DoseOrder:
    """The stored order as the core's object, recomputed from the inputs it was signed on.
    Refuses if the recomputation disagrees (the protocol or the arithmetic changed)."""
    result = order.result
    last = result.get("last_session_date")
    used = result.get("dosing_weight") or {}
    session_date = date.fromisoformat(result["session_date"])
    inputs = OrderInputs(
        protocol=order.protocol_version.protocol, approved=order.protocol_version.is_approved,
        weight=order.weight, previous=None, session_date=session_date,
        last_session_date=date.fromisoformat(last) if last else None,
        # The height and sex the order was signed on, not whatever was recorded since.
        height=dose_core.Height(Decimal(used["height_cm"]), session_date) if used.get("height_cm") else None,
        sex=used.get("sex"),
    )
    recomputed = compute_order(
        inputs, dose_mg_per_kg=order.ordered_mg_per_kg,
        dose_mg=order.dose_mg if order.ordered_mg_per_kg is None and result.get("basis") == "fixed_mg" else None,
        override_reason=order.override_reason,
    )
    if isinstance(recomputed, dose_core.DoseRefusal) or recomputed.dose_mg != order.dose_mg:
        raise ValidationError({"__all__": "The order no longer computes to the signed dose: cancel it and order again."})
    return recomputed


# --- preparation and verification ------------------------------------------------------------


def _site_lot(session: DosingSession, lot_id: object) -> Lot:
    lot = (
        Lot.objects.select_related("product", "balance").filter(id=lot_id, site_id=session.site_id).first()
        if isinstance(lot_id, int) and not isinstance(lot_id, bool) else None
    )
    if lot is None:
        raise ValidationError({"lot": "Choose a lot from this site's inventory."})
    return lot


MEASURABLE_ML = Decimal("0.001")


def dose_prepare(*, by: Actor, session_id: int, lot_id: object, at: datetime | None = None) -> DosePreparation:
    """Draw the ordered dose from a lot of the site's inventory: the volume (or units) is
    the dose divided by the lot's concentration, computed by the core."""
    with transaction.atomic():
        session, glass = session_for(by, session_id, Perm.DOSING_RECORD, lock=True)
        _require_status(session, [DosingSession.Status.CHECKED_IN], "prepare a dose")
        order = active_order(session)
        if order is None:
            raise ValidationError({"__all__": "There is no signed order to prepare."})
        if order.preparations.filter(voided_at__isnull=True).exists():
            raise ValidationError({"__all__": "The dose is already prepared: void it first to use another lot."})
        when = event_time(at, not_before=order.ordered_at, after_what="the order")
        lot = _site_lot(session, lot_id)
        if lot.is_expired_on(timezone.localdate(when)) or lot.is_expired_on(timezone.localdate()):
            raise ValidationError({"lot": f"Lot {lot.lot_number} expired on {lot.expires_on:%Y-%m-%d}: it cannot be used."})
        protocol = order.protocol_version.protocol
        prepared = dose_core.prepare_dose(core_order(order), lot=core_lot(protocol, lot))
        if isinstance(prepared, dose_core.DoseRefusal):
            raise DoseRefused(prepared, {"lot": [f"Hard stop: {s.message}" for s in prepared.stops]})
        volume = units = None
        if prepared.volume_ml is not None:
            volume = prepared.volume_ml.quantize(MEASURABLE_ML, ROUND_HALF_EVEN)
            if volume != prepared.volume_ml:
                raise ValidationError({"lot": (
                    f"{prepared.volume_ml:.4f} mL cannot be measured to 0.001 mL from this lot: choose "
                    "another strength."
                )})
            amount = volume
        else:
            units = prepared.units
            amount = Decimal(units or 0)
        on_hand = lot.balance.units if hasattr(lot, "balance") else Decimal(0)
        if amount > on_hand:
            raise ValidationError({"lot": f"Lot {lot.lot_number} holds {_fmt(on_hand)} {lot.product.unit}; the dose needs {_fmt(amount)}."})
        prep = DosePreparation.objects.create(
            organization=by.organization, session=session, order=order, lot=lot,
            product_code=prepared.product.code, product_name=lot.product.name,
            concentration=lot.product.strength_mg_per_unit, concentration_unit=prepared.product.strength_unit,
            volume_ml=volume, units=units, unit_name=prepared.unit_name or "",
            result=prepared.to_dict(), prepared_by=by.user, prepared_at=when,
        )
        _audit(by, AuditAction.CREATE, "dose_preparation", prep, session, glass, lot=lot.id,
               concentration=str(prep.concentration), amount=str(amount))
    return prep


def active_preparation(session: DosingSession) -> DosePreparation | None:
    return (
        session.preparations.filter(voided_at__isnull=True, order__cancelled_at__isnull=True)
        .select_related("lot__product", "order", "order__protocol_version").first()
    )


def _waste(by: Actor, session: DosingSession, prep: DosePreparation, amount: Decimal, *,
           witness_id: object, witness_password: str, reason: str, at: datetime) -> tuple[Any, Any]:
    """Witnessed waste of drug drawn but not given, in the caller's transaction."""
    witness = ledger.witness_sign(by=by, witness_id=witness_id, password=witness_password)
    entry = ledger.ledger_waste(
        by=by, witness_id=witness.id, lot_id=prep.lot_id, units=amount, dosing_session_id=session.id,
        reason=reason[:500], occurred_at=at,
    )
    return entry, witness


def preparation_void(*, by: Actor, session_id: int, reason: str, drawn: bool = False,
                     witness_id: object = None, witness_password: str = "") -> DosePreparation:
    """Set a preparation aside before it is given (wrong lot, a failed check). Drug that was
    drawn is wasted with a witness; unopened stock simply stays on the shelf."""
    reason = clean_text(reason, "reason", required=True, max_length=500, what="why")
    with transaction.atomic():
        session, glass = session_for(by, session_id, Perm.DOSING_RECORD, lock=True)
        _require_status(session, [DosingSession.Status.CHECKED_IN], "set a preparation aside")
        prep = active_preparation(session)
        if prep is None:
            raise ValidationError({"__all__": "There is no preparation to set aside."})
        waste_id = None
        if drawn:
            entry, _witness = _waste(by, session, prep, prep.amount, witness_id=witness_id,
                                     witness_password=witness_password, reason=f"Preparation set aside: {reason}",
                                     at=timezone.now())
            waste_id = entry.id
        prep.voided_at, prep.voided_by, prep.void_reason = timezone.now(), by.user, reason
        prep.save(update_fields=["voided_at", "voided_by", "void_reason"])
        _audit(by, AuditAction.UPDATE, "dose_preparation", prep, session, glass, voided=True, waste_entry=waste_id)
    return prep


def dose_verify(*, by: Actor, session_id: int, drug_confirmed: object, concentration_seen: object,
                amount_seen: object, dose_mg_seen: object, date_of_birth_seen: object,
                at: datetime | None = None) -> Verification:
    """The independent second check: another clinician reads the label, the syringe or
    devices and the wristband; each must match the preparation."""
    errors: dict[str, list[str]] = {}
    seen: dict[str, Decimal] = {}
    for field, value, what in (
        ("concentration_seen", concentration_seen, "the concentration on the label"),
        ("amount_seen", amount_seen, "the volume or units drawn"),
        ("dose_mg_seen", dose_mg_seen, "the dose in mg"),
    ):
        try:
            seen[field] = _decimal(value, field, what)
        except ValidationError as exc:
            _collect(errors, exc)
    if not isinstance(date_of_birth_seen, date):
        errors.setdefault("date_of_birth_seen", []).append("Enter the date of birth from the wristband.")
    _raise(errors)
    with transaction.atomic():
        session, glass = session_for(by, session_id, Perm.DOSING_RECORD, lock=True)
        _require_status(session, [DosingSession.Status.CHECKED_IN], "verify a dose")
        prep = active_preparation(session)
        if prep is None:
            raise ValidationError({"__all__": "There is no prepared dose to verify."})
        if hasattr(prep, "verification"):
            raise ValidationError({"__all__": "The dose is already verified."})
        if prep.prepared_by_id == by.user.id:
            raise ValidationError({"__all__": "The person who prepared the dose cannot verify it: ask a second clinician."})
        when = event_time(at, not_before=prep.prepared_at, after_what="the preparation")
        if drug_confirmed is not True:
            errors.setdefault("drug_confirmed", []).append(f"Confirm the drug is {prep.product_name}.")
        if seen["concentration_seen"] != prep.concentration:
            errors.setdefault("concentration_seen", []).append(
                f"Does not match the lot ({_fmt(prep.concentration)} {prep.concentration_unit}): stop and recheck the vial."
            )
        if seen["amount_seen"] != prep.amount:
            errors.setdefault("amount_seen", []).append(
                f"Does not match the prepared {_fmt(prep.amount)} {prep.amount_unit}."
            )
        if seen["dose_mg_seen"] != prep.order.dose_mg:
            errors.setdefault("dose_mg_seen", []).append(f"Does not match the order ({_fmt(prep.order.dose_mg)} mg).")
        if date_of_birth_seen != session.patient.date_of_birth:
            errors.setdefault("date_of_birth_seen", []).append("Does not match this patient: check the wristband.")
        _raise(errors)
        verification = Verification.objects.create(
            organization=by.organization, preparation=prep, drug_confirmed=True,
            concentration_seen=seen["concentration_seen"], amount_seen=seen["amount_seen"],
            dose_mg_seen=seen["dose_mg_seen"], date_of_birth_seen=date_of_birth_seen,
            verified_by=by.user, verified_at=when,
        )
        _audit(by, AuditAction.CREATE, "dose_verification", verification, session, glass, preparation=prep.id)
    return verification


# --- administration -----------------------------------------------------------------------


def administration_mode(protocol: Protocol) -> str:
    if protocol.route is Route.IV_INFUSION:
        return "infusion"
    if protocol.route is Route.INTRANASAL_ESKETAMINE:
        return "devices"
    return "single"


MODE_KINDS = {
    "single": {AdministrationEvent.Kind.GIVEN},
    "devices": {AdministrationEvent.Kind.DEVICE, AdministrationEvent.Kind.STOP},
    "infusion": {
        AdministrationEvent.Kind.INFUSION_START, AdministrationEvent.Kind.RATE_CHANGE,
        AdministrationEvent.Kind.PAUSE, AdministrationEvent.Kind.RESUME, AdministrationEvent.Kind.STOP,
        AdministrationEvent.Kind.COMPLETE,
    },
}


@dataclass(frozen=True)
class InfusionState:
    started: bool
    running: bool
    ended: bool
    rate: Decimal | None


def infusion_state(events: list[AdministrationEvent]) -> InfusionState:
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


def administration_record(
    *, by: Actor, session_id: int, kind: str, at: datetime | None = None, rate_ml_per_h: object = None,
    infused_volume_ml: object = None, reason: str = "", witness_id: object = None, witness_password: str = "",
) -> AdministrationEvent:
    """One bedside event. Giving drug writes the ledger administration in this same
    transaction; what was drawn and not given is wasted with a witness, also here."""
    reason = clean_text(reason, "reason", max_length=1000, what="the reason")
    valid_kinds = AdministrationEvent.Kind.values
    if kind not in valid_kinds:
        raise ValidationError({"kind": "Choose what happened."})
    with transaction.atomic():
        session, glass = session_for(by, session_id, Perm.DOSING_RECORD, lock=True)
        _require_status(session, [DosingSession.Status.CHECKED_IN, DosingSession.Status.DOSING], "record administration")
        prep = active_preparation(session)
        if prep is None or not hasattr(prep, "verification"):
            raise ValidationError({"__all__": "The dose must be prepared and verified by a second clinician first."})
        protocol = prep.order.protocol_version.protocol
        mode = administration_mode(protocol)
        if kind not in MODE_KINDS[mode]:
            raise ValidationError({"kind": f"That does not apply to {protocol.route.label}."})
        events = list(session.administration_events.filter(preparation=prep).order_by("at", "id"))
        previous = events[-1].at if events else prep.verification.verified_at
        when = event_time(at, not_before=previous, after_what="the previous step")
        handler = {"single": _give_single, "devices": _give_device, "infusion": _infusion_event}[mode]
        event = handler(by=by, session=session, prep=prep, protocol=protocol, events=events, kind=kind, at=when,
                        rate=rate_ml_per_h, infused=infused_volume_ml, reason=reason,
                        witness_id=witness_id, witness_password=witness_password)
        _audit(by, AuditAction.CREATE, "administration_event", event, session, glass, kind=kind,
               amount=str(event.amount) if event.amount is not None else None,
               ledger_entry=event.ledger_entry_id, waste_entry=event.waste_entry_id)
    return event


def _administer(by: Actor, session: DosingSession, prep: DosePreparation, amount: Decimal, at: datetime) -> Any:
    return ledger.ledger_administer(by=by, dosing_session_id=session.id, lot_id=prep.lot_id, units=amount, occurred_at=at)


def _started(session: DosingSession, at: datetime) -> None:
    session.status = DosingSession.Status.DOSING
    session.administration_started_at = at
    session.save(update_fields=["status", "administration_started_at"])


def _finished(session: DosingSession, at: datetime) -> None:
    session.status = DosingSession.Status.MONITORING
    session.administration_ended_at = at
    if session.administration_started_at is None:
        session.administration_started_at = at
    session.save(update_fields=["status", "administration_started_at", "administration_ended_at"])


def _give_single(*, by: Actor, session: DosingSession, prep: DosePreparation, events: list[AdministrationEvent],
                 at: datetime, **_: Any) -> AdministrationEvent:
    if events:
        raise ValidationError({"__all__": "The dose is already recorded as given."})
    amount = prep.amount
    entry = _administer(by, session, prep, amount, at)
    _finished(session, at)
    return AdministrationEvent.objects.create(
        organization=by.organization, session=session, preparation=prep, kind=AdministrationEvent.Kind.GIVEN,
        at=at, amount=amount, ledger_entry=entry, recorded_by=by.user,
    )


def _give_device(*, by: Actor, session: DosingSession, prep: DosePreparation, protocol: Protocol,
                 events: list[AdministrationEvent], kind: str, at: datetime, reason: str,
                 witness_id: object, witness_password: str, **_: Any) -> AdministrationEvent:
    given = devices_given(events)
    total = prep.units or 0
    if any(e.kind == AdministrationEvent.Kind.STOP for e in events) or len(given) >= total:
        raise ValidationError({"__all__": "Administration is already finished."})
    if kind == AdministrationEvent.Kind.STOP:
        if not given:
            raise ValidationError({"__all__": "No device was given: end the session without a dose instead."})
        if not reason:
            raise ValidationError({"reason": "Say why the remaining devices are not given."})
        remaining = Decimal(total - len(given))
        waste, witness = _waste(by, session, prep, remaining, witness_id=witness_id, witness_password=witness_password,
                                reason=f"Devices not given: {reason}", at=at)
        _finished(session, at)
        return AdministrationEvent.objects.create(
            organization=by.organization, session=session, preparation=prep, kind=AdministrationEvent.Kind.STOP,
            at=at, wasted=remaining, reason=reason, waste_entry=waste, witness=witness, recorded_by=by.user,
        )
    product = protocol.product(prep.product_code)
    rest = (product.interval_between_units_min if product else None) or 0
    if given and at < given[-1].at + timedelta(minutes=rest):
        ready = timezone.localtime(given[-1].at + timedelta(minutes=rest))
        wait = _minutes(given[-1].at + timedelta(minutes=rest), at)
        raise ValidationError({"at": (
            f"{rest}-minute rest between devices: the next device is due at {ready:%H:%M} "
            f"({wait:.0f} min to go)."
        )})
    number = len(given) + 1
    entry = _administer(by, session, prep, Decimal(1), at)
    if number == 1:
        _started(session, at)
    if number == total:
        _finished(session, at)
    return AdministrationEvent.objects.create(
        organization=by.organization, session=session, preparation=prep, kind=AdministrationEvent.Kind.DEVICE,
        at=at, device_number=number, amount=Decimal(1), ledger_entry=entry, recorded_by=by.user,
    )


MAX_RATE_ML_H = Decimal(2000)


def _infusion_event(*, by: Actor, session: DosingSession, prep: DosePreparation, events: list[AdministrationEvent],
                    kind: str, at: datetime, rate: object, infused: object, reason: str,
                    witness_id: object, witness_password: str, **_: Any) -> AdministrationEvent:
    state = infusion_state(events)
    infusion = prep.infusion or {}
    final_volume = Decimal(infusion.get("final_volume_ml", "0"))
    K = AdministrationEvent.Kind
    fields: dict[str, Any] = {}
    if state.ended:
        raise ValidationError({"__all__": "The infusion has already ended."})
    if kind != K.INFUSION_START and not state.started:
        raise ValidationError({"kind": "Start the infusion first."})
    if kind == K.INFUSION_START:
        if state.started:
            raise ValidationError({"kind": "The infusion is already running."})
        planned = Decimal(infusion.get("rate_ml_per_h", "0")).quantize(Decimal("0.01"), ROUND_HALF_EVEN)
        value = _optional_decimal(rate, "rate_ml_per_h", "the pump rate") or planned
        fields["rate_ml_per_h"] = _rate(value)
        _started(session, at)
    elif kind == K.RATE_CHANGE:
        if not reason:
            raise ValidationError({"reason": "Say why the rate changes."})
        fields["rate_ml_per_h"] = _rate(_decimal(rate, "rate_ml_per_h", "the new pump rate"))
    elif kind == K.PAUSE:
        if not state.running:
            raise ValidationError({"kind": "The infusion is not running."})
        if not reason:
            raise ValidationError({"reason": "Say why the infusion is paused."})
    elif kind == K.RESUME:
        if state.running:
            raise ValidationError({"kind": "The infusion is running."})
    else:  # stop or complete: the drug given goes to the ledger, the rest is wasted
        drug_volume = prep.amount
        if kind == K.COMPLETE:
            volume_in = final_volume
        else:
            if not reason:
                raise ValidationError({"reason": "Say why the infusion is stopped early."})
            volume_in = _decimal(infused, "infused_volume_ml", "the volume infused (pump reading)")
            if not Decimal(0) <= volume_in <= final_volume:
                raise ValidationError({"infused_volume_ml": f"Between 0 and {_fmt(final_volume)} mL (the bag)."})
        given = (drug_volume * volume_in / final_volume).quantize(MEASURABLE_ML, ROUND_HALF_EVEN) if final_volume else drug_volume
        left = drug_volume - given
        if given > 0:
            fields["ledger_entry"] = _administer(by, session, prep, given, at)
        if left > 0:
            fields["waste_entry"], fields["witness"] = _waste(
                by, session, prep, left, witness_id=witness_id, witness_password=witness_password,
                reason=f"Infusion stopped with {_fmt(final_volume - volume_in)} mL left: {reason}", at=at,
            )
        fields.update(amount=given, wasted=left if left > 0 else None, infused_volume_ml=volume_in)
        _finished(session, at)
    return AdministrationEvent.objects.create(
        organization=by.organization, session=session, preparation=prep, kind=kind, at=at, reason=reason,
        recorded_by=by.user, **fields,
    )


def _rate(value: Decimal) -> Decimal:
    if not Decimal(0) < value <= MAX_RATE_ML_H:
        raise ValidationError({"rate_ml_per_h": f"A pump rate is above 0 and at most {MAX_RATE_ML_H} mL/h."})
    return value.quantize(Decimal("0.01"), ROUND_HALF_EVEN)


def session_end_without_dose(*, by: Actor, session_id: int, reason: str, witness_id: object = None,
                             witness_password: str = "") -> DosingSession:
    """End a checked-in session before any drug is given (BP too high, patient declines).
    A dose already drawn is wasted with a witness in the same transaction, and the
    appointment is completed in it: the patient came (see
    ``scheduling.services.appointment_complete_for_session``)."""
    reason = clean_text(reason, "reason", required=True, max_length=1000, what="why the session ends")
    with transaction.atomic():
        session, glass = session_for(by, session_id, Perm.DOSING_RECORD, lock=True)
        _require_status(session, [DosingSession.Status.CHECKED_IN], "end without a dose")
        prep = active_preparation(session)
        waste_id = None
        if prep is not None:
            if session.administration_events.exists():
                raise ValidationError({"__all__": "Drug was already given: discharge the patient instead."})
            entry, _w = _waste(by, session, prep, prep.amount, witness_id=witness_id,
                               witness_password=witness_password, reason=f"Not given: {reason}", at=timezone.now())
            waste_id = entry.id
        now = timezone.now()
        session.status, session.ended_at, session.ended_by, session.ended_reason = (
            DosingSession.Status.NOT_DOSED, now, by.user, reason,
        )
        session.save(update_fields=["status", "ended_at", "ended_by", "ended_reason"])
        _audit(by, AuditAction.UPDATE, "dosing_session", session, session, glass, step="ended_without_dose",
               reason=reason, waste_entry=waste_id)
        # Imported here: scheduling builds on dosing, not the other way round.
        from openkap.scheduling.services import appointment_complete_for_session

        appointment_complete_for_session(by=by, session=session, step="ended_without_dose", break_glass=glass)
    return session


# --- monitoring ----------------------------------------------------------------------------


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
        alarms = _raise_alarms(by, session, vitals, _protocol(session), glass)
        if vitals.systolic is not None and session.status == DosingSession.Status.MONITORING and monitoring_over(
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


# --- discharge ----------------------------------------------------------------------------


@dataclass(frozen=True)
class DischargeAssessment:
    alert_and_oriented: bool | None = None
    ambulating: bool | None = None
    nausea_controlled: bool | None = None
    escort_present: bool | None = None


def discharge_unmet(session: DosingSession, assessment: DischargeAssessment, at: datetime) -> list[str]:
    """Why the patient cannot go yet: the protocol's criteria as the core judges them,
    and any alarm still waiting for acknowledgement."""
    protocol = _protocol(session)
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


def missed_vitals_of(session: DosingSession, at: datetime) -> tuple[int, ...]:
    """The protocol's scheduled vitals checks with no reading up to ``at``."""
    start = session.administration_started_at
    if start is None:
        return ()
    recorded = [
        _minutes(v.taken_at, start) for v in session.vitals.filter(taken_at__lte=at + CLOCK_SKEW)
    ]
    return missed_vitals.missed_checks(_protocol(session).vitals_schedule_min, recorded, _minutes(at, start))


def discharge_bp(session: DosingSession, at: datetime) -> bp_core.DischargeBpAssessment | None:
    """The SPRAVATO label's discharge rule on the session's readings (esketamine only):
    a reading about 40 minutes after the dose, then blood pressure back within 140/90 or
    the pre-dose reading, or decreasing."""
    if session.protocol_version is None or _protocol(session).route is not Route.INTRANASAL_ESKETAMINE:
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


def monitoring_over(session: DosingSession, at: datetime) -> bool:
    end = session.administration_ended_at
    return end is not None and _minutes(at, end) >= _protocol(session).min_monitoring_minutes


def _bp_still_high_task(by: Actor, session: DosingSession, assessment: bp_core.DischargeBpAssessment) -> Task | None:
    """At the end of monitoring with the blood pressure still high: an urgent task to the
    prescribers of the care team (the clinic's prescribers without one), raised once."""
    if Task.objects.filter(kind=BP_TASK_KIND, subject_type="dosing_session", subject_id=str(session.id),
                           resolved_at__isnull=True).exists():
        return None
    team = list(session.patient.care_team.filter(ended_at__isnull=True, role=Role.PRESCRIBER.value)
                .values_list("user_id", flat=True))
    return measures.task_create(
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
    answers = {}
    for name, value in (("alert_and_oriented", alert_and_oriented), ("ambulating", ambulating),
                        ("nausea_controlled", nausea_controlled), ("escort_present", escort_present)):
        answers[name] = value if isinstance(value, bool) else None
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
            if bp is not None and bp.status is bp_core.DischargeBp.STILL_HIGH and monitoring_over(session, when):
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
        gap = missed_vitals.missed_vitals_refusal(missed, _protocol(session).missed_vitals, texts["missed_vitals_reason"])
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
        _audit(by, AuditAction.CREATE, "dosing_discharge", discharge, session, glass, signed=True,
               minutes_monitored=discharge.minutes_monitored, missed_vitals_min=list(missed))
        # Imported here: scheduling builds on dosing, not the other way round.
        from openkap.scheduling.services import appointment_complete_for_session

        appointment_complete_for_session(by=by, session=session, step="discharge", break_glass=glass)
        _assign_experience_measures(by, session)
        if _protocol(session).rems_required:
            _rems_form_create(by, session, discharge)
    return discharge


def _assign_experience_measures(by: Actor, session: DosingSession) -> None:
    """MEQ-30 and EBI for the patient to complete afterwards in the portal."""
    for instrument_id in PATIENT_MEASURES_AFTER:
        measures.measure_assign(by=by, patient_id=session.patient_id, instrument_id=instrument_id,
                                episode_id=session.episode_id)


# --- the Spravato REMS patient monitoring form ---------------------------------------------


def _bp(v: VitalSigns | None) -> str:
    return f"{v.systolic}/{v.diastolic}" if v is not None and v.systolic is not None else ""


def _yes_no(flag: bool) -> str:
    return RemsForm.YesNo.YES if flag else RemsForm.YesNo.NO


def rems_prefill(session: DosingSession, discharge: Discharge) -> dict[str, Any]:
    """The form's fields from the session record (staff review and complete them)."""
    checklist = session.checklist
    vitals = list(session.vitals.order_by("taken_at", "id"))
    near_40 = [v for v in vitals if v.systolic is not None and v.minutes_after_dose is not None
               and 30 <= v.minutes_after_dose <= 55]
    bp40 = min(near_40, key=lambda v: abs((v.minutes_after_dose or 0) - 40)) if near_40 else None
    observations = list(session.observations.all())
    events = list(session.adverse_events.all())
    codes = {e.code for e in events}
    spo2 = [v.spo2 for v in vitals if v.spo2 is not None]
    order = active_order(session)
    prep = active_preparation(session)
    devices = len(devices_given(list(session.administration_events.all())))
    respiratory_alarm = session.alarms.filter(measure__in=["spo2", "respiratory_rate"], severity="critical").exists()
    cns = set(checklist.cns_active_medications)
    previous = (
        RemsForm.objects.filter(session__patient_id=session.patient_id).exclude(session=session)
        .order_by("-created_at").first()
    )
    site_previous = RemsForm.objects.filter(session__site_id=session.site_id).exclude(session=session).order_by("-created_at").first()
    serious = [e for e in events if e.serious]
    assert session.administration_started_at is not None
    assert order is not None
    return {
        "rems_patient_id": previous.rems_patient_id if previous else "",
        "setting_rems_id": site_previous.setting_rems_id if site_previous else "",
        "prescriber_name": order.signer_name,
        "treatment_date": timezone.localdate(session.administration_started_at),
        "dose_mg": int(order.dose_mg),
        "devices": devices or (prep.units if prep else 0) or 0,
        "first_device_at": session.administration_started_at,
        "bp_pre": _bp(checklist.baseline_vitals), "bp_pre_at": checklist.baseline_vitals.taken_at,
        "bp_40": _bp(bp40), "bp_40_at": bp40.taken_at if bp40 else None,
        "bp_discharge": _bp(discharge.final_vitals), "bp_discharge_at": discharge.final_vitals.taken_at,
        "sedation": _yes_no(any(o.moaas is not None and o.moaas < 5 for o in observations) or "sedation" in codes),
        "dissociation": _yes_no(any((o.cadss_total or 0) > 0 for o in observations) or "dissociation" in codes),
        "respiratory_depression": _yes_no("respiratory_depression" in codes or respiratory_alarm),
        "pulse_oximetry_used": bool(spo2), "lowest_spo2": min(spo2) if spo2 else None,
        "cns_depressants": ", ".join(CNS_ACTIVE[c] for c in CNS_DEPRESSANTS if c in cns),
        "psychostimulants": CNS_ACTIVE["psychostimulant"] if "psychostimulant" in cns else "",
        "maois": CNS_ACTIVE["maoi"] if "maoi" in cns else "",
        "monitoring_minutes": int(_minutes(discharge.discharged_at, session.administration_started_at)),
        "clinically_stable_at_discharge": True,
        "serious_adverse_event": _yes_no(bool(serious)),
        "serious_adverse_event_description": "; ".join(f"{e.label} ({e.get_severity_display()}, {e.get_outcome_display()})" for e in serious),
    }


def _rems_form_create(by: Actor, session: DosingSession, discharge: Discharge) -> RemsForm:
    form = RemsForm.objects.create(organization=by.organization, session=session, updated_by=by.user,
                                   **rems_prefill(session, discharge))
    team = measures.care_team_user_ids(session.patient)
    form.task = measures.task_create(
        by=by, organization=by.organization, kind=REMS_TASK_KIND, patient=session.patient,
        title=f"Submit the SPRAVATO REMS patient monitoring form (session of {timezone.localtime(discharge.discharged_at):%Y-%m-%d})",
        detail="Complete the form from the session record and submit it to the REMS within 7 days of the session; "
               "then mark it submitted with the confirmation number.",
        subject_type="dosing_session", subject_id=session.id, assigned_role=Role.NURSE.value,
        assignee_ids=team, due_at=discharge.discharged_at + timedelta(days=7),
    )
    form.save(update_fields=["task"])
    audit_record(by=by, action=AuditAction.CREATE, object_type="rems_form", object_id=form.id,
                 patient_id=session.patient_id, detail={"session": session.id, "task": form.task_id})
    return form


REMS_EDITABLE = (
    "rems_patient_id", "setting_rems_id", "bp_40", "sedation", "dissociation", "respiratory_depression",
    "cns_depressants", "psychostimulants", "maois", "serious_adverse_event", "serious_adverse_event_description",
)


def rems_form_update(*, by: Actor, session_id: int, data: Mapping[str, Any]) -> RemsForm:
    """Staff complete the fields the record cannot know (REMS ids) and correct the rest."""
    unknown = set(data) - set(REMS_EDITABLE)
    if unknown:
        raise ValidationError({"__all__": f"Unknown field(s): {', '.join(sorted(unknown))}."})
    with transaction.atomic():
        session, glass = session_for(by, session_id, Perm.DOSING_RECORD, lock=True)
        form = RemsForm.objects.select_for_update().filter(session=session).first()
        if form is None:
            raise Http404("This session has no REMS monitoring form.")
        if form.submitted_at is not None:
            raise ValidationError({"__all__": "The form was submitted: it no longer changes."})
        errors: dict[str, list[str]] = {}
        changed = []
        for name, value in data.items():
            field = RemsForm._meta.get_field(name)
            text = "" if value is None else str(value).strip()
            if field.choices and text not in {c[0] for c in field.choices}:
                errors.setdefault(name, []).append("Answer yes or no.")
                continue
            if field.max_length and len(text) > field.max_length:
                errors.setdefault(name, []).append(f"Keep this under {field.max_length} characters.")
                continue
            if getattr(form, name) != text:
                setattr(form, name, text)
                changed.append(name)
        if form.serious_adverse_event == RemsForm.YesNo.YES and not form.serious_adverse_event_description.strip():
            errors.setdefault("serious_adverse_event_description", []).append("Describe the serious adverse event.")
        _raise(errors)
        form.updated_at, form.updated_by = timezone.now(), by.user
        form.save()
        audit_record(by=by, action=AuditAction.UPDATE, object_type="rems_form", object_id=form.id,
                     patient_id=session.patient_id, break_glass=glass, detail={"fields": sorted(changed)})
    return form


def rems_missing(form: RemsForm) -> list[str]:
    missing = []
    if not form.rems_patient_id.strip():
        missing.append("The patient's REMS ID (from the enrolment) is missing.")
    if not form.setting_rems_id.strip():
        missing.append("The healthcare setting's REMS ID is missing.")
    if not form.bp_40.strip():
        missing.append("No blood pressure about 40 minutes after dosing is recorded.")
    return missing


def rems_form_submit(*, by: Actor, session_id: int, submission_reference: str) -> RemsForm:
    """Mark the form submitted to the REMS (with the confirmation number); its task closes."""
    reference = clean_text(submission_reference, "submission_reference", required=True, max_length=80,
                      what="the REMS confirmation number")
    with transaction.atomic():
        session, glass = session_for(by, session_id, Perm.DOSING_RECORD, lock=True)
        form = RemsForm.objects.select_for_update().filter(session=session).first()
        if form is None:
            raise Http404("This session has no REMS monitoring form.")
        if form.submitted_at is not None:
            raise ValidationError({"__all__": "The form is already marked submitted."})
        missing = rems_missing(form)
        if missing:
            raise ValidationError({"__all__": missing})
        form.submitted_at, form.submitted_by, form.submission_reference = timezone.now(), by.user, reference
        form.save(update_fields=["submitted_at", "submitted_by", "submission_reference"])
        if form.task_id and Task.objects.filter(id=form.task_id, resolved_at__isnull=True).exists():
            measures.task_resolve(by=by, task_id=form.task_id, note=f"REMS form submitted, confirmation {reference}.")
        audit_record(by=by, action=AuditAction.UPDATE, object_type="rems_form", object_id=form.id,
                     patient_id=session.patient_id, break_glass=glass,
                     detail={"submitted": True, "reference": reference})
    return form


def weight_for_session(*, by: Actor, session_id: int, value: object, unit: str) -> WeightMeasurement:
    """Weigh the patient at the session (kg, or lb converted once by the patients app)."""
    session, _ = session_for(by, session_id, Perm.DOSING_RECORD)
    _require_status(session, ACTIVE_STATUSES, "record a weight")
    return weight_record(by=by, patient_id=session.patient_id, value=str(value), unit=unit)
