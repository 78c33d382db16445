"""Pages of the care pathway: the chart's Pathway tab and its sections, psychotherapy
notes, consent documents, and the patient's side in the portal.

Views parse and render; the services decide and write, the selectors read and audit.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.forms import Form
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from openkap.accounts import selectors as accounts_selectors
from openkap.accounts.authz import Actor
from openkap.audit.models import AuditAction
from openkap.audit.services import audit_record
from openkap.core.authz import Perm, Role
from openkap.core.pathway import CHECKLIST, STATE_LABELS, State, evaluate_checklist
from openkap.core.pathway.notes import NOTE_TEMPLATES
from openkap.core.pathway.plan import (
    DEFAULT_MEASURE_SCHEDULE,
    MEASURE_PHASES,
    SAFETY_PLAN_SECTIONS,
    parse_measure_schedule,
    safety_plan_missing,
)
from openkap.core.protocols import load_example
from openkap.core.routes import ROUTE_LABELS, Route
from openkap.pathway import documents, forms, selectors, services
from openkap.pathway.models import (
    Episode,
    TreatmentPlan,
)
from openkap.patients.documents import pdf_response
from openkap.patients.models import Patient
from openkap.web.decorators import apply_errors, patient_view, staff_view
from openkap.web.paging import page_number

SECTIONS = [
    ("overview", "Summary"),
    ("intake", "Intake"),
    ("checklist", "Contraindications"),
    ("eligibility", "Eligibility"),
    ("plan", "Treatment plan"),
    ("preparation", "Preparation"),
    ("consent", "Consent"),
    ("integration", "Integration"),
    ("reassessment", "Reassessment"),
    ("journal", "Journal"),
]


def _render(
    request: HttpRequest, view: selectors.EpisodeView, template: str, section: str,
    context: dict[str, Any] | None = None, status: int = 200,
) -> TemplateResponse:
    base = {
        "chart": view.chart, "patient": view.patient, "episode": view.episode, "section": section,
        "sections": SECTIONS,
        "state_label": STATE_LABELS[State(view.episode.state)] if view.episode else "",
    }
    return TemplateResponse(request, template, base | (context or {}), status=status)


def _posted(request: HttpRequest) -> int:
    return 422 if request.method == "POST" else 200


def _back(section: str, patient_id: int) -> HttpResponse:
    return redirect(f"pathway:{section}", patient_id=patient_id)


def _error_message(request: HttpRequest, exc: ValidationError) -> None:
    messages.error(request, " ".join(exc.messages))


def _saved(request: HttpRequest, form: Form, save: Callable[[], object], message: str,
           level: int = messages.SUCCESS) -> bool:
    """Call the service for a valid form: True, with ``message``, once it has saved; False
    with its errors beside the form's fields."""
    try:
        save()
    except ValidationError as exc:
        apply_errors(form, exc)
        return False
    messages.add_message(request, level, message)
    return True


# --- the Pathway tab ---------------------------------------------------------------------


@staff_view(Perm.CLINICAL_VIEW)
def worklist(request: HttpRequest, actor: Actor) -> HttpResponse:
    state = request.GET.get("state", "")
    if state not in {s.value for s in State}:
        state = ""
    rows = selectors.episode_worklist(by=actor, state=state)
    states = [(s.value, STATE_LABELS[s]) for s in State if s.value in selectors.OPEN_STATES]
    return TemplateResponse(request, "pathway/worklist.html", {"rows": rows, "state": state, "states": states})


def _overview_context(actor: Actor, episode: Episode | None) -> dict[str, Any]:
    if episode is None:
        return {"can_open": actor.can(Perm.PATIENT_UPDATE)}
    return {
        "overview": selectors.episode_overview(episode),
        "can_transition": actor.can(Perm.PATHWAY_TRANSITION),
    }


@staff_view(Perm.CLINICAL_VIEW)
def overview(request: HttpRequest, actor: Actor, patient_id: int) -> HttpResponse:
    view = selectors.episode_view(by=actor, patient_id=patient_id, part="episode")
    return _render(request, view, "pathway/overview.html", "overview", _overview_context(actor, view.episode))


@require_POST
@staff_view(Perm.CLINICAL_VIEW)
def episode_open(request: HttpRequest, actor: Actor, patient_id: int) -> HttpResponse:
    try:
        services.episode_open(by=actor, patient_id=patient_id)
    except ValidationError as exc:
        _error_message(request, exc)
    else:
        messages.success(request, "Episode of care opened at intake.")
    return _back("overview", patient_id)


