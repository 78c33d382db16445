"""Screening: the intake and the medical contraindication checklist."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from openkap.accounts.authz import Actor
from openkap.audit.models import AuditAction
from openkap.audit.services import audit_record
from openkap.core.authz import Perm
from openkap.core.pathway import (
    CHECKLIST,
    normalize_icd10cm,
)
from openkap.core.routes import Route
from openkap.pathway.models import (
    ContraindicationAnswer,
    Intake,
)
from openkap.patients.models import WeightMeasurement
from openkap.patients.services import weight_record

from .common import RECENT_WEIGHT_DAYS, _audit, _open_episode, _raise, _text

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
