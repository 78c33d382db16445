"""Writes of the care pathway: keyword-only, one transaction, checked and audited.

The decisions (which transition may happen, what a checklist means, what a
plan's schedule may hold) are the core's; here they are applied to records.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from datetime import date, timedelta
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.http import Http404
from django.utils import timezone

from openkap import fieldcrypto
from openkap.accounts.authz import Actor, Denied, require
from openkap.accounts.models import Membership
from openkap.accounts.services import reauthenticate_signer, signer_credentials
from openkap.audit.models import AuditAction
from openkap.audit.services import audit_record
from openkap.core.authz import Perm, Role
from openkap.core.pathway import (
    CHECKLIST,
    STATE_LABELS,
    TERMINAL_STATES,
    EligibilityOutcome,
    State,
    TransitionRefused,
    evaluate_checklist,
    next_state,
    normalize_icd10cm,
    overdue_integrations,
)
from openkap.core.pathway.notes import NOTE_TEMPLATES
from openkap.core.pathway.plan import SAFETY_PLAN_SECTIONS, DoseLevel, parse_measure_schedule
from openkap.core.protocols import example_ids, load_example
from openkap.core.routes import ROUTE_LABELS, Route
from openkap.dosing.models import DosingSession
from openkap.measures import services as measures
from openkap.measures.models import Task
from openkap.pathway.models import (
    Commitment,
    CommitmentCheck,
    ConsentDocument,
    ConsentSignature,
    ContraindicationAnswer,
    EligibilityDecision,
    Episode,
    EpisodeTransition,
    Intake,
    IntegrationNote,
    Intention,
    JournalEntry,
    PreparationSession,
    PsychotherapyNote,
    PsychotherapyNoteGrant,
    ReassessmentReview,
    SafetyPlan,
    SessionArrangements,
    TreatmentPlan,
)
from openkap.pathway.selectors import (
    HELD_STATUSES,
    OPEN_STATES,
    consent_document_in_force,
    dosing_records,
    episode_route,
    episode_snapshot,
    integration_window_days,
)
from openkap.patients.models import CareTeamMember, Patient, WeightMeasurement
from openkap.patients.selectors import patient_for
from openkap.patients.services import weight_record

MAX_TEXT = 10_000
NO_EPISODE = "This patient has no open episode of care: open one on the Pathway tab first."
RECENT_WEIGHT_DAYS = 30


def _text(errors: dict[str, str], data: Mapping[str, Any], name: str, *, required: bool = False,
          max_length: int = MAX_TEXT) -> str:
    value = data.get(name)
    value = "" if value is None else str(value).strip()
    if required and not value:
        errors[name] = "This field is required."
    elif len(value) > max_length:
        errors[name] = f"Keep this under {max_length} characters."
    return value


def _raise(errors: Mapping[str, str | list[str]]) -> None:
    if errors:
        raise ValidationError(dict(errors))


def _open_episode(by: Actor, patient_id: int, perm: Perm) -> tuple[Patient, Episode, bool]:
    """The patient (checked for ``perm``) and their open episode, locked for the change."""
    patient, glass = patient_for(by, patient_id, perm)
    episode = (
        Episode.objects.select_for_update()
        .filter(patient=patient, state__in=OPEN_STATES)
        .order_by("-opened_at")
        .first()
    )
    if episode is None:
        raise ValidationError(NO_EPISODE)
    return patient, episode, glass


def _audit(by: Actor, action: AuditAction, obj: Any, object_type: str, patient_id: int,
           glass: bool = False, **detail: Any) -> None:
    audit_record(by=by, action=action, object_type=object_type, object_id=obj.id,
                 patient_id=patient_id, break_glass=glass, detail=detail or None)


# --- signatures ----------------------------------------------------------------------


def _signature(by: Actor) -> dict[str, Any]:
    return {
        "signed_by": by.user, "signed_at": timezone.now(), "signer_name": by.user.full_name,
        "signer_credentials": signer_credentials(by),
    }


def _checked_for_signature(by: Actor, patient_id: int, password: str) -> None:
    # Access first (404 / 403 say nothing about the password), then the password.
    patient_for(by, patient_id, Perm.PATHWAY_SIGN)
    reauthenticate_signer(by, password)


# --- the episode ---------------------------------------------------------------------


def episode_open(*, by: Actor, patient_id: int) -> Episode:
    """Open a new episode of care at intake; a patient has at most one open episode."""
    with transaction.atomic():
        patient, glass = patient_for(by, patient_id, Perm.PATIENT_UPDATE)
        patient = Patient.objects.select_for_update().get(pk=patient.pk)
        if Episode.objects.filter(patient=patient, state__in=OPEN_STATES).exists():
            raise ValidationError("This patient already has an open episode of care.")
        episode = Episode.objects.create(organization=by.organization, patient=patient, opened_by=by.user)
        _audit(by, AuditAction.CREATE, episode, "episode", patient.id, glass)
    return episode


def episode_transition(*, by: Actor, episode_id: int, name: str, reason: str = "") -> Episode:
    """Move the episode by the named transition, or refuse listing what is missing.

    The core judges a snapshot of the records; a refusal changes nothing.
    """
    reason = (reason or "").strip()
    if len(reason) > MAX_TEXT:
        raise ValidationError({"reason": f"Keep the reason under {MAX_TEXT} characters."})
    with transaction.atomic():
        episode = (
            Episode.objects.select_for_update()
            .filter(id=episode_id, organization=by.organization)
            .first()
        )
        if episode is None:
            raise Http404("No such episode in your organisation.")
        _, glass = patient_for(by, episode.patient_id, Perm.PATHWAY_TRANSITION)
        source = State(episode.state)
        try:
            target = next_state(episode_snapshot(episode), name, reason=reason)
        except TransitionRefused as exc:
            raise ValidationError(list(exc.unmet)) from None
        record = EpisodeTransition.objects.create(
            organization=by.organization, episode=episode, name=name, from_state=source,
            to_state=target, reason=reason, by=by.user,
        )
        episode.state = target
        episode.closed_at = record.at if target in TERMINAL_STATES else None
        episode.save(update_fields=["state", "closed_at"])
        audit_record(
            by=by, action=AuditAction.UPDATE, object_type="episode", object_id=episode.id,
            patient_id=episode.patient_id, reason=reason, break_glass=glass,
            detail={"transition": name, "from": source.value, "to": target.value},
        )
        if target is State.REASSESSMENT:
            measures.schedule_reassessment(by=by, episode_id=episode.id)
    return episode


# --- screening -----------------------------------------------------------------------

INTAKE_TEXT_FIELDS = (
    "presenting_problems",
    "psychiatric_history",
    "medical_history",
    "current_medications",
    "substance_use",
    "prior_psychedelic_use",
)
INTAKE_FIELDS = (
    *INTAKE_TEXT_FIELDS, "diagnoses", "pregnancy_status", "systolic_bp", "diastolic_bp",
    "intended_route", "weight_value", "weight_unit",
)
MAX_DIAGNOSES = 20


def _diagnoses(errors: dict[str, str], raw: Any) -> list[dict[str, str]]:
    if raw in (None, ""):
        return []
    if not isinstance(raw, list) or len(raw) > MAX_DIAGNOSES:
        errors["diagnoses"] = f"Give up to {MAX_DIAGNOSES} diagnoses, each a code and a description."
        return []
    cleaned: list[dict[str, str]] = []
    problems = []
    for n, item in enumerate(raw, start=1):
        if not isinstance(item, Mapping):
            problems.append(f"Diagnosis {n}: give a code and a description.")
            continue
        code_text = str(item.get("code") or "")
        description = str(item.get("description") or "").strip()
        try:
            code = normalize_icd10cm(code_text)
        except ValueError as exc:
            problems.append(f"Diagnosis {n}: {exc}")
            continue
        if not description or len(description) > 200:
            problems.append(f"Diagnosis {n} ({code}): add a description (up to 200 characters).")
            continue
        if any(d["code"] == code for d in cleaned):
            problems.append(f"Diagnosis {n}: {code} is listed twice.")
            continue
        cleaned.append({"code": code, "description": description})
    if problems:
        errors["diagnoses"] = " ".join(problems)
    return cleaned


def _bp(errors: dict[str, str], data: Mapping[str, Any]) -> tuple[int | None, int | None]:
    values: dict[str, int | None] = {}
    for name, low, high in (("systolic_bp", 60, 260), ("diastolic_bp", 30, 160)):
        raw = data.get(name)
        if raw in (None, ""):
            values[name] = None
            continue
        try:
            value = int(str(raw))
        except ValueError:
            errors[name] = "Enter whole mmHg."
            continue
        if not low <= value <= high:
            errors[name] = f"{value} mmHg is not plausible ({low}–{high}): please re-check."
            continue
        values[name] = value
    systolic, diastolic = values.get("systolic_bp"), values.get("diastolic_bp")
    if not errors.keys() & {"systolic_bp", "diastolic_bp"}:
        if (systolic is None) != (diastolic is None):
            errors["diastolic_bp" if systolic else "systolic_bp"] = "Enter both numbers of the blood pressure."
        elif systolic is not None and diastolic is not None and diastolic >= systolic:
            errors["diastolic_bp"] = "The diastolic pressure must be below the systolic."
    return systolic, diastolic


def _route(errors: dict[str, str], value: Any, name: str, *, required: bool) -> str:
    value = "" if value is None else str(value)
    if not value:
        if required:
            errors[name] = "Choose a route."
        return ""
    if value not in Route.__members__.values():
        errors[name] = "Choose one of the listed routes."
        return ""
    return value


def intake_save(*, by: Actor, patient_id: int, data: Mapping[str, Any], complete: bool = False) -> Intake:
    """Save the intake form; ``complete`` (or an intake already complete) checks every part is filled in.

    A weight given here is recorded in the patient's weights (kg, converted once).
    """
    unknown = set(data) - set(INTAKE_FIELDS)
    if unknown:
        raise ValidationError({"__all__": f"Unknown field(s): {', '.join(sorted(unknown))}."})
    with transaction.atomic():
        patient, episode, glass = _open_episode(by, patient_id, Perm.SCREENING_RECORD)
        errors: dict[str, str] = {}
        values: dict[str, Any] = {name: _text(errors, data, name) for name in INTAKE_TEXT_FIELDS}
        values["diagnoses"] = _diagnoses(errors, data.get("diagnoses"))
        pregnancy = str(data.get("pregnancy_status") or "")
        if pregnancy and pregnancy not in Intake.Pregnancy.values:
            errors["pregnancy_status"] = "Choose one of the listed options."
        values["pregnancy_status"] = pregnancy
        values["systolic_bp"], values["diastolic_bp"] = _bp(errors, data)
        values["intended_route"] = _route(errors, data.get("intended_route"), "intended_route", required=False)
        _raise(errors)
        intake = Intake.objects.select_for_update().filter(episode=episode).first()
        weight = None
        if data.get("weight_value") not in (None, ""):
            try:
                weight = weight_record(
                    by=by, patient_id=patient.id, value=data["weight_value"],
                    unit=str(data.get("weight_unit") or "kg"),
                )
            except ValidationError as exc:
                raise ValidationError(
                    {f"weight_{'value' if k == 'value' else 'unit'}": v for k, v in exc.message_dict.items()}
                ) from None
        if complete or (intake and intake.completed_at):
            errors = {name: "Needed to complete the intake." for name in INTAKE_TEXT_FIELDS if not values[name]}
            if not values["diagnoses"]:
                errors["diagnoses"] = "Record at least one diagnosis (ICD-10-CM) to complete the intake."
            if not values["pregnancy_status"]:
                errors["pregnancy_status"] = "Needed to complete the intake (choose 'Not applicable' when it is)."
            if values["systolic_bp"] is None:
                errors["systolic_bp"] = "Record the blood pressure to complete the intake."
            recent = timezone.localdate() - timedelta(days=RECENT_WEIGHT_DAYS)
            if weight is None and not WeightMeasurement.objects.filter(
                patient=patient, measured_on__gte=recent
            ).exists():
                errors["weight_value"] = f"Record the weight (none in the last {RECENT_WEIGHT_DAYS} days)."
            _raise(errors)
        now = timezone.now()
        if intake is None:
            intake = Intake(organization=by.organization, episode=episode, updated_by=by.user)
        changed = sorted(k for k, v in values.items() if getattr(intake, k) != v)
        for key, value in values.items():
            setattr(intake, key, value)
        if weight is not None:
            intake.weight = weight
        if complete and intake.completed_at is None:
            intake.completed_at, intake.completed_by = now, by.user
        intake.updated_at, intake.updated_by = now, by.user
        intake.save()
        _audit(by, AuditAction.UPDATE, intake, "intake", patient.id, glass,
               fields=changed, completed=intake.completed_at is not None)
    return intake


def checklist_record(
    *, by: Actor, patient_id: int, answers: Mapping[str, bool | None], notes: Mapping[str, str] | None = None
) -> list[ContraindicationAnswer]:
    """Answer checklist items (True present, False absent, None leaves it unanswered)."""
    notes = notes or {}
    errors: dict[str, str] = {}
    known = {item.id for item in CHECKLIST.items}
    for item_id in {*answers, *notes} - known:
        errors[item_id] = f"Unknown checklist item {item_id!r}."
    for item_id, value in answers.items():
        if value is not None and not isinstance(value, bool):
            errors[item_id] = "Answer present or absent."
    for item_id, note in notes.items():
        if len(str(note)) > 2000:
            errors[item_id] = "Keep the note under 2000 characters."
    _raise(errors)
    with transaction.atomic():
        patient, episode, glass = _open_episode(by, patient_id, Perm.SCREENING_RECORD)
        intake = Intake.objects.filter(episode=episode).first()
        if intake is not None:
            # The checklist must not contradict what the intake recorded.
            for item_id, status in (("pregnancy", "pregnant"), ("breastfeeding", "breastfeeding")):
                if answers.get(item_id) is False and intake.pregnancy_status == status:
                    errors[item_id] = (
                        f"The intake records '{intake.get_pregnancy_status_display()}': answer present, "
                        "or correct the intake first."
                    )
        _raise(errors)
        existing = {a.item_id: a for a in ContraindicationAnswer.objects.select_for_update().filter(episode=episode)}
        changed = []
        now = timezone.now()
        for item_id, present in answers.items():
            if present is None:
                continue
            note = str(notes.get(item_id, "")).strip()
            current = existing.get(item_id)
            if current is not None and current.present == present and current.note == note:
                continue
            ContraindicationAnswer.objects.update_or_create(
                episode=episode, item_id=item_id,
                defaults={"organization": by.organization, "present": present, "note": note,
                          "checklist_version": CHECKLIST.version, "answered_by": by.user,
                          "answered_at": now},
            )
            changed.append(item_id)
        audit_record(by=by, action=AuditAction.UPDATE, object_type="contraindication_checklist",
                     object_id=episode.id, patient_id=patient.id, break_glass=glass,
                     detail={"items": sorted(changed)})
    return list(ContraindicationAnswer.objects.filter(episode=episode).order_by("item_id"))


# --- prescriber decisions --------------------------------------------------------------


def eligibility_sign(
    *, by: Actor, patient_id: int, outcome: str, reasons: str, password: str,
    conditions: str = "", justifications: Mapping[str, str] | None = None,
) -> EligibilityDecision:
    """A prescriber's signed eligibility decision. Absolute contraindications block
    'eligible'; each relative one present needs a written justification."""
    _checked_for_signature(by, patient_id, password)
    justifications = {str(k): str(v or "").strip() for k, v in (justifications or {}).items()}
    with transaction.atomic():
        patient, episode, glass = _open_episode(by, patient_id, Perm.PATHWAY_SIGN)
        if episode.state != State.ELIGIBILITY:
            raise ValidationError(
                f"The episode is at {STATE_LABELS[State(episode.state)]}: the eligibility decision is "
                "signed once screening is done and the decision has been requested."
            )
        errors: dict[str, str] = {}
        if outcome not in EligibilityOutcome.__members__.values():
            errors["outcome"] = "Choose eligible, eligible with conditions or not eligible."
        reasons = _text(errors, {"reasons": reasons}, "reasons", required=True)
        conditions = _text(errors, {"conditions": conditions}, "conditions")
        _raise(errors)
        snapshot = episode_snapshot(episode)
        route = snapshot.checklist_route
        result = evaluate_checklist(snapshot.contraindication_answers, route)
        relative_ids = {f.item_id for f in result.relative}
        for item_id in set(justifications) - relative_ids:
            if justifications[item_id]:
                errors[f"justification_{item_id}"] = "Only relative contraindications found present are justified."
        if outcome != EligibilityOutcome.NOT_ELIGIBLE:
            blocks = []
            if not result.complete:
                blocks.append(
                    f"The contraindication checklist is not complete ({len(result.unanswered)} unanswered)."
                )
            blocks += [f"Absolute contraindication: {f.label}." for f in result.absolute]
            if blocks:
                errors["outcome"] = " ".join([*blocks, "The patient cannot be found eligible."])
            for f in result.relative:
                if not justifications.get(f.item_id):
                    errors[f"justification_{f.item_id}"] = (
                        f"Write why treatment is justified despite: {f.label}."
                    )
                elif len(justifications[f.item_id]) > 4000:
                    errors[f"justification_{f.item_id}"] = "Keep this under 4000 characters."
            if outcome == EligibilityOutcome.ELIGIBLE_WITH_CONDITIONS and not conditions:
                errors["conditions"] = "Write the conditions of eligibility."
        _raise(errors)
        decision = EligibilityDecision.objects.create(
            organization=by.organization, episode=episode, outcome=outcome, reasons=reasons,
            conditions=conditions,
            justifications={k: v for k, v in justifications.items() if k in relative_ids and v},
            route=route.value if route else "",
            findings={"absolute": [f.item_id for f in result.absolute],
                      "relative": sorted(relative_ids)},
            **_signature(by),
        )
        _audit(by, AuditAction.CREATE, decision, "eligibility_decision", patient.id, glass,
               outcome=outcome, signed=True)
    return decision


PLAN_STATES = {State.PLANNED, State.PREPARATION, State.ACTIVE, State.REASSESSMENT, State.MAINTENANCE}


def plan_sign(
    *, by: Actor, patient_id: int, password: str, indication: str, route: str, protocol_id: str,
    dose_level: str, dosing_sessions_planned: int, goals: str,
    measure_schedule: Mapping[str, Any] | None = None, integration_cadence_days: int = 7,
    change_reason: str = "",
) -> TreatmentPlan:
    """Sign a new version of the treatment plan (the first, or a change to the one in force)."""
    _checked_for_signature(by, patient_id, password)
    errors: dict[str, str] = {}
    fields = {"indication": indication, "goals": goals, "change_reason": change_reason}
    indication = _text(errors, fields, "indication", required=True)
    goals = _text(errors, fields, "goals", required=True)
    change_reason = _text(errors, fields, "change_reason")
    route = _route(errors, route, "route", required=True)
    if protocol_id not in example_ids():
        errors["protocol_id"] = "Choose a protocol from the library."
    elif route and load_example(protocol_id).route != route:
        errors["protocol_id"] = (
            f"This protocol is for {ROUTE_LABELS[load_example(protocol_id).route]}, "
            f"not {ROUTE_LABELS[Route(route)]}."
        )
    if dose_level not in DoseLevel.__members__.values():
        errors["dose_level"] = "Choose psycholytic or psychedelic."
    if isinstance(dosing_sessions_planned, bool) or not isinstance(dosing_sessions_planned, int) \
            or not 1 <= dosing_sessions_planned <= 52:
        errors["dosing_sessions_planned"] = "Plan between 1 and 52 dosing sessions."
    if isinstance(integration_cadence_days, bool) or not isinstance(integration_cadence_days, int) \
            or not 1 <= integration_cadence_days <= 30:
        errors["integration_cadence_days"] = "Integration is due within 1 to 30 days of each dosing session."
    try:
        schedule = parse_measure_schedule(measure_schedule or {})
    except ValueError as exc:
        errors["measure_schedule"] = str(exc)
    _raise(errors)
    with transaction.atomic():
        patient, episode, glass = _open_episode(by, patient_id, Perm.PATHWAY_SIGN)
        if State(episode.state) not in PLAN_STATES:
            raise ValidationError(
                f"The episode is at {STATE_LABELS[State(episode.state)]}: a treatment plan follows "
                "a confirmed eligibility decision."
            )
        previous = episode.plans.order_by("-version").first()
        if previous is not None and not change_reason:
            raise ValidationError({"change_reason": "Say what changes from the version in force, and why."})
        plan = TreatmentPlan.objects.create(
            organization=by.organization, episode=episode,
            version=(previous.version + 1) if previous else 1, indication=indication, route=route,
            protocol_id=protocol_id, dose_level=dose_level,
            dosing_sessions_planned=dosing_sessions_planned,
            integration_cadence_days=integration_cadence_days,
            measure_schedule=schedule.as_dict(), goals=goals, change_reason=change_reason,
            **_signature(by),
        )
        _audit(by, AuditAction.CREATE, plan, "treatment_plan", patient.id, glass,
               version=plan.version, route=route, protocol_id=protocol_id, signed=True)
        # The signed plan sets the episode's measure schedule in the measures app.
        measures.measure_plan_update(by=by, episode_id=episode.id, plan=schedule.as_dict())
    return plan


def reassessment_sign(
    *, by: Actor, patient_id: int, password: str, summary: str, recommendation: str
) -> ReassessmentReview:
    _checked_for_signature(by, patient_id, password)
    errors: dict[str, str] = {}
    summary = _text(errors, {"summary": summary}, "summary", required=True)
    if recommendation not in ReassessmentReview.Recommendation.values:
        errors["recommendation"] = "Choose one of the listed recommendations."
    _raise(errors)
    with transaction.atomic():
        patient, episode, glass = _open_episode(by, patient_id, Perm.PATHWAY_SIGN)
        if episode.state != State.REASSESSMENT:
            raise ValidationError("A reassessment is signed when the episode is at reassessment.")
        review = ReassessmentReview.objects.create(
            organization=by.organization, episode=episode, summary=summary,
            recommendation=recommendation, **_signature(by),
        )
        _audit(by, AuditAction.CREATE, review, "reassessment", patient.id, glass,
               recommendation=recommendation, signed=True)
    return review


# --- preparation -----------------------------------------------------------------------


def _past_date(errors: dict[str, str], value: Any, name: str) -> date | None:
    if isinstance(value, str):
        try:
            value = date.fromisoformat(value)
        except ValueError:
            errors[name] = "Enter the date as YYYY-MM-DD."
            return None
    if not isinstance(value, date):
        errors[name] = "Enter a date."
        return None
    if value > timezone.localdate():
        errors[name] = "The date cannot be in the future: record sessions once they are held."
    elif value < timezone.localdate() - timedelta(days=3 * 365):
        errors[name] = "The date is more than three years ago: please check it."
    return value


def _clinician(errors: dict[str, str], by: Actor, user_id: int | None, name: str) -> Any:
    if user_id is None:
        return by.user
    m = (
        Membership.objects.filter(
            organization=by.organization, user_id=user_id, is_active=True,
            role__in=[Role.THERAPIST, Role.PRESCRIBER],
        )
        .select_related("user")
        .first()
    )
    if m is None:
        errors[name] = "Choose a therapist or prescriber of your organisation."
        return None
    return m.user


def preparation_session_record(
    *, by: Actor, patient_id: int, held_on: date | str, notes: str = "", therapist_id: int | None = None
) -> PreparationSession:
    errors: dict[str, str] = {}
    day = _past_date(errors, held_on, "held_on")
    notes = _text(errors, {"notes": notes}, "notes")
    therapist = _clinician(errors, by, therapist_id, "therapist")
    _raise(errors)
    with transaction.atomic():
        patient, episode, glass = _open_episode(by, patient_id, Perm.PREPARATION_RECORD)
        session = PreparationSession.objects.create(
            organization=by.organization, episode=episode, therapist=therapist, held_on=day,
            notes=notes, recorded_by=by.user,
        )
        _audit(by, AuditAction.CREATE, session, "preparation_session", patient.id, glass)
    return session


def _intention_text(text: str) -> str:
    errors: dict[str, str] = {}
    text = _text(errors, {"text": text}, "text", required=True, max_length=2000)
    _raise(errors)
    return text


def intention_add(*, by: Actor, patient_id: int, text: str) -> Intention:
    text = _intention_text(text)
    with transaction.atomic():
        patient, episode, glass = _open_episode(by, patient_id, Perm.PREPARATION_RECORD)
        intention = Intention.objects.create(
            organization=by.organization, episode=episode, text=text, written_by=by.user
        )
        _audit(by, AuditAction.CREATE, intention, "intention", patient.id, glass)
    return intention


def safety_plan_save(*, by: Actor, patient_id: int, sections: Mapping[str, str]) -> SafetyPlan:
    """Save a new version of the coping and safety plan (the latest version counts)."""
    unknown = set(sections) - set(SAFETY_PLAN_SECTIONS)
    if unknown:
        raise ValidationError({"__all__": f"Unknown section(s): {', '.join(sorted(unknown))}."})
    errors: dict[str, str] = {}
    values = {key: _text(errors, sections, key, max_length=4000) for key in SAFETY_PLAN_SECTIONS}
    if not any(values.values()):
        errors["__all__"] = "Write at least one section of the plan."
    _raise(errors)
    with transaction.atomic():
        patient, episode, glass = _open_episode(by, patient_id, Perm.PREPARATION_RECORD)
        plan = SafetyPlan.objects.create(
            organization=by.organization, episode=episode, recorded_by=by.user, **values
        )
        _audit(by, AuditAction.CREATE, plan, "safety_plan", patient.id, glass,
               sections=sorted(k for k, v in values.items() if v))
    return plan


def _phone(errors: dict[str, str], value: str, name: str) -> str:
    value = (value or "").strip()
    digits = sum(c.isdigit() for c in value)
    if not value:
        errors[name] = "This field is required."
    elif len(value) > 30 or digits < 7 or any(not (c.isdigit() or c in " +-().") for c in value):
        errors[name] = "Enter a phone number (digits, spaces, + - ( ) only)."
    return value


def _arrangements(by: Actor, episode: Episode) -> SessionArrangements:
    found = SessionArrangements.objects.select_for_update().filter(episode=episode).first()
    return found or SessionArrangements(organization=by.organization, episode=episode, updated_by=by.user)


def escort_arrange(
    *, by: Actor, patient_id: int, name: str, phone: str, relationship: str = ""
) -> SessionArrangements:
    """Who takes the patient home after each dosing session (they may not drive)."""
    errors: dict[str, str] = {}
    values = {"name": name, "relationship": relationship}
    name = _text(errors, values, "name", required=True, max_length=200)
    relationship = _text(errors, values, "relationship", max_length=60)
    phone = _phone(errors, phone, "phone")
    _raise(errors)
    with transaction.atomic():
        patient, episode, glass = _open_episode(by, patient_id, Perm.PREPARATION_RECORD)
        a = _arrangements(by, episode)
        a.escort_name, a.escort_phone, a.escort_relationship = name, phone, relationship
        a.updated_by, a.updated_at = by.user, timezone.now()
        a.save()
        _audit(by, AuditAction.UPDATE, a, "escort", patient.id, glass)
    return a


def pre_session_instructions_set(
    *, by: Actor, patient_id: int, fasting: str, medications_to_hold: str, what_to_bring: str
) -> SessionArrangements:
    errors: dict[str, str] = {}
    values = {"fasting": fasting, "medications_to_hold": medications_to_hold, "what_to_bring": what_to_bring}
    cleaned = {k: _text(errors, values, k, max_length=4000) for k in values}
    if not any(cleaned.values()):
        errors["__all__"] = "Write at least one instruction."
    _raise(errors)
    with transaction.atomic():
        patient, episode, glass = _open_episode(by, patient_id, Perm.PREPARATION_RECORD)
        a = _arrangements(by, episode)
        for k, v in cleaned.items():
            setattr(a, k, v)
        a.updated_by, a.updated_at = by.user, timezone.now()
        a.save()
        _audit(by, AuditAction.UPDATE, a, "pre_session_instructions", patient.id, glass)
    return a


# --- consent ---------------------------------------------------------------------------


def document_hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def consent_document_publish(*, by: Actor, route: str, title: str, text: str) -> ConsentDocument:
    """Publish a new version of the consent for a route; patients must sign it before their next dosing."""
    require(by, Perm.CONSENT_MANAGE)
    errors: dict[str, str] = {}
    route = _route(errors, route, "route", required=True)
    title = _text(errors, {"title": title}, "title", required=True, max_length=200)
    # One newline convention, so the hash does not depend on the browser that sent it.
    text = _text(errors, {"text": (text or "").replace("\r\n", "\n")}, "text", required=True, max_length=100_000)
    if text and len(text) < 200:
        errors["text"] = "A consent document explains the treatment, its risks and alternatives: this is too short."
    _raise(errors)
    with transaction.atomic():
        latest = (
            ConsentDocument.objects.select_for_update()
            .filter(organization=by.organization, route=route)
            .order_by("-version")
            .first()
        )
        if latest is not None and latest.text == text:
            raise ValidationError({"text": "This text is the same as the version in force."})
        try:
            with transaction.atomic():
                document = ConsentDocument.objects.create(
                    organization=by.organization, route=route,
                    version=(latest.version + 1) if latest else 1, title=title, text=text,
                    sha256=document_hash(text), published_by=by.user,
                )
        except IntegrityError:
            raise ValidationError("Another version was published at the same time; reload and try again.") from None
        audit_record(by=by, action=AuditAction.CREATE, object_type="consent_document",
                     object_id=document.id, detail={"route": route, "version": document.version,
                                                    "sha256": document.sha256})
    return document


def _normalised_name(text: str) -> str:
    return " ".join(text.split()).casefold()


def _consent_sign(
    by: Actor, patient: Patient, episode: Episode, glass: bool, *, typed_name: str,
    document_sha256: str, channel: str, ip: str,
) -> ConsentSignature:
    route = episode_route(episode)
    document = consent_document_in_force(episode.organization_id, route)
    if document is None:
        raise ValidationError(
            "No consent document is in force for this route yet."
            if route else "Choose the route first (in the intake or the treatment plan)."
        )
    errors: dict[str, str] = {}
    if document_sha256 != document.sha256:
        errors["document_sha256"] = (
            "The consent document changed since it was shown: read the current version and sign again."
        )
    if _normalised_name(typed_name) != _normalised_name(patient.legal_name):
        errors["typed_name"] = "Type the patient's full legal name exactly as registered."
    _raise(errors)
    signature = ConsentSignature.objects.create(
        organization=by.organization, episode=episode, patient=patient, document=document,
        typed_name=" ".join(typed_name.split()), document_sha256=document.sha256, channel=channel,
        recorded_by=by.user, ip=ip,
    )
    audit_record(by=by, action=AuditAction.CREATE, object_type="consent_signature",
                 object_id=signature.id, patient_id=patient.id, break_glass=glass,
                 detail={"document_id": document.id, "version": document.version,
                         "sha256": document.sha256, "channel": channel})
    return signature


def consent_sign_in_clinic(
    *, by: Actor, patient_id: int, typed_name: str, document_sha256: str
) -> ConsentSignature:
    """The patient signs on the clinic's device; the staff member present records it."""
    with transaction.atomic():
        patient, episode, glass = _open_episode(by, patient_id, Perm.CONSENT_RECORD)
        return _consent_sign(by, patient, episode, glass, typed_name=typed_name,
                             document_sha256=document_sha256, channel=ConsentSignature.Channel.CLINIC,
                             ip=by.ip)


