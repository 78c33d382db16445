"""Preparing the dose from a lot of the site, setting it aside, and the second clinician's check."""

from __future__ import annotations

import datetime as dt

from ninja import Router, Schema, Status
from pydantic import Field

from openkap.accounts.requests import ApiRequest
from openkap.api.schemas import MAX_ID, ObjectId
from openkap.dosing import selectors, services

from .common import ERRORS, AtIn, DecimalText, WitnessIn, num
from .session import PreparationOut, SessionOut, prep_out, session_read

router = Router()


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
def lots(request: ApiRequest, session_id: ObjectId) -> list[LotOut]:
    return [
        LotOut(lot_id=c.lot.id, lot_number=c.lot.lot_number, product=c.lot.product.name,
               strength=c.lot.product.strength_label, expires_on=c.lot.expires_on, on_hand=num(c.on_hand) or "0",
               usable=c.usable, why_not=c.why_not)
        for c in selectors.session_lots(by=request.auth, session_id=session_id)
    ]


class PrepareIn(AtIn):
    lot_id: int = Field(ge=1, le=MAX_ID)


@router.post("/sessions/{session_id}/preparation", response={201: PreparationOut, **ERRORS}, summary="Prepare the dose from a lot of the site")
def prepare(request: ApiRequest, session_id: ObjectId, payload: PrepareIn) -> Status:
    return Status(201, prep_out(services.dose_prepare(by=request.auth, session_id=session_id, lot_id=payload.lot_id, at=payload.at)))


class VoidIn(WitnessIn):
    reason: str = Field(min_length=1, max_length=500)
    drawn: bool = False


@router.post("/sessions/{session_id}/preparation/void", response={200: SessionOut, **ERRORS}, summary="Set the preparation aside (waste what was drawn, witnessed)")
def preparation_void(request: ApiRequest, session_id: ObjectId, payload: VoidIn) -> SessionOut:
    services.preparation_void(by=request.auth, session_id=session_id, **payload.dict())
    return session_read(request, session_id)


class VerifyIn(AtIn):
    drug_confirmed: bool
    concentration_seen: DecimalText
    amount_seen: DecimalText
    dose_mg_seen: DecimalText
    date_of_birth_seen: dt.date


@router.post("/sessions/{session_id}/verification", response={200: PreparationOut, **ERRORS}, summary="Second clinician's independent check")
def verify(request: ApiRequest, session_id: ObjectId, payload: VerifyIn) -> PreparationOut:
    v = services.dose_verify(by=request.auth, session_id=session_id, **payload.dict())
    return prep_out(v.preparation)
