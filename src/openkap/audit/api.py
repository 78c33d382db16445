"""The audit log in the JSON API: the same search, words and patient naming as the
web page (admins; reading the log is itself recorded)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from django.core.paginator import Paginator
from ninja import Query, Router, Schema

from openkap.accounts.requests import ApiRequest
from openkap.api.schemas import MAX_ID, ErrorOut, PageNumber
from openkap.audit.models import AuditAction
from openkap.audit.selectors import audit_rows, audit_search

router = Router(tags=["audit"])

ERRORS = {400: ErrorOut, 401: ErrorOut, 403: ErrorOut, 404: ErrorOut, 422: ErrorOut}
PER_PAGE = 100


class AuditEventOut(Schema):
    id: int
    occurred_at: dt.datetime
    actor_email: str
    action: str
    action_label: str
    object_type: str
    object_id: str
    record: str
    patient_id: int | None
    patient_name: str | None
    patient_mrn: str | None
    ip: str
    via: str
    reason: str
    break_glass: bool


class AuditPageOut(Schema):
    items: list[AuditEventOut]
    count: int
    page: int
    pages: int


@router.get("/audit/events", response={200: AuditPageOut, **ERRORS}, summary="The audit log, newest first")
def audit_events(
    request: ApiRequest,
    mrn: Annotated[str, Query(max_length=40)] = "",
    patient_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    actor_email: Annotated[str, Query(max_length=254)] = "",
    action: AuditAction | None = None,
    date_from: dt.date | None = None,
    date_to: dt.date | None = None,
    page: PageNumber = 1,
) -> AuditPageOut:
    by = request.auth
    events = audit_search(by=by, mrn=mrn, patient_id=patient_id, actor_email=actor_email,
                          action=action.value if action else "", date_from=date_from, date_to=date_to)
    result = Paginator(events, PER_PAGE).get_page(page)
    return AuditPageOut(
        items=[AuditEventOut(
            id=r.event.id, occurred_at=r.event.occurred_at, actor_email=r.event.actor_email,
            action=r.event.action, action_label=r.event.get_action_display(), object_type=r.event.object_type,
            object_id=r.event.object_id, record=r.record, patient_id=r.event.patient_id,
            patient_name=r.patient_name, patient_mrn=r.patient_mrn, ip=r.event.ip, via=r.event.via,
            reason=r.event.reason, break_glass=r.event.break_glass,
        ) for r in audit_rows(by=by, events=result)],
        count=result.paginator.count, page=result.number, pages=result.paginator.num_pages,
    )