@require_POST
@staff_view(Perm.CLINICAL_VIEW)
def transition(request: HttpRequest, actor: Actor, patient_id: int) -> HttpResponse:
    view = selectors.episode_view(by=actor, patient_id=patient_id, part="episode")
    form = forms.TransitionForm(request.POST)
    refusal: list[str] = []
    if view.episode is None:
        refusal = [services.NO_EPISODE]
    elif not form.is_valid():
        refusal = ["Choose a transition."]
    else:
        try:
            episode = services.episode_transition(
                by=actor, episode_id=view.episode.id, name=form.cleaned_data["name"],
                reason=form.cleaned_data["reason"],
            )
        except ValidationError as exc:
            refusal = exc.messages
        else:
            messages.success(request, f"The episode is now at {STATE_LABELS[State(episode.state)]}.")
            return _back("overview", patient_id)
    context = _overview_context(actor, view.episode) | {
        "refusal": refusal, "refused": form.data.get("name", ""),
    }
    return _render(request, view, "pathway/overview.html", "overview", context, status=422)


# --- screening -----------------------------------------------------------------------------


@staff_view(Perm.CLINICAL_VIEW)
def intake(request: HttpRequest, actor: Actor, patient_id: int) -> HttpResponse:
    view = selectors.episode_view(by=actor, patient_id=patient_id, part="intake")
    record = selectors.intake_of(view.episode)
    initial: dict[str, Any] = {"weight_unit": "kg"}
    if record is not None:
        initial |= {name: getattr(record, name) for name in (*services.INTAKE_TEXT_FIELDS,
                    "pregnancy_status", "systolic_bp", "diastolic_bp", "intended_route")}
        initial["diagnoses"] = forms.diagnoses_text(record.diagnoses)
    elif view.episode is not None:
        initial["current_medications"] = view.patient.current_medications
    form = forms.IntakeForm(request.POST or None, initial=initial)
    if request.method == "POST" and view.episode is not None and form.is_valid() and _saved(
        request, form, lambda: services.intake_save(
            by=actor, patient_id=patient_id, data=form.service_data(), complete="complete" in request.POST,
        ), "Intake saved.",
    ):
        return _back("intake", patient_id)
    return _render(request, view, "pathway/intake.html", "intake", {
        "form": form, "intake": record, "can_edit": actor.can(Perm.SCREENING_RECORD),
    }, status=_posted(request))


@staff_view(Perm.CLINICAL_VIEW)
def checklist(request: HttpRequest, actor: Actor, patient_id: int) -> HttpResponse:
    view = selectors.episode_view(by=actor, patient_id=patient_id, part="contraindication_checklist")
    answers = selectors.contraindication_answers_of(view.episode)
    initial = {}
    for item_id, a in answers.items():
        initial[f"item_{item_id}"] = "yes" if a.present else "no"
        initial[f"note_{item_id}"] = a.note
    form = forms.ChecklistForm(request.POST or None, initial=initial)
    if request.method == "POST" and view.episode is not None and form.is_valid():
        try:
            services.checklist_record(by=actor, patient_id=patient_id, answers=form.answers(), notes=form.notes())
        except ValidationError as exc:
            apply_errors(form, exc)
            for item_id, errors in getattr(exc, "message_dict", {}).items():
                if f"item_{item_id}" in form.fields:
                    form.add_error(f"item_{item_id}", errors)
        else:
            messages.success(request, "Checklist saved.")
            return _back("checklist", patient_id)
    snapshot = selectors.episode_snapshot(view.episode) if view.episode else None
    route = snapshot.checklist_route if snapshot else None
    result = evaluate_checklist(snapshot.contraindication_answers, route) if snapshot else None
    intake_record = selectors.intake_of(view.episode)
    rows = [
        {"item": item, "rule": item.rule(route), "answer": form[f"item_{item.id}"],
         "note": form[f"note_{item.id}"], "record": answers.get(item.id)}
        for item in CHECKLIST.items
    ]
    return _render(request, view, "pathway/checklist.html", "checklist", {
        "form": form, "rows": rows, "result": result, "route": route,
        "route_label": ROUTE_LABELS[route] if route else "", "checklist_version": CHECKLIST.version,
        "intake": intake_record, "can_edit": actor.can(Perm.SCREENING_RECORD),
    }, status=_posted(request))


