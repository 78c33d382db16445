"""Preparation: sessions, intentions, the safety plan, the escort and pre-session instructions."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, timedelta
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from openkap.accounts.authz import Actor
from openkap.accounts.models import Membership
from openkap.audit.models import AuditAction
from openkap.core.authz import Perm, Role
from openkap.core.pathway.plan import SAFETY_PLAN_SECTIONS
from openkap.pathway.models import (
    Episode,
    Intention,
    PreparationSession,
    SafetyPlan,
    SessionArrangements,
)

from .common import _audit, _open_episode, _raise, _text


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
    assert day is not None  # _past_date recorded its error, raised above
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
