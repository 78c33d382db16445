"""Pages of medicine sessions: the protocol library, the monitoring board, the session
page (one card per step) and the printable record. Thin: parse, call a service, render."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, time
from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.forms import BaseForm, Form
from django.http import HttpRequest, HttpResponse, HttpResponseNotModified
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.http import parse_etags, quote_etag
from django.utils.safestring import mark_safe
from django.views.decorators.http import require_POST

from openkap.accounts import selectors as accounts_selectors
from openkap.accounts.authz import Actor
from openkap.audit.services import record_refusal
from openkap.core import blood_pressure as bp_core
from openkap.core.authz import Perm
from openkap.core.dosing.order import bp_gate_applies
from openkap.core.instruments import get_instrument
from openkap.core.missed_vitals import describe as describe_missed
from openkap.core.protocols import example_ids
from openkap.core.routes import Route
from openkap.dosing import access, documents, forms, selectors, services, session_facts, validation
from openkap.dosing.charts import session_vitals_svg
from openkap.dosing.models import AdministrationEvent, DosingSession, ProtocolVersion
from openkap.ledger.services import witness_candidates
from openkap.pathway import selectors as pathway
from openkap.web.decorators import apply_errors, staff_view
from openkap.web.wayback import Link, declare_parent

# --- the protocol library -------------------------------------------------------------------


@staff_view(Perm.PROTOCOL_VIEW)
def protocol_list(request: HttpRequest, actor: Actor) -> HttpResponse:
    missing = selectors.examples_missing(actor) if actor.can(Perm.PROTOCOL_MANAGE) else []
    return TemplateResponse(request, "dosing/protocols.html", {
        "entries": selectors.protocol_library(by=actor),
        "import_form": forms.ExampleImportForm(choices=[(e, selectors.example_title(e)) for e in missing])
        if missing else None,
        "can_manage": actor.can(Perm.PROTOCOL_MANAGE),
    })


@require_POST
@staff_view(Perm.PROTOCOL_MANAGE)
def protocol_import(request: HttpRequest, actor: Actor) -> HttpResponse:
    form = forms.ExampleImportForm(request.POST)
    if form.is_valid():
        try:
            version = services.protocol_example_import(by=actor, example_id=form.cleaned_data["example_id"])
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
        else:
            messages.success(request, f"{version.protocol_id} v{version.version} added as a draft: review and approve it.")
            return redirect("dosing:protocol", version_id=version.id)
    else:
        messages.error(request, "Choose one of the shipped example protocols.")
    return redirect("dosing:protocols")


def _fields_page(request: HttpRequest, actor: Actor, *, version: ProtocolVersion | None,
                 example_id: str | None) -> HttpResponse:
    """The editor: every field of the protocol, a check with the dose lines for sample
    patients ("Check"), and saving as a draft through the same service as the API."""
    base = version.content if version else validation.example_text(str(example_id))
    form = forms.ProtocolFieldsForm(
        request.POST or None, id_fixed=version is not None,
        initial=forms.ProtocolFieldsForm.initial_from(selectors.protocol_fields(base)),
    )
    where = {"version_id": version.id} if version else {"example_id": example_id}
    check, status = None, 200
    if request.method == "POST" and form.is_valid():
        fields = form.fields_for_service()
        if request.POST.get("action") == "check":
            check = selectors.protocol_check(by=actor, fields=fields, **where)
            form.add_service_errors(check.errors)
        else:
            try:
                saved = services.protocol_fields_save(
                    by=actor, fields=fields, change_reason=form.cleaned_data["change_reason"], **where)
            except ValidationError as exc:
                record_refusal(exc)
                form.add_service_errors(exc.message_dict)
            else:
                messages.success(request, f"Draft {saved.protocol_id} v{saved.version} saved: a prescriber must approve it.")
                return redirect("dosing:protocol", version_id=saved.id)
    elif request.method == "GET":
        check = selectors.protocol_check(by=actor, **where)
    if form.errors:
        status = 422
    return TemplateResponse(request, "dosing/protocol_fields.html", {
        "form": form, "version": version, "example_id": example_id, "check": check,
        "example_title": selectors.example_title(example_id) if example_id else "",
    }, status=status)


@staff_view(Perm.PROTOCOL_MANAGE)
def protocol_new(request: HttpRequest, actor: Actor) -> HttpResponse:
    """A new protocol starts from a shipped example, edited field by field."""
    example_id = request.GET.get("from", "")
    if example_id not in example_ids():
        return TemplateResponse(request, "dosing/protocol_start.html", {
            "examples": [(e, selectors.example_title(e)) for e in example_ids()],
        }, status=422 if example_id else 200)
    return _fields_page(request, actor, version=None, example_id=example_id)


@staff_view(Perm.PROTOCOL_MANAGE)
def protocol_new_json(request: HttpRequest, actor: Actor) -> HttpResponse:
    form = forms.ProtocolContentForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            version = services.protocol_draft_create(by=actor, **form.cleaned_data)
        except ValidationError as exc:
            apply_errors(form, exc)
        else:
            messages.success(request, f"Draft {version.protocol_id} v{version.version} saved.")
            return redirect("dosing:protocol", version_id=version.id)
    return TemplateResponse(request, "dosing/protocol_form.html", {"form": form, "version": None},
                            status=422 if form.errors else 200)


@staff_view(Perm.PROTOCOL_VIEW)
def protocol_detail(request: HttpRequest, actor: Actor, version_id: int) -> HttpResponse:
    version = selectors.protocol_version_get(by=actor, version_id=version_id)
    return _protocol_page(request, actor, version, forms.ProtocolApproveForm())


def _protocol_page(request: HttpRequest, actor: Actor, version: ProtocolVersion, approve_form: Form,
                   status: int = 200) -> HttpResponse:
    return TemplateResponse(request, "dosing/protocol_detail.html", {
        "version": version, "protocol": version.protocol, "approve_form": approve_form,
        "versions": selectors.protocol_versions_of(by=actor, protocol_id=version.protocol_id),
        "check": selectors.protocol_check(by=actor, version_id=version.id),
        "can_manage": actor.can(Perm.PROTOCOL_MANAGE), "can_approve": actor.can(Perm.PROTOCOL_APPROVE),
    }, status=status)


@staff_view(Perm.PROTOCOL_MANAGE)
def protocol_edit(request: HttpRequest, actor: Actor, version_id: int) -> HttpResponse:
    """A draft is edited in place; an approved version is changed by a new version."""
    version = selectors.protocol_version_get(by=actor, version_id=version_id)
    return _fields_page(request, actor, version=version, example_id=None)


@staff_view(Perm.PROTOCOL_MANAGE)
def protocol_edit_json(request: HttpRequest, actor: Actor, version_id: int) -> HttpResponse:
    """The same edit as JSON (import a protocol written elsewhere, or change many fields at once)."""
    version = selectors.protocol_version_get(by=actor, version_id=version_id)
    form = forms.ProtocolContentForm(request.POST or None, initial={"content": version.content})
    if request.method == "POST" and form.is_valid():
        try:
            if version.is_approved:
                saved = services.protocol_revise(by=actor, version_id=version.id, **form.cleaned_data)
            else:
                saved = services.protocol_draft_update(by=actor, version_id=version.id, **form.cleaned_data)
        except ValidationError as exc:
            apply_errors(form, exc)
        else:
            messages.success(request, f"Draft {saved.protocol_id} v{saved.version} saved: a prescriber must approve it.")
            return redirect("dosing:protocol", version_id=saved.id)
    return TemplateResponse(request, "dosing/protocol_form.html", {"form": form, "version": version},
                            status=422 if form.errors else 200)


@require_POST
@staff_view(Perm.PROTOCOL_APPROVE)
def protocol_approve(request: HttpRequest, actor: Actor, version_id: int) -> HttpResponse:
    version = selectors.protocol_version_get(by=actor, version_id=version_id)
    form = forms.ProtocolApproveForm(request.POST)
    if form.is_valid():
        try:
            services.protocol_approve(by=actor, version_id=version.id, password=form.cleaned_data["password"],
                                      accept_warnings=form.cleaned_data["accept_warnings"])
        except ValidationError as exc:
            apply_errors(form, exc)
        else:
            messages.success(request, f"{version.protocol_id} v{version.version} approved: sessions can now dose from it.")
            return redirect("dosing:protocol", version_id=version.id)
    version.refresh_from_db()
    return _protocol_page(request, actor, version, form, status=422)


# --- the monitoring board ---------------------------------------------------------------


@staff_view(Perm.DOSING_VIEW)
def board_home(request: HttpRequest, actor: Actor) -> HttpResponse:
    """The board of the actor's own site (their membership's), else the first site."""
    site = accounts_selectors.home_site(by=actor)
    if site is None:
        messages.error(request, "Your organisation has no active site yet.")
        return redirect("web:home")
    return redirect("dosing:board", site_id=site.id)


@staff_view(Perm.DOSING_VIEW)
def board(request: HttpRequest, actor: Actor, site_id: int) -> HttpResponse:
    """The board; its 15-second refresh (htmx) carries an ETag and gets 304 when nothing it
    shows has changed. Either way the read is audited (ADR 0052)."""
    data = selectors.board(by=actor, site_id=site_id)
    ctx = {"board": data, "can_record": actor.can(Perm.DOSING_RECORD), "can_order": actor.can(Perm.DOSE_ORDER)}
    if not request.headers.get("HX-Request"):
        return TemplateResponse(request, "dosing/board.html", ctx)
    # The CSRF secret: the check-in forms carry a token valid only for it.
    etag = quote_etag(selectors.board_fingerprint(
        data, actor.user.id, ctx["can_record"], ctx["can_order"], request.META.get("CSRF_COOKIE", ""),
        translation.get_language()))
    if etag in parse_etags(request.headers.get("If-None-Match", "")):
        response: HttpResponse = HttpResponseNotModified()
    else:
        response = TemplateResponse(request, "dosing/_board.html", ctx)
    response["ETag"] = etag
    return response


# --- the session page -------------------------------------------------------------------


def _at(session: DosingSession, value: time | None) -> datetime | None:
    """A time of day on the session's day (the check-in's, or the booking's before it):
    a late entry. None means now."""
    if value is None:
        return None
    day = timezone.localdate(session.started_at or session.scheduled_start)
    return timezone.make_aware(datetime.combine(day, value))


def _cadss_items() -> tuple:
    return get_instrument("cadss6").items


def _arrival_context(view: selectors.SessionView, bound: dict[str, Form]) -> dict[str, Any]:
    """Check-in, and the checklist prefilled from the preparation's arrangements."""
    session, protocol = view.session, view.protocol
    ctx: dict[str, Any] = {}
    if view.stage == "check_in":
        ctx["check_in_form"] = bound.get("check_in") or forms.CheckInForm()
    if view.stage == "checklist":
        initial: dict[str, Any] = {}
        if session.status == DosingSession.Status.CHECKED_IN and not hasattr(session, "checklist"):
            arrangements = pathway.arrangements_of(session.episode)
            if arrangements is not None:
                initial.update(escort_name=arrangements.escort_name, escort_phone=arrangements.escort_phone,
                               escort_relationship=arrangements.escort_relationship, fasting_note=arrangements.fasting)
            if not session_facts.pregnancy_relevant(session.patient):
                initial["pregnancy_status"] = "not_applicable"
        ctx["checklist_form"] = bound.get("checklist") or forms.ChecklistForm(protocol=protocol, initial=initial)
        ctx["screen"] = session_facts.current_suicide_screen(session.patient, timezone.now())
        ctx["pre_dose_open"] = session_facts.open_pre_dose_measures(session)
        ctx["consent"] = pathway.consent_status(session.episode, Route(view.protocol_version.route) if view.protocol_version else None)
    return ctx


