from __future__ import annotations

from typing import Annotated

from ninja import Path, Query, Schema
from pydantic import Field

# Ids and page numbers are bounded so that no value reaches the database as an overflow.
MAX_ID = 2**62
ObjectId = Annotated[int, Path(ge=1, le=MAX_ID)]
PageNumber = Annotated[int, Query(ge=1, le=100_000)]


class ErrorOut(Schema):
    detail: str
    errors: dict[str, list[str]] = Field(default_factory=dict)
    # Stable machine codes per field ("required", "max_length", "no_open_episode"…), while
    # the messages beside them may be in the reader's language.
    codes: dict[str, list[str]] = Field(default_factory=dict)
