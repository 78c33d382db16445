"""The dose order: a preview, the prescriber's signed order, its cancellation."""

from __future__ import annotations

from typing import Annotated, Any

from ninja import Router, Schema, Status
from pydantic import Field

from openkap.accounts.requests import ApiRequest
from openkap.api.schemas import ObjectId
from openkap.core.dosing import DoseOrder as CoreOrder
from openkap.dosing import selectors, services

from .common import ERRORS, AtIn, DecimalText
from .session import OrderOut, order_out

router = Router()


class OrderIn(AtIn):
    dose_mg_per_kg: DecimalText | None = Field(None, description="For mg/kg protocols; leave out for the default")
    dose_mg: DecimalText | None = Field(None, description="For fixed-mg protocols; leave out for the default")
    override_reason: Annotated[str, Field(max_length=1000)] = ""


class SignedOrderIn(OrderIn):
    password: str = Field(max_length=200, description="The prescriber's password, re-entered")
    bp_decision: str = Field(
        "", max_length=4000, description="Required when the pre-dose blood pressure is above 140/90: the prescriber's "
                        "documented weighing of risk and benefit (SPRAVATO label 2.1)",
    )


class DoseResultOut(Schema):
    status: str = Field(description="approved or refused")
    result: dict[str, Any] = Field(description="The core's result: arithmetic lines, stops, soft limits, notices")


@router.post("/sessions/{session_id}/dose-order/preview", response={200: DoseResultOut, **ERRORS}, summary="What an order would be (nothing is saved)")
def order_preview(request: ApiRequest, session_id: ObjectId, payload: OrderIn) -> DoseResultOut:
    result = selectors.dose_order_preview(
        by=request.auth, session_id=session_id, dose_mg_per_kg=payload.dose_mg_per_kg, dose_mg=payload.dose_mg,
        override_reason=payload.override_reason,
    )
    return DoseResultOut(status="approved" if isinstance(result, CoreOrder) else "refused", result=result.to_dict())


@router.post("/sessions/{session_id}/dose-order", response={201: OrderOut, **ERRORS}, summary="Order and sign the dose (prescriber)")
def order(request: ApiRequest, session_id: ObjectId, payload: SignedOrderIn) -> Status:
    o = services.dose_order_sign(
        by=request.auth, session_id=session_id, password=payload.password, dose_mg_per_kg=payload.dose_mg_per_kg,
        dose_mg=payload.dose_mg, override_reason=payload.override_reason, at=payload.at,
        bp_decision=payload.bp_decision,
    )
    return Status(201, order_out(o))


class ReasonIn(Schema):
    reason: str = Field(min_length=1, max_length=1000)


@router.post("/sessions/{session_id}/dose-order/cancel", response={200: OrderOut, **ERRORS}, summary="Cancel the order before the dose is verified")
def order_cancel(request: ApiRequest, session_id: ObjectId, payload: ReasonIn) -> OrderOut:
    return order_out(services.dose_order_cancel(by=request.auth, session_id=session_id, reason=payload.reason))
