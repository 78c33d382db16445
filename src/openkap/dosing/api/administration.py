"""Giving the dose: each administration event writes the ledger in the same transaction."""

from __future__ import annotations

from typing import Annotated, Literal

from ninja import Router, Status
from pydantic import Field

from openkap.accounts.requests import ApiRequest
from openkap.api.schemas import ObjectId
from openkap.dosing import services

from .common import ERRORS, AtIn, DecimalText, WitnessIn
from .session import EventOut, event_out

router = Router()


class AdministrationIn(AtIn, WitnessIn):
    kind: Literal["given", "device", "infusion_start", "rate_change", "pause", "resume", "stop", "complete"]
    rate_ml_per_h: DecimalText | None = None
    infused_volume_ml: DecimalText | None = None
    reason: Annotated[str, Field(max_length=1000)] = ""


@router.post("/sessions/{session_id}/administration", response={201: EventOut, **ERRORS}, summary="Record administration (writes the ledger in the same transaction)")
def administer(request: ApiRequest, session_id: ObjectId, payload: AdministrationIn) -> Status:
    event = services.administration_record(by=request.auth, session_id=session_id, **payload.dict())
    return Status(201, event_out(event))
