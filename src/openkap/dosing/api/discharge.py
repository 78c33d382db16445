"""Leaving: the discharge criteria, the signed discharge, or an end without a dose."""

from __future__ import annotations

from typing import Annotated

from ninja import Router, Schema
from pydantic import Field

from openkap.accounts.requests import ApiRequest
from openkap.api.schemas import ObjectId
from openkap.dosing import selectors, services, session_facts

from .common import ERRORS, AtIn, Text, WitnessIn
from .session import SessionOut, session_read

router = Router()


class DischargeCheckIn(AtIn):
    alert_and_oriented: bool | None = None
    ambulating: bool | None = None
    nausea_controlled: bool | None = None
    escort_present: bool | None = None


class DischargeCheckOut(Schema):
    may_discharge: bool
    unmet: list[str]


@router.post("/sessions/{session_id}/discharge-check", response={200: DischargeCheckOut, **ERRORS}, summary="Which discharge criteria are unmet (nothing is saved)")
def discharge_check(request: ApiRequest, session_id: ObjectId, payload: DischargeCheckIn) -> DischargeCheckOut:
    data = payload.dict()
    unmet = selectors.discharge_check(by=request.auth, session_id=session_id, at=data.pop("at"),
                                      assessment=session_facts.DischargeAssessment(**data))
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
def discharge(request: ApiRequest, session_id: ObjectId, payload: DischargeIn) -> SessionOut:
    services.session_discharge(by=request.auth, session_id=session_id, **payload.dict())
    return session_read(request, session_id)


class EndIn(WitnessIn):
    reason: str = Field(min_length=1, max_length=1000)


@router.post("/sessions/{session_id}/end", response={200: SessionOut, **ERRORS}, summary="End the session without a dose")
def end(request: ApiRequest, session_id: ObjectId, payload: EndIn) -> SessionOut:
    services.session_end_without_dose(by=request.auth, session_id=session_id, **payload.dict())
    return session_read(request, session_id)