@staff_view(Perm.CLINICAL_VIEW)
def eligibility(request: HttpRequest, actor: Actor, patient_id: int) -> HttpResponse:
    view = selectors.episode_view(by=actor, patient_id=patient_id, part="eligibility")
    snapshot = selectors.episode_snapshot(view.episode) if view.episode else None
    result = (
        evaluate_checklist(snapshot.contraindication_answers, snapshot.checklist_route) if snapshot else None
    )
    form = forms.EligibilityForm(request.POST or None, relative=result.relative if result else ())
    if request.method == "POST" and view.episode is not None and form.is_valid() and _saved(
        request, form, lambda: services.eligibility_sign(
            by=actor, patient_id=patient_id, outcome=form.cleaned_data["outcome"],
            reasons=form.cleaned_data["reasons"], conditions=form.cleaned_data["conditions"],
            justifications=form.justifications(), password=form.cleaned_data["password"],
        ), "Eligibility decision signed.",
    ):
        return _back("eligibility", patient_id)
    decisions = selectors.eligibility_decisions_of(view.episode)
    return _render(request, view, "pathway/eligibility.html", "eligibility", {
        "form": form, "result": result, "decisions": decisions,
        "intake": selectors.intake_of(view.episode),
        "in_force": selectors.eligibility_in_force(view.episode) if view.episode else None,
        "can_sign": actor.can(Perm.PATHWAY_SIGN),
        "at_eligibility": bool(view.episode and view.episode.state == State.ELIGIBILITY),
    }, status=_posted(request))


def _plan_display(plan: TreatmentPlan) -> dict[str, Any]:
    return {
        "plan": plan,
        "protocol_title": load_example(plan.protocol_id).title,
        "measures": parse_measure_schedule(plan.measure_schedule).describe(),
    }


@staff_view(Perm.CLINICAL_VIEW)
def plan(request: HttpRequest, actor: Actor, patient_id: int) -> HttpResponse:
    view = selectors.episode_view(by=actor, patient_id=patient_id, part="treatment_plan")
    current = selectors.plan_in_force(view.episode) if view.episode else None
    # A first plan starts from the clinic's default measures (ticked, for the prescriber to change).
    initial: dict[str, Any] = {"integration_cadence_days": 7} | {
        f"measures_{phase}": list(getattr(DEFAULT_MEASURE_SCHEDULE, phase)) for phase in MEASURE_PHASES}
    if current is not None:
        initial = {name: getattr(current, name) for name in (
            "indication", "route", "protocol_id", "dose_level", "dosing_sessions_planned",
            "integration_cadence_days", "goals")}
        schedule = parse_measure_schedule(current.measure_schedule)
        initial |= {f"measures_{phase}": list(getattr(schedule, phase)) for phase in MEASURE_PHASES}
    elif view.episode is not None:
        intake_record = selectors.intake_of(view.episode)
        if intake_record and intake_record.intended_route:
            initial["route"] = intake_record.intended_route
    form = forms.PlanForm(request.POST or None, initial=initial)
    if request.method == "POST" and view.episode is not None and form.is_valid() and _saved(
        request, form, lambda: services.plan_sign(by=actor, patient_id=patient_id, **form.service_kwargs()),
        "Treatment plan signed.",
    ):
        return _back("plan", patient_id)
    versions = selectors.plans_of(view.episode)
    return _render(request, view, "pathway/plan.html", "plan", {
        "form": form, "current": _plan_display(current) if current else None, "versions": versions,
        "can_sign": actor.can(Perm.PATHWAY_SIGN),
        "plan_open": bool(view.episode and State(view.episode.state) in services.PLAN_STATES),
    }, status=_posted(request))


@staff_view(Perm.CLINICAL_VIEW)
def plan_version(request: HttpRequest, actor: Actor, patient_id: int, version: int) -> HttpResponse:
    view = selectors.episode_view(by=actor, patient_id=patient_id, part="treatment_plan")
    found = selectors.plan_version_of(view.episode, version)
    if found is None:
        raise Http404("No such version of the plan.")
    return _render(request, view, "pathway/plan_version.html", "plan", _plan_display(found))


# --- preparation ---------------------------------------------------------------------------


def _therapists(actor: Actor) -> list[tuple[int, str]]:
    rows = accounts_selectors.colleagues_in_roles(by=actor, roles=[Role.THERAPIST, Role.PRESCRIBER])
    seen: dict[int, str] = {}
    for m in rows:
        seen.setdefault(m.user_id, m.user.full_name)
    ordered = sorted(seen.items(), key=lambda kv: (kv[0] != actor.user.id, kv[1]))
    return ordered


