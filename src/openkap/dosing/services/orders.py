"""The dose order: inputs, the core's arithmetic and limits, the blood-pressure gate, signing and cancelling."""

from __future__ import annotations

from datetime import date, datetime
from decimal import ROUND_HALF_EVEN, Decimal

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from openkap.accounts.authz import Actor
from openkap.accounts.services import reauthenticate_signer
from openkap.audit.models import AuditAction
from openkap.core import blood_pressure as bp_core
from openkap.core import dosing as dose_core
from openkap.core.authz import Perm
from openkap.core.dosing.order import bp_gate_applies
from openkap.core.protocols import Protocol
from openkap.dosing.access import session_for
from openkap.dosing.models import (
    DoseOrder,
    DosingSession,
    PreDoseChecklist,
    RefusedDoseOrder,
    Verification,
)
from openkap.dosing.session_facts import (
    OrderInputs,
    compute_order,
    order_inputs,
    pre_dose_bp,
    protocol_in_use,
)
from openkap.dosing.validation import MAX_TEXT, clean_text, event_time, order_input_values

from .common import (
    BP_DECISION_MIN_CHARS,
    DoseRefused,
    _audit,
    _require_status,
    _signature,
)


def _refusal_errors(refusal: dose_core.DoseRefusal, *, reason_given: bool) -> dict[str, list[str]]:
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


def _pre_dose_bp_check(session: DosingSession, protocol: Protocol, bp_decision: str) -> tuple[str, str]:
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
        reading, bp_decision = _pre_dose_bp_check(session, inputs.protocol, bp_decision)
        result = compute_order(inputs, dose_mg_per_kg=per_kg, dose_mg=mg, override_reason=override_reason)
        if isinstance(result, dose_core.DoseRefusal):
            raise DoseRefused(result, _refusal_errors(result, reason_given=bool(override_reason)))
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


def _core_order(order: DoseOrder) -> dose_core.DoseOrder:
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
