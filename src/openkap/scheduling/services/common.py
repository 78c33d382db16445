"""Limits every scheduling step shares."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

from openkap.core.authz import Role

MIN_MINUTES = 10
MAX_MINUTES = 12 * 60
MAX_PARTICIPANTS = 6
MAX_INSTRUCTIONS = 4000
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
LATEST = datetime(2100, 1, 1, tzinfo=UTC)
# A cancellation this close to the start counts as late in the patient's tracking.
LATE_CANCELLATION = timedelta(hours=24)
MAX_BOOKING_AHEAD = timedelta(days=548)  # 18 months
# Outside these local hours a booking needs a confirmation (03:00 is usually a typo for 15:00).
USUAL_HOURS = (time(7, 0), time(20, 0))
MONITOR_ROLES = frozenset({Role.NURSE, Role.PRESCRIBER})
FEED_PREFIX = "okcal_"

ParticipantSpec = tuple[int, str]  # (user id, Participant.Role value)
