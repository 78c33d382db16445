"""A session and everything recorded in it: the output every step answers with."""

from __future__ import annotations

import datetime as dt
from typing import Any

from ninja import Router, Schema
from pydantic import Field

from openkap.accounts.requests import ApiRequest
from openkap.api.schemas import ObjectId
from openkap.dosing import selectors
from openkap.dosing.models import (
    AdministrationEvent,
    AdverseEvent,
    Alarm,
    DoseOrder,
    DosePreparation,
    Observation,
    VitalSigns,
)

from .common import ERRORS, num

router = Router()


class VitalsOut(Schema):
    id: int
    taken_at: dt.datetime
    minutes_after_dose: float | None
    systolic: int | None
    diastolic: int | None
    heart_rate: int | None
    spo2: int | None
    respiratory_rate: int | None
    note: str


class AlarmOut(Schema):
    id: int
    code: str
    severity: str
    measure: str
    value: int
    message: str
    raised_at: dt.datetime
    acknowledged_at: dt.datetime | None
    action: str
    action_note: str


class OrderOut(Schema):
    id: int
    protocol_version_id: int
    dose_mg: str
    dose_mg_per_kg: str
    max_mg: str
    weight_kg: str
    weight_measured_on: dt.date
    dosing_weight: str = Field(description="The weight mg/kg refers to, e.g. '91.8 kg adjusted body weight'")
    pre_dose_bp: str = Field(description="The measured blood pressure the order was signed on, e.g. 152/94")
    bp_decision: str = Field(description="The prescriber's decision when that was above 140/90")
    override_reason: str
    overridden: list[str]
    lines: list[str]
    ordered_at: dt.datetime
    signed_at: dt.datetime
    signer_name: str
    cancelled_at: dt.datetime | None


class PreparationOut(Schema):
    id: int
    lot_id: int
    lot_number: str
    product_code: str
    concentration: str = Field(description="From the inventory lot, never typed")
    concentration_unit: str
    volume_ml: str | None
    units: int | None
    unit_name: str
    infusion: dict[str, Any] | None
    lines: list[str]
    prepared_at: dt.datetime
    prepared_by: str
    verified_by: str | None
    verified_at: dt.datetime | None


class EventOut(Schema):
    id: int
    kind: str
    at: dt.datetime
    device_number: int | None
    amount: str | None
    wasted: str | None
    rate_ml_per_h: str | None
    infused_volume_ml: str | None
    reason: str
    ledger_entry_id: int | None
    waste_entry_id: int | None


class ObservationOut(Schema):
    id: int
    at: dt.datetime
    minutes_after_dose: float | None
    moaas: int | None
    cadss_instrument: str
    cadss_total: float | None
    cadss_response_id: int | None
    respiration_normal: bool | None
    note: str


class AdverseEventOut(Schema):
    id: int
    code: str
    description: str
    severity: str
    onset_at: dt.datetime
    action_taken: str
    antiemetic_drug: str
    antiemetic_dose: str
    antiemetic_at: dt.datetime | None
    outcome: str
    serious: bool


class DischargeOut(Schema):
    discharged_at: dt.datetime
    escort_name: str
    escort_phone: str
    minutes_monitored: int
    aftercare_instructions: str
    signer_name: str
    missed_vitals_min: list[int]
    missed_vitals_reason: str


class RefusedOrderOut(Schema):
    id: int
    ordered: str
    attempted_at: dt.datetime
    attempted_by_id: int
    stops: list[dict[str, str]]
    lines: list[str]


class SessionOut(Schema):
    id: int
    patient_id: int
    site_id: int
    room_id: int | None
    status: str
    stage: str
    scheduled_start: dt.datetime
    started_at: dt.datetime | None
    administration_started_at: dt.datetime | None
    administration_ended_at: dt.datetime | None
    protocol_version_id: int | None
    protocol_id: str | None
    protocol_approved: bool | None
    next_vitals_due_min: int | None = Field(description="Minutes after the dose of the next scheduled check")
    vitals_overdue: bool
    order: OrderOut | None
    refused_orders: list[RefusedOrderOut] = Field(description="Signed orders refused by a hard stop")
    preparation: PreparationOut | None
    events: list[EventOut]
    vitals: list[VitalsOut]
    alarms: list[AlarmOut]
    observations: list[ObservationOut]
    adverse_events: list[AdverseEventOut]
    discharge: DischargeOut | None


def vitals_out(v: VitalSigns) -> VitalsOut:
    return VitalsOut(id=v.id, taken_at=v.taken_at, minutes_after_dose=v.minutes_after_dose, systolic=v.systolic,
                     diastolic=v.diastolic, heart_rate=v.heart_rate, spo2=v.spo2,
                     respiratory_rate=v.respiratory_rate, note=v.note)


def alarm_out(a: Alarm) -> AlarmOut:
    return AlarmOut(id=a.id, code=a.code, severity=a.severity, measure=a.measure, value=a.value, message=a.message,
                    raised_at=a.raised_at, acknowledged_at=a.acknowledged_at, action=a.action, action_note=a.action_note)