def _withdraw(by: Actor, patient: Patient, episode: Episode, glass: bool, reason: str) -> ConsentSignature:
    errors: dict[str, str] = {}
    reason = _text(errors, {"reason": reason}, "reason", required=True, max_length=2000)
    _raise(errors)
    in_force = ConsentSignature.objects.filter(episode=episode, withdrawn_at__isnull=True)
    signature = in_force.order_by("-signed_at", "-id").first()
    if signature is None:
        raise ValidationError("There is no signed consent to withdraw.")
    # Withdrawal covers every consent of the episode, whichever route it was for.
    in_force.update(withdrawn_at=timezone.now(), withdrawal_reason=reason, withdrawal_recorded_by=by.user)
    signature.refresh_from_db()
    audit_record(by=by, action=AuditAction.UPDATE, object_type="consent_signature",
                 object_id=signature.id, patient_id=patient.id, reason=reason, break_glass=glass,
                 detail={"withdrawn": True})
    return signature


def consent_withdraw(*, by: Actor, patient_id: int, reason: str) -> ConsentSignature:
    """Record that the patient withdrew consent: no dosing until they sign again."""
    with transaction.atomic():
        patient, episode, glass = _open_episode(by, patient_id, Perm.CONSENT_RECORD)
        return _withdraw(by, patient, episode, glass, reason)


