"""What a typed value and a charted time must be, for every step of a session: the
services check their input with these and the selectors' previews do the same, and the
protocol editor's text (a shipped example, fields set on a protocol's JSON)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation

from django.core.exceptions import ValidationError
from django.utils import timezone

from openkap.core.protocols import ProtocolError
from openkap.core.protocols import example_text as core_example_text
from openkap.core.protocols.fields import FieldErrors, content_with

MAX_TEXT = 4000
# Late entries (charted after the fact, or on paper during an outage) up to a week.
LATE_ENTRY = timedelta(days=7)
CLOCK_SKEW = timedelta(minutes=2)


def clean_text(value: object, field: str, *, required: bool = False, max_length: int = MAX_TEXT,
          what: str = "this") -> str:
    text = "" if value is None else str(value).strip()
    if required and not text:
        raise ValidationError({field: f"Enter {what}."})
    if len(text) > max_length:
        raise ValidationError({field: f"Keep {what} under {max_length} characters."})
    return text


def event_time(at: datetime | None, *, field: str = "at", not_before: datetime | None = None,
          after_what: str = "") -> datetime:
    """When something happened: now, or a late entry up to a week old; never in the
    future and never before the step it follows."""
    now = timezone.now()
    if at is None:
        at = now
    if not isinstance(at, datetime) or timezone.is_naive(at):
        raise ValidationError({field: "Give the date and time with its time zone."})
    if at > now + CLOCK_SKEW:
        raise ValidationError({field: "The time cannot be in the future."})
    if at < now - LATE_ENTRY:
        raise ValidationError({field: "Late entries are accepted up to 7 days after the event."})
    if not_before is not None and at < not_before:
        local = timezone.localtime(not_before)
        raise ValidationError({field: f"The time must not be before {after_what} ({local:%Y-%m-%d %H:%M})."})
    return at


def example_text(example_id: str) -> str:
    """The JSON of a protocol shipped with OpenKAP."""
    try:
        return core_example_text(example_id)
    except ProtocolError:
        raise ValidationError({"example_id": "Choose one of the shipped example protocols."}) from None


def protocol_content_with(base: str, fields: Mapping[str, object]) -> str:
    """``base`` protocol JSON with the named fields set from their text, refused per field."""
    try:
        return content_with(base, fields)
    except FieldErrors as exc:
        raise ValidationError(exc.errors) from None


def decimal_value(value: object, field: str, what: str) -> Decimal:
    if value is None or isinstance(value, bool | float):
        raise ValidationError({field: f"Enter {what} as a number."})
    try:
        number = value if isinstance(value, Decimal) else Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        raise ValidationError({field: f"Enter {what} as a number."}) from None
    if not number.is_finite() or abs(number) >= Decimal(10) ** 8:
        raise ValidationError({field: f"Enter {what} as a number."})
    return number


def optional_decimal_value(value: object, field: str, what: str) -> Decimal | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    return decimal_value(value, field, what)


def order_input_values(dose_mg_per_kg: object, dose_mg: object) -> tuple[Decimal | None, Decimal | None]:
    per_kg = optional_decimal_value(dose_mg_per_kg, "dose_mg_per_kg", "the dose in mg/kg")
    mg = optional_decimal_value(dose_mg, "dose_mg", "the dose in mg")
    if per_kg is not None and mg is not None:
        raise ValidationError({"dose_mg": "Order in mg/kg or in mg, not both."})
    return per_kg, mg
