"""The Spravato REMS patient monitoring form: prefilled at discharge, completed and submitted."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from django.core.exceptions import ValidationError
from django.db import models, transaction
from django.http import Http404
from django.utils import timezone

from openkap.accounts.authz import Actor
from openkap.audit.models import AuditAction
from openkap.audit.services import audit_record
from openkap.core.authz import Perm, Role
from openkap.dosing.access import session_for
from openkap.dosing.models import (
    Discharge,
    DosingSession,
    RemsForm,
    VitalSigns,
)
from openkap.dosing.session_facts import active_order, active_preparation, devices_given
from openkap.dosing.validation import clean_text
from openkap.patients.selectors import care_team_user_ids
from openkap.tasks import services as tasks
from openkap.tasks.models import Task

from .common import (
    CNS_ACTIVE,
    CNS_DEPRESSANTS,
    REMS_TASK_KIND,
    _minutes,
    _raise,
)


def _bp(v: VitalSigns | None) -> str:
    return f"{v.systolic}/{v.diastolic}" if v is not None and v.systolic is not None else ""


def _yes_no(flag: bool) -> str:
    return RemsForm.YesNo.YES if flag else RemsForm.YesNo.NO


def _rems_prefill(session: DosingSession, discharge: Discharge) -> dict[str, Any]:
    """The form's fields from the session record (staff review and complete them)."""
    checklist = session.checklist
    vitals = list(session.vitals.order_by("taken_at", "id"))
    near_40 = [v for v in vitals if v.systolic is not None and v.minutes_after_dose is not None
               and 30 <= v.minutes_after_dose <= 55]
    bp40 = min(near_40, key=lambda v: abs((v.minutes_after_dose or 0) - 40)) if near_40 else None
    observations = list(session.observations.all())
    events = list(session.adverse_events.all())
    codes = {e.code for e in events}
    spo2 = [v.spo2 for v in vitals if v.spo2 is not None]
    order = active_order(session)
    prep = active_preparation(session)
    devices = len(devices_given(list(session.administration_events.all())))
    respiratory_alarm = session.alarms.filter(measure__in=["spo2", "respiratory_rate"], severity="critical").exists()
    cns = set(checklist.cns_active_medications)
    previous = (
        RemsForm.objects.filter(session__patient_id=session.patient_id).exclude(session=session)
        .order_by("-created_at").first()
    )
    site_previous = RemsForm.objects.filter(session__site_id=session.site_id).exclude(session=session).order_by("-created_at").first()
    serious = [e for e in events if e.serious]
    assert session.administration_started_at is not None
    assert order is not None
    return {
        "rems_patient_id": previous.rems_patient_id if previous else "",
        "setting_rems_id": site_previous.setting_rems_id if site_previous else "",
        "prescriber_name": order.signer_name,
        "treatment_date": timezone.localdate(session.administration_started_at),
        "dose_mg": int(order.dose_mg),
        "devices": devices or (prep.units if prep else 0) or 0,
        "first_device_at": session.administration_started_at,
        "bp_pre": _bp(checklist.baseline_vitals), "bp_pre_at": checklist.baseline_vitals.taken_at,
        "bp_40": _bp(bp40), "bp_40_at": bp40.taken_at if bp40 else None,
        "bp_discharge": _bp(discharge.final_vitals), "bp_discharge_at": discharge.final_vitals.taken_at,
        "sedation": _yes_no(any(o.moaas is not None and o.moaas < 5 for o in observations) or "sedation" in codes),
        "dissociation": _yes_no(any((o.cadss_total or 0) > 0 for o in observations) or "dissociation" in codes),
        "respiratory_depression": _yes_no("respiratory_depression" in codes or respiratory_alarm),
        "pulse_oximetry_used": bool(spo2), "lowest_spo2": min(spo2) if spo2 else None,
        "cns_depressants": ", ".join(CNS_ACTIVE[c] for c in CNS_DEPRESSANTS if c in cns),
        "psychostimulants": CNS_ACTIVE["psychostimulant"] if "psychostimulant" in cns else "",
        "maois": CNS_ACTIVE["maoi"] if "maoi" in cns else "",
        "monitoring_minutes": int(_minutes(discharge.discharged_at, session.administration_started_at)),
        "clinically_stable_at_discharge": True,
        "serious_adverse_event": _yes_no(bool(serious)),
        "serious_adverse_event_description": "; ".join(f"{e.label} ({e.get_severity_display()}, {e.get_outcome_display()})" for e in serious),
    }


