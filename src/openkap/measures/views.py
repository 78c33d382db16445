from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, time
from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext
from django.views.decorators.http import require_POST

from openkap.accounts.authz import Actor
from openkap.accounts.middleware import client_ip
from openkap.core.authz import Perm
from openkap.core.instruments import (
    Instrument,
    Licence,
    Rater,
    ScoringError,
    all_instruments,
    presentation,
    safety_flags,
)
from openkap.core.instruments.translations import has_wording, localized
from openkap.measures import flow, licensed, selectors, services
from openkap.measures.forms import (
    AnswerForm,
    AssignForm,
    CancelForm,
    LinkForm,
    PlanForm,
    ResponseEntryForm,
    WordingForm,
)
from openkap.measures.models import (
    MeasureAssignment,
    MeasureResponse,
    Occasion,
)
from openkap.pathway.selectors import current_episode
from openkap.patients import selectors as patient_selectors
from openkap.patients.models import Patient
from openkap.web.decorators import apply_errors, patient_view, staff_view


def _own_response(patient_id: int, response_id: int, actor: Actor) -> MeasureResponse:
    if not selectors.response_in_chart(by=actor, patient_id=patient_id, response_id=response_id):
        patient_selectors.patient_in_organization(actor, patient_id)
        raise Http404("No such response for this patient.")
    return selectors.response_get(by=actor, response_id=response_id)


# --- the chart's Measures tab ---------------------------------------------------------------


@staff_view(Perm.MEASURE_VIEW)
def patient_measures(request: HttpRequest, actor: Actor, patient_id: int) -> HttpResponse:
    overview = selectors.measures_overview(by=actor, patient_id=patient_id)
    chart = patient_selectors.chart_header(by=actor, patient=overview.patient, via_break_glass=overview.via_break_glass)
    org_id = actor.organization.id
    instruments = licensed.instruments_for(
        org_id, [i.id for i in all_instruments()] + [a.instrument_id for a in overview.open_assignments])
    enterable = [instruments[i.id] for i in all_instruments()]
    linkable = {
        a.id for a in overview.open_assignments if presentation.patient_can_complete(instruments[a.instrument_id])
    }
    return TemplateResponse(
        request,
        "measures/patient_measures.html",
        {
            "chart": chart,
            "patient": chart.patient,
            "overview": overview,
            "open_safety_tasks": overview.safety_tasks,
            "now": timezone.now(),
            "enterable": enterable,
            "linkable": linkable,
            "assign_form": AssignForm(),
            "link_form": LinkForm(),
            "can_enter": actor.can(Perm.MEASURE_ENTER),
            "can_assign": actor.can(Perm.MEASURE_ASSIGN),
            "occasions": dict(Occasion.choices),
        },
    )


@staff_view(Perm.MEASURE_ENTER)
def response_entry(request: HttpRequest, actor: Actor, patient_id: int, instrument_id: str) -> HttpResponse:
    patient = patient_selectors.patient_get(by=actor, patient_id=patient_id)
    try:
        instrument = licensed.instrument_for(actor.organization.id, instrument_id)
    except ValidationError as exc:
        raise Http404("No such questionnaire.") from exc
    assignment = _query_assignment(request, patient)
    corrects = _query_corrects(request, patient, actor)
    form = ResponseEntryForm(
        request.POST or None, instrument=instrument, correcting=corrects is not None,
        fixed_occasion=assignment is not None,
        initial=_initial_answers(corrects) if corrects is not None else None,
    )
    if request.method == "POST" and form.is_valid():
        try:
            response = services.response_enter(
                by=actor, patient_id=patient.id, instrument_id=instrument.id, answers=form.answers(),
                supplementary=form.supplementary(),
                assignment_id=assignment.id if assignment else None,
                occasion=form.cleaned_data.get("occasion") or None,
                completed_at=form.cleaned_data.get("completed_at"),
                allow_incomplete=form.cleaned_data.get("allow_incomplete", False),
                corrects_id=corrects.id if corrects else None,
                correction_reason=form.cleaned_data.get("correction_reason", ""),
            )
        except ValidationError as exc:
            apply_errors(form, exc)
        else:
            _announce(request, response, instrument)
            return redirect("measures:response", patient_id=patient.id, response_id=response.id)
    return TemplateResponse(
        request,
        "measures/response_entry.html",
        {
            "patient": patient, "instrument": instrument, "form": form, "assignment": assignment,
            "corrects": corrects, "on_behalf": instrument.rater is Rater.SELF_REPORT,
        },
        status=422 if request.method == "POST" else 200,
    )