def _order_context(actor: Actor, view: selectors.SessionView, bound: dict[str, Form]) -> dict[str, Any]:
    """The order form with the facts it is computed from, a preview, and the pre-dose BP gate."""
    session, version = view.session, view.protocol_version
    assert version is not None
    inputs = session_facts.order_inputs(session, session_facts.protocol_in_use(actor.organization.id, version.protocol_id) or version)
    ctx: dict[str, Any] = {
        "order_form": bound.get("order") or forms.OrderForm(unit=inputs.protocol.dose_rule.basis.unit),
        "weight_form": bound.get("weight") or forms.WeightForm(initial={"unit": "kg"}),
        "order_inputs": inputs,
        "preview": bound.get("preview_result") or session_facts.compute_order(
            inputs, dose_mg_per_kg=None, dose_mg=None, override_reason=""),
    }
    bp = session_facts.pre_dose_bp(session)
    if bp is not None and bp.systolic is not None and bp.diastolic is not None:
        ctx["pre_dose_bp"] = bp
        ctx["pre_dose_bp_assessment"] = bp_core.assess_pre_dose(bp.systolic, bp.diastolic)
        ctx["bp_gate"] = bp_gate_applies(inputs.protocol)
    return ctx


def _dose_context(actor: Actor, view: selectors.SessionView, bound: dict[str, Form]) -> dict[str, Any]:
    """Preparing, verifying and giving the dose, cancelling the order, ending without a dose."""
    stage = view.stage
    ctx: dict[str, Any] = {}
    if stage in ("prepare", "verify", "administer", "administering") or view.cancelled_orders:
        ctx["cancel_form"] = bound.get("cancel") or forms.CancelForm()
    if stage == "prepare":
        lots = selectors.session_lots(by=actor, session_id=view.session.id)
        ctx["lots"] = lots
        ctx["prepare_form"] = bound.get("prepare") or forms.PrepareForm(lots=lots)
    witnesses = None
    if stage in ("verify", "administer", "administering", "prepare", "order", "checklist") and actor.can(Perm.DOSING_RECORD):
        witnesses = witness_candidates(actor)
    if stage == "verify":
        ctx["verify_form"] = bound.get("verify") or forms.VerifyForm()
        ctx["void_form"] = bound.get("void") or forms.VoidForm(witnesses=witnesses or ())
        ctx["is_preparer"] = view.preparation is not None and view.preparation.prepared_by_id == actor.user.id
    if stage in ("administer", "administering"):
        ctx["admin_form"] = bound.get("administer") or forms.AdministrationForm(witnesses=witnesses or ())
    if stage in ("checklist", "order", "prepare", "verify", "administer"):
        ctx["end_form"] = bound.get("end") or forms.EndForm(witnesses=witnesses or ())
    return ctx


