"""JSON API of medicine sessions: the protocol library and every step of a session,
calling the same services (and so the same checks, refusals and audit) as the web.

Decimals travel as strings so that no client turns a dose into a float. Times are
ISO 8601 with an offset; leave ``at`` out for now (a late entry gives the time it
happened, up to 7 days back).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Annotated, Any, Literal

from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from ninja import Router, Schema, Status
from pydantic import Field

from openkap.api.schemas import MAX_ID, ErrorOut, ObjectId
from openkap.core.dosing import DoseOrder as CoreOrder
from openkap.core.protocols.fields import FIELDS as PROTOCOL_FIELDS
from openkap.dosing import selectors, services
from openkap.dosing.models import (
    AdministrationEvent,
    AdverseEvent,
    Alarm,
    DoseOrder,
    DosePreparation,
    Observation,
    ProtocolVersion,
    RemsForm,
    VitalSigns,
)

router = Router(tags=["medicine sessions"])

ERRORS = {400: ErrorOut, 401: ErrorOut, 403: ErrorOut, 404: ErrorOut, 422: ErrorOut}
Text = Annotated[str, Field(max_length=4000)]
Reading = Annotated[int | None, Field(None, ge=-1000, le=1000)]
DecimalText = Annotated[str, Field(max_length=30, pattern=r"^\s*-?\d{1,8}(\.\d{1,6})?\s*$")]


def _num(value: Decimal | None) -> str | None:
    return None if value is None else format(value.normalize(), "f")


# --- the protocol library ----------------------------------------------------------------


class ProtocolVersionOut(Schema):
    id: int
    protocol_id: str
    version: int
    title: str
    route: str
    status: str
    sha256: str
    based_on_id: int | None
    change_reason: str
    created_at: dt.datetime
    approved_at: dt.datetime | None
    approver_name: str
    content: str = Field(description="The protocol JSON (numbers as exact decimals)")


def _version_out(v: ProtocolVersion) -> ProtocolVersionOut:
    return ProtocolVersionOut(
        id=v.id, protocol_id=v.protocol_id, version=v.version, title=v.title, route=v.route, status=v.status,
        sha256=v.sha256, based_on_id=v.based_on_id, change_reason=v.change_reason, created_at=v.created_at,
        approved_at=v.approved_at, approver_name=v.approver_name, content=v.content,
    )


class ProtocolIn(Schema):
    content: str = Field(min_length=2, max_length=services.MAX_PROTOCOL_CHARS,
                         description="Protocol JSON as text, so its numbers stay exact")
    change_reason: Text = ""


class RevisionIn(Schema):
    content: str = Field(min_length=2, max_length=services.MAX_PROTOCOL_CHARS)
    change_reason: str = Field(min_length=3, max_length=4000)


class PasswordIn(Schema):
    password: str = Field(max_length=200, description="The signer's password, re-entered")


class ApprovalIn(PasswordIn):
    accept_warnings: bool = Field(False, description="Required when the protocol is above the reference's "
                                                     "suggested limits for its route (see /protocol-checks)")


FIELD_NAMES = ", ".join(f.name for f in PROTOCOL_FIELDS)
FieldValues = Annotated[dict[str, str], Field(
    description="Field name -> value as text, as the editor form shows it: " + FIELD_NAMES
    + ". Lists one item per line; an empty optional field removes it. Fields not given keep their value.",
)]


class FieldsEditIn(Schema):
    fields: FieldValues
    change_reason: Text = ""


class ExampleFieldsIn(Schema):
    example_id: str = Field(max_length=80)
    fields: FieldValues = Field(default_factory=dict)
    change_reason: Text = ""


class ProtocolCheckIn(Schema):
    version_id: int | None = Field(None, ge=1, le=MAX_ID, description="Check an edit of this version ...")
    example_id: str | None = Field(None, max_length=80, description="... or of this shipped example")
    fields: FieldValues = Field(default_factory=dict)


class SampleOut(Schema):
    label: str
    dose_mg: str | None
    lines: list[str]
    problems: list[str]


class ProtocolCheckOut(Schema):
    errors: dict[str, list[str]] = Field(description="Refusals by field ('__all__' for the protocol as a whole)")
    warnings: list[str] = Field(description="Above the reference's suggested limits: approval needs accept_warnings")
    samples: list[SampleOut] = Field(description="The default first-session order for sample patients")
    content: str | None = Field(description="The protocol JSON the fields make")


@router.get("/protocols", response={200: list[ProtocolVersionOut], **ERRORS}, summary="The protocol library (every version)")
def protocol_list(request: HttpRequest) -> list[ProtocolVersionOut]:
    entries = selectors.protocol_library(by=request.auth)  # type: ignore[attr-defined]
    return [_version_out(v) for e in entries for v in e.versions]


@router.get("/protocols/{version_id}", response={200: ProtocolVersionOut, **ERRORS}, summary="One protocol version")
def protocol_get(request: HttpRequest, version_id: ObjectId) -> ProtocolVersionOut:
    return _version_out(selectors.protocol_version_get(by=request.auth, version_id=version_id))  # type: ignore[attr-defined]


@router.post("/protocols", response={201: ProtocolVersionOut, **ERRORS}, summary="Add a protocol as a draft")
def protocol_create(request: HttpRequest, payload: ProtocolIn) -> Status:
    return Status(201, _version_out(services.protocol_draft_create(by=request.auth, **payload.dict())))  # type: ignore[attr-defined]


@router.post("/protocol-imports", response={201: ProtocolVersionOut, **ERRORS},
             summary="Add a shipped example as a draft, as it is or with fields changed")
def protocol_import(request: HttpRequest, payload: ExampleFieldsIn) -> Status:
    by = request.auth  # type: ignore[attr-defined]
    if not payload.fields:
        return Status(201, _version_out(services.protocol_example_import(by=by, example_id=payload.example_id)))
    return Status(201, _version_out(services.protocol_fields_save(
        by=by, example_id=payload.example_id, fields=payload.fields, change_reason=payload.change_reason)))


@router.get("/protocols/{version_id}/fields", response={200: dict[str, str], **ERRORS},
            summary="A protocol version's fields, as the editor shows them")
def protocol_fields(request: HttpRequest, version_id: ObjectId) -> dict[str, str]:
    version = selectors.protocol_version_get(by=request.auth, version_id=version_id)  # type: ignore[attr-defined]
    return selectors.protocol_fields(version.content)


@router.patch("/protocols/{version_id}", response={200: ProtocolVersionOut, **ERRORS},
              summary="Change fields: a draft in place, an approved version as a new draft version")
def protocol_fields_edit(request: HttpRequest, version_id: ObjectId, payload: FieldsEditIn) -> ProtocolVersionOut:
    return _version_out(services.protocol_fields_save(
        by=request.auth, version_id=version_id, fields=payload.fields, change_reason=payload.change_reason))  # type: ignore[attr-defined]


@router.post("/protocol-checks", response={200: ProtocolCheckOut, **ERRORS},
             summary="Check an edit without saving: refusals, warnings and the dose for sample patients")
def protocol_check(request: HttpRequest, payload: ProtocolCheckIn) -> ProtocolCheckOut:
    if (payload.version_id is None) == (payload.example_id is None):
        raise ValidationError({"__all__": "Give version_id or example_id."})
    check = selectors.protocol_check(by=request.auth, fields=payload.fields,  # type: ignore[attr-defined]
                                     version_id=payload.version_id, example_id=payload.example_id)
    return ProtocolCheckOut(errors=check.errors, warnings=check.warnings, content=check.content, samples=[
        SampleOut(label=s.label, dose_mg=_num(s.dose_mg), lines=list(s.lines), problems=list(s.problems))
        for s in check.samples])


@router.put("/protocols/{version_id}", response={200: ProtocolVersionOut, **ERRORS}, summary="Edit a draft (approved versions never change)")
def protocol_update(request: HttpRequest, version_id: ObjectId, payload: ProtocolIn) -> ProtocolVersionOut:
    return _version_out(services.protocol_draft_update(by=request.auth, version_id=version_id, **payload.dict()))  # type: ignore[attr-defined]


@router.post("/protocols/{version_id}/revisions", response={201: ProtocolVersionOut, **ERRORS}, summary="Change a protocol: a new draft version")
def protocol_revise(request: HttpRequest, version_id: ObjectId, payload: RevisionIn) -> Status:
    return Status(201, _version_out(services.protocol_revise(by=request.auth, version_id=version_id, **payload.dict())))  # type: ignore[attr-defined]


@router.post("/protocols/{version_id}/approval", response={200: ProtocolVersionOut, **ERRORS}, summary="Approve a draft (prescriber, signed with the password)")
def protocol_approve(request: HttpRequest, version_id: ObjectId, payload: ApprovalIn) -> ProtocolVersionOut:
    return _version_out(services.protocol_approve(by=request.auth, version_id=version_id,  # type: ignore[attr-defined]
                                                  password=payload.password, accept_warnings=payload.accept_warnings))


# --- a session -------------------------------------------------------------------------------


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


def _vitals_out(v: VitalSigns) -> VitalsOut:
    return VitalsOut(id=v.id, taken_at=v.taken_at, minutes_after_dose=v.minutes_after_dose, systolic=v.systolic,
                     diastolic=v.diastolic, heart_rate=v.heart_rate, spo2=v.spo2,
                     respiratory_rate=v.respiratory_rate, note=v.note)


def _alarm_out(a: Alarm) -> AlarmOut:
    return AlarmOut(id=a.id, code=a.code, severity=a.severity, measure=a.measure, value=a.value, message=a.message,
                    raised_at=a.raised_at, acknowledged_at=a.acknowledged_at, action=a.action, action_note=a.action_note)


def _order_out(o: DoseOrder) -> OrderOut:
    return OrderOut(
        id=o.id, protocol_version_id=o.protocol_version_id, dose_mg=_num(o.dose_mg) or "",
        dose_mg_per_kg=_num(o.dose_mg_per_kg) or "", max_mg=_num(o.max_mg) or "", weight_kg=_num(o.weight_kg) or "",
        weight_measured_on=o.weight_measured_on, dosing_weight=o.dosing_weight_text,
        pre_dose_bp=o.pre_dose_bp, bp_decision=o.bp_decision,
        override_reason=o.override_reason, overridden=list(o.overridden),
        lines=o.lines, ordered_at=o.ordered_at, signed_at=o.signed_at, signer_name=o.signer_name,
        cancelled_at=o.cancelled_at,
    )


def _prep_out(p: DosePreparation) -> PreparationOut:
    verification = getattr(p, "verification", None)
    return PreparationOut(
        id=p.id, lot_id=p.lot_id, lot_number=p.lot.lot_number, product_code=p.product_code,
        concentration=_num(p.concentration) or "", concentration_unit=p.concentration_unit,
        volume_ml=_num(p.volume_ml), units=p.units, unit_name=p.unit_name, infusion=p.infusion, lines=p.lines,
        prepared_at=p.prepared_at, prepared_by=p.prepared_by.full_name,
        verified_by=verification.verified_by.full_name if verification else None,
        verified_at=verification.verified_at if verification else None,
    )


def _event_out(e: AdministrationEvent) -> EventOut:
    return EventOut(id=e.id, kind=e.kind, at=e.at, device_number=e.device_number, amount=_num(e.amount),
                    wasted=_num(e.wasted), rate_ml_per_h=_num(e.rate_ml_per_h),
                    infused_volume_ml=_num(e.infused_volume_ml), reason=e.reason, ledger_entry_id=e.ledger_entry_id,
                    waste_entry_id=e.waste_entry_id)


def _observation_out(o: Observation) -> ObservationOut:
    return ObservationOut(id=o.id, at=o.at, minutes_after_dose=o.minutes_after_dose, moaas=o.moaas,
                          cadss_instrument=o.cadss_instrument, cadss_total=o.cadss_total,
                          cadss_response_id=o.cadss_response_id, respiration_normal=o.respiration_normal, note=o.note)


def _ae_out(e: AdverseEvent) -> AdverseEventOut:
    return AdverseEventOut(id=e.id, code=e.code, description=e.description, severity=e.severity, onset_at=e.onset_at,
                           action_taken=e.action_taken, antiemetic_drug=e.antiemetic_drug,
                           antiemetic_dose=e.antiemetic_dose, antiemetic_at=e.antiemetic_at, outcome=e.outcome,
                           serious=e.serious)


def _session_out(view: selectors.SessionView) -> SessionOut:
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
        order=_order_out(view.order) if view.order else None,
        refused_orders=[
            RefusedOrderOut(id=r.id, ordered=r.ordered, attempted_at=r.attempted_at, attempted_by_id=r.attempted_by_id,
                            stops=r.stops, lines=r.lines)
            for r in view.refused_orders
        ],
        preparation=_prep_out(view.preparation) if view.preparation else None,
        events=[_event_out(e) for e in view.events], vitals=[_vitals_out(v) for v in view.vitals],
        alarms=[_alarm_out(a) for a in view.alarms],
        observations=[_observation_out(o) for o in s.observations.order_by("at", "id")],
        adverse_events=[_ae_out(e) for e in s.adverse_events.order_by("onset_at", "id")],
        discharge=DischargeOut(
            discharged_at=discharge.discharged_at, escort_name=discharge.escort_name,
            escort_phone=discharge.escort_phone, minutes_monitored=discharge.minutes_monitored,
            aftercare_instructions=discharge.aftercare_instructions, signer_name=discharge.signer_name,
            missed_vitals_min=discharge.missed_vitals_min, missed_vitals_reason=discharge.missed_vitals_reason,
        ) if discharge else None,
    )


def _session(request: HttpRequest, session_id: int) -> SessionOut:
    return _session_out(selectors.session_view(by=request.auth, session_id=session_id))  # type: ignore[attr-defined]


class AtIn(Schema):
    at: dt.datetime | None = Field(None, description="When it happened (late entry); leave out for now")


@router.get("/sessions/{session_id}", response={200: SessionOut, **ERRORS}, summary="A session and everything recorded in it")
def session_get(request: HttpRequest, session_id: ObjectId) -> SessionOut:
    return _session(request, session_id)


@router.post("/sessions/{session_id}/check-in", response={200: SessionOut, **ERRORS}, summary="Check the patient in")
def check_in(request: HttpRequest, session_id: ObjectId, payload: AtIn) -> SessionOut:
    services.session_check_in(by=request.auth, session_id=session_id, at=payload.at)  # type: ignore[attr-defined]
    return _session(request, session_id)


class ChecklistIn(AtIn):
    fasting_confirmed: bool = False
    fasting_note: Annotated[str, Field(max_length=300)] = ""
    escort_name: Annotated[str, Field(max_length=200)] = ""
    escort_phone: Annotated[str, Field(max_length=30)] = ""
    escort_relationship: Annotated[str, Field(max_length=60)] = ""
    systolic: Reading = None
    diastolic: Reading = None
    heart_rate: Reading = None
    spo2: Reading = None
    respiratory_rate: Reading = None
    baseline_bp_note: Text = ""
    pregnancy_status: Literal["not_applicable", "not_pregnant", "possibly_pregnant", "pregnant", "breastfeeding", ""] = ""
    new_medications: Text = ""
    # The enum in the OpenAPI document comes from the one list the service checks against.
    cns_active_medications: list[Literal[tuple(services.CNS_ACTIVE)]] = Field(  # type: ignore[valid-type]
        default_factory=list, max_length=6)
    suicide_risk_reviewed: bool = False
    suicide_risk_note: Text = ""
    pre_dose_measures_note: Text = Field("", description="Required when scheduled pre-dose measures are not completed")
    intention: Text = ""
    items: dict[Annotated[str, Field(max_length=80)], bool] = Field(
        default_factory=dict, description="The protocol's own items by code (e.g. rems-enrolled)")


@router.post("/sessions/{session_id}/checklist", response={200: SessionOut, **ERRORS}, summary="Complete the pre-dose checklist")
def checklist(request: HttpRequest, session_id: ObjectId, payload: ChecklistIn) -> SessionOut:
    data = payload.dict()
    at = data.pop("at")
    services.checklist_complete(by=request.auth, session_id=session_id, data=data, at=at)  # type: ignore[attr-defined]
    return _session(request, session_id)


class OrderIn(AtIn):
    dose_mg_per_kg: DecimalText | None = Field(None, description="For mg/kg protocols; leave out for the default")
    dose_mg: DecimalText | None = Field(None, description="For fixed-mg protocols; leave out for the default")
    override_reason: Annotated[str, Field(max_length=1000)] = ""


class SignedOrderIn(OrderIn):
    password: str = Field(max_length=200, description="The prescriber's password, re-entered")
    bp_decision: str = Field(
        "", max_length=4000, description="Required when the pre-dose blood pressure is above 140/90: the prescriber's "
                        "documented weighing of risk and benefit (SPRAVATO label 2.1)",
    )


class DoseResultOut(Schema):
    status: str = Field(description="approved or refused")
    result: dict[str, Any] = Field(description="The core's result: arithmetic lines, stops, soft limits, notices")


@router.post("/sessions/{session_id}/dose-order/preview", response={200: DoseResultOut, **ERRORS}, summary="What an order would be (nothing is saved)")
def order_preview(request: HttpRequest, session_id: ObjectId, payload: OrderIn) -> DoseResultOut:
    result = selectors.dose_order_preview(
        by=request.auth, session_id=session_id, dose_mg_per_kg=payload.dose_mg_per_kg, dose_mg=payload.dose_mg,  # type: ignore[attr-defined]
        override_reason=payload.override_reason,
    )
    return DoseResultOut(status="approved" if isinstance(result, CoreOrder) else "refused", result=result.to_dict())


@router.post("/sessions/{session_id}/dose-order", response={201: OrderOut, **ERRORS}, summary="Order and sign the dose (prescriber)")
def order(request: HttpRequest, session_id: ObjectId, payload: SignedOrderIn) -> Status:
    o = services.dose_order_sign(
        by=request.auth, session_id=session_id, password=payload.password, dose_mg_per_kg=payload.dose_mg_per_kg,  # type: ignore[attr-defined]
        dose_mg=payload.dose_mg, override_reason=payload.override_reason, at=payload.at,
        bp_decision=payload.bp_decision,
    )
    return Status(201, _order_out(o))


class ReasonIn(Schema):
    reason: str = Field(min_length=1, max_length=1000)


@router.post("/sessions/{session_id}/dose-order/cancel", response={200: OrderOut, **ERRORS}, summary="Cancel the order before the dose is verified")
def order_cancel(request: HttpRequest, session_id: ObjectId, payload: ReasonIn) -> OrderOut:
    return _order_out(services.dose_order_cancel(by=request.auth, session_id=session_id, reason=payload.reason))  # type: ignore[attr-defined]


class LotOut(Schema):
    lot_id: int
    lot_number: str
    product: str
    strength: str
    expires_on: dt.date
    on_hand: str
    usable: bool
    why_not: list[str]


@router.get("/sessions/{session_id}/lots", response={200: list[LotOut], **ERRORS}, summary="The site's lots for this session's protocol")
def lots(request: HttpRequest, session_id: ObjectId) -> list[LotOut]:
    return [
        LotOut(lot_id=c.lot.id, lot_number=c.lot.lot_number, product=c.lot.product.name,
               strength=c.lot.product.strength_label, expires_on=c.lot.expires_on, on_hand=_num(c.on_hand) or "0",
               usable=c.usable, why_not=c.why_not)
        for c in selectors.session_lots(by=request.auth, session_id=session_id)  # type: ignore[attr-defined]
    ]


class PrepareIn(AtIn):
    lot_id: int = Field(ge=1, le=MAX_ID)


@router.post("/sessions/{session_id}/preparation", response={201: PreparationOut, **ERRORS}, summary="Prepare the dose from a lot of the site")
def prepare(request: HttpRequest, session_id: ObjectId, payload: PrepareIn) -> Status:
    return Status(201, _prep_out(services.dose_prepare(by=request.auth, session_id=session_id, lot_id=payload.lot_id, at=payload.at)))  # type: ignore[attr-defined]


class WitnessIn(Schema):
    witness_id: int | None = Field(None, ge=1, le=MAX_ID)
    witness_password: str = Field("", max_length=200)


class VoidIn(WitnessIn):
    reason: str = Field(min_length=1, max_length=500)
    drawn: bool = False


@router.post("/sessions/{session_id}/preparation/void", response={200: SessionOut, **ERRORS}, summary="Set the preparation aside (waste what was drawn, witnessed)")
def preparation_void(request: HttpRequest, session_id: ObjectId, payload: VoidIn) -> SessionOut:
    services.preparation_void(by=request.auth, session_id=session_id, **payload.dict())  # type: ignore[attr-defined]
    return _session(request, session_id)


class VerifyIn(AtIn):
    drug_confirmed: bool
    concentration_seen: DecimalText
    amount_seen: DecimalText
    dose_mg_seen: DecimalText
    date_of_birth_seen: dt.date


@router.post("/sessions/{session_id}/verification", response={200: PreparationOut, **ERRORS}, summary="Second clinician's independent check")
def verify(request: HttpRequest, session_id: ObjectId, payload: VerifyIn) -> PreparationOut:
    v = services.dose_verify(by=request.auth, session_id=session_id, **payload.dict())  # type: ignore[attr-defined]
    return _prep_out(v.preparation)


class AdministrationIn(AtIn, WitnessIn):
    kind: Literal["given", "device", "infusion_start", "rate_change", "pause", "resume", "stop", "complete"]
    rate_ml_per_h: DecimalText | None = None
    infused_volume_ml: DecimalText | None = None
    reason: Annotated[str, Field(max_length=1000)] = ""


@router.post("/sessions/{session_id}/administration", response={201: EventOut, **ERRORS}, summary="Record administration (writes the ledger in the same transaction)")
def administer(request: HttpRequest, session_id: ObjectId, payload: AdministrationIn) -> Status:
    event = services.administration_record(by=request.auth, session_id=session_id, **payload.dict())  # type: ignore[attr-defined]
    return Status(201, _event_out(event))


class VitalsIn(AtIn):
    systolic: Reading = None
    diastolic: Reading = None
    heart_rate: Reading = None
    spo2: Reading = None
    respiratory_rate: Reading = None
    note: Annotated[str, Field(max_length=300)] = ""


class VitalsRecordedOut(Schema):
    vitals: VitalsOut
    alarms: list[AlarmOut]


@router.post("/sessions/{session_id}/vitals", response={201: VitalsRecordedOut, **ERRORS}, summary="Record vitals (alarms raised by the protocol's rules)")
def vitals(request: HttpRequest, session_id: ObjectId, payload: VitalsIn) -> Status:
    v, alarms = services.vitals_record(by=request.auth, session_id=session_id, **payload.dict())  # type: ignore[attr-defined]
    return Status(201, VitalsRecordedOut(vitals=_vitals_out(v), alarms=[_alarm_out(a) for a in alarms]))


class AcknowledgeIn(Schema):
    action: Literal[tuple(Alarm.Action.values)]  # type: ignore[valid-type]
    note: Annotated[str, Field(max_length=1000)] = ""


@router.post("/alarms/{alarm_id}/acknowledgement", response={200: AlarmOut, **ERRORS}, summary="Acknowledge an alarm with the action taken")
def alarm_acknowledge(request: HttpRequest, alarm_id: ObjectId, payload: AcknowledgeIn) -> AlarmOut:
    return _alarm_out(services.alarm_acknowledge(by=request.auth, alarm_id=alarm_id, **payload.dict()))  # type: ignore[attr-defined]


class ObservationIn(AtIn):
    moaas: int | None = Field(None, ge=-10, le=10, description="MOAA/S, 0 (no response) to 5 (awake)")
    cadss_instrument: Literal["cadss6", "cadss"] = "cadss6"
    cadss_answers: dict[Annotated[str, Field(max_length=10)], int | None] | None = Field(None, max_length=30)
    respiration_normal: bool | None = None
    note: Annotated[str, Field(max_length=300)] = ""


@router.post("/sessions/{session_id}/observations", response={201: ObservationOut, **ERRORS}, summary="Sedation, dissociation (CADSS) and breathing")
def observation(request: HttpRequest, session_id: ObjectId, payload: ObservationIn) -> Status:
    o = services.observation_record(by=request.auth, session_id=session_id, **payload.dict())  # type: ignore[attr-defined]
    return Status(201, _observation_out(o))


class AdverseEventIn(Schema):
    code: Literal[tuple(AdverseEvent.Code.values)]  # type: ignore[valid-type]
    severity: Literal["mild", "moderate", "severe"]
    outcome: Literal["resolved", "resolving", "ongoing", "transferred"]
    serious: bool
    onset_at: dt.datetime | None = None
    description: Annotated[str, Field(max_length=300)] = ""
    action_taken: Text = ""
    antiemetic_drug: Annotated[str, Field(max_length=100)] = ""
    antiemetic_dose: Annotated[str, Field(max_length=40)] = ""
    antiemetic_at: dt.datetime | None = None


@router.post("/sessions/{session_id}/adverse-events", response={201: AdverseEventOut, **ERRORS}, summary="Record an adverse event")
def adverse_event(request: HttpRequest, session_id: ObjectId, payload: AdverseEventIn) -> Status:
    e = services.adverse_event_record(by=request.auth, session_id=session_id, **payload.dict())  # type: ignore[attr-defined]
    return Status(201, _ae_out(e))


class DischargeCheckIn(AtIn):
    alert_and_oriented: bool | None = None
    ambulating: bool | None = None
    nausea_controlled: bool | None = None
    escort_present: bool | None = None


class DischargeCheckOut(Schema):
    may_discharge: bool
    unmet: list[str]


@router.post("/sessions/{session_id}/discharge-check", response={200: DischargeCheckOut, **ERRORS}, summary="Which discharge criteria are unmet (nothing is saved)")
def discharge_check(request: HttpRequest, session_id: ObjectId, payload: DischargeCheckIn) -> DischargeCheckOut:
    data = payload.dict()
    unmet = selectors.discharge_check(by=request.auth, session_id=session_id, at=data.pop("at"),  # type: ignore[attr-defined]
                                      assessment=services.DischargeAssessment(**data))
    return DischargeCheckOut(may_discharge=not unmet, unmet=unmet)


class DischargeIn(AtIn):
    password: str = Field(max_length=200, description="The discharging clinician's password (signature)")
    alert_and_oriented: bool
    ambulating: bool
    nausea_controlled: bool
    escort_present: bool
    escort_name: Annotated[str, Field(max_length=200)]
    escort_phone: Annotated[str, Field(max_length=30)]
    aftercare_instructions: Text = Field("", description="Leave empty for the standard instructions")
    missed_vitals_reason: Text = Field(
        "", description="Why scheduled vitals checks have no reading (needed when any were missed)"
    )


@router.post("/sessions/{session_id}/discharge", response={200: SessionOut, **ERRORS}, summary="Discharge to a named escort (signed; refused while criteria are unmet)")
def discharge(request: HttpRequest, session_id: ObjectId, payload: DischargeIn) -> SessionOut:
    services.session_discharge(by=request.auth, session_id=session_id, **payload.dict())  # type: ignore[attr-defined]
    return _session(request, session_id)


class EndIn(WitnessIn):
    reason: str = Field(min_length=1, max_length=1000)


@router.post("/sessions/{session_id}/end", response={200: SessionOut, **ERRORS}, summary="End the session without a dose")
def end(request: HttpRequest, session_id: ObjectId, payload: EndIn) -> SessionOut:
    services.session_end_without_dose(by=request.auth, session_id=session_id, **payload.dict())  # type: ignore[attr-defined]
    return _session(request, session_id)


class RemsOut(Schema):
    session_id: int
    rems_patient_id: str
    setting_rems_id: str
    prescriber_name: str
    treatment_date: dt.date
    dose_mg: int
    devices: int
    first_device_at: dt.datetime
    bp_pre: str
    bp_40: str
    bp_discharge: str
    sedation: str
    dissociation: str
    respiratory_depression: str
    pulse_oximetry_used: bool
    lowest_spo2: int | None
    cns_depressants: str
    psychostimulants: str
    maois: str
    monitoring_minutes: int
    clinically_stable_at_discharge: bool
    serious_adverse_event: str
    serious_adverse_event_description: str
    due_at: dt.datetime | None
    submitted_at: dt.datetime | None
    submission_reference: str
    missing: list[str]


def _rems_out(f: RemsForm) -> RemsOut:
    return RemsOut(
        session_id=f.session_id, missing=services.rems_missing(f), due_at=f.due_at,
        **{k: getattr(f, k) for k in RemsOut.model_fields if k not in {"session_id", "missing", "due_at"}},
    )


@router.get("/sessions/{session_id}/rems-form", response={200: RemsOut, **ERRORS}, summary="The SPRAVATO REMS monitoring form of an esketamine session")
def rems_get(request: HttpRequest, session_id: ObjectId) -> RemsOut:
    return _rems_out(selectors.rems_form_get(by=request.auth, session_id=session_id))  # type: ignore[attr-defined]


class RemsIn(Schema):
    rems_patient_id: Annotated[str, Field(max_length=40)] | None = None
    setting_rems_id: Annotated[str, Field(max_length=40)] | None = None
    bp_40: Annotated[str, Field(max_length=20)] | None = None
    sedation: Literal["yes", "no"] | None = None
    dissociation: Literal["yes", "no"] | None = None
    respiratory_depression: Literal["yes", "no"] | None = None
    cns_depressants: Annotated[str, Field(max_length=300)] | None = None
    psychostimulants: Annotated[str, Field(max_length=300)] | None = None
    maois: Annotated[str, Field(max_length=300)] | None = None
    serious_adverse_event: Literal["yes", "no"] | None = None
    serious_adverse_event_description: Text | None = None


@router.patch("/sessions/{session_id}/rems-form", response={200: RemsOut, **ERRORS}, summary="Complete or correct the REMS form")
def rems_update(request: HttpRequest, session_id: ObjectId, payload: RemsIn) -> RemsOut:
    data = {k: v for k, v in payload.dict().items() if v is not None}
    return _rems_out(services.rems_form_update(by=request.auth, session_id=session_id, data=data))  # type: ignore[attr-defined]


class SubmitIn(Schema):
    submission_reference: str = Field(min_length=1, max_length=80)


@router.post("/sessions/{session_id}/rems-form/submission", response={200: RemsOut, **ERRORS}, summary="Mark the REMS form submitted (closes its task)")
def rems_submit(request: HttpRequest, session_id: ObjectId, payload: SubmitIn) -> RemsOut:
    return _rems_out(services.rems_form_submit(by=request.auth, session_id=session_id, **payload.dict()))  # type: ignore[attr-defined]


# --- the board ---------------------------------------------------------------------------------


class BoardRowOut(Schema):
    session_id: int
    patient_id: int
    patient_name: str
    room: str | None
    stage: str
    minutes_in_clinic: float | None
    minutes_since_dose: float | None
    last_vitals: VitalsOut | None
    next_vitals_due_min: int | None
    vitals_overdue: bool
    open_alarms: list[AlarmOut]


class BoardOut(Schema):
    site_id: int
    generated_at: dt.datetime
    sessions: list[BoardRowOut]
    arriving: list[int] = Field(description="Ids of today's sessions not yet checked in")


@router.get("/sites/{site_id}/board", response={200: BoardOut, **ERRORS}, summary="The site's monitoring board")
def board(request: HttpRequest, site_id: ObjectId) -> BoardOut:
    b = selectors.board(by=request.auth, site_id=site_id)  # type: ignore[attr-defined]
    return BoardOut(
        site_id=b.site.id, generated_at=b.generated_at, arriving=[a.session.id for a in b.arriving],
        sessions=[BoardRowOut(
            session_id=r.session.id, patient_id=r.session.patient_id, patient_name=r.session.patient.display_name,
            room=r.session.room.name if r.session.room else None, stage=r.stage,
            minutes_in_clinic=round(r.elapsed_min, 1) if r.elapsed_min is not None else None,
            minutes_since_dose=round(r.since_dose_min, 1) if r.since_dose_min is not None else None,
            last_vitals=_vitals_out(r.last_vitals) if r.last_vitals else None,
            next_vitals_due_min=r.due.next_due_min if r.due else None, vitals_overdue=r.overdue,
            open_alarms=[_alarm_out(a) for a in r.open_alarms],
        ) for r in b.rows],
    )


class SessionSummaryOut(Schema):
    id: int
    status: str
    scheduled_start: dt.datetime
    protocol_id: str | None
    dose_mg: str | None


@router.get("/patients/{patient_id}/sessions", response={200: list[SessionSummaryOut], **ERRORS}, summary="A patient's medicine sessions")
def patient_sessions(request: HttpRequest, patient_id: ObjectId) -> list[SessionSummaryOut]:
    _patient, sessions, _glass = selectors.sessions_of_patient(by=request.auth, patient_id=patient_id)  # type: ignore[attr-defined]
    out = []
    for s in sessions:
        order = next((o for o in s.orders.all() if o.cancelled_at is None), None)
        out.append(SessionSummaryOut(
            id=s.id, status=s.status, scheduled_start=s.scheduled_start,
            protocol_id=s.protocol_version.protocol_id if s.protocol_version else None,
            dose_mg=_num(order.dose_mg) if order else None,
        ))
    return out



# --- the session record PDF, made by the task worker (ADR 0060) ------------------------------


class RecordDocumentOut(Schema):
    state: Literal["none", "queued", "rendering", "ready", "stale", "failed"] = Field(
        description="none: never asked for; queued/rendering: on its way (poll this URL); ready: download it; "
        "stale: the session changed since it was made (ask again); failed: see error, ask again")
    status_url: str
    download_url: str | None = Field(None, description="Set when ready")
    requested_at: dt.datetime | None = None
    prepared_at: dt.datetime | None = None
    sha256: str | None = Field(None, description="SHA-256 of the PDF, when ready")
    size: int | None = None
    attempts: int = 0
    error: str = ""


def _record_out(state: selectors.RecordDocumentState) -> RecordDocumentOut:
    d, sid = state.document, state.session.id
    ready = state.state == "ready"
    return RecordDocumentOut(
        state=state.state,  # type: ignore[arg-type]
        status_url=f"/api/v1/dosing/sessions/{sid}/record",
        download_url=f"/api/v1/dosing/sessions/{sid}/record.pdf" if ready else None,
        requested_at=d.requested_at if d else None, prepared_at=d.finished_at if d and ready else None,
        sha256=d.sha256 if d and ready else None, size=d.size if d and ready else None,
        attempts=d.attempts if d else 0, error=d.error if d else "",
    )


def _record_status(state: selectors.RecordDocumentState, response: HttpResponse) -> Status:
    out = _record_out(state)
    if state.preparing:
        response["Retry-After"] = "2"
        response["Location"] = out.status_url
        return Status(202, out)
    return Status(200, out)


@router.post("/sessions/{session_id}/record", response={202: RecordDocumentOut, **ERRORS},
             summary="Ask for the session record PDF (made in the background; poll the status URL)")
def record_request(request: HttpRequest, response: HttpResponse, session_id: ObjectId) -> Status:
    services.record_document_request(by=request.auth, session_id=session_id)  # type: ignore[attr-defined]
    state = selectors.record_document_state(by=request.auth, session_id=session_id)  # type: ignore[attr-defined]
    response["Location"] = f"/api/v1/dosing/sessions/{session_id}/record"
    return Status(202, _record_out(state))


@router.get("/sessions/{session_id}/record", response={200: RecordDocumentOut, 202: RecordDocumentOut, **ERRORS},
            summary="Where the session record PDF stands (202 while it is being prepared)")
def record_status(request: HttpRequest, response: HttpResponse, session_id: ObjectId) -> Status:
    return _record_status(selectors.record_document_state(by=request.auth, session_id=session_id), response)  # type: ignore[attr-defined]


@router.get(
    "/sessions/{session_id}/record.pdf", response={200: None, 409: ErrorOut, **ERRORS},
    summary="The session record PDF, once ready (409 until then: ask for it and poll the status)",
    openapi_extra={"responses": {"200": {"description": "The PDF", "content": {"application/pdf": {}}}}},
)
def record_download(request: HttpRequest, session_id: ObjectId) -> HttpResponse | Status:
    document = selectors.record_document_download(by=request.auth, session_id=session_id)  # type: ignore[attr-defined]
    if document is None or document.content is None:  # a ready document has its PDF
        state = selectors.record_document_state(by=request.auth, session_id=session_id)  # type: ignore[attr-defined]
        return Status(409, {"detail": f"The session record is not ready ({state.state}): POST "
                                      f"/api/v1/dosing/sessions/{session_id}/record and poll it."})
    out = HttpResponse(bytes(document.content), content_type="application/pdf")
    out["Content-Disposition"] = f'attachment; filename="session-{session_id}-record.pdf"'
    out["Cache-Control"] = "no-store"
    return out
