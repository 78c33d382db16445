"""Writes of medicine sessions: the protocol library and each step of a session.

Every function takes keyword arguments and an explicit actor, checks access
(404 across organisations, 403 without the permission or outside the care
team), runs in one transaction and writes its audit row in it. Bad input is a
``ValidationError`` naming what is wrong, and nothing changes. The decisions are
the core's: ``core.protocols`` validates a protocol, ``core.dosing`` orders and
prepares a dose with its hard stops and soft limits, ``core.vitals`` validates
readings, raises alarms and judges discharge. Signatures re-enter the password
(outside the transaction, so a wrong one is audited like a failed sign-in).
"""

from openkap.dosing.access import session_for
from openkap.dosing.validation import CLOCK_SKEW, LATE_ENTRY, MAX_TEXT

from .administration import (
    MAX_RATE_ML_H,
    MODE_KINDS,
    administration_record,
    session_end_without_dose,
)
from .booked import (
    session_book,
    session_move,
    session_release,
)
from .check_in import (
    checklist_complete,
    session_check_in,
    weight_for_session,
)
from .common import (
    AFTERCARE,
    BASELINE_BP_LIMIT,
    BP_DECISION_MIN_CHARS,
    CNS_ACTIVE,
    CNS_DEPRESSANTS,
    MAX_PROTOCOL_CHARS,
    PATIENT_MEASURES_AFTER,
    REMS_TASK_KIND,
    STANDARD_ITEMS,
    DischargeBlocked,
    DoseRefused,
)
from .discharge import (
    session_discharge,
)
from .monitoring import (
    CADSS_INSTRUMENTS,
    adverse_event_record,
    alarm_acknowledge,
    observation_record,
    vitals_record,
)
from .orders import (
    dose_order_cancel,
    dose_order_sign,
)
from .preparation import (
    MEASURABLE_ML,
    dose_prepare,
    dose_verify,
    preparation_void,
)
from .protocols import (
    example_text,
    protocol_approve,
    protocol_content_with,
    protocol_draft_create,
    protocol_draft_update,
    protocol_example_import,
    protocol_fields_save,
    protocol_revise,
)
from .records import (
    record_document_request,
)
from .rems import REMS_EDITABLE, rems_form_submit, rems_form_update

__all__ = [
    "AFTERCARE",
    "BASELINE_BP_LIMIT",
    "BP_DECISION_MIN_CHARS",
    "CADSS_INSTRUMENTS",
    "CLOCK_SKEW",
    "CNS_ACTIVE",
    "CNS_DEPRESSANTS",
    "LATE_ENTRY",
    "MAX_PROTOCOL_CHARS",
    "MAX_RATE_ML_H",
    "MAX_TEXT",
    "MEASURABLE_ML",
    "MODE_KINDS",
    "PATIENT_MEASURES_AFTER",
    "REMS_EDITABLE",
    "REMS_TASK_KIND",
    "STANDARD_ITEMS",
    "DischargeBlocked",
    "DoseRefused",
    "active_order",
    "active_preparation",
    "administration_record",
    "adverse_event_record",
    "alarm_acknowledge",
    "checklist_complete",
    "dose_order_cancel",
    "dose_order_sign",
    "dose_prepare",
    "dose_verify",
    "example_text",
    "observation_record",
    "preparation_void",
    "protocol_approve",
    "protocol_content_with",
    "protocol_draft_create",
    "protocol_draft_update",
    "protocol_example_import",
    "protocol_fields_save",
    "protocol_in_use",
    "protocol_revise",
    "record_document_request",
    "rems_form_submit",
    "rems_form_update",
    "session_book",
    "session_check_in",
    "session_discharge",
    "session_end_without_dose",
    "session_for",
    "session_move",
    "session_release",
    "vitals_record",
    "weight_for_session",
]
