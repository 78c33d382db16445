"""Writes of scheduling: booking and rescheduling (conflicts, the dosing guard, the
protocol's monitoring window and minimum interval), status changes, appointment
types and calendar feeds.

Keyword-only, one transaction each, permission checked and audited in the same
transaction; reminders are enqueued only after the booking commits. A booking or
move refused once the patient is known raises ``AuditedRefusal``, so the refusal
and its reasons stay on the record although the transaction rolls back.
"""

from .appointment_types import appointment_type_set_minutes
from .booking import (
    BookingCheck,
    BookingRequest,
    _book,
    appointment_book,
    appointment_check,
    describe,
    patient_name_visible,
)
from .common import (
    EARLIEST,
    FEED_PREFIX,
    LATE_CANCELLATION,
    LATEST,
    MAX_BOOKING_AHEAD,
    MAX_INSTRUCTIONS,
    MAX_MINUTES,
    MAX_PARTICIPANTS,
    MIN_MINUTES,
    MONITOR_ROLES,
    ParticipantSpec,
)
from .feeds import (
    active_feed,
    calendar_feed_authenticate,
    calendar_feed_create,
    calendar_feed_revoke,
    portal_calendar_feed_create,
    portal_calendar_feed_revoke,
)
from .rescheduling import appointment_reschedule
from .status import (
    appointment_cancel,
    appointment_complete,
    appointment_complete_for_session,
    appointment_mark_no_show,
)

__all__ = [
    "EARLIEST",
    "FEED_PREFIX",
    "LATEST",
    "LATE_CANCELLATION",
    "MAX_BOOKING_AHEAD",
    "MAX_INSTRUCTIONS",
    "MAX_MINUTES",
    "MAX_PARTICIPANTS",
    "MIN_MINUTES",
    "MONITOR_ROLES",
    "BookingCheck",
    "BookingRequest",
    "ParticipantSpec",
    "_book",
    "active_feed",
    "appointment_book",
    "appointment_cancel",
    "appointment_check",
    "appointment_complete",
    "appointment_complete_for_session",
    "appointment_mark_no_show",
    "appointment_reschedule",
    "appointment_type_set_minutes",
    "calendar_feed_authenticate",
    "calendar_feed_create",
    "calendar_feed_revoke",
    "describe",
    "patient_name_visible",
    "portal_calendar_feed_create",
    "portal_calendar_feed_revoke",
]