def order_out(o: DoseOrder) -> OrderOut:
    return OrderOut(
        id=o.id, protocol_version_id=o.protocol_version_id, dose_mg=num(o.dose_mg) or "",
        dose_mg_per_kg=num(o.dose_mg_per_kg) or "", max_mg=num(o.max_mg) or "", weight_kg=num(o.weight_kg) or "",
        weight_measured_on=o.weight_measured_on, dosing_weight=o.dosing_weight_text,
        pre_dose_bp=o.pre_dose_bp, bp_decision=o.bp_decision,
        override_reason=o.override_reason, overridden=list(o.overridden),
        lines=o.lines, ordered_at=o.ordered_at, signed_at=o.signed_at, signer_name=o.signer_name,
        cancelled_at=o.cancelled_at,
    )


def prep_out(p: DosePreparation) -> PreparationOut:
    verification = getattr(p, "verification", None)
    return PreparationOut(
        id=p.id, lot_id=p.lot_id, lot_number=p.lot.lot_number, product_code=p.product_code,
        concentration=num(p.concentration) or "", concentration_unit=p.concentration_unit,
        volume_ml=num(p.volume_ml), units=p.units, unit_name=p.unit_name, infusion=p.infusion, lines=p.lines,
        prepared_at=p.prepared_at, prepared_by=p.prepared_by.full_name,
        verified_by=verification.verified_by.full_name if verification else None,
        verified_at=verification.verified_at if verification else None,
    )


def event_out(e: AdministrationEvent) -> EventOut:
    return EventOut(id=e.id, kind=e.kind, at=e.at, device_number=e.device_number, amount=num(e.amount),
                    wasted=num(e.wasted), rate_ml_per_h=num(e.rate_ml_per_h),
                    infused_volume_ml=num(e.infused_volume_ml), reason=e.reason, ledger_entry_id=e.ledger_entry_id,
                    waste_entry_id=e.waste_entry_id)


def observation_out(o: Observation) -> ObservationOut:
    return ObservationOut(id=o.id, at=o.at, minutes_after_dose=o.minutes_after_dose, moaas=o.moaas,
                          cadss_instrument=o.cadss_instrument, cadss_total=o.cadss_total,
                          cadss_response_id=o.cadss_response_id, respiration_normal=o.respiration_normal, note=o.note)


def ae_out(e: AdverseEvent) -> AdverseEventOut:
    return AdverseEventOut(id=e.id, code=e.code, description=e.description, severity=e.severity, onset_at=e.onset_at,
                           action_taken=e.action_taken, antiemetic_drug=e.antiemetic_drug,
                           antiemetic_dose=e.antiemetic_dose, antiemetic_at=e.antiemetic_at, outcome=e.outcome,
                           serious=e.serious)


def session_out(view: selectors.SessionView) -> SessionOut:
    s = view.session
    discharge = getattr(s, "discharge", None)
    return SessionOut(
        id=s.id, patient_id=s.patient_id, site_id=s.site_id, room_id=s.room_id, status=s.status, stage=view.stage,
        scheduled_start=s.scheduled_start, started_at=s.started_at,
        administration_started_at=s.administration_started_at, administration_ended_at=s.administration_ended_at,
        protocol_version_id=s.protocol_version_id,
        protocol_id=view.protocol_version.protocol_id if view.protocol_version else None,
        protocol_approved=view.protocol_version.is_approved if view.protocol_version else None,
        next_vitals_due_min=view.due.next_due_min if view.due else None,
        vitals_overdue=bool(view.due and view.due.overdue),
        order=order_out(view.order) if view.order else None,
        refused_orders=[
            RefusedOrderOut(id=r.id, ordered=r.ordered, attempted_at=r.attempted_at, attempted_by_id=r.attempted_by_id,
                            stops=r.stops, lines=r.lines)
            for r in view.refused_orders
        ],
        preparation=prep_out(view.preparation) if view.preparation else None,
        events=[event_out(e) for e in view.events], vitals=[vitals_out(v) for v in view.vitals],
        alarms=[alarm_out(a) for a in view.alarms],
        observations=[observation_out(o) for o in view.observations],
        adverse_events=[ae_out(e) for e in s.adverse_events.order_by("onset_at", "id")],
        discharge=DischargeOut(
            discharged_at=discharge.discharged_at, escort_name=discharge.escort_name,
            escort_phone=discharge.escort_phone, minutes_monitored=discharge.minutes_monitored,
            aftercare_instructions=discharge.aftercare_instructions, signer_name=discharge.signer_name,
            missed_vitals_min=discharge.missed_vitals_min, missed_vitals_reason=discharge.missed_vitals_reason,
        ) if discharge else None,
    )


def session_read(request: ApiRequest, session_id: int) -> SessionOut:
    return session_out(selectors.session_view(by=request.auth, session_id=session_id))


@router.get("/sessions/{session_id}", response={200: SessionOut, **ERRORS}, summary="A session and everything recorded in it")
def session_get(request: ApiRequest, session_id: ObjectId) -> SessionOut:
    return session_read(request, session_id)
