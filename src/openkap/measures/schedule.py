"""The default measure schedule of an episode and when each occasion falls due.

A clinic edits the schedule per episode (treatment plan); these are the defaults a new
episode starts with (DESIGN.md §2: baseline, before each dosing session, after each
integration session, follow-up at 1, 3 and 6 months).
"""

from __future__ import annotations

from datetime import timedelta

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

from openkap.core.pathway.measure_times import (  # noqa: E402  (the rules live in the core)
    BASELINE_WINDOW,
    BEFORE_DOSING_LEAD,
    DAYS_PER_MONTH,
    FOLLOW_UP_MONTHS,
    FOLLOW_UP_WINDOW,
    follow_up_due,
    follow_up_key,
)

AFTER_INTEGRATION_WINDOW = timedelta(days=3)
REASSESSMENT_WINDOW = timedelta(days=7)
AD_HOC_WINDOW = timedelta(days=7)

__all__ = [
    "AD_HOC_WINDOW", "AFTER_INTEGRATION_WINDOW", "BASELINE_WINDOW", "BEFORE_DOSING_LEAD", "DAYS_PER_MONTH",
    "DEFAULT_PLAN", "FOLLOW_UP_MONTHS", "FOLLOW_UP_WINDOW", "REASSESSMENT_WINDOW", "SCHEDULED_OCCASIONS",
    "follow_up_due", "follow_up_key",
]
