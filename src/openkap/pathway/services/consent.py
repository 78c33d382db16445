"""Informed consent: versioned documents, signatures in clinic or portal, withdrawal."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from openkap.accounts.authz import Actor, require
from openkap.audit.models import AuditAction
from openkap.audit.services import audit_record
from openkap.core import consent_text
from openkap.core.authz import Perm
from openkap.core.digest import sha256_hex
from openkap.pathway.models import (
    ConsentDocument,
    ConsentSignature,
    Episode,
)
from openkap.pathway.selectors import (
    consent_document_in_force,
    consent_text_for,
    episode_route,
)
from openkap.patients.models import Patient

from .common import _open_episode, _raise, _text
from .screening import _route


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
    unknown = consent_text.unknown_placeholders(text or "")
    if unknown:
        errors["text"] = (
            f"Unknown placeholder{'s' if len(unknown) > 1 else ''} {', '.join('{{' + u + '}}' for u in unknown)}: "
            f"use {', '.join('{{' + k + '}}' for k in consent_text.PLACEHOLDERS)}."
        )
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
                    sha256=sha256_hex(text), published_by=by.user,
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
    text, unfilled = consent_text_for(episode, document)
    if unfilled:
        raise ValidationError(unfilled, code="consent_unfilled")
    errors: dict[str, Any] = {}
    if document_sha256 != sha256_hex(text):
        errors["document_sha256"] = ValidationError(
            _("The consent document changed since it was shown: read the current version and sign again."),
            code="document_changed")
    if _normalised_name(typed_name) != _normalised_name(patient.legal_name):
        errors["typed_name"] = ValidationError(_("Type the patient's full legal name exactly as registered."),
                                               code="name_mismatch")
    _raise(errors)
    signature = ConsentSignature.objects.create(
        organization=by.organization, episode=episode, patient=patient, document=document,
        typed_name=" ".join(typed_name.split()), document_sha256=sha256_hex(text), signed_text=text,
        channel=channel, recorded_by=by.user, ip=ip,
    )
    audit_record(by=by, action=AuditAction.CREATE, object_type="consent_signature",
                 object_id=signature.id, patient_id=patient.id, break_glass=glass,
                 detail={"document_id": document.id, "version": document.version,
                         "sha256": sha256_hex(text), "channel": channel})
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
    errors: dict[str, Any] = {}
    reason = _text(errors, {"reason": reason}, "reason", required=True, max_length=2000)
    _raise(errors)
    in_force = ConsentSignature.objects.filter(episode=episode, withdrawn_at__isnull=True)
    signature = in_force.order_by("-signed_at", "-id").first()
    if signature is None:
        raise ValidationError(_("There is no signed consent to withdraw."), code="nothing_to_withdraw")
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
