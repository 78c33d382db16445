"""Writes of the care pathway: keyword-only, one transaction, checked and audited.

The decisions (which transition may happen, what a checklist means, what a
plan's schedule may hold) are the core's; here they are applied to records.
"""

from .common import MAX_TEXT, NO_EPISODE, RECENT_WEIGHT_DAYS
from .consent import (
    consent_document_publish,
    consent_sign_in_clinic,
    consent_withdraw,
)
from .decisions import PLAN_STATES, eligibility_sign, plan_sign, reassessment_sign
from .episode import episode_open, episode_transition
from .integration import INTEGRATION_TASK_KIND, integration_note_write, integration_overdue_tasks
from .notes import psychotherapy_note_grant, psychotherapy_note_revoke, psychotherapy_note_write
from .portal import (
    MAX_ACTIVE_COMMITMENTS,
    commitment_add,
    commitment_end,
    commitment_tick,
    journal_write,
    portal_consent_sign,
    portal_consent_withdraw,
    portal_intention_add,
    portal_patient,
)
from .preparation import (
    escort_arrange,
    intention_add,
    pre_session_instructions_set,
    preparation_session_record,
    safety_plan_save,
)
from .screening import (
    INTAKE_FIELDS,
    INTAKE_TEXT_FIELDS,
    MAX_DIAGNOSES,
    checklist_record,
    intake_save,
)

__all__ = [
    "INTAKE_FIELDS",
    "INTAKE_TEXT_FIELDS",
    "INTEGRATION_TASK_KIND",
    "MAX_ACTIVE_COMMITMENTS",
    "MAX_DIAGNOSES",
    "MAX_TEXT",
    "NO_EPISODE",
    "PLAN_STATES",
    "RECENT_WEIGHT_DAYS",
    "checklist_record",
    "commitment_add",
    "commitment_end",
    "commitment_tick",
    "consent_document_publish",
    "consent_sign_in_clinic",
    "consent_withdraw",
    "eligibility_sign",
    "episode_open",
    "episode_transition",
    "escort_arrange",
    "intake_save",
    "integration_note_write",
    "integration_overdue_tasks",
    "intention_add",
    "journal_write",
    "plan_sign",
    "portal_consent_sign",
    "portal_consent_withdraw",
    "portal_intention_add",
    "portal_patient",
    "pre_session_instructions_set",
    "preparation_session_record",
    "psychotherapy_note_grant",
    "psychotherapy_note_revoke",
    "psychotherapy_note_write",
    "reassessment_sign",
    "safety_plan_save",
]