def _preparation_forms(actor: Actor, view: selectors.EpisodeView, data: Any = None, which: str = "") -> dict[str, Any]:
    episode = view.episode
    arrangements = selectors.arrangements_of(episode) if episode else None
    safety = selectors.latest_safety_plan(episode) if episode else None
    bound = {name: (data if name == which else None) for name in
             ("session", "intention", "safety", "escort", "instructions")}
    return {
        "session_form": forms.PreparationSessionForm(
            bound["session"], therapists=_therapists(actor),
            initial={"held_on": timezone.localdate(), "therapist": str(actor.user.id)},
        ),
        "intention_form": forms.IntentionForm(bound["intention"]),
        "safety_form": forms.SafetyPlanForm(bound["safety"], initial=selectors.safety_plan_sections(safety)),
        "escort_form": forms.EscortForm(bound["escort"], initial={
            "name": arrangements.escort_name, "phone": arrangements.escort_phone,
            "relationship": arrangements.escort_relationship,
        } if arrangements else None),
        "instructions_form": forms.InstructionsForm(bound["instructions"], initial={
            "fasting": arrangements.fasting, "medications_to_hold": arrangements.medications_to_hold,
            "what_to_bring": arrangements.what_to_bring,
        } if arrangements else None),
    }


def _preparation_page(request: HttpRequest, actor: Actor, view: selectors.EpisodeView,
                      bound: dict[str, Any] | None = None, status: int = 200) -> TemplateResponse:
    episode = view.episode
    safety = selectors.latest_safety_plan(episode) if episode else None
    sections = selectors.safety_plan_sections(safety)
    context = _preparation_forms(actor, view) | (bound or {}) | {
        "sessions": selectors.preparation_sessions_of(episode),
        "intentions": selectors.intentions_of(episode),
        "safety": safety,
        "safety_sections": [(SAFETY_PLAN_SECTIONS[k], v) for k, v in sections.items()],
        "safety_missing": safety_plan_missing(sections) if episode else [],
        "arrangements": selectors.arrangements_of(episode) if episode else None,
        "can_edit": actor.can(Perm.PREPARATION_RECORD),
    }
    return _render(request, view, "pathway/preparation.html", "preparation", context, status=status)


@staff_view(Perm.CLINICAL_VIEW)
def preparation(request: HttpRequest, actor: Actor, patient_id: int) -> HttpResponse:
    view = selectors.episode_view(by=actor, patient_id=patient_id, part="preparation")
    return _preparation_page(request, actor, view)


def _preparation_post(request: HttpRequest, actor: Actor, patient_id: int, which: str) -> HttpResponse:
    view = selectors.episode_view(by=actor, patient_id=patient_id, part="preparation")
    bound = _preparation_forms(actor, view, request.POST, which)
    form = bound[f"{which}_form" if which != "safety" else "safety_form"]

    def save() -> None:
        d = form.cleaned_data
        if which == "session":
            services.preparation_session_record(
                by=actor, patient_id=patient_id, held_on=d["held_on"], notes=d["notes"],
                therapist_id=int(d["therapist"]),
            )
        elif which == "intention":
            services.intention_add(by=actor, patient_id=patient_id, text=d["text"])
        elif which == "safety":
            services.safety_plan_save(by=actor, patient_id=patient_id, sections=d)
        elif which == "escort":
            services.escort_arrange(by=actor, patient_id=patient_id, **d)
        else:
            services.pre_session_instructions_set(by=actor, patient_id=patient_id, **d)

    if form.is_valid() and _saved(request, form, save, "Saved."):
        return _back("preparation", patient_id)
    return _preparation_page(request, actor, view, bound, status=422)


@require_POST
@staff_view(Perm.CLINICAL_VIEW)
def preparation_session(request: HttpRequest, actor: Actor, patient_id: int) -> HttpResponse:
    return _preparation_post(request, actor, patient_id, "session")


@require_POST
@staff_view(Perm.CLINICAL_VIEW)
def intention_add(request: HttpRequest, actor: Actor, patient_id: int) -> HttpResponse:
    return _preparation_post(request, actor, patient_id, "intention")


@require_POST
@staff_view(Perm.CLINICAL_VIEW)
def safety_plan(request: HttpRequest, actor: Actor, patient_id: int) -> HttpResponse:
    return _preparation_post(request, actor, patient_id, "safety")


@require_POST
@staff_view(Perm.CLINICAL_VIEW)
def escort(request: HttpRequest, actor: Actor, patient_id: int) -> HttpResponse:
    return _preparation_post(request, actor, patient_id, "escort")


@require_POST
@staff_view(Perm.CLINICAL_VIEW)
def instructions(request: HttpRequest, actor: Actor, patient_id: int) -> HttpResponse:
    return _preparation_post(request, actor, patient_id, "instructions")