def _announce(request: HttpRequest, response: MeasureResponse, instrument: Instrument) -> None:
    if response.has_safety_flag:
        messages.error(
            request,
            f"Safety flag on {instrument.short_name}: an urgent task was raised for the care team. "
            "Follow the clinic's suicide-risk protocol now.",
        )
    elif response.is_scored:
        messages.success(request, f"{instrument.short_name} recorded.")
    else:
        messages.warning(request, f"{instrument.short_name} recorded as incomplete (not scored).")


def _query_id(request: HttpRequest, name: str) -> int | None:
    raw = request.GET.get(name, "")
    if not raw:
        return None
    if not raw.isdigit() or len(raw) > 18:
        raise Http404(f"Bad {name}.")
    return int(raw)


def _query_assignment(request: HttpRequest, patient: Patient) -> MeasureAssignment | None:
    assignment_id = _query_id(request, "assignment")
    if assignment_id is None:
        return None
    assignment = selectors.assignment_of(patient, assignment_id)
    if assignment is None:
        raise Http404("No such measure for this patient.")
    return assignment


def _query_corrects(request: HttpRequest, patient: Patient, actor: Actor) -> MeasureResponse | None:
    response_id = _query_id(request, "corrects")
    if response_id is None:
        return None
    return _own_response(patient.id, response_id, actor)


def _initial_answers(response: MeasureResponse) -> dict[str, Any]:
    initial: dict[str, Any] = {f"item_{k}": v for k, v in response.answers.items() if v is not None}
    initial |= {f"extra_{k}": v for k, v in response.supplementary.items() if v is not None}
    initial["completed_at"] = timezone.localtime(response.completed_at)
    return initial


@staff_view(Perm.MEASURE_VIEW)
def response_detail(request: HttpRequest, actor: Actor, patient_id: int, response_id: int) -> HttpResponse:
    response = _own_response(patient_id, response_id, actor)
    instrument = licensed.instrument_for(actor.organization.id, response.instrument_id)
    labels = {}
    for item in (*instrument.items, *instrument.supplementary_items):
        labels[item.id] = {o.value: o.label for o in item.scale.options}
    rows = [
        (n, presentation.item_wording(item), response.answers.get(item.id), labels[item.id].get(response.answers.get(item.id)))
        for n, item in enumerate(instrument.items, 1)
    ]
    extra_rows = [
        (presentation.item_wording(item), response.supplementary.get(item.id), labels[item.id].get(response.supplementary.get(item.id)))
        for item in instrument.supplementary_items if item.id in response.supplementary
    ]
    correction = selectors.correction_of(response)
    return TemplateResponse(
        request,
        "measures/response_detail.html",
        {
            "patient": response.patient, "response": response, "instrument": instrument, "rows": rows,
            "extra_rows": extra_rows, "correction": correction,
            "can_correct": correction is None and actor.can(Perm.MEASURE_ENTER),
            "tasks": selectors.tasks_for_response(response),
        },
    )


