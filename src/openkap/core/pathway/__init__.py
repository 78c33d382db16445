"""The care pathway of one episode: state machine, guards, contraindications, integration due.

Pure Python: the Django pathway and scheduling apps fill an ``EpisodeSnapshot``
and call these functions; the decisions live here.
"""

from openkap.core.routes import ROUTE_LABELS, Route

from .contraindications import (
    CHECKLIST,
    Checklist,
    ChecklistItem,
    ChecklistResult,
    Finding,
    Severity,
    evaluate_checklist,
)
from .diagnoses import normalize_icd10cm
from .episode import (
    CORE_BASELINE_MEASURES,
    STATE_LABELS,
    TERMINAL_STATES,
    EligibilityOutcome,
    EpisodeSnapshot,
    State,
)
from .guards import DOSING_READINESS, Requirement, dosing_booking_requirements
from .integration import (
    DEFAULT_INTEGRATION_WINDOW_DAYS,
    DosingRecord,
    IntegrationDue,
    open_integrations,
    overdue_integrations,
)
from .machine import (
    TRANSITION_LABELS,
    TRANSITIONS,
    Transition,
    TransitionRefused,
    find_transition,
    next_state,
    transitions_from,
    unmet_requirements,
)

__all__ = [
    "CHECKLIST",
    "CORE_BASELINE_MEASURES",
    "DEFAULT_INTEGRATION_WINDOW_DAYS",
    "DOSING_READINESS",
    "ROUTE_LABELS",
    "STATE_LABELS",
    "TERMINAL_STATES",
    "TRANSITIONS",
    "TRANSITION_LABELS",
    "Checklist",
    "ChecklistItem",
    "ChecklistResult",
    "DosingRecord",
    "EligibilityOutcome",
    "EpisodeSnapshot",
    "Finding",
    "IntegrationDue",
    "Requirement",
    "Route",
    "Severity",
    "State",
    "Transition",
    "TransitionRefused",
    "dosing_booking_requirements",
    "evaluate_checklist",
    "find_transition",
    "next_state",
    "normalize_icd10cm",
    "open_integrations",
    "overdue_integrations",
    "transitions_from",
    "unmet_requirements",
]
