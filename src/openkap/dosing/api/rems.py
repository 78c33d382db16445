"""The SPRAVATO REMS monitoring form of an esketamine session."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from ninja import Router, Schema
from pydantic import Field

from openkap.accounts.requests import ApiRequest
from openkap.api.schemas import ObjectId
from openkap.dosing import selectors, services
from openkap.dosing.models import RemsForm

from .common import ERRORS, Text

router = Router()


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
        session_id=f.session_id, missing=f.missing, due_at=f.due_at,
        **{k: getattr(f, k) for k in RemsOut.model_fields if k not in {"session_id", "missing", "due_at"}},
    )


@router.get("/sessions/{session_id}/rems-form", response={200: RemsOut, **ERRORS}, summary="The SPRAVATO REMS monitoring form of an esketamine session")
def rems_get(request: ApiRequest, session_id: ObjectId) -> RemsOut:
    return _rems_out(selectors.rems_form_get(by=request.auth, session_id=session_id))


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
def rems_update(request: ApiRequest, session_id: ObjectId, payload: RemsIn) -> RemsOut:
    data = {k: v for k, v in payload.dict().items() if v is not None}
    return _rems_out(services.rems_form_update(by=request.auth, session_id=session_id, data=data))


class SubmitIn(Schema):
    submission_reference: str = Field(min_length=1, max_length=80)


@router.post("/sessions/{session_id}/rems-form/submission", response={200: RemsOut, **ERRORS}, summary="Mark the REMS form submitted (closes its task)")
def rems_submit(request: ApiRequest, session_id: ObjectId, payload: SubmitIn) -> RemsOut:
    return _rems_out(services.rems_form_submit(by=request.auth, session_id=session_id, **payload.dict()))