# --- integration -----------------------------------------------------------------------


def integration_note_write(
    *, by: Actor, patient_id: int, session_date: date | str, template: str,
    sections: Mapping[str, str], dosing_session_id: int | None = None,
) -> IntegrationNote:
    """Record an integration session's note, linked to the dosing session it integrates."""
    errors: dict[str, str] = {}
    day = _past_date(errors, session_date, "session_date")
    chosen = NOTE_TEMPLATES.get(template)
    if chosen is None:
        raise ValidationError({"template": "Choose one of the note templates."})
    keys = [s.key for s in chosen.sections]
    unknown = set(sections) - set(keys)
    if unknown:
        errors["__all__"] = f"Unknown section(s) for {chosen.label}: {', '.join(sorted(unknown))}."
    values = {k: _text(errors, sections, k) for k in keys}
    if not any(values.values()):
        errors["__all__"] = "Write at least one section of the note."
    _raise(errors)
    with transaction.atomic():
        patient, episode, glass = _open_episode(by, patient_id, Perm.NOTE_WRITE)
        dosing = None
        if dosing_session_id is not None:
            dosing = DosingSession.objects.filter(
                id=dosing_session_id, episode=episode, status__in=HELD_STATUSES
            ).first()
            if dosing is None:
                raise ValidationError({"dosing_session": "Choose a dosing session of this episode that was held."})
            dosed_on = timezone.localdate(dosing.started_at or dosing.scheduled_start)
            if day is not None and day < dosed_on:
                raise ValidationError({"session_date": f"The dosing session was on {dosed_on}: integration comes after it."})
        note = IntegrationNote.objects.create(
            organization=by.organization, episode=episode, patient=patient, dosing_session=dosing,
            session_date=day, template=template, sections={k: v for k, v in values.items() if v},
            author=by.user,
        )
        _audit(by, AuditAction.CREATE, note, "integration_note", patient.id, glass,
               dosing_session_id=dosing_session_id, template=template)
        if dosing is not None:
            # The plan's after-integration measures fall due now (once per dosing session).
            measures.schedule_after_integration(
                by=by, episode_id=episode.id, dosing_session_id=dosing.id, held_at=timezone.now()
            )
    return note


