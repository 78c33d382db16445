"""The default measure schedule of an episode and when each occasion falls due.

A clinic edits the schedule per episode (treatment plan); these are the defaults a new
episode starts with (DESIGN.md §2: baseline, before each dosing session, after each
integration session, follow-up at 1, 3 and 6 months).
"""

from __future__ import annotations

from datetime import timedelta

from openkap.core.pathway.plan import DEFAULT_MEASURE_SCHEDULE
from openkap.measures.models import Occasion

# The clinic default lives with the plan in the core; here it is keyed by occasion.
DEFAULT_PLAN: dict[str, tuple[str, ...]] = {
    Occasion(phase): tuple(ids) for phase, ids in DEFAULT_MEASURE_SCHEDULE.as_dict().items()
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
