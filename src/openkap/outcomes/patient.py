"""One patient's outcome report (the chart's Outcomes tab and its PDF, for the care team
and for a referring clinician): per instrument, the trajectory, baseline, endpoint and
what the change means under the same definitions as the cohort report; the sessions
with route and dose, adverse events, and experience scores."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from django.db.models import Prefetch, prefetch_related_objects
from django.utils import timezone

from openkap.accounts.authz import Actor
from openkap.audit.models import AuditAction
from openkap.audit.services import audit_record
from openkap.compiled import CompiledRead, CompiledRows
from openkap.core.authz import Perm
from openkap.core.instruments import get_instrument
from openkap.core.instruments.change import is_response
from openkap.core.instruments.engine import score_range
from openkap.core.outcomes import DEFAULT_DEFINITIONS, PatientInput, Score, patient_outcome
from openkap.core.routes import ROUTE_LABELS, Route
from openkap.dosing.models import AdverseEvent, DoseOrder, DosingSession
from openkap.history.selectors import imported_sessions
from openkap.measures.models import MeasureResponse
from openkap.outcomes.experience import EXPERIENCE_INSTRUMENTS
from openkap.outcomes.selectors import REPORT_INSTRUMENTS
from openkap.pathway.models import TreatmentPlan
from openkap.patients.models import Patient
from openkap.patients.selectors import patient_for


@dataclass
class PatientOutcomeReport:
    patient: Patient
    instruments: list[dict[str, Any]]
    sessions: list[dict[str, Any]]
    experience: list[dict[str, Any]]
    definitions: dict[str, Any]
    as_of: date
    via_break_glass: bool


def _status(outcome: Any, instrument_id: str) -> dict[str, Any]:
    d = DEFAULT_DEFINITIONS
    if outcome is None:
        return {"state": "No held dosing session yet: nothing to compare."}
    if outcome.excluded is not None:
        return {"state": outcome.excluded.describe(d) + "."}
    b, e = outcome.baseline.total, outcome.endpoint.total
    remission = d.remission(instrument_id)
    rci = d.reliable_change_points(instrument_id)
    return {
        "state": None,
        "baseline": b, "baseline_day": outcome.baseline.day, "endpoint": e, "endpoint_day": outcome.endpoint.day,
        "change": e - b, "percent_change": round(outcome.percent_change, 1),
        "response": bool(is_response(b, e, reduction_percent=d.response_reduction_percent)),
        "remission": remission.met(e) if remission else None, "remission_label": remission.label if remission else "",
        "deteriorated": (e - b >= rci) if rci is not None else None,
    }


# The tab's reads, compiled once (ADR 0096): the same three for every patient.
_HELD = CompiledRead(DosingSession, lambda patient_id: DosingSession.objects.held().filter(
    patient_id=patient_id).select_related("site", "protocol_version", "episode").order_by(
    "administration_started_at", "scheduled_start", "id"), "patient_id")
_PLAN_ROUTES = CompiledRows(TreatmentPlan, lambda patient_id: TreatmentPlan.objects.filter(
    episode__patient_id=patient_id).order_by("version").values_list("episode_id", "route"), "patient_id")
_RESPONSES = CompiledRows(MeasureResponse, lambda patient_id: MeasureResponse.objects.filter(
    patient_id=patient_id, is_scored=True, correction__isnull=True,
    instrument_id__in=(*REPORT_INSTRUMENTS, *EXPERIENCE_INSTRUMENTS)).order_by("completed_at", "id").values_list(
    "instrument_id", "completed_at", "total", "band_label", "answers", "result"), "patient_id")


def patient_outcome_report(*, by: Actor, patient_id: int) -> PatientOutcomeReport:
    # With the chart header's facts: the tab shows the header (banner, tab strip).
    patient, glass = patient_for(by, patient_id, Perm.CLINICAL_VIEW, chart_facts=True)
    held = _HELD.read(patient_id=patient.id)
    prefetch_related_objects(
        held, Prefetch("orders", queryset=DoseOrder.objects.filter(cancelled_at__isnull=True).order_by("-signed_at")),
        Prefetch("adverse_events", queryset=AdverseEvent.objects.order_by("id")),
    )
    # The latest version's route of each episode.
    plan_route = dict(_PLAN_ROUTES.read(patient_id=patient.id))

    # Imported history has no protocol or order: its route and dose are on the import record.
    imported = imported_sessions(patient.organization_id, session_ids=[s.id for s in held]) if held else {}
    sessions = []
    session_days: list[date] = []
    for s in held:
        at = s.administration_started_at or s.scheduled_start
        route = s.protocol_version.route if s.protocol_version else plan_route.get(s.episode_id, "")
        orders = list(s.orders.all())
        dose = orders[0].dose_mg if orders else None
        if s.id in imported:
            route = route or imported[s.id].get("route", "")
            dose = dose if dose is not None else Decimal(imported[s.id]["dose_mg"])
        session_days.append(timezone.localtime(at).date())
        sessions.append({
            "day": session_days[-1], "site": s.site.name,
            "route": ROUTE_LABELS[Route(route)] if route in {r.value for r in Route} else "not recorded",
            "dose_mg": dose, "imported": s.id in imported,
            "adverse_events": [f"{e.get_code_display()} ({e.get_severity_display().lower()})" for e in s.adverse_events.all()],
        })
    responses = _RESPONSES.read(patient_id=patient.id)
    as_of = timezone.localdate()
    instruments, experience = [], []
    for instrument_id in REPORT_INSTRUMENTS:
        # Scored report instruments all have a total (only triage instruments have none).
        mine = [r for r in responses if r[0] == instrument_id and r[2] is not None]
        scores = tuple(
            Score(timezone.localtime(completed_at).date(), total,
                  (answers or {}).get("q9") if instrument_id == "phq9" else None)
            for _id, completed_at, total, _band, answers, _result in mine if total is not None
        )
        if not scores:
            continue
        outcome = patient_outcome(PatientInput(patient.id, tuple(session_days), scores), instrument_id, as_of=as_of)
        instruments.append({
            "id": instrument_id, "name": get_instrument(instrument_id).short_name,
            "scores": [{"day": s.day, "total": s.total, "band": r[3]} for s, r in zip(scores, mine, strict=True)],
            "status": _status(outcome, instrument_id),
            "points": [{"label": f"{s.day:%m-%d}", "n": 1, "mean": s.total, "ci": None} for s in scores],
            "maximum": float((score_range(instrument_id) or (0, 1))[1]),
        })
    for r in responses:
        if r[0] in EXPERIENCE_INSTRUMENTS:
            cme = ((r[5] or {}).get("indicators") or {}).get("complete_mystical_experience")
            experience.append({"day": timezone.localtime(r[1]).date(), "name": get_instrument(r[0]).short_name,
                               "total": r[2], "complete_mystical": cme})
    audit_record(by=by, action=AuditAction.VIEW, object_type="patient_outcomes", object_id=patient.id,
                 patient_id=patient.id, break_glass=glass)
    return PatientOutcomeReport(
        patient=patient, instruments=instruments, sessions=sessions, experience=experience,
        definitions=DEFAULT_DEFINITIONS.describe("phq9"), as_of=as_of, via_break_glass=glass,
    )