INTEGRATION_TASK_KIND = "integration_due"


def integration_overdue_tasks(*, episodes: Iterable[Episode] | None = None, today: date | None = None) -> list[Task]:
    """Raise a task for the therapists of the care team for each dosing session whose
    integration window passed without an integration session; once per session.

    Run by ``openkap integration_tasks`` (daily, from cron); a page that shows the
    episode never writes (the Pathway tab lists overdue integrations itself)."""
    today = today or timezone.localdate()
    if episodes is None:
        episodes = Episode.objects.filter(
            state__in=OPEN_STATES, dosing_sessions__status__in=HELD_STATUSES
        ).distinct().select_related("organization", "patient")
    raised = []
    for episode in episodes:
        overdue = overdue_integrations(
            dosing_records(episode), today=today, window_days=integration_window_days(episode)
        )
        for due in overdue:
            with transaction.atomic():
                if Task.objects.filter(
                    organization_id=episode.organization_id, kind=INTEGRATION_TASK_KIND,
                    subject_type="dosing_session", subject_id=due.session_id,
                ).exists():
                    continue
                therapists = sorted(
                    CareTeamMember.objects.filter(
                        patient_id=episode.patient_id, role=Role.THERAPIST, ended_at__isnull=True
                    ).values_list("user_id", flat=True)
                )
                raised.append(measures.task_create(
                    by=None, organization=episode.organization, kind=INTEGRATION_TASK_KIND,
                    title="Integration session overdue",
                    detail=(
                        f"The dosing session of {due.dosed_on:%Y-%m-%d} was due its integration "
                        f"session by {due.due_by:%Y-%m-%d}; none is recorded."
                    ),
                    patient=episode.patient, subject_type="dosing_session", subject_id=due.session_id,
                    assignee_ids=therapists, assigned_role="" if therapists else Role.THERAPIST,
                    data={"episode_id": episode.id, "due_by": due.due_by.isoformat()},
                ))
    return raised