# --- consent ---------------------------------------------------------------------------------


def _consent_forms(request: HttpRequest, status: selectors.ConsentStatus | None, episode: Episode | None, *,
                   sign: Callable[[str, str], object], withdraw: Callable[[str], object], signed: str,
                   withdrawn: str) -> tuple[Form, Form, bool]:
    """A consent page's two forms, the posted one bound and passed to ``sign`` (typed name,
    document hash) or ``withdraw`` (reason): (sign form, withdraw form, saved)."""
    initial = {"document_sha256": status.text_sha256 if status and status.document else ""}
    form = forms.ConsentSignForm(request.POST or None, initial=initial)
    withdraw_form = forms.WithdrawForm()
    if request.method != "POST" or episode is None:
        return form, withdraw_form, False
    if "withdraw" in request.POST:
        withdraw_form = forms.WithdrawForm(request.POST)
        form = forms.ConsentSignForm(initial=initial)
        saved = withdraw_form.is_valid() and _saved(
            request, withdraw_form, lambda: withdraw(withdraw_form.cleaned_data["reason"]), withdrawn, messages.WARNING,
        )
    else:
        saved = form.is_valid() and _saved(
            request, form, lambda: sign(form.cleaned_data["typed_name"], form.cleaned_data["document_sha256"]), signed,
        )
    return form, withdraw_form, saved


@staff_view(Perm.CLINICAL_VIEW)
def consent(request: HttpRequest, actor: Actor, patient_id: int) -> HttpResponse:
    view = selectors.episode_view(by=actor, patient_id=patient_id, part="consent")
    status = selectors.consent_status(view.episode) if view.episode else None
    document = status.document if status else None
    form, withdraw_form, saved = _consent_forms(
        request, status, view.episode,
        sign=lambda typed_name, sha256: services.consent_sign_in_clinic(
            by=actor, patient_id=patient_id, typed_name=typed_name, document_sha256=sha256),
        withdraw=lambda reason: services.consent_withdraw(by=actor, patient_id=patient_id, reason=reason),
        signed="Consent signed.", withdrawn="Consent withdrawal recorded: no dosing until the patient signs again.",
    )
    if saved:
        return _back("consent", patient_id)
    signatures = selectors.consent_signatures_of(view.episode)
    return _render(request, view, "pathway/consent.html", "consent", {
        "status": status, "document": document, "form": form, "withdraw_form": withdraw_form,
        "signatures": signatures, "can_record": actor.can(Perm.CONSENT_RECORD),
        "route_label": ROUTE_LABELS[status.route] if status and status.route else "",
    }, status=_posted(request))


@require_GET
@staff_view(Perm.CLINICAL_VIEW)
def consent_copy_pdf(request: HttpRequest, actor: Actor, patient_id: int) -> HttpResponse:
    """The patient's copy of the consent they signed, in their language, to hand over."""
    return pdf_response(*documents.consent_copy_pdf(by=actor, patient_id=patient_id))


@require_GET
@staff_view(Perm.CLINICAL_VIEW)
def safety_plan_pdf(request: HttpRequest, actor: Actor, patient_id: int) -> HttpResponse:
    return pdf_response(*documents.safety_plan_pdf(by=actor, patient_id=patient_id))


@staff_view(Perm.CONSENT_MANAGE)
def consent_documents(request: HttpRequest, actor: Actor) -> HttpResponse:
    documents = selectors.consent_documents(by=actor)
    in_force: dict[str, int] = {}
    for d in documents:
        in_force.setdefault(d.route, d.id)
    return TemplateResponse(request, "pathway/consent_documents.html", {
        "documents": documents, "in_force": set(in_force.values()),
        "missing_routes": [ROUTE_LABELS[r] for r in Route if r.value not in in_force],
    })


@staff_view(Perm.CONSENT_MANAGE)
def consent_document_new(request: HttpRequest, actor: Actor) -> HttpResponse:
    initial: dict[str, Any] = {}
    base = request.GET.get("from", "")
    if base.isdigit() and len(base) <= 18:
        source = selectors.consent_document_of(by=actor, document_id=int(base))
        if source is not None:
            initial = {"route": source.route, "title": source.title, "text": source.text}
    form = forms.ConsentDocumentForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            document = services.consent_document_publish(by=actor, **form.cleaned_data)
        except ValidationError as exc:
            apply_errors(form, exc)
        else:
            messages.success(request, f"Version {document.version} published: patients must sign it before their next dosing session.")
            return redirect("pathway:consent_documents")
    return TemplateResponse(request, "pathway/consent_document_form.html", {"form": form}, status=_posted(request))