def _monitoring_context(view: selectors.SessionView, bound: dict[str, Form]) -> dict[str, Any]:
    """Vitals, alarms, observations and adverse events while the session runs; discharge after."""
    session = view.session
    ctx: dict[str, Any] = {}
    if session.is_active and session.status != DosingSession.Status.SCHEDULED:
        ctx["vitals_form"] = bound.get("vitals") or forms.VitalsForm()
        ctx["alarm_rows"] = [(a, bound.get(f"alarm_{a.id}") or forms.AlarmForm()) for a in view.open_alarms]
        ctx["observation_form"] = bound.get("observation") or forms.ObservationForm(cadss_items=_cadss_items())
        ctx["ae_form"] = bound.get("adverse_event") or forms.AdverseEventForm()
    if view.stage == "monitor":
        checklist = getattr(session, "checklist", None)
        ctx["discharge_form"] = bound.get("discharge") or forms.DischargeForm(initial={
            "escort_name": checklist.escort_name if checklist else "",
            "escort_phone": checklist.escort_phone if checklist else "",
        })
        ctx["discharge_unmet"] = bound.get("discharge_unmet") or session_facts.discharge_unmet(
            session, session_facts.DischargeAssessment(True, True, True, True), timezone.now())
        missed = session_facts.missed_vitals_of(session, timezone.now())
        ctx["missed_vitals"] = describe_missed(missed) if missed else ""
        ctx["discharge_bp"] = session_facts.discharge_bp(session, timezone.now())
        ctx["bp_task"] = selectors.open_bp_task(session)
    return ctx