# --- psychotherapy notes ---------------------------------------------------------------


def psychotherapy_note_write(*, by: Actor, patient_id: int, session_date: date | str, text: str) -> PsychotherapyNote:
    """Write a psychotherapy note: stored encrypted, readable by its author and whom they grant."""
    errors: dict[str, str] = {}
    day = _past_date(errors, session_date, "session_date")
    text = _text(errors, {"text": text}, "text", required=True, max_length=50_000)
    _raise(errors)
    with transaction.atomic():
        patient, glass = patient_for(by, patient_id, Perm.PSYCHOTHERAPY_NOTES)
        episode = Episode.objects.filter(patient=patient, state__in=OPEN_STATES).order_by("-opened_at").first()
        note = PsychotherapyNote.objects.create(
            organization=by.organization, patient=patient, episode=episode, author=by.user,
            session_date=day, body_encrypted=fieldcrypto.encrypt_text(text),
        )
        _audit(by, AuditAction.CREATE, note, "psychotherapy_note", patient.id, glass)
    return note


def _own_note(by: Actor, patient_id: int, note_id: int) -> tuple[PsychotherapyNote, bool]:
    patient, glass = patient_for(by, patient_id, Perm.PSYCHOTHERAPY_NOTES)
    note = PsychotherapyNote.objects.filter(
        id=note_id, patient=patient, organization=by.organization, author=by.user
    ).first()
    if note is None:
        # Someone else's note does not exist for this user.
        raise Http404("No such note of yours.")
    return note, glass