@require_POST
@staff_view(Perm.MEASURE_ASSIGN)
def assign(request: HttpRequest, actor: Actor, patient_id: int) -> HttpResponse:
    form = AssignForm(request.POST)
    if form.is_valid():
        due_on = form.cleaned_data.get("due_on")
        due_at = None
        if due_on is not None and due_on > timezone.localdate():
            due_at = timezone.make_aware(datetime.combine(due_on, time(8, 0)))
        try:
            assignment = services.measure_assign(
                by=actor, patient_id=patient_id, instrument_id=form.cleaned_data["instrument_id"], due_at=due_at
            )
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
        else:
            name = licensed.instrument_for(actor.organization.id, assignment.instrument_id).short_name
            messages.success(request, f"{name} assigned.")
    else:
        patient_selectors.patient_in_organization(actor, patient_id)
        messages.error(request, "Choose a questionnaire and a valid date.")
    return redirect("measures:patient", patient_id=patient_id)


@staff_view(Perm.MEASURE_ASSIGN)
def plan_edit(request: HttpRequest, actor: Actor, patient_id: int) -> HttpResponse:
    patient = patient_selectors.patient_get(by=actor, patient_id=patient_id)
    episode = current_episode(patient)
    if episode is None:
        messages.error(request, "The patient has no open episode of care, so there is no schedule to edit.")
        return redirect("measures:patient", patient_id=patient_id)
    initial = {o: sorted(selectors.planned_instruments(episode, o)) for o in PlanForm().fields}
    form = PlanForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            services.measure_plan_update(by=actor, episode_id=episode.id, plan=form.cleaned_data)
        except ValidationError as exc:
            apply_errors(form, exc)
        else:
            messages.success(request, "Measure schedule saved.")
            return redirect("measures:patient", patient_id=patient_id)
    return TemplateResponse(request, "measures/plan_edit.html", {"patient": patient, "form": form, "episode": episode})


def _staff_assignment_of(actor: Actor, patient_id: int, assignment_id: int) -> None:
    if not selectors.assignment_in_chart(by=actor, patient_id=patient_id, assignment_id=assignment_id):
        patient_selectors.patient_in_organization(actor, patient_id)
        raise Http404("No such measure for this patient.")


@require_POST
@staff_view(Perm.MEASURE_ASSIGN)
def link_create(request: HttpRequest, actor: Actor, patient_id: int, assignment_id: int) -> HttpResponse:
    _staff_assignment_of(actor, patient_id, assignment_id)
    form = LinkForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Choose how many days the link is valid (1 to 30).")
        return redirect("measures:patient", patient_id=patient_id)
    try:
        link, raw = services.link_create(
            by=actor, assignment_id=assignment_id, days=form.cleaned_data["days"],
            send_email=form.cleaned_data["send_email"],
        )
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
        return redirect("measures:patient", patient_id=patient_id)
    return TemplateResponse(
        request, "measures/link_created.html",
        {"patient": link.assignment.patient, "link": link, "url": selectors.link_url(raw),
         "emailed": form.cleaned_data["send_email"]},
    )


@require_POST
@staff_view(Perm.MEASURE_ASSIGN)
def assignment_cancel(request: HttpRequest, actor: Actor, patient_id: int, assignment_id: int) -> HttpResponse:
    _staff_assignment_of(actor, patient_id, assignment_id)
    form = CancelForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Give a reason for cancelling.")
    else:
        try:
            services.assignment_cancel(by=actor, assignment_id=assignment_id, reason=form.cleaned_data["reason"])
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
        else:
            messages.success(request, "Measure cancelled.")
    return redirect("measures:patient", patient_id=patient_id)


# --- licensed wording -----------------------------------------------------------------------


def _needs_wording() -> list[Instrument]:
    return [
        i for i in all_instruments()
        if i.licence is Licence.PERMISSION_REQUIRED or not all(item.text for item in i.items)
    ]


@staff_view(Perm.MEASURE_WORDING_MANAGE)
def wording_list(request: HttpRequest, actor: Actor) -> HttpResponse:
    loaded = selectors.licensed_wordings(by=actor)
    rows = [(i, loaded.get(i.id), len(loaded[i.id].texts) if i.id in loaded else 0) for i in _needs_wording()]
    return TemplateResponse(request, "measures/wording_list.html", {"rows": rows})


