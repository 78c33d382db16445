"""The session record PDF, made by the task worker (ADR 0060)."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from django.http import HttpResponse
from ninja import Router, Schema, Status
from pydantic import Field

from openkap.accounts.requests import ApiRequest
from openkap.api.schemas import ErrorOut, ObjectId
from openkap.dosing import selectors, services

from .common import ERRORS

router = Router()


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
def record_request(request: ApiRequest, response: HttpResponse, session_id: ObjectId) -> Status:
    services.record_document_request(by=request.auth, session_id=session_id)
    state = selectors.record_document_state(by=request.auth, session_id=session_id)
    response["Location"] = f"/api/v1/dosing/sessions/{session_id}/record"
    return Status(202, _record_out(state))


@router.get("/sessions/{session_id}/record", response={200: RecordDocumentOut, 202: RecordDocumentOut, **ERRORS},
            summary="Where the session record PDF stands (202 while it is being prepared)")
def record_status(request: ApiRequest, response: HttpResponse, session_id: ObjectId) -> Status:
    return _record_status(selectors.record_document_state(by=request.auth, session_id=session_id), response)


@router.get(
    "/sessions/{session_id}/record.pdf", response={200: None, 409: ErrorOut, **ERRORS},
    summary="The session record PDF, once ready (409 until then: ask for it and poll the status)",
    openapi_extra={"responses": {"200": {"description": "The PDF", "content": {"application/pdf": {}}}}},
)
def record_download(request: ApiRequest, session_id: ObjectId) -> HttpResponse | Status:
    document = selectors.record_document_download(by=request.auth, session_id=session_id)
    if document is None or document.content is None:  # a ready document has its PDF
        state = selectors.record_document_state(by=request.auth, session_id=session_id)
        return Status(409, {"detail": f"The session record is not ready ({state.state}): POST "
                                      f"/api/v1/dosing/sessions/{session_id}/record and poll it."})
    out = HttpResponse(bytes(document.content), content_type="application/pdf")
    out["Content-Disposition"] = f'attachment; filename="session-{session_id}-record.pdf"'
    out["Cache-Control"] = "no-store"
    return out
