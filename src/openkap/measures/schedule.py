"""The default measure schedule of an episode and when each occasion falls due.

A clinic edits the schedule per episode (treatment plan); these are the defaults a new
episode starts with (DESIGN.md §2: baseline, before each dosing session, after each
integration session, follow-up at 1, 3 and 6 months).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from openkap.measures.models import Occasion

DEFAULT_PLAN: dict[str, tuple[str, ...]] = {
    # The pathway's screening guard needs PHQ-9, GAD-7 and the C-SSRS screener.
    Occasion.BASELINE: ("phq9", "gad7", "cssrs-recent", "pcl5", "auditc", "dast10"),
    # C-SSRS since last visit is clinician-rated: staff complete it at check-in.
    Occasion.BEFORE_DOSING: ("phq9", "gad7", "cssrs-slv"),
    Occasion.AFTER_INTEGRATION: ("phq9", "gad7"),
    Occasion.REASSESSMENT: ("phq9", "gad7", "cssrs-recent"),
    Occasion.FOLLOW_UP: ("phq9", "gad7"),
}

# Occasions the schedule creates by itself; ad-hoc assignments are made by staff.
SCHEDULED_OCCASIONS = tuple(DEFAULT_PLAN)

BASELINE_WINDOW = timedelta(days=14)
BEFORE_DOSING_LEAD = timedelta(days=3)  # due 3 days before the session, overdue at its start
AFTER_INTEGRATION_WINDOW = timedelta(days=3)
REASSESSMENT_WINDOW = timedelta(days=7)
FOLLOW_UP_WINDOW = timedelta(days=14)
AD_HOC_WINDOW = timedelta(days=7)
FOLLOW_UP_MONTHS = (1, 3, 6)
DAYS_PER_MONTH = 30.44


def follow_up_due(anchor: datetime, months: int) -> datetime:
    """Follow-up `months` after the last dosing session of the series."""
    return anchor + timedelta(days=round(months * DAYS_PER_MONTH))


def follow_up_key(months: int) -> str:
    return f"{months}m"