def _session_context(request: HttpRequest, actor: Actor, view: selectors.SessionView,
                     bound: dict[str, Form]) -> dict[str, Any]:
    """The session page: the record, and the forms of the step it is at (named steps above)."""
    session = view.session
    ctx: dict[str, Any] = {
        "view": view, "session": session, "patient": view.patient, "chart": view.chart, "protocol": view.protocol,
        "can_record": actor.can(Perm.DOSING_RECORD), "can_order": actor.can(Perm.DOSE_ORDER),
        "now": timezone.now(),
    }
    ctx |= _arrival_context(view, bound)
    if view.stage == "order":
        ctx |= _order_context(actor, view, bound)
    ctx |= _dose_context(actor, view, bound)
    ctx |= _monitoring_context(view, bound)
    if view.vitals:
        ctx["vitals_svg"] = mark_safe(session_vitals_svg(view))  # noqa: S308 - numbers, labels escaped
    ctx["rems"] = getattr(session, "rems_form", None)
    ctx["sections"] = {k: bool(v) for k, v in bound.items()}
    return ctx


def _render(request: HttpRequest, actor: Actor, session_id: int, status: int = 200, **bound: Any) -> HttpResponse:
    view = selectors.session_view(by=actor, session_id=session_id, chart_facts=True)
    declare_parent(request, reverse("dosing:board", args=[view.session.site_id]), "Monitoring board", also=(
        Link(reverse("dosing:patient_sessions", args=[view.patient.id]), f"All sessions of {view.patient.display_name}"),
    ))
    return TemplateResponse(request, "dosing/session.html", _session_context(request, actor, view, bound),
                            status=status)


def _done(request: HttpRequest, session_id: int, message: str, anchor: str = "") -> HttpResponse:
    messages.success(request, message)
    return redirect(reverse("dosing:session", args=[session_id]) + (f"#{anchor}" if anchor else ""))


