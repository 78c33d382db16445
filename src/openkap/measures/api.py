"""Measures and tasks in the JSON API: the same services and checks as the web pages."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from django.utils import timezone
from ninja import Query, Router, Schema, Status
from pydantic import Field, StrictInt

from openkap.accounts.requests import ApiRequest
from openkap.api.schemas import ErrorOut, ObjectId
from openkap.measures import selectors, services
from openkap.measures.models import MeasureAssignment, MeasureResponse

router = Router(tags=["measures"])

ERRORS = {400: ErrorOut, 401: ErrorOut, 403: ErrorOut, 404: ErrorOut, 422: ErrorOut}
InstrumentId = Field(min_length=1, max_length=40, description="Core instrument id, e.g. phq9, gad7, cssrs-recent")
OccasionName = Literal["baseline", "before_dosing", "after_integration", "reassessment", "follow_up", "ad_hoc"]


class AssignIn(Schema):
    instrument_id: str = InstrumentId
    due_at: dt.datetime | None = Field(None, description="When it falls due (default now)")


class AssignmentOut(Schema):
    id: int
    episode_id: int
    instrument_id: str
    occasion: str
    occasion_label: str
    due_at: dt.datetime
    overdue_at: dt.datetime
    status: str
    completed_at: dt.datetime | None

    @staticmethod
    def resolve_status(obj: MeasureAssignment) -> str:
        return str(obj.status_at(timezone.now()))


class ResponseIn(Schema):
    instrument_id: str = InstrumentId
    # Strict: 1.0, true and "1" are refused, not read as 1 (issue 12).
    answers: dict[str, StrictInt | None] = Field(
        description="Item id to the numeric value of the chosen option, a JSON integer (null = not answered)"
    )
    supplementary: dict[str, StrictInt | None] = Field(
        default_factory=dict, description="Unscored extra items, e.g. PHQ-9 q10"
    )
    assignment_id: int | None = Field(None, ge=1, le=2**62)
    occasion: OccasionName | None = None
    completed_at: dt.datetime | None = Field(None, description="When the patient answered (default now)")
    allow_incomplete: bool = Field(False, description="Store an unscored response when items are missing")
    corrects_id: int | None = Field(None, ge=1, le=2**62, description="The response this one corrects")
    correction_reason: str = Field("", max_length=2000)


class ResponseOut(Schema):
    id: int
    instrument_id: str
    instrument_version: str
    occasion: str
    answers: dict[str, int | None]
    supplementary: dict[str, int | None]
    is_scored: bool
    total: float | None
    band: str
    band_label: str
    flag_ids: list[str]
    has_safety_flag: bool
    result: dict[str, Any]
    completed_at: dt.datetime
    submitted_at: dt.datetime
    via: str
    on_behalf: bool
    entered_by_id: int | None
    corrects_id: int | None
    corrected_by_id: int | None

    @staticmethod
    def resolve_corrected_by_id(obj: MeasureResponse) -> int | None:
        if hasattr(obj, "_correction_id"):  # the list read every correction at once
            return obj._correction_id
        correction = selectors.correction_of(obj)
        return correction.id if correction else None


class TrendPointOut(Schema):
    response_id: int
    completed_at: dt.datetime
    total: float
    band: str
    has_safety_flag: bool


class TrendOut(Schema):
    instrument_id: str
    points: list[TrendPointOut]
    baseline_response_id: int | None
    latest_response_id: int | None
    change: dict[str, Any] | None = Field(description="Change, percent change, response, remission, reliable change")
    remission_definition: str | None
    dosing_sessions: list[dt.datetime]


@router.post(
    "/patients/{patient_id}/measures/assignments",
    response={201: AssignmentOut, **ERRORS},
    summary="Assign a questionnaire to the patient's open episode",
)
def assign(request: ApiRequest, patient_id: ObjectId, payload: AssignIn) -> Status:
    assignment = services.measure_assign(
        by=request.auth, patient_id=patient_id, instrument_id=payload.instrument_id, due_at=payload.due_at
    )
    return Status(201, assignment)


@router.get(
    "/patients/{patient_id}/measures/due",
    response={200: list[AssignmentOut], **ERRORS},
    summary="Questionnaires due, overdue or due within two weeks",
)
def list_due(request: ApiRequest, patient_id: ObjectId) -> list[MeasureAssignment]:
    return selectors.due_assignments(by=request.auth, patient_id=patient_id)


@router.post(
    "/patients/{patient_id}/measures/responses",
    response={201: ResponseOut, **ERRORS},
    summary="Record a response (clinician-rated, or the patient's answers on their behalf)",
    description="Scored by the instrument library. A safety flag raises an urgent task for the care "
    "team in the same transaction. A correction names the response it replaces; responses are never changed.",
)
def submit_response(request: ApiRequest, patient_id: ObjectId, payload: ResponseIn) -> Status:
    response = services.response_enter(
        by=request.auth, patient_id=patient_id, instrument_id=payload.instrument_id,
        answers=payload.answers, supplementary=payload.supplementary, assignment_id=payload.assignment_id,
        occasion=payload.occasion, completed_at=payload.completed_at,
        allow_incomplete=payload.allow_incomplete, corrects_id=payload.corrects_id,
        correction_reason=payload.correction_reason,
    )
    return Status(201, response)


@router.get(
    "/patients/{patient_id}/measures/responses",
    response={200: list[ResponseOut], **ERRORS},
    summary="Every response of the patient, oldest first (corrected ones included)",
)
def list_responses(
    request: ApiRequest, patient_id: ObjectId, instrument: str = Query("", max_length=40)
) -> list[MeasureResponse]:
    responses = selectors.responses_of(by=request.auth, patient_id=patient_id, instrument_id=instrument or None)
    corrections = selectors.corrections_of(responses)
    for r in responses:
        r._correction_id = corrections.get(r.id)  # type: ignore[attr-defined]
    return responses


@router.get(
    "/patients/{patient_id}/measures/trend",
    response={200: TrendOut, **ERRORS},
    summary="One instrument's totals over time with change from baseline",
)
def trend(
    request: ApiRequest, patient_id: ObjectId, instrument: str = Query("phq9", min_length=1, max_length=40)
) -> TrendOut:
    t = selectors.trend_of(by=request.auth, patient_id=patient_id, instrument_id=instrument)
    points = [
        TrendPointOut(response_id=r.id, completed_at=r.completed_at, total=r.total, band=r.band,
                      has_safety_flag=r.has_safety_flag)
        for r in t.responses if r.total is not None
    ]
    return TrendOut(
        instrument_id=t.instrument.id,
        points=points,
        baseline_response_id=t.baseline.id if t.baseline else None,
        latest_response_id=t.latest.id if t.latest else None,
        change=t.change.to_dict() if t.change else None,
        remission_definition=t.remission.id if t.remission else None,
        dosing_sessions=[s.started_at or s.scheduled_start for s in t.sessions],
    )
