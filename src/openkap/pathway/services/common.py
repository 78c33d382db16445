"""What every step of the care pathway shares: text fields, the open episode with its access check, the audit row and signatures."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.translation import gettext as _

from openkap.accounts.authz import Actor
from openkap.accounts.services import reauthenticate_signer, signer_credentials
from openkap.audit.models import AuditAction
from openkap.audit.services import audit_record
from openkap.core.authz import Perm
from openkap.pathway.models import (
    Episode,
)
from openkap.pathway.selectors import (
    OPEN_STATES,
)
from openkap.patients.models import Patient
from openkap.patients.selectors import patient_for

MAX_TEXT = 10_000
NO_EPISODE = "This patient has no open episode of care: open one on the Pathway tab first."
RECENT_WEIGHT_DAYS = 30


def _text(errors: dict[str, Any], data: Mapping[str, Any], name: str, *, required: bool = False,
          max_length: int = MAX_TEXT) -> str:
    value = data.get(name)
    value = "" if value is None else str(value).strip()
    if required and not value:
        errors[name] = ValidationError(_("This field is required."), code="required")
    elif len(value) > max_length:
        errors[name] = ValidationError(_("Keep this under %(n)s characters.") % {"n": max_length}, code="max_length")
    return value


def _raise(errors: Mapping[str, Any]) -> None:
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




def _signature(by: Actor) -> dict[str, Any]:
    return {
        "signed_by": by.user, "signed_at": timezone.now(), "signer_name": by.user.full_name,
        "signer_credentials": signer_credentials(by),
    }


def _checked_for_signature(by: Actor, patient_id: int, password: str) -> None:
    # Access first (404 / 403 say nothing about the password), then the password.
    patient_for(by, patient_id, Perm.PATHWAY_SIGN)
    reauthenticate_signer(by, password)
