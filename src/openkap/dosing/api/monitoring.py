"""Monitoring after the dose: vitals and their alarms, observations, adverse events."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from ninja import Router, Schema, Status
from pydantic import Field

from openkap.accounts.requests import ApiRequest
from openkap.api.schemas import ObjectId
from openkap.dosing import services
from openkap.dosing.models import AdverseEvent, Alarm

from .common import ERRORS, AtIn, Reading, Text
from .session import (
    AdverseEventOut,
    AlarmOut,
    ObservationOut,
    VitalsOut,
    ae_out,
    alarm_out,
    observation_out,
    vitals_out,
)

router = Router()


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
def vitals(request: ApiRequest, session_id: ObjectId, payload: VitalsIn) -> Status:
    v, alarms = services.vitals_record(by=request.auth, session_id=session_id, **payload.dict())
    return Status(201, VitalsRecordedOut(vitals=vitals_out(v), alarms=[alarm_out(a) for a in alarms]))


class AcknowledgeIn(Schema):
    action: Literal[tuple(Alarm.Action.values)]  # type: ignore[valid-type]
    note: Annotated[str, Field(max_length=1000)] = ""


@router.post("/alarms/{alarm_id}/acknowledgement", response={200: AlarmOut, **ERRORS}, summary="Acknowledge an alarm with the action taken")
def alarm_acknowledge(request: ApiRequest, alarm_id: ObjectId, payload: AcknowledgeIn) -> AlarmOut:
    return alarm_out(services.alarm_acknowledge(by=request.auth, alarm_id=alarm_id, **payload.dict()))


class ObservationIn(AtIn):
    moaas: int | None = Field(None, ge=-10, le=10, description="MOAA/S, 0 (no response) to 5 (awake)")
    cadss_instrument: Literal["cadss6", "cadss"] = "cadss6"
    cadss_answers: dict[Annotated[str, Field(max_length=10)], int | None] | None = Field(None, max_length=30)
    respiration_normal: bool | None = None
    note: Annotated[str, Field(max_length=300)] = ""


@router.post("/sessions/{session_id}/observations", response={201: ObservationOut, **ERRORS}, summary="Sedation, dissociation (CADSS) and breathing")
def observation(request: ApiRequest, session_id: ObjectId, payload: ObservationIn) -> Status:
    o = services.observation_record(by=request.auth, session_id=session_id, **payload.dict())
    return Status(201, observation_out(o))


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
def adverse_event(request: ApiRequest, session_id: ObjectId, payload: AdverseEventIn) -> Status:
    e = services.adverse_event_record(by=request.auth, session_id=session_id, **payload.dict())
    return Status(201, ae_out(e))
