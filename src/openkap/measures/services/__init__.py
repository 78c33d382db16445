"""Writes of measurement-based care: keyword-only, one transaction, checked and audited.

Scoring and safety flags come from `openkap.core.instruments`; this module stores what
the core says. A safety flag (of a submitted response, or of the answers given so far
in a draft) raises an urgent task in the same transaction as the answers that raised it.
"""

from .assignments import (
    assignment_cancel,
    measure_assign,
    measure_plan_update,
    schedule_after_integration,
    schedule_reassessment,
    sync_all_schedules,
    sync_schedule,
)
from .common import (
    CORRECTION_MIN_CHARS,
    LINK_DAYS,
    MAX_BACKDATE,
    MAX_LINK_DAYS,
    Answers,
)
from .instruments import licensed_wording_save
from .links import LinkRefused, link_answer, link_create, link_open, link_submit
from .portal import portal_answer, portal_patient, portal_submit
from .responses import FlaggedIncompleteError, _record, _Source, response_enter

__all__ = [
    "CORRECTION_MIN_CHARS",
    "LINK_DAYS",
    "MAX_BACKDATE",
    "MAX_LINK_DAYS",
    "Answers",
    "FlaggedIncompleteError",
    "LinkRefused",
    "_Source",
    "_record",
    "assignment_cancel",
    "licensed_wording_save",
    "link_answer",
    "link_create",
    "link_open",
    "link_submit",
    "measure_assign",
    "measure_plan_update",
    "portal_answer",
    "portal_patient",
    "portal_submit",
    "response_enter",
    "schedule_after_integration",
    "schedule_reassessment",
    "sync_all_schedules",
    "sync_schedule",
]
