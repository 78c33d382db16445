"""Lists of sessions: a site's monitoring board and a patient's sessions."""

from __future__ import annotations

import datetime as dt

from ninja import Router, Schema
from pydantic import Field

from openkap.accounts.requests import ApiRequest
from openkap.api.schemas import ObjectId
from openkap.dosing import selectors

from .common import ERRORS, num
from .session import AlarmOut, VitalsOut, alarm_out, vitals_out

router = Router()


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
def board(request: ApiRequest, site_id: ObjectId) -> BoardOut:
    b = selectors.board(by=request.auth, site_id=site_id)
    return BoardOut(
        site_id=b.site.id, generated_at=b.generated_at, arriving=[a.session.id for a in b.arriving],
        sessions=[BoardRowOut(
            session_id=r.session.id, patient_id=r.session.patient_id, patient_name=r.session.patient.display_name,
            room=r.session.room.name if r.session.room else None, stage=r.stage,
            minutes_in_clinic=round(r.elapsed_min, 1) if r.elapsed_min is not None else None,
            minutes_since_dose=round(r.since_dose_min, 1) if r.since_dose_min is not None else None,
            last_vitals=vitals_out(r.last_vitals) if r.last_vitals else None,
            next_vitals_due_min=r.due.next_due_min if r.due else None, vitals_overdue=r.overdue,
            open_alarms=[alarm_out(a) for a in r.open_alarms],
        ) for r in b.rows],
    )


class SessionSummaryOut(Schema):
    id: int
    status: str
    scheduled_start: dt.datetime
    protocol_id: str | None
    dose_mg: str | None


@router.get("/patients/{patient_id}/sessions", response={200: list[SessionSummaryOut], **ERRORS}, summary="A patient's medicine sessions")
def patient_sessions(request: ApiRequest, patient_id: ObjectId) -> list[SessionSummaryOut]:
    _patient, sessions, _glass = selectors.sessions_of_patient(by=request.auth, patient_id=patient_id)
    out = []
    for s in sessions:
        order = next((o for o in s.orders.all() if o.cancelled_at is None), None)
        out.append(SessionSummaryOut(
            id=s.id, status=s.status, scheduled_start=s.scheduled_start,
            protocol_id=s.protocol_version.protocol_id if s.protocol_version else None,
            dose_mg=num(order.dose_mg) if order else None,
        ))
    return out
