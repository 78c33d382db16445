"""Drawing the dose from a lot, the two-person verification, and voiding a preparation with its waste."""

from __future__ import annotations

from datetime import date, datetime
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from openkap.accounts.authz import Actor
from openkap.audit.models import AuditAction
from openkap.core import dosing as dose_core
from openkap.core.authz import Perm
from openkap.dosing.access import session_for
from openkap.dosing.inventory import core_lot
from openkap.dosing.models import (
    DosePreparation,
    DosingSession,
    Verification,
)
from openkap.dosing.session_facts import active_order, active_preparation
from openkap.dosing.validation import clean_text, decimal_value, event_time
from openkap.ledger import services as ledger
from openkap.ledger.models import Lot

from .common import (
    DoseRefused,
    _audit,
    _collect,
    _fmt,
    _raise,
    _require_status,
)
from .orders import _core_order


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
        prepared = dose_core.prepare_dose(_core_order(order), lot=core_lot(protocol, lot))
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
            seen[field] = decimal_value(value, field, what)
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
            dose_mg_seen=seen["dose_mg_seen"], date_of_birth_seen=session.patient.date_of_birth,  # equal: checked
            verified_by=by.user, verified_at=when,
        )
        _audit(by, AuditAction.CREATE, "dose_verification", verification, session, glass, preparation=prep.id)
    return verification