def _step(request: HttpRequest, actor: Actor, session_id: int, name: str, form: Form,
          record: Callable[[dict[str, Any]], Any], message: str | Callable[[Any], str | HttpResponse],
          anchor: str = "", bound: dict[str, Any] | None = None) -> HttpResponse:
    """One step posted from its card on the session page. Recorded: the message (a text, or
    one made from what ``record`` returned, or a response of its own) and back to the card
    at ``anchor``. Refused: the page again (422), the service's errors beside the form's
    fields, with ``bound`` (which ``record`` may fill in when it refuses)."""
    if form.is_valid():
        try:
            result = record(form.cleaned_data)
        except ValidationError as exc:
            apply_errors(form, exc)
        else:
            outcome = message if isinstance(message, str) else message(result)
            return outcome if isinstance(outcome, HttpResponse) else _done(request, session_id, outcome, anchor)
    return _render(request, actor, session_id, 422, **{name: form}, **(bound or {}))


@staff_view(Perm.DOSING_VIEW)
def session_detail(request: HttpRequest, actor: Actor, session_id: int) -> HttpResponse:
    return _render(request, actor, session_id)


def _session(actor: Actor, session_id: int) -> DosingSession:
    session, _ = access.session_for(actor, session_id, Perm.DOSING_VIEW)
    return session


@require_POST
@staff_view(Perm.DOSING_RECORD)
def check_in(request: HttpRequest, actor: Actor, session_id: int) -> HttpResponse:
    form = forms.CheckInForm(request.POST)
    session = _session(actor, session_id)
    return _step(request, actor, session_id, "check_in", form, lambda d: services.session_check_in(
        by=actor, session_id=session_id, at=_with_time(session, form)), "Checked in.", "checklist")


def _with_time(session: DosingSession, form: Form) -> datetime | None:
    return _at(session, form.cleaned_data.get("time"))


@require_POST
@staff_view(Perm.DOSING_RECORD)
def checklist(request: HttpRequest, actor: Actor, session_id: int) -> HttpResponse:
    session = _session(actor, session_id)
    protocol = session.protocol_version.protocol if session.protocol_version else None
    form = forms.ChecklistForm(request.POST, protocol=protocol)
    return _step(request, actor, session_id, "checklist", form, lambda d: services.checklist_complete(
        by=actor, session_id=session_id, data=form.data_for_service(), at=_with_time(session, form),
    ), "Pre-dose checklist complete: the prescriber can order the dose.", "order")


@require_POST
@staff_view(Perm.DOSE_ORDER)
def order(request: HttpRequest, actor: Actor, session_id: int) -> HttpResponse:
    session = _session(actor, session_id)
    version = session.protocol_version
    unit = version.protocol.dose_rule.basis.unit if version else "mg/kg"
    form = forms.OrderForm(request.POST, unit=unit)
    bound: dict[str, Any] = {}

    def sign(d: dict[str, Any]) -> Any:
        try:
            return services.dose_order_sign(
                by=actor, session_id=session_id, password=d["password"],
                dose_mg_per_kg=d["dose"] if unit == "mg/kg" else None, dose_mg=d["dose"] if unit == "mg" else None,
                override_reason=d["override_reason"], at=_with_time(session, form),
                bp_decision=d["bp_decision"],
            )
        except services.DoseRefused as exc:
            bound["preview_result"] = exc.refusal
            raise

    return _step(request, actor, session_id, "order", form, sign, "Dose ordered and signed.", "prepare", bound)


@require_POST
@staff_view(Perm.DOSE_ORDER)
def order_cancel(request: HttpRequest, actor: Actor, session_id: int) -> HttpResponse:
    form = forms.CancelForm(request.POST)
    return _step(request, actor, session_id, "cancel", form, lambda d: services.dose_order_cancel(
        by=actor, session_id=session_id, reason=d["reason"]), "Order cancelled.", "order")


@require_POST
@staff_view(Perm.DOSING_RECORD)
def weight(request: HttpRequest, actor: Actor, session_id: int) -> HttpResponse:
    form = forms.WeightForm(request.POST)
    return _step(request, actor, session_id, "weight", form,
                 lambda d: services.weight_for_session(by=actor, session_id=session_id, **d),
                 lambda w: f"Weight recorded: {w.weight_kg} kg.", "order")