@staff_view(Perm.CONSENT_MANAGE)
def consent_document(request: HttpRequest, actor: Actor, document_id: int) -> HttpResponse:
    document = selectors.consent_document_of(by=actor, document_id=document_id)
    if document is None:
        raise Http404("No such consent document.")
    return TemplateResponse(request, "pathway/consent_document.html", {
        "document": document, "signed": selectors.signature_count(document),
    })


# --- integration and reassessment ---------------------------------------------------------


def _dosing_choices(episode: Episode | None) -> list[tuple[int, str]]:
    if episode is None:
        return []
    return [
        (s.id, f"{s.dosed_on:%Y-%m-%d} (session {n})")
        for n, s in enumerate(selectors.held_dosing_sessions(episode), start=1)
    ]


@staff_view(Perm.CLINICAL_VIEW)
def integration(request: HttpRequest, actor: Actor, patient_id: int) -> HttpResponse:
    view = selectors.episode_view(by=actor, patient_id=patient_id, part="integration")
    key = request.POST.get("template") or request.GET.get("template") or "soap"
    template = NOTE_TEMPLATES.get(key, NOTE_TEMPLATES["soap"])
    choices = _dosing_choices(view.episode)
    due = selectors.integration_due(view.episode) if view.episode else []
    default_session = next((int(d.session_id) for d in due), None)
    form = forms.IntegrationNoteForm(
        request.POST or None, template=template, sessions=choices,
        initial={"session_date": timezone.localdate(), "dosing_session": str(default_session or "")},
    )
    if request.method == "POST" and view.episode is not None and form.is_valid() and _saved(
        request, form, lambda: services.integration_note_write(
            by=actor, patient_id=patient_id, session_date=form.cleaned_data["session_date"],
            template=template.key, sections=form.sections(),
            dosing_session_id=int(form.cleaned_data["dosing_session"]) if form.cleaned_data["dosing_session"] else None,
        ), "Integration note saved.",
    ):
        return _back("integration", patient_id)
    notes = selectors.integration_notes_of(view.episode)
    rows = [
        {"note": n, "template": NOTE_TEMPLATES.get(n.template),
         "sections": [(s.label, n.sections.get(s.key, "")) for s in NOTE_TEMPLATES[n.template].sections
                      if n.sections.get(s.key)] if n.template in NOTE_TEMPLATES else []}
        for n in notes
    ]
    return _render(request, view, "pathway/integration.html", "integration", {
        "form": form, "template": template, "templates": list(NOTE_TEMPLATES.values()), "rows": rows,
        "due": due, "window": selectors.integration_window_days(view.episode) if view.episode else 7,
        "can_write": actor.can(Perm.NOTE_WRITE), "dosing_sessions": choices,
    }, status=_posted(request))


@staff_view(Perm.CLINICAL_VIEW)
def reassessment(request: HttpRequest, actor: Actor, patient_id: int) -> HttpResponse:
    view = selectors.episode_view(by=actor, patient_id=patient_id, part="reassessment")
    form = forms.ReassessmentForm(request.POST or None)
    if request.method == "POST" and view.episode is not None and form.is_valid() and _saved(
        request, form, lambda: services.reassessment_sign(by=actor, patient_id=patient_id, **form.cleaned_data),
        "Reassessment signed.",
    ):
        return _back("reassessment", patient_id)
    reviews = selectors.reassessments_of(view.episode)
    return _render(request, view, "pathway/reassessment.html", "reassessment", {
        "form": form, "reviews": reviews, "can_sign": actor.can(Perm.PATHWAY_SIGN),
        "at_reassessment": bool(view.episode and view.episode.state == State.REASSESSMENT),
    }, status=_posted(request))


@staff_view(Perm.CLINICAL_VIEW)
def journal(request: HttpRequest, actor: Actor, patient_id: int) -> HttpResponse:
    view = selectors.episode_view(by=actor, patient_id=patient_id, part="journal")
    entries, commitments = selectors.journal_of(view.patient, page_number(request))
    days = selectors.recent_days()
    return _render(request, view, "pathway/journal.html", "journal", {
        "entries": entries, "days": days, "commitments": _commitment_rows(commitments, days),
    })


