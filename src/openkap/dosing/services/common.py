"""What every step of a medicine session shares: input cleaning, the session fetch with its access check, the audit row, limits and refusals."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError

from openkap.accounts.authz import Actor
from openkap.accounts.services import signer_credentials
from openkap.audit.models import AuditAction
from openkap.audit.services import audit_record
from openkap.core import blood_pressure as bp_core
from openkap.core import dosing as dose_core
from openkap.dosing.models import (
    DosingSession,
)

MAX_PROTOCOL_CHARS = 100_000
# A suicide-risk screen older than this is not current for a dosing session.
# Pre-dose BP above this needs the prescriber's documented weighing of the risk
# (Spravato label, reference §1.5 and §2.1).
BASELINE_BP_LIMIT = (bp_core.REVIEW_SYSTOLIC, bp_core.REVIEW_DIASTOLIC)
BP_DECISION_MIN_CHARS = 10
# CNS-active medicines asked about before dosing (REMS monitoring form).
CNS_ACTIVE = {
    "benzodiazepine": "Benzodiazepine",
    "opioid": "Opioid",
    "alcohol": "Alcohol in the last 24 hours",
    "other_depressant": "Other CNS depressant (sedating antihistamine, gabapentinoid, sleep medicine...)",
    "psychostimulant": "Psychostimulant (amphetamine, methylphenidate, modafinil...)",
    "maoi": "MAOI",
}
CNS_DEPRESSANTS = ("benzodiazepine", "opioid", "alcohol", "other_depressant")
# Checklist items every protocol may list that the checklist form asks as fields.
STANDARD_ITEMS = frozenset({
    "fasting", "escort-confirmed", "baseline-vitals", "baseline-bp", "pregnancy-status",
    "medications", "suicide-risk-reviewed", "consent-current", "intention",
})
AFTERCARE = (
    "Do not drive, cycle or operate machinery until the next day after a restful sleep. "
    "Go home with your escort and rest; have someone stay with you this evening. "
    "No alcohol or sedating medicines today. Eat lightly when you feel ready. "
    "If you feel unsafe, or have chest pain, a severe headache or trouble breathing, "
    "call 911; for a mental health crisis call or text 988."
)
PATIENT_MEASURES_AFTER = ("meq30", "ebi")
REMS_TASK_KIND = "rems_monitoring_form"


class DoseRefused(ValidationError):
    """A dose the core refused: the stops and soft limits, with the arithmetic so far."""

    def __init__(self, refusal: dose_core.DoseRefusal, errors: Mapping[str, list[str]]):
        super().__init__(dict(errors))
        self.refusal = refusal


class DischargeBlocked(ValidationError):
    def __init__(self, reasons: list[str]):
        super().__init__({"__all__": reasons})
        self.reasons = reasons




def _collect(errors: dict[str, list[str]], exc: ValidationError) -> None:
    for key, messages in (exc.message_dict if hasattr(exc, "error_dict") else {"__all__": exc.messages}).items():
        errors.setdefault(key, []).extend(messages)


def _raise(errors: Mapping[str, list[str]]) -> None:
    if errors:
        raise ValidationError(dict(errors))


def _minutes(later: datetime, earlier: datetime) -> float:
    return (later - earlier).total_seconds() / 60


def _fmt(value: Decimal) -> str:
    text = format(value.normalize(), "f")
    return text


def _audit(by: Actor, action: AuditAction, object_type: str, obj: Any, session: DosingSession,
           glass: bool, **detail: Any) -> None:
    audit_record(
        by=by, action=action, object_type=object_type, object_id=obj.id, patient_id=session.patient_id,
        break_glass=glass, detail={"session": session.id, **detail},
    )


def _require_status(session: DosingSession, allowed: Iterable[str], doing: str) -> None:
    if session.status not in set(allowed):
        raise ValidationError(
            {"__all__": f"The session is {session.get_status_display().lower()}: it cannot {doing} now."}
        )


def _signature(by: Actor) -> dict[str, Any]:
    return {"signer_name": by.user.full_name, "signer_credentials": signer_credentials(by)}
