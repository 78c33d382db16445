"""Instruments as the clinic has them (with its licensed wording), and coercing answers to them."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from openkap.accounts.authz import Actor, require
from openkap.audit.models import AuditAction
from openkap.audit.services import audit_record
from openkap.core.authz import Perm
from openkap.core.instruments import (
    Instrument,
    Licence,
    ScoringError,
    get_instrument,
    parse_answer_text,
)
from openkap.measures.models import (
    LicensedWording,
)
from openkap.patients.models import Patient

from .common import Answers


def _coerce_answers(instrument: Instrument, raw: Mapping[str, Any], *, field: str = "answers") -> Answers:
    known = {item.id for item in instrument.items}
    unknown = sorted(set(raw) - known)
    if unknown:
        raise ValidationError({field: f"{instrument.short_name} has no item(s) {', '.join(unknown)}."})
    answers: Answers = {}
    for item in instrument.items:
        if item.id not in raw:
            continue
        value = raw[item.id]
        if value is None or value == "":
            answers[item.id] = None
            continue
        # The same strict reading as the core and the CLI: a plain int, or plain digits
        # from a form (not True, 1.0, "+1", "1_0" or another script's digits).
        if type(value) is int:
            number = value
        else:
            try:
                number = parse_answer_text(value, what=item.id)
            except ScoringError as exc:
                raise ValidationError({field: str(exc)}) from None
        if number not in item.scale.values:
            raise ValidationError(
                {field: f"{item.id} ({item.label}): {number} is not an answer; expected "
                        f"{item.scale.minimum} to {item.scale.maximum}."}
            )
        answers[item.id] = number
    return answers


def _coerce_supplementary(instrument: Instrument, raw: Mapping[str, Any]) -> Answers:
    items = {item.id: item for item in instrument.supplementary_items}
    out: Answers = {}
    for key, value in raw.items():
        item = items.get(key)
        if item is None:
            raise ValidationError({"supplementary": f"{instrument.short_name} has no extra item {key}."})
        if value is None or value == "":
            out[key] = None  # seen and left blank (these items are optional)
            continue
        if type(value) is int:
            number = value
        else:
            try:
                number = parse_answer_text(value, what=key)
            except ScoringError as exc:
                raise ValidationError({"supplementary": str(exc)}) from None
        if number not in item.scale.values:
            raise ValidationError({"supplementary": f"{key}: {number} is not an answer."})
        out[key] = number
    return out


def _answer_list(instrument: Instrument, answers: Mapping[str, int | None]) -> list[int | None]:
    return [answers.get(item.id) for item in instrument.items]


def _sex_of(patient: Patient) -> str | None:
    return patient.sex_at_birth if patient.sex_at_birth in ("female", "male") else None




def licensed_wording_save(
    *, by: Actor, instrument_id: str, texts: Mapping[str, str], licence_reference: str = ""
) -> LicensedWording:
    """The organisation's licensed item wording (C-SSRS, MADRS, QIDS, CADSS, ...)."""
    require(by, Perm.MEASURE_WORDING_MANAGE)
    try:
        instrument = get_instrument(instrument_id)
    except ScoringError as exc:
        raise ValidationError({"instrument_id": str(exc)}) from None
    if instrument.licence is not Licence.PERMISSION_REQUIRED and all(i.text for i in instrument.items):
        raise ValidationError({"instrument_id": f"{instrument.short_name} ships with its own free wording."})
    known = {item.id for item in instrument.items}
    unknown = sorted(set(texts) - known)
    if unknown:
        raise ValidationError({"texts": f"Unknown items: {', '.join(unknown)}."})
    clean = {k: str(v).strip() for k, v in texts.items() if str(v).strip()}
    if any(len(v) > 2000 for v in clean.values()):
        raise ValidationError({"texts": "Keep each item's wording under 2000 characters."})
    licence_reference = (licence_reference or "").strip()
    if len(licence_reference) > 200:
        raise ValidationError({"licence_reference": "Keep this under 200 characters."})
    if clean and not licence_reference:
        raise ValidationError({"licence_reference": "Name the licence or permission this wording is used under."})
    with transaction.atomic():
        wording, created = LicensedWording.objects.select_for_update().get_or_create(
            organization=by.organization, instrument_id=instrument.id,
            defaults={"texts": clean, "licence_reference": licence_reference, "updated_by": by.user},
        )
        if not created:
            wording.texts = clean
            wording.licence_reference = licence_reference
            wording.updated_by = by.user
            wording.updated_at = timezone.now()
            wording.save()
        audit_record(
            by=by, action=AuditAction.CREATE if created else AuditAction.UPDATE,
            object_type="licensed_wording", object_id=wording.id,
            detail={"instrument": instrument.id, "items": sorted(clean)},
        )
    return wording
