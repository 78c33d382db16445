"""Writes of patient data: keyword-only, one transaction, checked and audited."""

from __future__ import annotations

import secrets
from datetime import date, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from django.conf import settings
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.mail import send_mail
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.http import Http404
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from openkap.accounts.authz import Actor, Denied, require
from openkap.accounts.models import Membership, Organization, User
from openkap.audit.models import AuditAction
from openkap.audit.services import audit_record
from openkap.core.authz import Perm, Role
from openkap.core.digest import sha256_hex
from openkap.core.identifiers import format_mrn
from openkap.core.units import lb_to_kg
from openkap.patients.models import (
    BreakGlassGrant,
    CareTeamMember,
    HeightMeasurement,
    Patient,
    PatientNameKey,
    PortalInvitation,
    WeightMeasurement,
)
from openkap.patients.search_keys import name_keys_of, search_name_of
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
    "preferred_language",
    "emergency_contact_name",
    "emergency_contact_phone",
    "emergency_contact_relationship",
    "allergies",
    "current_medications",
)
LANGUAGE_CODES = tuple(code for code, _ in Patient._meta.get_field("preferred_language").choices or ())
REQUIRED_FIELDS = ("legal_given_name", "legal_family_name", "date_of_birth", "sex_at_birth")
MAX_LENGTHS = {f.name: f.max_length for f in Patient._meta.fields if f.max_length}
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
        if name == "preferred_language" and not value:
            continue  # not given: English on registration, unchanged on an update
        if name in REQUIRED_FIELDS and not value:
            errors[name] = "This field is required."
        elif name in MAX_LENGTHS and len(value) > MAX_LENGTHS[name]:
            errors[name] = f"Keep this under {MAX_LENGTHS[name]} characters."
        elif name == "sex_at_birth" and value not in Patient.SexAtBirth.values:
            errors[name] = "Choose one of the listed options."
        elif name == "preferred_language" and value not in LANGUAGE_CODES:
            errors[name] = "Choose English or Spanish."
        elif name == "email" and value:
            try:
                validate_email(value)
            except ValidationError:
                errors[name] = "Enter a valid email address."
        cleaned[name] = value
    if errors:
        raise ValidationError(errors)
    return cleaned


NAME_FIELDS = {"legal_given_name", "legal_family_name", "preferred_name"}


def _name_keys_write(patient: Patient) -> None:
    """Replace the patient's search keys with those of its current name (in the caller's
    transaction, so a search never sees a name and keys that disagree)."""
    PatientNameKey.objects.filter(patient=patient).delete()
    PatientNameKey.objects.bulk_create(name_keys_of([patient]))


def _next_mrn(organization: Organization) -> str:
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
            mrn = _next_mrn(by.organization)
        patient = Patient(organization=by.organization, mrn=mrn, **cleaned)
        patient.search_name = search_name_of(patient)
        try:
            with transaction.atomic():
                patient.save()
        except IntegrityError as exc:
            raise ValidationError({"mrn": f"MRN {mrn} is already used by another patient."}) from exc
        _name_keys_write(patient)
        audit_record(
            by=by, action=AuditAction.CREATE, object_type="patient", object_id=patient.id,
            patient_id=patient.id,
        )
        _join_care_team_as_registrar(by, patient)
    return patient


def _join_care_team_as_registrar(by: Actor, patient: Patient) -> None:
    """A clinician who registers a patient is on the care team from the first moment,
    or their next click (the chart) would answer 403. An admin registers without
    joining: the registry is theirs, the clinical record is not."""
    for role, _label in CareTeamMember.CARE_TEAM_ROLES:
        if role in by.roles and role != Role.NURSE:  # nurses see every chart already
            member = CareTeamMember.objects.create(
                organization=by.organization, patient=patient, user=by.user, role=role
            )
            audit_record(
                by=by, action=AuditAction.CREATE, object_type="care_team", object_id=member.id,
                patient_id=patient.id, detail={"user_id": by.user.id, "role": role, "registered": True},
            )


def patient_update(*, by: Actor, patient_id: int, data: dict[str, Any]) -> Patient:
    with transaction.atomic():
        patient, glass = patient_for(by, patient_id, Perm.PATIENT_UPDATE)
        patient = Patient.objects.select_for_update().get(pk=patient.pk)
        cleaned = _clean_patient_data(data, partial=True)
        changed = sorted(k for k, v in cleaned.items() if getattr(patient, k) != v)
        for key, value in cleaned.items():
            setattr(patient, key, value)
        # Any name field, not only search_name: "Mary Ann" + "Smith" and "Mary" + "Ann Smith"
        # search alike but sort apart (the keys carry the sort names).
        name_changed = patient.search_name != search_name_of(patient) or bool(NAME_FIELDS & set(changed))
        patient.search_name = search_name_of(patient)
        patient.updated_at = timezone.now()
        patient.save()
        if name_changed:
            _name_keys_write(patient)
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
        if measured_on < patient.date_of_birth:
            raise ValidationError(
                {"measured_on": f"The date is before the patient was born ({patient.date_of_birth:%b %-d, %Y}): please check it."}
            )
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