@require_POST
@staff_view(Perm.DOSING_RECORD)
def prepare(request: HttpRequest, actor: Actor, session_id: int) -> HttpResponse:
    session = _session(actor, session_id)
    lots = selectors.session_lots(by=actor, session_id=session_id)
    form = forms.PrepareForm(request.POST, lots=lots)
    return _step(request, actor, session_id, "prepare", form, lambda d: services.dose_prepare(
        by=actor, session_id=session_id, lot_id=d["lot"], at=_with_time(session, form),
    ), "Dose prepared: a second clinician must now verify it.", "verify")


@require_POST
@staff_view(Perm.DOSING_RECORD)
def preparation_void(request: HttpRequest, actor: Actor, session_id: int) -> HttpResponse:
    form = forms.VoidForm(request.POST, witnesses=witness_candidates(actor))
    return _step(request, actor, session_id, "void", form, lambda d: services.preparation_void(
        by=actor, session_id=session_id, reason=d["reason"], drawn=d["drawn"],
        witness_id=d["witness"], witness_password=d["witness_password"],
    ), "Preparation set aside: prepare the dose again.", "prepare")


@require_POST
@staff_view(Perm.DOSING_RECORD)
def verify(request: HttpRequest, actor: Actor, session_id: int) -> HttpResponse:
    session = _session(actor, session_id)
    form = forms.VerifyForm(request.POST)
    return _step(request, actor, session_id, "verify", form, lambda d: services.dose_verify(
        by=actor, session_id=session_id, drug_confirmed=d["drug_confirmed"],
        concentration_seen=d["concentration_seen"], amount_seen=d["amount_seen"],
        dose_mg_seen=d["dose_mg_seen"], date_of_birth_seen=d["date_of_birth_seen"],
        at=_with_time(session, form),
    ), "Verified by a second clinician: ready to administer.", "administer")


def _given(event: AdministrationEvent) -> str:
    label = event.get_kind_display()
    if event.kind == AdministrationEvent.Kind.DEVICE:
        label = f"Device {event.device_number} given"
    return f"{label} at {timezone.localtime(event.at):%H:%M}."


@require_POST
@staff_view(Perm.DOSING_RECORD)
def administer(request: HttpRequest, actor: Actor, session_id: int) -> HttpResponse:
    session = _session(actor, session_id)
    form = forms.AdministrationForm(request.POST, witnesses=witness_candidates(actor))
    return _step(request, actor, session_id, "administer", form, lambda d: services.administration_record(
        by=actor, session_id=session_id, kind=d["kind"], at=_with_time(session, form),
        rate_ml_per_h=d["rate_ml_per_h"], infused_volume_ml=d["infused_volume_ml"], reason=d["reason"],
        witness_id=d["witness"], witness_password=d["witness_password"],
    ), _given, "administer")


@require_POST
@staff_view(Perm.DOSING_RECORD)
def vitals(request: HttpRequest, actor: Actor, session_id: int) -> HttpResponse:
    session = _session(actor, session_id)
    form = forms.VitalsForm(request.POST)

    def recorded(result: Any) -> str | HttpResponse:
        _v, alarms = result
        if not alarms:
            return "Vitals recorded."
        messages.warning(request, "Alarm: " + "; ".join(a.message for a in alarms) + ". Acknowledge it with the action taken.")
        return redirect(reverse("dosing:session", args=[session_id]) + "#alarms")

    return _step(request, actor, session_id, "vitals", form, lambda d: services.vitals_record(
        by=actor, session_id=session_id, systolic=d["systolic"], diastolic=d["diastolic"],
        heart_rate=d["heart_rate"], spo2=d["spo2"], respiratory_rate=d["respiratory_rate"],
        note=d["note"], at=_with_time(session, form),
    ), recorded, "vitals")


@require_POST
@staff_view(Perm.DOSING_RECORD)
def alarm_acknowledge(request: HttpRequest, actor: Actor, alarm_id: int) -> HttpResponse:
    form = forms.AlarmForm(request.POST)
    session_id = selectors.alarm_session_id(by=actor, alarm_id=alarm_id)
    return _step(request, actor, session_id, f"alarm_{alarm_id}", form,
                 lambda d: services.alarm_acknowledge(by=actor, alarm_id=alarm_id, **d),
                 "Alarm acknowledged.", "alarms")


@require_POST
@staff_view(Perm.DOSING_RECORD)
def observation(request: HttpRequest, actor: Actor, session_id: int) -> HttpResponse:
    session = _session(actor, session_id)
    form = forms.ObservationForm(request.POST, cadss_items=_cadss_items())
    return _step(request, actor, session_id, "observation", form, lambda d: services.observation_record(
        by=actor, session_id=session_id, moaas=d["moaas"], respiration_normal=d["respiration_normal"],
        cadss_answers=form.cadss_answers(), note=d["note"], at=_with_time(session, form),
    ), "Observation recorded.", "observations")