def _commitment_rows(commitments: list[Any], days: list[Any]) -> list[dict[str, Any]]:
    rows = []
    for c in commitments:
        done = {check.done_on for check in c.checks.all()}
        rows.append({"commitment": c, "ticks": [(d, d in done) for d in days],
                     "count": sum(1 for d in days if d in done), "today": timezone.localdate() in done})
    return rows


# --- psychotherapy notes ----------------------------------------------------------------------


def _colleagues(actor: Actor) -> list[tuple[int, str]]:
    return [(uid, name) for uid, name in _therapists(actor) if uid != actor.user.id]


@staff_view(Perm.PSYCHOTHERAPY_NOTES)
def psychotherapy_notes(request: HttpRequest, actor: Actor, patient_id: int) -> HttpResponse:
    view = selectors.episode_view(by=actor, patient_id=patient_id, part="psychotherapy_note_list")
    form = forms.PsychotherapyNoteForm(request.POST or None, initial={"session_date": timezone.localdate()})
    if request.method == "POST" and form.is_valid():
        try:
            note = services.psychotherapy_note_write(by=actor, patient_id=patient_id, **form.cleaned_data)
        except ValidationError as exc:
            apply_errors(form, exc)
        else:
            messages.success(request, "Psychotherapy note saved (encrypted).")
            return redirect("pathway:psychotherapy_note", patient_id=patient_id, note_id=note.id)
    notes = list(selectors.psychotherapy_notes_visible(actor, view.patient))
    return _render(request, view, "pathway/psychotherapy_notes.html", "psychotherapy", {
        "form": form, "notes": notes,
    }, status=_posted(request))


@staff_view(Perm.PSYCHOTHERAPY_NOTES)
def psychotherapy_note(request: HttpRequest, actor: Actor, patient_id: int, note_id: int) -> HttpResponse:
    view = selectors.episode_view(by=actor, patient_id=patient_id, part="psychotherapy_note_list")
    note, text = selectors.psychotherapy_note_read(by=actor, patient_id=patient_id, note_id=note_id)
    is_author = note.author_id == actor.user.id
    return _render(request, view, "pathway/psychotherapy_note.html", "psychotherapy", {
        "note": note, "text": text, "is_author": is_author,
        "grants": selectors.note_grants_of(note) if is_author else [],
        "grant_form": forms.GrantForm(colleagues=_colleagues(actor)) if is_author else None,
    })


@require_POST
@staff_view(Perm.PSYCHOTHERAPY_NOTES)
def psychotherapy_note_grant(request: HttpRequest, actor: Actor, patient_id: int, note_id: int) -> HttpResponse:
    form = forms.GrantForm(request.POST, colleagues=_colleagues(actor))
    # An unchosen colleague still goes through the service, which first checks the note is
    # the actor's own, so nothing is said about notes of others.
    user_id = int(form.cleaned_data["user"]) if form.is_valid() else 0
    try:
        services.psychotherapy_note_grant(by=actor, patient_id=patient_id, note_id=note_id, user_id=user_id)
    except ValidationError as exc:
        _error_message(request, exc)
    else:
        messages.success(request, "Shared. Every read is logged.")
    return redirect("pathway:psychotherapy_note", patient_id=patient_id, note_id=note_id)


@require_POST
@staff_view(Perm.PSYCHOTHERAPY_NOTES)
def psychotherapy_note_revoke(request: HttpRequest, actor: Actor, patient_id: int, note_id: int, user_id: int) -> HttpResponse:
    services.psychotherapy_note_revoke(by=actor, patient_id=patient_id, note_id=note_id, user_id=user_id)
    messages.success(request, "Access withdrawn.")
    return redirect("pathway:psychotherapy_note", patient_id=patient_id, note_id=note_id)


# --- the patient's side (portal) ----------------------------------------------------------------


def _portal_episode(patient: Patient) -> Episode | None:
    return selectors.current_episode(patient)


def _portal_audit(actor: Actor, patient: Patient, part: str) -> None:
    audit_record(by=actor, action=AuditAction.VIEW, object_type=part, patient_id=patient.id)


@patient_view
def portal_care(request: HttpRequest, actor: Actor, patient: Patient) -> HttpResponse:
    episode = _portal_episode(patient)
    _portal_audit(actor, patient, "portal_care")
    status = selectors.consent_status(episode) if episode else None
    safety = selectors.latest_safety_plan(episode) if episode else None
    sections = selectors.safety_plan_sections(safety)
    return TemplateResponse(request, "pathway/portal_care.html", {
        "patient": patient, "episode": episode,
        "intentions": selectors.intentions_of(episode),
        "intention_form": forms.IntentionForm(),
        "consent": status,
        "instructions": selectors.pre_session_instructions(episode) if episode else None,
        "safety": safety,
        "safety_sections": documents.safety_plan_rows(sections),
        "organization": actor.organization,
    })


