"""Writes of patient data: keyword-only, one transaction, checked and audited."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.http import Http404
from django.utils import timezone

from openkap.accounts.authz import Actor, require
from openkap.accounts.models import Membership, Organization
from openkap.audit.models import AuditAction
from openkap.audit.services import audit_record
from openkap.core.authz import Perm
from openkap.core.identifiers import format_mrn
from openkap.core.units import lb_to_kg
from openkap.patients.models import BreakGlassGrant, CareTeamMember, Patient, WeightMeasurement
from openkap.patients.selectors import patient_for, patient_in_organization

# Demographic fields a clinician may set on create and update.
PATIENT_FIELDS = (
    "legal_given_name",
    "legal_family_name",
    "preferred_name",
    "pronouns",
    "date_of_birth",
    "sex_at_birth",
    "gender_identity",
    "email",
    "phone",
    "address",
    "emergency_contact_name",
    "emergency_contact_phone",
    "emergency_contact_relationship",
    "allergies",
    "current_medications",
)
REQUIRED_FIELDS = ("legal_given_name", "legal_family_name", "date_of_birth", "sex_at_birth")
MAX_LENGTHS = {f.name: f.max_length for f in Patient._meta.fields if getattr(f, "max_length", None)}
MIN_WEIGHT_KG = Decimal("2")
MAX_WEIGHT_KG = Decimal("400")
BREAK_GLASS_HOURS = 4


def _clean_patient_data(data: dict[str, Any], *, partial: bool) -> dict[str, Any]:
    errors: dict[str, str] = {}
    unknown = set(data) - set(PATIENT_FIELDS)
    if unknown:
        raise ValidationError({"__all__": f"Unknown field(s): {', '.join(sorted(unknown))}."})
    cleaned: dict[str, Any] = {}
    for name in PATIENT_FIELDS:
        if name not in data:
            if not partial and name in REQUIRED_FIELDS:
                errors[name] = "This field is required."
            continue
        value = data[name]
        if name == "date_of_birth":
            if isinstance(value, str):
                try:
                    value = date.fromisoformat(value)
                except ValueError:
                    errors[name] = "Enter the date as YYYY-MM-DD."
                    continue
            if not isinstance(value, date):
                errors[name] = "Enter a date of birth."
                continue
            today = timezone.localdate()
            if value > today:
                errors[name] = "The date of birth cannot be in the future."
            elif value < today.replace(year=today.year - 120):
                errors[name] = "The date of birth is more than 120 years ago: please check it."
            cleaned[name] = value
            continue
        value = "" if value is None else str(value).strip()
        if name in REQUIRED_FIELDS and not value:
            errors[name] = "This field is required."
        elif name in MAX_LENGTHS and len(value) > MAX_LENGTHS[name]:
            errors[name] = f"Keep this under {MAX_LENGTHS[name]} characters."
        elif name == "sex_at_birth" and value not in Patient.SexAtBirth.values:
            errors[name] = "Choose one of the listed options."
        elif name == "email" and value:
            try:
                validate_email(value)
            except ValidationError:
                errors[name] = "Enter a valid email address."
        cleaned[name] = value
    if errors:
        raise ValidationError(errors)
    return cleaned


def _search_name(p: Patient) -> str:
    return " ".join(
        part for part in (p.legal_given_name, p.legal_family_name, p.preferred_name) if part
    ).lower()


def next_mrn(organization: Organization) -> str:
    """The next MRN of the organisation; the counter row is locked so concurrent
    registrations never get the same number."""
    org = Organization.objects.select_for_update().get(pk=organization.pk)
    while True:
        org.mrn_counter += 1
        mrn = format_mrn(org.mrn_prefix, org.mrn_counter)
        if not Patient.objects.filter(organization=org, mrn=mrn).exists():
            break
    org.save(update_fields=["mrn_counter"])
    return mrn


def patient_create(*, by: Actor, data: dict[str, Any], mrn: str = "") -> Patient:
    require(by, Perm.PATIENT_CREATE)
    cleaned = _clean_patient_data(data, partial=False)
    mrn = mrn.strip().upper()
    if mrn and (len(mrn) > 20 or not mrn.replace("-", "").isalnum()):
        raise ValidationError({"mrn": "An MRN is up to 20 letters, digits and dashes."})
    with transaction.atomic():
        if mrn:
            if Patient.objects.filter(organization=by.organization, mrn=mrn).exists():
                raise ValidationError({"mrn": f"MRN {mrn} is already used by another patient."})
        else:
            mrn = next_mrn(by.organization)
        patient = Patient(organization=by.organization, mrn=mrn, **cleaned)
        patient.search_name = _search_name(patient)
        try:
            with transaction.atomic():
                patient.save()
        except IntegrityError as exc:
            raise ValidationError({"mrn": f"MRN {mrn} is already used by another patient."}) from exc
        audit_record(
            by=by, action=AuditAction.CREATE, object_type="patient", object_id=patient.id,
            patient_id=patient.id,
        )
    return patient


def patient_update(*, by: Actor, patient_id: int, data: dict[str, Any]) -> Patient:
    with transaction.atomic():
        patient, glass = patient_for(by, patient_id, Perm.PATIENT_UPDATE)
        patient = Patient.objects.select_for_update().get(pk=patient.pk)
        cleaned = _clean_patient_data(data, partial=True)
        changed = sorted(k for k, v in cleaned.items() if getattr(patient, k) != v)
        for key, value in cleaned.items():
            setattr(patient, key, value)
        patient.search_name = _search_name(patient)
        patient.updated_at = timezone.now()
        patient.save()
        audit_record(
            by=by, action=AuditAction.UPDATE, object_type="patient", object_id=patient.id,
            patient_id=patient.id, break_glass=glass, detail={"fields": changed},
        )
    return patient


def weight_record(
    *, by: Actor, patient_id: int, value: Decimal | str | float, unit: str, measured_on: date | None = None
) -> WeightMeasurement:
    """Record a weight as entered; converted to kg once, here, and stored in kg."""
    errors: dict[str, str] = {}
    try:
        entered = Decimal(str(value)).quantize(Decimal("0.01"))
    except (InvalidOperation, ValueError):
        raise ValidationError({"value": "Enter the weight as a number."}) from None
    if not entered.is_finite():
        raise ValidationError({"value": "Enter the weight as a number."})
    if unit not in WeightMeasurement.Unit.values:
        errors["unit"] = "Choose kg or lb."
    measured_on = measured_on or timezone.localdate()
    if measured_on > timezone.localdate():
        errors["measured_on"] = "The date cannot be in the future."
    if errors:
        raise ValidationError(errors)
    kg = (lb_to_kg(entered) if unit == "lb" else entered).quantize(Decimal("0.01"))
    if not MIN_WEIGHT_KG <= kg <= MAX_WEIGHT_KG:
        raise ValidationError(
            {"value": f"{entered} {unit} is not a plausible weight ({MIN_WEIGHT_KG}–{MAX_WEIGHT_KG} kg): please re-check."}
        )
    with transaction.atomic():
        patient, glass = patient_for(by, patient_id, Perm.WEIGHT_RECORD)
        weight = WeightMeasurement.objects.create(
            organization=by.organization, patient=patient, weight_kg=kg, entered_value=entered,
            entered_unit=unit, measured_on=measured_on, recorded_by=by.user,
        )
        audit_record(
            by=by, action=AuditAction.CREATE, object_type="weight", object_id=weight.id,
            patient_id=patient.id, break_glass=glass,
            detail={"entered": f"{entered} {unit}", "kg": str(kg)},
        )
    return weight


def care_team_add(*, by: Actor, patient_id: int, user_id: int, role: str) -> CareTeamMember:
    require(by, Perm.CARE_TEAM_MANAGE)
    with transaction.atomic():
        patient, _ = patient_for(by, patient_id, Perm.PATIENT_VIEW)
        if role not in dict(CareTeamMember.CARE_TEAM_ROLES):
            raise ValidationError({"role": "Choose therapist, prescriber or nurse."})
        if not Membership.objects.filter(
            organization=by.organization, user_id=user_id, role=role, is_active=True
        ).exists():
            raise ValidationError({"user": "This person does not hold that role in your organisation."})
        member, created = CareTeamMember.objects.get_or_create(
            organization=by.organization, patient=patient, user_id=user_id, role=role,
            ended_at__isnull=True,
        )
        if created:
            audit_record(
                by=by, action=AuditAction.CREATE, object_type="care_team", object_id=member.id,
                patient_id=patient.id, detail={"user_id": user_id, "role": role},
            )
    return member


def care_team_remove(*, by: Actor, patient_id: int, member_id: int) -> None:
    require(by, Perm.CARE_TEAM_MANAGE)
    with transaction.atomic():
        patient, _ = patient_for(by, patient_id, Perm.PATIENT_VIEW)
        member = (
            CareTeamMember.objects.select_for_update()
            .filter(id=member_id, patient=patient, ended_at__isnull=True)
            .first()
        )
        if member is None:
            raise Http404("This person is not on the patient's care team (any more).")
        member.ended_at = timezone.now()
        member.save(update_fields=["ended_at"])
        audit_record(
            by=by, action=AuditAction.UPDATE, object_type="care_team", object_id=member.id,
            patient_id=patient.id, detail={"ended": True},
        )


def break_glass(*, by: Actor, patient_id: int, reason: str) -> BreakGlassGrant:
    """Emergency access outside the care team: needs a reason, expires, and is flagged
    in the audit log for the admins' review."""
    require(by, Perm.BREAK_GLASS)
    reason = reason.strip()
    if len(reason) < 10:
        raise ValidationError({"reason": "Say why you need emergency access (at least 10 characters)."})
    patient = patient_in_organization(by, patient_id)
    with transaction.atomic():
        grant = BreakGlassGrant.objects.create(
            organization=by.organization, patient=patient, user=by.user, reason=reason,
            expires_at=timezone.now() + timedelta(hours=BREAK_GLASS_HOURS),
        )
        audit_record(
            by=by, action=AuditAction.BREAK_GLASS, object_type="patient", object_id=patient.id,
            patient_id=patient.id, reason=reason, break_glass=True,
        )
    return grant

