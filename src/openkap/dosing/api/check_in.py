"""Arrival: check-in and the pre-dose checklist."""

from __future__ import annotations

from typing import Annotated, Literal

from ninja import Router
from pydantic import Field

from openkap.accounts.requests import ApiRequest
from openkap.api.schemas import ObjectId
from openkap.dosing import services

from .common import ERRORS, AtIn, Reading, Text
from .session import SessionOut, session_read

router = Router()


@router.post("/sessions/{session_id}/check-in", response={200: SessionOut, **ERRORS}, summary="Check the patient in")
def check_in(request: ApiRequest, session_id: ObjectId, payload: AtIn) -> SessionOut:
    services.session_check_in(by=request.auth, session_id=session_id, at=payload.at)
    return session_read(request, session_id)


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
def checklist(request: ApiRequest, session_id: ObjectId, payload: ChecklistIn) -> SessionOut:
    data = payload.dict()
    at = data.pop("at")
    services.checklist_complete(by=request.auth, session_id=session_id, data=data, at=at)
    return session_read(request, session_id)