def _rems_form_create(by: Actor, session: DosingSession, discharge: Discharge) -> RemsForm:
    form = RemsForm.objects.create(organization=by.organization, session=session, updated_by=by.user,
                                   **_rems_prefill(session, discharge))
    team = care_team_user_ids(session.patient)
    form.task = tasks.task_create(
        by=by, organization=by.organization, kind=REMS_TASK_KIND, patient=session.patient,
        title=f"Submit the SPRAVATO REMS patient monitoring form (session of {timezone.localtime(discharge.discharged_at):%Y-%m-%d})",
        detail="Complete the form from the session record and submit it to the REMS within 7 days of the session; "
               "then mark it submitted with the confirmation number.",
        subject_type="dosing_session", subject_id=session.id, assigned_role=Role.NURSE.value,
        assignee_ids=team, due_at=discharge.discharged_at + timedelta(days=7),
    )
    form.save(update_fields=["task"])
    audit_record(by=by, action=AuditAction.CREATE, object_type="rems_form", object_id=form.id,
                 patient_id=session.patient_id, detail={"session": session.id, "task": form.task_id})
    return form


REMS_EDITABLE = (
    "rems_patient_id", "setting_rems_id", "bp_40", "sedation", "dissociation", "respiratory_depression",
    "cns_depressants", "psychostimulants", "maois", "serious_adverse_event", "serious_adverse_event_description",
)


def _open_rems_form(by: Actor, session_id: int, *, submitted: str) -> tuple[DosingSession, bool, RemsForm]:
    """The session's form, locked with the session (in the caller's transaction); a
    submitted form is refused with the caller's message."""
    session, glass = session_for(by, session_id, Perm.DOSING_RECORD, lock=True)
    form = RemsForm.objects.select_for_update().filter(session=session).first()
    if form is None:
        raise Http404("This session has no REMS monitoring form.")
    if form.submitted_at is not None:
        raise ValidationError({"__all__": submitted})
    return session, glass, form


def rems_form_update(*, by: Actor, session_id: int, data: Mapping[str, Any]) -> RemsForm:
    """Staff complete the fields the record cannot know (REMS ids) and correct the rest."""
    unknown = set(data) - set(REMS_EDITABLE)
    if unknown:
        raise ValidationError({"__all__": f"Unknown field(s): {', '.join(sorted(unknown))}."})
    with transaction.atomic():
        session, glass, form = _open_rems_form(by, session_id, submitted="The form was submitted: it no longer changes.")
        errors: dict[str, list[str]] = {}
        changed = []
        for name, value in data.items():
            field = RemsForm._meta.get_field(name)
            assert isinstance(field, models.Field)  # REMS_EDITABLE names columns, not relations
            text = "" if value is None else str(value).strip()
            if field.choices and text not in {c[0] for c in field.choices}:
                errors.setdefault(name, []).append("Answer yes or no.")
                continue
            if field.max_length and len(text) > field.max_length:
                errors.setdefault(name, []).append(f"Keep this under {field.max_length} characters.")
                continue
            if getattr(form, name) != text:
                setattr(form, name, text)
                changed.append(name)
        if form.serious_adverse_event == RemsForm.YesNo.YES and not form.serious_adverse_event_description.strip():
            errors.setdefault("serious_adverse_event_description", []).append("Describe the serious adverse event.")
        _raise(errors)
        form.updated_at, form.updated_by = timezone.now(), by.user
        form.save()
        audit_record(by=by, action=AuditAction.UPDATE, object_type="rems_form", object_id=form.id,
                     patient_id=session.patient_id, break_glass=glass, detail={"fields": sorted(changed)})
    return form


def rems_form_submit(*, by: Actor, session_id: int, submission_reference: str) -> RemsForm:
    """Mark the form submitted to the REMS (with the confirmation number); its task closes."""
    reference = clean_text(submission_reference, "submission_reference", required=True, max_length=80,
                      what="the REMS confirmation number")
    with transaction.atomic():
        session, glass, form = _open_rems_form(by, session_id, submitted="The form is already marked submitted.")
        missing = form.missing
        if missing:
            raise ValidationError({"__all__": missing})
        form.submitted_at, form.submitted_by, form.submission_reference = timezone.now(), by.user, reference
        form.save(update_fields=["submitted_at", "submitted_by", "submission_reference"])
        if form.task_id and Task.objects.filter(id=form.task_id, resolved_at__isnull=True).exists():
            tasks.task_resolve(by=by, task_id=form.task_id, note=f"REMS form submitted, confirmation {reference}.")
        audit_record(by=by, action=AuditAction.UPDATE, object_type="rems_form", object_id=form.id,
                     patient_id=session.patient_id, break_glass=glass,
                     detail={"submitted": True, "reference": reference})
    return form