def psychotherapy_note_grant(*, by: Actor, patient_id: int, note_id: int, user_id: int) -> PsychotherapyNoteGrant:
    """The author lets one colleague (a therapist or prescriber) read a note."""
    with transaction.atomic():
        note, glass = _own_note(by, patient_id, note_id)
        errors: dict[str, str] = {}
        grantee = _clinician(errors, by, user_id, "user")
        if grantee is not None and grantee.id == by.user.id:
            errors["user"] = "You are the author: you can already read it."
        _raise(errors)
        grant, created = PsychotherapyNoteGrant.objects.get_or_create(
            note=note, user=grantee, revoked_at__isnull=True,
            defaults={"organization": by.organization, "granted_by": by.user},
        )
        if created:
            _audit(by, AuditAction.CREATE, grant, "psychotherapy_note_grant", note.patient_id, glass,
                   note_id=note.id, user_id=grantee.id)
    return grant


def psychotherapy_note_revoke(*, by: Actor, patient_id: int, note_id: int, user_id: int) -> None:
    with transaction.atomic():
        note, glass = _own_note(by, patient_id, note_id)
        grant = note.grants.select_for_update().filter(user_id=user_id, revoked_at__isnull=True).first()
        if grant is None:
            raise Http404("This colleague has no access to revoke.")
        grant.revoked_at = timezone.now()
        grant.save(update_fields=["revoked_at"])
        _audit(by, AuditAction.UPDATE, grant, "psychotherapy_note_grant", note.patient_id, glass,
               note_id=note.id, user_id=user_id, revoked=True)


