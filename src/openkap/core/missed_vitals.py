"""Scheduled vitals checks that were not done, and what a protocol asks at discharge.

A board can show OVERDUE for a check and the session still end without it; the
record must then say so and why. This module finds the checks with no reading in
their window up to a moment (the discharge), using the window rule of
``openkap.core.vitals.vitals_due``, and applies the protocol's policy: a documented
reason, or no discharge until a reading is taken.
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import StrEnum

from openkap.core.vitals import vitals_due

MIN_REASON_CHARS = 10


class MissedVitalsPolicy(StrEnum):
    REASON = "reason"  # discharge with a documented reason for each gap
    BLOCK = "block"  # no discharge while a scheduled check is missing


def missed_checks(
    schedule_min: Sequence[int], recorded_min: Sequence[float], until_min: float, *, early_min: float = 5
) -> tuple[int, ...]:
    """Scheduled minutes (after the start of dosing) up to ``until_min`` with no reading
    in their window: both the checks a later reading superseded and those still open."""
    due = vitals_due(schedule_min, recorded_min, until_min, early_min=early_min)
    still_open: tuple[int, ...] = ()
    if due.next_due_min is not None:
        # Every check from the first pending one on has no reading (none was taken since).
        still_open = tuple(t for t in schedule_min[schedule_min.index(due.next_due_min):] if t <= until_min)
    return tuple(sorted(set(due.missed) | set(still_open)))


def describe(missed: Sequence[int]) -> str:
    """'+15 and +30 min' — for the discharge card and the record."""
    marks = [f"+{m}" for m in missed]
    if len(marks) <= 1:
        return f"{''.join(marks)} min"
    return f"{', '.join(marks[:-1])} and {marks[-1]} min"


def missed_vitals_refusal(missed: Sequence[int], policy: MissedVitalsPolicy, reason: str) -> str | None:
    """Why discharge cannot be signed yet because of missed checks, or None."""
    if not missed:
        return None
    checks = "check" if len(missed) == 1 else "checks"
    if policy is MissedVitalsPolicy.BLOCK:
        return (
            f"Vitals {checks} at {describe(missed)} were not recorded, and this protocol does not allow "
            "discharge without them: take a set of vitals now."
        )
    if len(reason.strip()) < MIN_REASON_CHARS:
        return (
            f"Vitals {checks} at {describe(missed)} were not recorded: write why "
            f"(at least {MIN_REASON_CHARS} characters) to discharge."
        )
    return None