@staff_view(Perm.MEASURE_WORDING_MANAGE)
def wording_edit(request: HttpRequest, actor: Actor, instrument_id: str) -> HttpResponse:
    instrument = next((i for i in _needs_wording() if i.id == instrument_id), None)
    if instrument is None:
        raise Http404("No licensed wording for this instrument.")
    current = selectors.licensed_wordings(by=actor).get(instrument.id)
    initial: dict[str, Any] = {}
    if current is not None:
        initial = {f"text_{k}": v for k, v in current.texts.items()} | {"licence_reference": current.licence_reference}
    form = WordingForm(request.POST or None, instrument=instrument, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            services.licensed_wording_save(
                by=actor, instrument_id=instrument.id, texts=form.texts(),
                licence_reference=form.cleaned_data["licence_reference"],
            )
        except ValidationError as exc:
            apply_errors(form, exc)
        else:
            messages.success(request, f"Wording of {instrument.short_name} saved.")
            return redirect("measures:wording_list")
    return TemplateResponse(request, "measures/wording_edit.html", {"instrument": instrument, "form": form, "current": current})


# --- the patient's questionnaires: portal and link ------------------------------------------


def _flags_so_far(instrument: Instrument, answers: dict[str, Any]) -> bool:
    try:
        return bool(safety_flags(instrument, presentation.given_so_far(instrument, answers)))
    except ScoringError:
        return False


def _questionnaire(
    request: HttpRequest,
    *,
    assignment: MeasureAssignment,
    instrument: Instrument,
    here: str,
    save: Callable[[dict[str, Any], dict[str, Any]], object],
    submit: Callable[[], MeasureResponse],
    submitted: Callable[[MeasureResponse], HttpResponse],
    context: dict[str, Any],
) -> HttpResponse:
    """One item per screen with save and resume; the same for the portal and a link.
    Shown in the reader's language where a validated translation exists, else English."""
    language = (translation.get_language() or "en")[:2]
    english_only = not has_wording(instrument.id, language)
    instrument = localized(instrument, language)
    draft = selectors.draft_of(assignment)
    answers = dict(draft.answers) if draft else {}
    extra = dict(draft.supplementary) if draft else {}
    requested = request.POST.get("step") or request.GET.get("step")
    step = flow.current_step(instrument, answers, extra, requested)
    error = ""
    if request.method == "POST":
        action = request.POST.get("action", "next")
        if action == "back" and step.previous:
            return redirect(f"{here}?step={step.previous}")
        if action == "submit" and step.kind == flow.REVIEW:
            try:
                response = submit()
            except ValidationError as exc:
                error = " ".join(exc.messages)
            else:
                return submitted(response)
        elif step.item is not None and requested == step.id:
            value = request.POST.get("answer", "")
            if action == "skip" and step.skippable:
                value = ""
            if value == "" and not (action == "skip" and step.skippable):
                error = gettext("Choose an answer to go on.")
            else:
                try:
                    if step.kind == "item":
                        save({step.item.id: value}, {})
                    else:
                        save({}, {step.item.id: value})
                except ValidationError as exc:
                    error = " ".join(exc.messages)
                else:
                    return redirect(here)
    form = None
    if step.item is not None:
        saved = answers if step.kind == "item" else extra
        saved_value = saved.get(step.item.id)
        form = AnswerForm(item=step.item, initial={"answer": str(saved_value)} if saved_value is not None else {})
    review = []
    if step.kind == flow.REVIEW:
        for n, item in enumerate(flow.asked_items(instrument, answers), 1):
            labels = {o.value: o.label for o in item.scale.options}
            given = answers.get(item.id)
            review.append((n, item.id, presentation.item_wording(item), given, labels.get(given, given)))
    return TemplateResponse(
        request,
        "measures/fill.html",
        {
            **context,
            "assignment": assignment,
            "instrument": instrument,
            "step": step,
            "form": form,
            "wording": presentation.item_wording(step.item) if step.item is not None else "",
            "error": error,
            "review": review,
            "here": here,
            "show_crisis": _flags_so_far(instrument, answers),
            "english_only": english_only,
        },
        status=422 if error else 200,
    )


@patient_view
def portal_list(request: HttpRequest, actor: Actor, patient: Patient) -> HttpResponse:
    items = selectors.portal_questionnaires(by=actor)
    return TemplateResponse(request, "measures/portal_list.html", {"items": items, "organization": actor.organization})


@patient_view
def portal_fill(request: HttpRequest, actor: Actor, patient: Patient, assignment_id: int) -> HttpResponse:
    assignment, instrument = selectors.portal_assignment(by=actor, assignment_id=assignment_id)
    if not assignment.is_open:
        done = assignment.responses.order_by("-id").first()
        if done is not None and done.via != "link":
            return redirect("measures:portal_done", response_id=done.id)
        messages.info(request, gettext("That questionnaire is no longer open."))
        return redirect("measures:portal")
    here = reverse("measures:portal_fill", args=[assignment.id])
    return _questionnaire(
        request, assignment=assignment, instrument=instrument, here=here,
        save=lambda a, e: services.portal_answer(by=actor, assignment_id=assignment.id, answers=a, supplementary=e),
        submit=lambda: services.portal_submit(by=actor, assignment_id=assignment.id),
        submitted=lambda r: redirect("measures:portal_done", response_id=r.id),
        context={"organization": actor.organization, "portal": True},
    )


@patient_view
def portal_done(request: HttpRequest, actor: Actor, patient: Patient, response_id: int) -> HttpResponse:
    response = selectors.portal_response(by=actor, response_id=response_id)
    instrument = licensed.instrument_for(actor.organization.id, response.instrument_id)
    return TemplateResponse(
        request, "measures/done.html",
        {"organization": actor.organization, "response": response, "instrument": instrument, "portal": True,
         "remaining": selectors.portal_questionnaires(by=actor)},
    )


def _private(response: HttpResponse) -> HttpResponse:
    # The token is in the URL: no caching, no referrer, no indexing.
    response["Cache-Control"] = "no-store"
    response["Referrer-Policy"] = "no-referrer"
    response["X-Robots-Tag"] = "noindex, nofollow"
    return response


def link_fill(request: HttpRequest, token: str) -> HttpResponse:
    """A single-use link: no login, one questionnaire, nothing else reachable."""
    ip, agent = client_ip(request), request.META.get("HTTP_USER_AGENT", "")[:400]
    try:
        _link, assignment, instrument = services.link_open(token)
    except services.LinkRefused as refused:
        return _private(TemplateResponse(
            request, "measures/link_refused.html",
            {"reason": refused.reason, "organization": refused.organization},
            status=404 if refused.reason == "unknown" else 410,
        ))
    here = reverse("measures:link", args=[token])
    organization = assignment.organization
    # No one is signed in: the link speaks the language stored on the patient's record.
    translation.activate(assignment.patient.preferred_language)

    def submitted(response: MeasureResponse) -> HttpResponse:
        return TemplateResponse(
            request, "measures/done.html",
            {"organization": organization, "response": response, "instrument": instrument, "portal": False},
        )

    def save(answers: dict[str, Any], extra: dict[str, Any]) -> object:
        return services.link_answer(raw=token, answers=answers, supplementary=extra, ip=ip, user_agent=agent)

    try:
        response = _questionnaire(
            request, assignment=assignment, instrument=instrument, here=here, save=save,
            submit=lambda: services.link_submit(raw=token, ip=ip, user_agent=agent),
            submitted=submitted, context={"organization": organization, "portal": False},
        )
    except services.LinkRefused as refused:
        response = TemplateResponse(
            request, "measures/link_refused.html",
            {"reason": refused.reason, "organization": refused.organization}, status=410,
        )
    return _private(response)