@require_POST
@staff_view(Perm.DOSING_RECORD)
def adverse_event(request: HttpRequest, actor: Actor, session_id: int) -> HttpResponse:
    session = _session(actor, session_id)
    form = forms.AdverseEventForm(request.POST)
    return _step(request, actor, session_id, "adverse_event", form, lambda d: services.adverse_event_record(
        by=actor, session_id=session_id, code=d["code"], severity=d["severity"], outcome=d["outcome"],
        serious=d["serious"], onset_at=_at(session, d["onset"]), description=d["description"],
        action_taken=d["action_taken"], antiemetic_drug=d["antiemetic_drug"],
        antiemetic_dose=d["antiemetic_dose"], antiemetic_at=_at(session, d["antiemetic_time"]),
    ), "Adverse event recorded.", "adverse-events")


@require_POST
@staff_view(Perm.DOSING_RECORD)
def discharge(request: HttpRequest, actor: Actor, session_id: int) -> HttpResponse:
    session = _session(actor, session_id)
    form = forms.DischargeForm(request.POST)
    bound: dict[str, Any] = {}

    def discharge_now(d: dict[str, Any]) -> Any:
        try:
            return services.session_discharge(
                by=actor, session_id=session_id, password=d["password"],
                alert_and_oriented=d["alert_and_oriented"], ambulating=d["ambulating"],
                nausea_controlled=d["nausea_controlled"], escort_present=d["escort_present"],
                escort_name=d["escort_name"], escort_phone=d["escort_phone"],
                aftercare_instructions=d["aftercare_instructions"], missed_vitals_reason=d["missed_vitals_reason"],
                at=_with_time(session, form),
            )
        except services.DischargeBlocked as exc:
            # The unmet criteria are listed on the card; the form says only that it is blocked.
            bound["discharge_unmet"] = exc.reasons
            raise ValidationError("Discharge is blocked until every criterion is met.") from None

    return _step(request, actor, session_id, "discharge", form, discharge_now,
                 "Discharged. MEQ-30 and EBI are offered to the patient in the portal.", bound=bound)


@require_POST
@staff_view(Perm.DOSING_RECORD)
def end_without_dose(request: HttpRequest, actor: Actor, session_id: int) -> HttpResponse:
    form = forms.EndForm(request.POST, witnesses=witness_candidates(actor))
    return _step(request, actor, session_id, "end", form, lambda d: services.session_end_without_dose(
        by=actor, session_id=session_id, reason=d["reason"],
        witness_id=d["witness"], witness_password=d["witness_password"],
    ), "The session ended without a dose.")


@staff_view(Perm.DOSING_VIEW)
def pk_overlay(request: HttpRequest, actor: Actor, session_id: int) -> HttpResponse:
    """The predicted curve under the observed vitals, drawn when the clinician opens it."""
    view = selectors.session_view(by=actor, session_id=session_id)
    return TemplateResponse(request, "dosing/_pk_overlay.html", {
        "view": view, "protocol": view.protocol, "pk": selectors.pk_observations(view),
        "patient": view.patient, "session": view.session,
    })


# --- records: the session PDF and the REMS form -----------------------------------------------


# The session record is made by the task worker (ADR 0060): this page shows where it
# stands and polls until it is ready; the PDF link serves the ready copy.
PREPARING = {"queued", "rendering"}


@staff_view(Perm.DOSING_VIEW)
def record(request: HttpRequest, actor: Actor, session_id: int) -> HttpResponse:
    polled = bool(request.headers.get("HX-Request"))
    state = selectors.record_document_state(by=actor, session_id=session_id, audit=not polled)
    if polled:
        known = request.GET.get("known", "")
        if known and (known == state.state or {known, state.state} <= PREPARING):
            return HttpResponse(status=204)  # nothing new: no swap, nothing re-announced
        return TemplateResponse(request, "dosing/_record_status.html", {"state": state})
    return TemplateResponse(request, "dosing/record.html", {"state": state, "session": state.session,
                                                            "patient": state.session.patient})


@require_POST
@staff_view(Perm.DOSING_VIEW)
def record_prepare(request: HttpRequest, actor: Actor, session_id: int) -> HttpResponse:
    services.record_document_request(by=actor, session_id=session_id)
    if request.headers.get("HX-Request"):
        state = selectors.record_document_state(by=actor, session_id=session_id)
        return TemplateResponse(request, "dosing/_record_status.html", {"state": state})
    return redirect("dosing:record", session_id=session_id)