# --- the patient in the portal ----------------------------------------------------------


def portal_patient(by: Actor) -> Patient:
    """The patient record of a signed-in patient (portal writes act on it only)."""
    patient = Patient.objects.filter(user=by.user, organization=by.organization).first()
    if patient is None:
        raise Denied("This is for patients of the clinic.")
    return patient


def _portal_episode(by: Actor) -> tuple[Patient, Episode]:
    patient = portal_patient(by)
    episode = (
        Episode.objects.select_for_update()
        .filter(patient=patient, state__in=OPEN_STATES)
        .order_by("-opened_at")
        .first()
    )
    if episode is None:
        raise ValidationError("You have no open course of care with the clinic.")
    return patient, episode


def portal_intention_add(*, by: Actor, text: str) -> Intention:
    text = _intention_text(text)
    with transaction.atomic():
        patient, episode = _portal_episode(by)
        intention = Intention.objects.create(
            organization=by.organization, episode=episode, text=text, written_by=by.user, by_patient=True
        )
        _audit(by, AuditAction.CREATE, intention, "intention", patient.id)
    return intention


def portal_consent_sign(*, by: Actor, typed_name: str, document_sha256: str) -> ConsentSignature:
    with transaction.atomic():
        patient, episode = _portal_episode(by)
        return _consent_sign(by, patient, episode, False, typed_name=typed_name,
                             document_sha256=document_sha256, channel=ConsentSignature.Channel.PORTAL,
                             ip=by.ip)