MIN_HEIGHT_CM = Decimal(50)
MAX_HEIGHT_CM = Decimal(250)
CM_PER_INCH = Decimal("2.54")  # exact (1959)


def height_record(
    *, by: Actor, patient_id: int, value: Decimal | str | float, unit: str, measured_on: date | None = None
) -> HeightMeasurement:
    """Record a height as entered; inches are converted to cm once, here, exactly."""
    errors: dict[str, str] = {}
    try:
        entered = Decimal(str(value))
    except (InvalidOperation, ValueError):
        raise ValidationError({"value": "Enter the height as a number."}) from None
    if not entered.is_finite() or entered != entered.quantize(Decimal("0.1")):
        raise ValidationError({"value": "Enter the height as a number with at most one decimal."})
    if unit not in HeightMeasurement.Unit.values:
        errors["unit"] = "Choose cm or in."
    measured_on = measured_on or timezone.localdate()
    if measured_on > timezone.localdate():
        errors["measured_on"] = "The date cannot be in the future."
    if errors:
        raise ValidationError(errors)
    cm = entered * CM_PER_INCH if unit == "in" else entered
    if not MIN_HEIGHT_CM <= cm <= MAX_HEIGHT_CM:
        raise ValidationError(
            {"value": f"{entered} {unit} is not a plausible height ({MIN_HEIGHT_CM}–{MAX_HEIGHT_CM} cm): please re-check."}
        )
    with transaction.atomic():
        patient, glass = patient_for(by, patient_id, Perm.WEIGHT_RECORD)
        height = HeightMeasurement.objects.create(
            organization=by.organization, patient=patient, height_cm=cm, entered_value=entered,
            entered_unit=unit, measured_on=measured_on, recorded_by=by.user,
        )
        audit_record(
            by=by, action=AuditAction.CREATE, object_type="height", object_id=height.id,
            patient_id=patient.id, break_glass=glass,
            detail={"entered": f"{entered} {unit}", "cm": str(cm)},
        )
    return height


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



# --- portal access ----------------------------------------------------------------

PORTAL_INVITATION_DAYS = 7


def _open_portal_invitations(patient: Patient) -> Any:
    return PortalInvitation.objects.filter(
        patient=patient, accepted_at__isnull=True, revoked_at__isnull=True
    )


def portal_invite(*, by: Actor, patient_id: int, email: str = "") -> tuple[PortalInvitation, str]:
    """Email the patient a single-use link to set a portal password. Sending again
    (a lost or expired email) revokes the earlier link. Returns the invitation and the
    raw token, which is never stored."""
    with transaction.atomic():
        patient, glass = patient_for(by, patient_id, Perm.PORTAL_ACCESS_MANAGE)
        patient = Patient.objects.select_for_update().get(pk=patient.pk)
        email = (email or patient.email).strip().lower()
        if patient.user is not None:
            # The account exists: the link goes where the account is, and only to restore
            # a disabled account (an active one needs no invitation).
            if _portal_membership(patient, active=True) is not None:
                raise ValidationError({"email": "This patient already has portal access."})
            email = patient.user.email
        if not email:
            raise ValidationError({"email": "Enter the patient's email address (none is on the chart)."})
        try:
            validate_email(email)
        except ValidationError:
            raise ValidationError({"email": "Enter a valid email address."}) from None
        if User.objects.filter(email=email).exclude(id__in=[patient.user_id] if patient.user_id else []).exists():
            raise ValidationError(
                {"email": "This email address belongs to another account: use the patient's own address."}
            )
        now = timezone.now()
        resent = _open_portal_invitations(patient).update(revoked_at=now)
        token = secrets.token_urlsafe(32)
        invitation = PortalInvitation.objects.create(
            organization=by.organization, patient=patient, email=email, token_hash=sha256_hex(token),
            invited_by=by.user, expires_at=now + timedelta(days=PORTAL_INVITATION_DAYS),
        )
        audit_record(
            by=by, action=AuditAction.INVITE, object_type="portal_invitation", object_id=invitation.id,
            patient_id=patient.id, break_glass=glass, detail={"email": email, "resent": bool(resent)},
        )
        link = settings.SITE_URL.rstrip("/") + reverse("patients:portal_accept", args=[token])
        clinic = by.organization.name
        given = patient.preferred_name or patient.legal_given_name
        language = patient.preferred_language
        transaction.on_commit(
            lambda: _send_portal_invitation(email=email, clinic=clinic, given=given, link=link, language=language)
        )
    return invitation, token


def _portal_membership(patient: Patient, *, active: bool | None = None) -> Membership | None:
    if patient.user_id is None:
        return None
    qs = Membership.objects.filter(organization=patient.organization, user_id=patient.user_id, role=Role.PATIENT)
    if active is not None:
        qs = qs.filter(is_active=active)
    return qs.first()