@staff_view(Perm.DOSING_VIEW)
def record_pdf(request: HttpRequest, actor: Actor, session_id: int) -> HttpResponse:
    document = selectors.record_document_download(by=actor, session_id=session_id)
    if document is None or document.content is None:  # none yet, out of date, or on its way: the page says which
        return redirect("dosing:record", session_id=session_id)
    return _pdf_response(bytes(document.content), f"session-{session_id}-record.pdf")


def _pdf_response(pdf: bytes, filename: str) -> HttpResponse:
    response = HttpResponse(pdf, content_type="application/pdf")
    response["Content-Disposition"] = f'inline; filename="{filename}"'
    response["Cache-Control"] = "no-store"
    return response


def _rems_page(request: HttpRequest, actor: Actor, session_id: int, edit: BaseForm | None = None,
               status: int = 200) -> HttpResponse:
    view = selectors.session_view(by=actor, session_id=session_id, chart_facts=True)
    form_row = selectors.rems_form_of(view.session)
    if form_row is None:
        messages.error(request, "This session has no REMS monitoring form (esketamine sessions get one at discharge).")
        return redirect("dosing:session", session_id=session_id)
    # Also after a refused save or submit (.../rems/save/): back to the session, not to "rems".
    declare_parent(request, reverse("dosing:session", args=[session_id]), "the session")
    return TemplateResponse(request, "dosing/rems.html", {
        "view": view, "session": view.session, "patient": view.patient, "chart": view.chart, "form_row": form_row,
        "edit_form": edit or forms.RemsEditForm(instance=form_row, prefix="rems"),
        "submit_form": forms.RemsSubmitForm(prefix="submit"), "missing": form_row.missing,
        "can_record": actor.can(Perm.DOSING_RECORD),
    }, status=status)


@staff_view(Perm.DOSING_VIEW)
def rems(request: HttpRequest, actor: Actor, session_id: int) -> HttpResponse:
    return _rems_page(request, actor, session_id)


@require_POST
@staff_view(Perm.DOSING_RECORD)
def rems_save(request: HttpRequest, actor: Actor, session_id: int) -> HttpResponse:
    instance = selectors.rems_form_in_organization(by=actor, session_id=session_id)
    edit = forms.RemsEditForm(request.POST, instance=instance, prefix="rems")
    if instance is not None and edit.is_valid():
        try:
            services.rems_form_update(by=actor, session_id=session_id,
                                      data={k: edit.cleaned_data[k] for k in services.REMS_EDITABLE})
        except ValidationError as exc:
            apply_errors(edit, exc)
        else:
            messages.success(request, "REMS form saved.")
            return redirect("dosing:rems", session_id=session_id)
    return _rems_page(request, actor, session_id, edit, status=422)


@require_POST
@staff_view(Perm.DOSING_RECORD)
def rems_submit(request: HttpRequest, actor: Actor, session_id: int) -> HttpResponse:
    _session(actor, session_id)
    form = forms.RemsSubmitForm(request.POST, prefix="submit")
    if form.is_valid():
        try:
            services.rems_form_submit(by=actor, session_id=session_id,
                                      submission_reference=form.cleaned_data["submission_reference"])
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
        else:
            messages.success(request, "REMS form marked submitted; its task is closed.")
    return redirect("dosing:rems", session_id=session_id)


@staff_view(Perm.DOSING_VIEW)
def rems_pdf(request: HttpRequest, actor: Actor, session_id: int) -> HttpResponse:
    view = selectors.session_record(by=actor, session_id=session_id)
    form_row = selectors.rems_form_of(view.session)
    if form_row is None:
        messages.error(request, "This session has no REMS monitoring form.")
        return redirect("dosing:session", session_id=session_id)
    return _pdf_response(documents.rems_form_pdf(view, form_row, request=request),
                         f"session-{session_id}-rems-monitoring-form.pdf")


# --- the chart tab ---------------------------------------------------------------------------


@staff_view(Perm.DOSING_VIEW)
def patient_sessions(request: HttpRequest, actor: Actor, patient_id: int) -> HttpResponse:
    patient, sessions, glass = selectors.sessions_of_patient(by=actor, patient_id=patient_id)
    return TemplateResponse(request, "dosing/patient_sessions.html", {
        "patient": patient, "sessions": sessions, "chart": selectors.chart_of(patient, glass),
    })
