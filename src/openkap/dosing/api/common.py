"""What every step's operations share: the error responses, the text and number types,
a late entry's time and a witness's signature."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Annotated

from ninja import Schema
from pydantic import Field

from openkap.api.schemas import MAX_ID, ErrorOut

ERRORS = {400: ErrorOut, 401: ErrorOut, 403: ErrorOut, 404: ErrorOut, 422: ErrorOut}
Text = Annotated[str, Field(max_length=4000)]
Reading = Annotated[int | None, Field(None, ge=-1000, le=1000)]
DecimalText = Annotated[str, Field(max_length=30, pattern=r"^\s*-?\d{1,8}(\.\d{1,6})?\s*$")]


def num(value: Decimal | None) -> str | None:
    return None if value is None else format(value.normalize(), "f")


class AtIn(Schema):
    at: dt.datetime | None = Field(None, description="When it happened (late entry); leave out for now")


class WitnessIn(Schema):
    witness_id: int | None = Field(None, ge=1, le=MAX_ID)
    witness_password: str = Field("", max_length=200)