def _portal_line(request: HttpRequest, form: Form, add: Callable[[str], object], *, saved: str, invalid: str,
                 page: str) -> HttpResponse:
    """A line of text the patient adds from a portal page (an intention, a practice); the
    outcome is a message on that page."""
    if form.is_valid():
        try:
            add(form.cleaned_data["text"])
        except ValidationError as exc:
            _error_message(request, exc)
        else:
            messages.success(request, saved)
    else:
        messages.error(request, invalid)
    return redirect(page)


@require_POST
@patient_view
def portal_intention(request: HttpRequest, actor: Actor, patient: Patient) -> HttpResponse:
    return _portal_line(request, forms.IntentionForm(request.POST),
                        lambda text: services.portal_intention_add(by=actor, text=text),
                        saved=_("Your intention is saved. Your therapist will see it."),
                        invalid=_("Write your intention first."), page="pathway:portal_care")


@patient_view
def portal_consent(request: HttpRequest, actor: Actor, patient: Patient) -> HttpResponse:
    episode = _portal_episode(patient)
    _portal_audit(actor, patient, "portal_consent")
    status = selectors.consent_status(episode) if episode else None
    document = status.document if status else None
    form, withdraw_form, saved = _consent_forms(
        request, status, episode,
        sign=lambda typed_name, sha256: services.portal_consent_sign(
            by=actor, typed_name=typed_name, document_sha256=sha256),
        withdraw=lambda reason: services.portal_consent_withdraw(by=actor, reason=reason),
        signed=_("Thank you: your consent is signed."),
        withdrawn=_("Your withdrawal of consent is recorded. Your care team will be in touch."),
    )
    if saved:
        return redirect("pathway:portal_consent")
    return TemplateResponse(request, "pathway/portal_consent.html", {
        "patient": patient, "episode": episode, "status": status, "document": document,
        "form": form, "withdraw_form": withdraw_form,
    }, status=_posted(request))


@require_GET
@patient_view
def portal_consent_pdf(request: HttpRequest, actor: Actor, patient: Patient) -> HttpResponse:
    return pdf_response(*documents.consent_copy_pdf(by=actor))


@require_GET
@patient_view
def portal_safety_plan_pdf(request: HttpRequest, actor: Actor, patient: Patient) -> HttpResponse:
    return pdf_response(*documents.safety_plan_pdf(by=actor))


@patient_view
def portal_journal(request: HttpRequest, actor: Actor, patient: Patient) -> HttpResponse:
    form = forms.JournalForm(request.POST or None)
    if request.method == "POST" and form.is_valid() and _saved(
        request, form, lambda: services.journal_write(by=actor, text=form.cleaned_data["text"]),
        _("Saved to your journal."),
    ):
        return redirect("pathway:portal_journal")
    _portal_audit(actor, patient, "portal_journal")
    entries, commitments = selectors.journal_of(patient, page_number(request))
    days = selectors.recent_days(7)
    return TemplateResponse(request, "pathway/portal_journal.html", {
        "patient": patient, "form": form, "entries": entries,
        "commitment_form": forms.CommitmentForm(), "days": days,
        "commitments": [r for r in _commitment_rows(commitments, days) if r["commitment"].ended_at is None],
    }, status=_posted(request))


@require_POST
@patient_view
def portal_commitment(request: HttpRequest, actor: Actor, patient: Patient) -> HttpResponse:
    return _portal_line(request, forms.CommitmentForm(request.POST),
                        lambda text: services.commitment_add(by=actor, text=text),
                        saved=_("Practice added. Tick it off on the days you do it."),
                        invalid=_("Describe the practice (up to 200 characters)."), page="pathway:portal_journal")


@require_POST
@patient_view
def portal_commitment_tick(request: HttpRequest, actor: Actor, patient: Patient, commitment_id: int) -> HttpResponse:
    try:
        services.commitment_tick(by=actor, commitment_id=commitment_id, done=request.POST.get("done") != "0")
    except ValidationError as exc:
        _error_message(request, exc)
    return redirect("pathway:portal_journal")


@require_POST
@patient_view
def portal_commitment_end(request: HttpRequest, actor: Actor, patient: Patient, commitment_id: int) -> HttpResponse:
    services.commitment_end(by=actor, commitment_id=commitment_id)
    messages.success(request, _("Practice ended. Well done for trying it."))
    return redirect("pathway:portal_journal")