def portal_revoke(*, by: Actor, patient_id: int) -> None:
    """Withdraw portal access: the open link stops working and an account is disabled
    (signed-in sessions lose the portal at their next click). The records stay."""
    with transaction.atomic():
        patient, glass = patient_for(by, patient_id, Perm.PORTAL_ACCESS_MANAGE)
        patient = Patient.objects.select_for_update().get(pk=patient.pk)
        revoked = _open_portal_invitations(patient).update(revoked_at=timezone.now())
        disabled = Membership.objects.filter(
            organization=patient.organization, user_id=patient.user_id, role=Role.PATIENT, is_active=True
        ).update(is_active=False) if patient.user_id else 0
        if not revoked and not disabled:
            raise ValidationError("This patient has no portal access or open invitation to revoke.")
        audit_record(
            by=by, action=AuditAction.UPDATE, object_type="portal_access", object_id=patient.id,
            patient_id=patient.id, break_glass=glass,
            detail={"invitation_revoked": bool(revoked), "account_disabled": bool(disabled)},
        )


def portal_invitation_for_token(token: str) -> PortalInvitation | None:
    return (
        PortalInvitation.objects.select_related("organization", "patient")
        .filter(
            token_hash=sha256_hex(token), accepted_at__isnull=True, revoked_at__isnull=True,
            expires_at__gt=timezone.now(),
        )
        .first()
    )


def portal_invitation_accept(*, token: str, password: str, ip: str = "", user_agent: str = "") -> User:
    """The patient sets a password: the account is created (or restored) and linked to
    the chart, and the link is spent."""
    with transaction.atomic():
        found = portal_invitation_for_token(token)
        if found is None:
            raise ValidationError(
                _("This link is invalid, already used or expired. Ask your clinic to send a new one."),
                code="link_invalid",
            )
        invitation = PortalInvitation.objects.select_for_update().get(pk=found.pk)
        patient = Patient.objects.select_for_update().get(pk=invitation.patient_id)
        user = patient.user or User(email=invitation.email, full_name=patient.display_name)
        try:
            validate_password(password, user)
        except ValidationError as exc:
            raise ValidationError({"password": exc.messages}) from exc
        if user.pk is None and User.objects.filter(email=invitation.email).exists():
            raise ValidationError(
                _("This email address now belongs to another account. Ask your clinic for a new link."),
                code="email_taken",
            )
        user.set_password(password)
        user.is_active = True
        user.save()
        if patient.user_id is None:
            patient.user = user
            patient.save(update_fields=["user"])
        membership, created = Membership.objects.get_or_create(
            organization=patient.organization, user=user, role=Role.PATIENT
        )
        if not membership.is_active:
            membership.is_active = True
            membership.save(update_fields=["is_active"])
        invitation.accepted_at = timezone.now()
        invitation.save(update_fields=["accepted_at"])
        audit_record(
            by=None, action=AuditAction.CREATE if created else AuditAction.UPDATE,
            object_type="portal_access", object_id=patient.id, patient_id=patient.id,
            organization_id=patient.organization_id, actor_email=user.email, ip=ip, user_agent=user_agent,
            detail={"invitation": invitation.id, "account": "created" if created else "restored"},
        )
    return user


def _send_portal_invitation(*, email: str, clinic: str, given: str, link: str, language: str) -> None:
    with translation.override(language):  # the patient's language
        values = {"clinic": clinic, "given": given, "link": link, "days": PORTAL_INVITATION_DAYS}
        send_mail(
            subject=_("Your patient portal at %(clinic)s") % values,
            message=_(
                "Hello %(given)s,\n\n%(clinic)s invites you to its patient portal, where you can sign consent, "
                "fill in questionnaires, see your appointments and keep a journal.\n\n"
                "Choose your password here (the link works once, for %(days)s days):\n%(link)s\n\n"
                "If you did not expect this email, you can ignore it.\n"
            ) % values,
            from_email=None,
            recipient_list=[email],
        )


def patient_language_set(*, by: Actor, language: str) -> Patient:
    """A signed-in patient chooses the language of their portal, emails and PDFs."""
    if language not in LANGUAGE_CODES:
        raise ValidationError({"language": ValidationError(_("Choose English or Spanish."), code="invalid_choice")})
    with transaction.atomic():
        patient = Patient.objects.select_for_update().filter(
            user_id=by.user.id, organization_id=by.organization.id
        ).first()
        if patient is None or not by.is_patient_only:
            raise Denied("Only a patient chooses their own language here.")
        if patient.preferred_language != language:
            patient.preferred_language = language
            patient.updated_at = timezone.now()
            patient.save(update_fields=["preferred_language", "updated_at"])
            audit_record(
                by=by, action=AuditAction.UPDATE, object_type="patient", object_id=patient.id,
                patient_id=patient.id, detail={"fields": ["preferred_language"]},
            )
    return patient
