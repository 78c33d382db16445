"""Giving the dose (single, device by device, or infusion with rate changes), and ending a session without a dose."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from openkap.accounts.authz import Actor
from openkap.audit.models import AuditAction
from openkap.core.authz import Perm
from openkap.core.protocols import Protocol
from openkap.core.routes import administration_mode
from openkap.dosing import events
from openkap.dosing.access import session_for
from openkap.dosing.models import (
    AdministrationEvent,
    DosePreparation,
    DosingSession,
)
from openkap.dosing.session_facts import active_preparation, devices_given, infusion_state
from openkap.dosing.validation import clean_text, decimal_value, event_time, optional_decimal_value
from openkap.ledger import services as ledger

from .common import (
    _audit,
    _fmt,
    _minutes,
    _require_status,
)
from .preparation import MEASURABLE_ML, _waste

MODE_KINDS = {
    "single": {AdministrationEvent.Kind.GIVEN},
    "devices": {AdministrationEvent.Kind.DEVICE, AdministrationEvent.Kind.STOP},
    "infusion": {
        AdministrationEvent.Kind.INFUSION_START, AdministrationEvent.Kind.RATE_CHANGE,
        AdministrationEvent.Kind.PAUSE, AdministrationEvent.Kind.RESUME, AdministrationEvent.Kind.STOP,
        AdministrationEvent.Kind.COMPLETE,
    },
}


def administration_record(
    *, by: Actor, session_id: int, kind: str, at: datetime | None = None, rate_ml_per_h: object = None,
    infused_volume_ml: object = None, reason: str = "", witness_id: object = None, witness_password: str = "",
) -> AdministrationEvent:
    """One bedside event. Giving drug writes the ledger administration in this same
    transaction; what was drawn and not given is wasted with a witness, also here."""
    reason = clean_text(reason, "reason", max_length=1000, what="the reason")
    valid_kinds = AdministrationEvent.Kind.values
    if kind not in valid_kinds:
        raise ValidationError({"kind": "Choose what happened."})
    with transaction.atomic():
        session, glass = session_for(by, session_id, Perm.DOSING_RECORD, lock=True)
        _require_status(session, [DosingSession.Status.CHECKED_IN, DosingSession.Status.DOSING], "record administration")
        prep = active_preparation(session)
        if prep is None or not hasattr(prep, "verification"):
            raise ValidationError({"__all__": "The dose must be prepared and verified by a second clinician first."})
        protocol = prep.order.protocol_version.protocol
        mode = administration_mode(protocol.route)
        if kind not in MODE_KINDS[mode]:
            raise ValidationError({"kind": f"That does not apply to {protocol.route.label}."})
        events = list(session.administration_events.filter(preparation=prep).order_by("at", "id"))
        previous = events[-1].at if events else prep.verification.verified_at
        when = event_time(at, not_before=previous, after_what="the previous step")
        handlers: dict[str, Callable[..., AdministrationEvent]] = {
            "single": _give_single, "devices": _give_device, "infusion": _infusion_event,
        }
        handler = handlers[mode]
        event = handler(by=by, session=session, prep=prep, protocol=protocol, events=events, kind=kind, at=when,
                        rate=rate_ml_per_h, infused=infused_volume_ml, reason=reason,
                        witness_id=witness_id, witness_password=witness_password)
        _audit(by, AuditAction.CREATE, "administration_event", event, session, glass, kind=kind,
               amount=str(event.amount) if event.amount is not None else None,
               ledger_entry=event.ledger_entry_id, waste_entry=event.waste_entry_id)
    return event


def _administer(by: Actor, session: DosingSession, prep: DosePreparation, amount: Decimal, at: datetime) -> Any:
    return ledger.ledger_administer(by=by, dosing_session_id=session.id, lot_id=prep.lot_id, units=amount, occurred_at=at)


def _started(session: DosingSession, at: datetime) -> None:
    session.status = DosingSession.Status.DOSING
    session.administration_started_at = at
    session.save(update_fields=["status", "administration_started_at"])


def _finished(session: DosingSession, at: datetime) -> None:
    session.status = DosingSession.Status.MONITORING
    session.administration_ended_at = at
    if session.administration_started_at is None:
        session.administration_started_at = at
    session.save(update_fields=["status", "administration_started_at", "administration_ended_at"])


def _give_single(*, by: Actor, session: DosingSession, prep: DosePreparation, events: list[AdministrationEvent],
                 at: datetime, **_: Any) -> AdministrationEvent:
    if events:
        raise ValidationError({"__all__": "The dose is already recorded as given."})
    amount = prep.amount
    entry = _administer(by, session, prep, amount, at)
    _finished(session, at)
    return AdministrationEvent.objects.create(
        organization=by.organization, session=session, preparation=prep, kind=AdministrationEvent.Kind.GIVEN,
        at=at, amount=amount, ledger_entry=entry, recorded_by=by.user,
    )


def _give_device(*, by: Actor, session: DosingSession, prep: DosePreparation, protocol: Protocol,
                 events: list[AdministrationEvent], kind: str, at: datetime, reason: str,
                 witness_id: object, witness_password: str, **_: Any) -> AdministrationEvent:
    given = devices_given(events)
    total = prep.units or 0
    if any(e.kind == AdministrationEvent.Kind.STOP for e in events) or len(given) >= total:
        raise ValidationError({"__all__": "Administration is already finished."})
    if kind == AdministrationEvent.Kind.STOP:
        if not given:
            raise ValidationError({"__all__": "No device was given: end the session without a dose instead."})
        if not reason:
            raise ValidationError({"reason": "Say why the remaining devices are not given."})
        remaining = Decimal(total - len(given))
        waste, witness = _waste(by, session, prep, remaining, witness_id=witness_id, witness_password=witness_password,
                                reason=f"Devices not given: {reason}", at=at)
        _finished(session, at)
        return AdministrationEvent.objects.create(
            organization=by.organization, session=session, preparation=prep, kind=AdministrationEvent.Kind.STOP,
            at=at, wasted=remaining, reason=reason, waste_entry=waste, witness=witness, recorded_by=by.user,
        )
    product = protocol.product(prep.product_code)
    rest = (product.interval_between_units_min if product else None) or 0
    if given and at < given[-1].at + timedelta(minutes=rest):
        ready = timezone.localtime(given[-1].at + timedelta(minutes=rest))
        wait = _minutes(given[-1].at + timedelta(minutes=rest), at)
        raise ValidationError({"at": (
            f"{rest}-minute rest between devices: the next device is due at {ready:%H:%M} "
            f"({wait:.0f} min to go)."
        )})
    number = len(given) + 1
    entry = _administer(by, session, prep, Decimal(1), at)
    if number == 1:
        _started(session, at)
    if number == total:
        _finished(session, at)
    return AdministrationEvent.objects.create(
        organization=by.organization, session=session, preparation=prep, kind=AdministrationEvent.Kind.DEVICE,
        at=at, device_number=number, amount=Decimal(1), ledger_entry=entry, recorded_by=by.user,
    )


MAX_RATE_ML_H = Decimal(2000)


def _infusion_event(*, by: Actor, session: DosingSession, prep: DosePreparation, events: list[AdministrationEvent],
                    kind: str, at: datetime, rate: object, infused: object, reason: str,
                    witness_id: object, witness_password: str, **_: Any) -> AdministrationEvent:
    state = infusion_state(events)
    infusion = prep.infusion or {}
    final_volume = Decimal(infusion.get("final_volume_ml", "0"))
    K = AdministrationEvent.Kind
    fields: dict[str, Any] = {}
    if state.ended:
        raise ValidationError({"__all__": "The infusion has already ended."})
    if kind != K.INFUSION_START and not state.started:
        raise ValidationError({"kind": "Start the infusion first."})
    if kind == K.INFUSION_START:
        if state.started:
            raise ValidationError({"kind": "The infusion is already running."})
        planned = Decimal(infusion.get("rate_ml_per_h", "0")).quantize(Decimal("0.01"), ROUND_HALF_EVEN)
        value = optional_decimal_value(rate, "rate_ml_per_h", "the pump rate") or planned
        fields["rate_ml_per_h"] = _rate(value)
        _started(session, at)
    elif kind == K.RATE_CHANGE:
        if not reason:
            raise ValidationError({"reason": "Say why the rate changes."})
        fields["rate_ml_per_h"] = _rate(decimal_value(rate, "rate_ml_per_h", "the new pump rate"))
    elif kind == K.PAUSE:
        if not state.running:
            raise ValidationError({"kind": "The infusion is not running."})
        if not reason:
            raise ValidationError({"reason": "Say why the infusion is paused."})
    elif kind == K.RESUME:
        if state.running:
            raise ValidationError({"kind": "The infusion is running."})
    else:  # stop or complete: the drug given goes to the ledger, the rest is wasted
        drug_volume = prep.amount
        if kind == K.COMPLETE:
            volume_in = final_volume
        else:
            if not reason:
                raise ValidationError({"reason": "Say why the infusion is stopped early."})
            volume_in = decimal_value(infused, "infused_volume_ml", "the volume infused (pump reading)")
            if not Decimal(0) <= volume_in <= final_volume:
                raise ValidationError({"infused_volume_ml": f"Between 0 and {_fmt(final_volume)} mL (the bag)."})
        given = (drug_volume * volume_in / final_volume).quantize(MEASURABLE_ML, ROUND_HALF_EVEN) if final_volume else drug_volume
        left = drug_volume - given
        if given > 0:
            fields["ledger_entry"] = _administer(by, session, prep, given, at)
        if left > 0:
            fields["waste_entry"], fields["witness"] = _waste(
                by, session, prep, left, witness_id=witness_id, witness_password=witness_password,
                reason=f"Infusion stopped with {_fmt(final_volume - volume_in)} mL left: {reason}", at=at,
            )
        fields.update(amount=given, wasted=left if left > 0 else None, infused_volume_ml=volume_in)
        _finished(session, at)
    return AdministrationEvent.objects.create(
        organization=by.organization, session=session, preparation=prep, kind=kind, at=at, reason=reason,
        recorded_by=by.user, **fields,
    )


def _rate(value: Decimal) -> Decimal:
    if not Decimal(0) < value <= MAX_RATE_ML_H:
        raise ValidationError({"rate_ml_per_h": f"A pump rate is above 0 and at most {MAX_RATE_ML_H} mL/h."})
    return value.quantize(Decimal("0.01"), ROUND_HALF_EVEN)


def session_end_without_dose(*, by: Actor, session_id: int, reason: str, witness_id: object = None,
                             witness_password: str = "") -> DosingSession:
    """End a checked-in session before any drug is given (BP too high, patient declines).
    A dose already drawn is wasted with a witness in the same transaction, and
    ``events.session_closed`` is sent in it (scheduling completes the appointment: the
    patient came)."""
    reason = clean_text(reason, "reason", required=True, max_length=1000, what="why the session ends")
    with transaction.atomic():
        session, glass = session_for(by, session_id, Perm.DOSING_RECORD, lock=True)
        _require_status(session, [DosingSession.Status.CHECKED_IN], "end without a dose")
        prep = active_preparation(session)
        waste_id = None
        if prep is not None:
            if session.administration_events.exists():
                raise ValidationError({"__all__": "Drug was already given: discharge the patient instead."})
            entry, _w = _waste(by, session, prep, prep.amount, witness_id=witness_id,
                               witness_password=witness_password, reason=f"Not given: {reason}", at=timezone.now())
            waste_id = entry.id
        now = timezone.now()
        session.status, session.ended_at, session.ended_by, session.ended_reason = (
            DosingSession.Status.NOT_DOSED, now, by.user, reason,
        )
        session.save(update_fields=["status", "ended_at", "ended_by", "ended_reason"])
        _audit(by, AuditAction.UPDATE, "dosing_session", session, session, glass, step="ended_without_dose",
               reason=reason, waste_entry=waste_id)
        events.session_closed.send(DosingSession, by=by, session=session, step="ended_without_dose", break_glass=glass)
    return session