def portal_consent_withdraw(*, by: Actor, reason: str) -> ConsentSignature:
    with transaction.atomic():
        patient, episode = _portal_episode(by)
        return _withdraw(by, patient, episode, False, reason)


def journal_write(*, by: Actor, text: str) -> JournalEntry:
    errors: dict[str, str] = {}
    text = _text(errors, {"text": text}, "text", required=True)
    _raise(errors)
    with transaction.atomic():
        patient = portal_patient(by)
        episode = Episode.objects.filter(patient=patient, state__in=OPEN_STATES).order_by("-opened_at").first()
        entry = JournalEntry.objects.create(organization=by.organization, patient=patient, episode=episode, text=text)
        _audit(by, AuditAction.CREATE, entry, "journal_entry", patient.id)
    return entry


MAX_ACTIVE_COMMITMENTS = 10


def commitment_add(*, by: Actor, text: str) -> Commitment:
    errors: dict[str, str] = {}
    text = _text(errors, {"text": text}, "text", required=True, max_length=200)
    _raise(errors)
    with transaction.atomic():
        patient = Patient.objects.select_for_update().get(pk=portal_patient(by).pk)
        active = Commitment.objects.filter(patient=patient, ended_at__isnull=True)
        if active.count() >= MAX_ACTIVE_COMMITMENTS:
            raise ValidationError({"text": f"Keep it small: up to {MAX_ACTIVE_COMMITMENTS} practices at a time. End one first."})
        episode = Episode.objects.filter(patient=patient, state__in=OPEN_STATES).order_by("-opened_at").first()
        commitment = Commitment.objects.create(organization=by.organization, patient=patient, episode=episode, text=text)
        _audit(by, AuditAction.CREATE, commitment, "commitment", patient.id)
    return commitment


def _own_commitment(by: Actor, commitment_id: int) -> Commitment:
    patient = portal_patient(by)
    commitment = Commitment.objects.select_for_update().filter(id=commitment_id, patient=patient).first()
    if commitment is None:
        raise Http404("No such practice.")
    return commitment


def commitment_tick(*, by: Actor, commitment_id: int, done: bool = True, day: date | None = None) -> Commitment:
    """Tick off (or un-tick) a practice for a day: today, or one of the last seven days."""
    today = timezone.localdate()
    day = day or today
    if not today - timedelta(days=6) <= day <= today:
        raise ValidationError({"day": "Tick off today or one of the last seven days."})
    with transaction.atomic():
        commitment = _own_commitment(by, commitment_id)
        if commitment.ended_at is not None:
            raise ValidationError("This practice has ended.")
        if done:
            CommitmentCheck.objects.get_or_create(
                commitment=commitment, done_on=day, defaults={"organization": by.organization}
            )
        else:
            CommitmentCheck.objects.filter(commitment=commitment, done_on=day).delete()
        _audit(by, AuditAction.UPDATE, commitment, "commitment", commitment.patient_id,
               day=day.isoformat(), done=done)
    return commitment


def commitment_end(*, by: Actor, commitment_id: int) -> Commitment:
    with transaction.atomic():
        commitment = _own_commitment(by, commitment_id)
        if commitment.ended_at is None:
            commitment.ended_at = timezone.now()
            commitment.save(update_fields=["ended_at"])
            _audit(by, AuditAction.UPDATE, commitment, "commitment", commitment.patient_id, ended=True)
    return commitment

