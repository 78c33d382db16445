"""Referral pages. Public: the self-referral pre-screen (one step per page, the answers so
far carried in a signed field, nothing stored until the person submits), the clinician
referral form, the status link. Staff: the intake worklist and the decisions."""

from __future__ import annotations

import secrets
import time
from typing import Any

from django.contrib import messages
from django.core import signing
from django.core.exceptions import ValidationError
from django.forms import Form
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.utils.translation import get_language, gettext_lazy
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from openkap.accounts.authz import Actor
from openkap.accounts.middleware import client_ip
from openkap.accounts.models import Organization
from openkap.core.authz import Perm
from openkap.core.instruments import get_instrument
from openkap.core.pathway.contraindications import CHECKLIST
from openkap.core.referrals import ASQ_SCREEN_ITEMS, asq_acuity_asked, crisis_now
from openkap.referrals import selectors, services, validation
from openkap.referrals.forms import (
    RED_FLAG_LABELS,
    AcceptForm,
    ClinicianReferralForm,
    CloseForm,
    ConsentForm,
    ContactForm,
    HealthForm,
    InstrumentForm,
    StoryForm,
)
from openkap.referrals.models import Referral
from openkap.web.decorators import apply_errors, staff_view

STATE_SALT = "openkap.referrals.self"
STATE_MAX_AGE = 24 * 60 * 60
SESSION_THANKS = "referral_thanks"
SESSION_STATUS = "referral_status"

# The steps of the self-referral, in order; "asq_acuity" only after a yes to ASQ 1-4.
STEPS = ("contact", "story", "phq9", "gad7", "asq", "asq_acuity", "health", "consent")
STEP_TITLES = {
    "contact": gettext_lazy("About you"),
    "story": gettext_lazy("What brings you here"),
    "phq9": gettext_lazy("Mood"),
    "gad7": gettext_lazy("Worry and anxiety"),
    "asq": gettext_lazy("Your safety"),
    "asq_acuity": gettext_lazy("Your safety"),
    "health": gettext_lazy("Your health"),
    "consent": gettext_lazy("Check and send"),
}
PUBLIC_STEPS = ("contact", "story", "phq9", "gad7", "asq", "health", "consent")


def _private(response: HttpResponse) -> HttpResponse:
    """Pages with a person's answers are never cached or indexed."""
    response["Cache-Control"] = "no-store"
    response["X-Robots-Tag"] = "noindex"
    return response


# --- the signed state of the self-referral ---------------------------------------------------


def _new_state(organization: Organization) -> dict[str, Any]:
    return {"org": organization.id, "t0": time.time(), "key": secrets.token_hex(16), "person": {},
            "story": {}, "answers": {}, "flags": [], "crisis": False}


def _dump(state: dict[str, Any]) -> str:
    return signing.dumps(state, salt=STATE_SALT, compress=True)


def _load(raw: str) -> dict[str, Any] | None:
    try:
        state = signing.loads(raw, salt=STATE_SALT, max_age=STATE_MAX_AGE)
    except signing.BadSignature:
        return None
    return state if isinstance(state, dict) else None


def _next_step(step: str, state: dict[str, Any]) -> str:
    index = STEPS.index(step) + 1
    following = STEPS[index]
    if following == "asq_acuity" and not asq_acuity_asked(state["answers"].get("asq", {})):
        following = STEPS[index + 1]
    return following


def _previous_step(step: str, state: dict[str, Any]) -> str:
    index = STEPS.index(step) - 1
    before = STEPS[max(index, 0)]
    if before == "asq_acuity" and not asq_acuity_asked(state["answers"].get("asq", {})):
        before = STEPS[index - 1]
    return before


def _form_for(step: str, data: Any = None, state: dict[str, Any] | None = None) -> Form:
    state = state or {}
    if step == "contact":
        return ContactForm(data, initial=state.get("person") or {"preferred_language": get_language()[:2]})
    if step == "story":
        return StoryForm(data, initial=state.get("story") or None)
    if step in ("phq9", "gad7", "asq"):
        items = ASQ_SCREEN_ITEMS if step == "asq" else None
        initial = {k: ("refused" if v is None else str(v))
                   for k, v in state.get("answers", {}).get(step, {}).items() if k != "q5"}
        return InstrumentForm(step, items, data, initial=initial or None)
    if step == "asq_acuity":
        answered = state.get("answers", {}).get("asq", {}).get("q5")
        return InstrumentForm("asq", ("q5",), data, initial={"q5": str(answered)} if answered is not None else None)
    if step == "health":
        return HealthForm(data, initial={"red_flags": state.get("flags", [])})
    return ConsentForm(data)


def _render_step(request: HttpRequest, organization: Organization, step: str, state: dict[str, Any],
                 form: Form, status: int = 200) -> HttpResponse:
    shown = "asq" if step == "asq_acuity" else step
    context = {
        "organization": organization, "step": step, "form": form, "state": _dump(state),
        "title": STEP_TITLES[step], "number": PUBLIC_STEPS.index(shown) + 1, "of": len(PUBLIC_STEPS),
        "first": step == "contact",
    }
    if step == "consent":
        context["summary"] = _summary(state)
    return _private(TemplateResponse(request, "referrals/self_step.html", context, status=status))


def _summary(state: dict[str, Any]) -> dict[str, Any]:
    person = state["person"]
    return {
        "name": f"{person.get('given_name', '')} {person.get('family_name', '')}".strip(),
        "email": person.get("email", ""), "phone": person.get("phone", ""),
        "flags": [RED_FLAG_LABELS[f] for f in state.get("flags", [])],
    }


@never_cache
def self_start(request: HttpRequest, org_slug: str | None = None) -> HttpResponse:
    organization = selectors.public_organization(request, org_slug)
    state = _new_state(organization)
    return _render_step(request, organization, "contact", state, _form_for("contact", state=state))


def _crisis(request: HttpRequest, organization: Organization, state: dict[str, Any], then: str) -> HttpResponse:
    state["crisis"] = True
    return _private(TemplateResponse(
        request, "referrals/crisis.html",
        {"organization": organization, "state": _dump(state), "then": then},
    ))


@require_POST
def self_step(request: HttpRequest) -> HttpResponse:
    state = _load(request.POST.get("state", ""))
    if state is None:
        return _private(TemplateResponse(request, "referrals/expired.html", {}, status=400))
    organization = selectors.clinic_of(state.get("org"))
    if organization is None:
        return _private(TemplateResponse(request, "referrals/expired.html", {}, status=400))
    step = request.POST.get("step", "")
    if step not in STEPS:
        return _private(TemplateResponse(request, "referrals/expired.html", {}, status=400))
    if request.POST.get("go") == "back":
        before = _previous_step(step, state)
        return _render_step(request, organization, before, state, _form_for(before, state=state))
    if request.POST.get("go") == "continue":
        # From the crisis screen: on to the step it interrupted.
        return _render_step(request, organization, step, state, _form_for(step, state=state))
    form = _form_for(step, request.POST, state)
    if not form.is_valid():
        return _render_step(request, organization, step, state, form, status=422)
    try:
        crisis = _apply(step, form, state)
    except ValidationError as exc:
        apply_errors(form, exc)
        return _render_step(request, organization, step, state, form, status=422)
    if step == "consent":
        return _submit(request, organization, state, form)
    following = _next_step(step, state)
    if crisis:
        return _crisis(request, organization, state, following)
    return _render_step(request, organization, following, state, _form_for(following, state=state))


def _apply(step: str, form: Form, state: dict[str, Any]) -> bool:
    """Check the step through the services, keep it in the state, and say whether the
    answers now call for the crisis screen (the first time they do)."""
    data = form.cleaned_data
    if step == "contact":
        cleaned = validation.clean_person(data, kind=Referral.Kind.SELF)
        cleaned["date_of_birth"] = cleaned["date_of_birth"].isoformat()
        state["person"] = cleaned
    elif step == "story":
        state["story"] = validation.clean_story(data)
    elif step in ("phq9", "gad7", "asq", "asq_acuity"):
        assert isinstance(form, InstrumentForm)
        answers = form.answers()
        key = "asq" if step == "asq_acuity" else step
        merged = {**state["answers"].get(key, {}), **answers}
        if step == "asq" and not asq_acuity_asked(merged):
            merged.pop("q5", None)
        state["answers"][key] = merged
        if step == "asq" and asq_acuity_asked(merged):
            return False  # the acuity question decides, on the next page
        if not state["crisis"] and crisis_now(state["answers"]):
            return True
    elif step == "health":
        state["flags"] = list(data["red_flags"])
    return False


def _submit(request: HttpRequest, organization: Organization, state: dict[str, Any], form: Form) -> HttpResponse:
    ip = client_ip(request)
    if validation.looks_automated(honeypot=form.cleaned_data.get("website", ""), started_at=state.get("t0"),
                                now=time.time()):
        services.record_automated(organization=organization, ip=ip)
        return _thanks_redirect(request, organization, crisis=False)
    try:
        done = services.referral_submit(
            organization=organization, kind=Referral.Kind.SELF, person=state["person"], story=state["story"],
            instruments=state["answers"], red_flags=state["flags"],
            consent_to_contact=form.cleaned_data["consent_to_contact"], submission_key=state["key"],
            crisis_shown=state["crisis"], ip=ip, user_agent=request.META.get("HTTP_USER_AGENT", "")[:400],
        )
    except services.RateLimited:
        return _limited(request, organization)
    except ValidationError as exc:
        apply_errors(form, exc)
        return _render_step(request, organization, "consent", state, form, status=422)
    return _thanks_redirect(request, organization, crisis=done.triage.crisis)


def _limited(request: HttpRequest, organization: Organization) -> HttpResponse:
    return _private(TemplateResponse(request, "referrals/limited.html", {"organization": organization}, status=429))


def _thanks_redirect(request: HttpRequest, organization: Organization, *, crisis: bool) -> HttpResponse:
    request.session[SESSION_THANKS] = {"org": organization.id, "crisis": crisis}
    return redirect("referrals:thanks")


@never_cache
def thanks(request: HttpRequest) -> HttpResponse:
    shown = request.session.get(SESSION_THANKS) or {}
    organization = selectors.clinic_of(shown.get("org"))
    if organization is None:
        return redirect("referrals:self_start")
    return _private(TemplateResponse(
        request, "referrals/thanks.html", {"organization": organization, "crisis": shown.get("crisis", False)},
    ))


# --- the clinician referral form -------------------------------------------------------------


@never_cache
def clinician(request: HttpRequest, org_slug: str | None = None) -> HttpResponse:
    organization = selectors.public_organization(request, org_slug)
    if request.method != "POST":
        started = signing.dumps({"org": organization.id, "t0": time.time(), "key": secrets.token_hex(16)},
                                salt=STATE_SALT)
        return _clinician_page(request, organization, ClinicianReferralForm(), started)
    raw_state = request.POST.get("state", "")
    state = _load(raw_state)
    form = ClinicianReferralForm(request.POST, request.FILES)
    if state is None or state.get("org") != organization.id:
        form.is_valid()
        form.add_error(None, _("This form has expired: please fill it in again."))
        return _clinician_page(request, organization, form, signing.dumps(
            {"org": organization.id, "t0": time.time(), "key": secrets.token_hex(16)}, salt=STATE_SALT), 400)
    if not form.is_valid():
        return _clinician_page(request, organization, form, raw_state, 422)
    data = form.cleaned_data
    ip = client_ip(request)
    if validation.looks_automated(honeypot=data.get("website", ""), started_at=state.get("t0"), now=time.time()):
        services.record_automated(organization=organization, ip=ip)
        return _thanks_redirect(request, organization, crisis=False)
    upload = data.get("letter")
    try:
        letter = None
        if upload:
            validation.check_letter_size(upload.size)  # before reading it into memory
            letter = (upload.name, upload.read())
        services.referral_submit(
            organization=organization, kind=Referral.Kind.CLINICIAN, person=data, story=data,
            referrer=data, red_flags=data["red_flags"], clinician_reports_suicide_risk=data["suicide_risk"],
            consent_to_contact=data["consent_to_contact"], submission_key=state["key"], letter=letter, ip=ip,
            user_agent=request.META.get("HTTP_USER_AGENT", "")[:400],
        )
    except services.RateLimited:
        return _limited(request, organization)
    except ValidationError as exc:
        apply_errors(form, exc)
        return _clinician_page(request, organization, form, raw_state, 422)
    return _thanks_redirect(request, organization, crisis=False)


def _clinician_page(request: HttpRequest, organization: Organization, form: Form, state: str,
                    status: int = 200) -> HttpResponse:
    return _private(TemplateResponse(
        request, "referrals/clinician.html", {"organization": organization, "form": form, "state": state},
        status=status,
    ))


# --- the status link -------------------------------------------------------------------------


@never_cache
def status_open(request: HttpRequest, token: str) -> HttpResponse:
    """GET shows a button only (mail scanners follow links); the POST spends the link."""
    if request.method == "POST":
        try:
            referral = services.status_link_use(raw=token, ip=client_ip(request),
                                                user_agent=request.META.get("HTTP_USER_AGENT", ""))
        except services.LinkRefused as refused:
            return _private(TemplateResponse(request, "referrals/status_refused.html",
                                             {"reason": refused.reason}, status=410))
        request.session.cycle_key()
        request.session[SESSION_STATUS] = referral.id
        return redirect("referrals:status")
    return _private(TemplateResponse(request, "referrals/status_open.html", {}))


@never_cache
def status(request: HttpRequest) -> HttpResponse:
    referral = selectors.status_page(request.session.get(SESSION_STATUS))
    if referral is None:
        return _private(TemplateResponse(request, "referrals/status_refused.html", {"reason": "session"},
                                         status=410))
    return _private(TemplateResponse(request, "referrals/status.html", {
        "referral": referral, "organization": referral.organization, "status": selectors.status_for(referral),
    }))


# --- staff: the intake worklist --------------------------------------------------------------


def _checklist_labels(referral: Referral) -> list[str]:
    return [CHECKLIST.item(i).label for i in referral.triage.get("checklist_items", [])]


@staff_view(Perm.REFERRAL_VIEW)
def worklist(request: HttpRequest, actor: Actor) -> HttpResponse:
    view = request.GET.get("view", "open")
    rows = [
        (row, [RED_FLAG_LABELS[f] for f in row.triage.get("red_flags", []) if f in RED_FLAG_LABELS])
        for row in selectors.worklist(by=actor, view=view)
    ]
    return TemplateResponse(request, "referrals/worklist.html", {
        "rows": rows, "view": view if view in selectors.VIEWS else "open",
    })


def _detail(request: HttpRequest, actor: Actor, referral: Referral, *, accept_form: Form | None = None,
            duplicates: list[Any] | None = None, status: int = 200) -> HttpResponse:
    return TemplateResponse(request, "referrals/detail.html", {
        "referral": referral,
        "instruments": [(get_instrument(iid).short_name, outcome)
                        for iid, outcome in referral.triage.get("instruments", {}).items()],
        "checklist": _checklist_labels(referral), "reasons": referral.triage.get("reasons", []),
        "accept_form": accept_form or AcceptForm(), "duplicates": duplicates,
        "can_triage": actor.can(Perm.REFERRAL_TRIAGE) and referral.is_open,
        "has_letter": hasattr(referral, "attachment"),
    }, status=status)


@staff_view(Perm.REFERRAL_VIEW)
def detail(request: HttpRequest, actor: Actor, referral_id: int) -> HttpResponse:
    referral = selectors.referral_get(by=actor, referral_id=referral_id)
    return _detail(request, actor, referral)


@require_POST
@staff_view(Perm.REFERRAL_TRIAGE)
def accept(request: HttpRequest, actor: Actor, referral_id: int) -> HttpResponse:
    referral = selectors.referral_get(by=actor, referral_id=referral_id)
    form = AcceptForm(request.POST)
    if not form.is_valid():
        return _detail(request, actor, referral, accept_form=form, status=422)
    try:
        done = services.referral_accept(
            by=actor, referral_id=referral.id, existing_patient_id=form.cleaned_data["existing_patient_id"],
            different_person=form.cleaned_data["different_person"], note=form.cleaned_data["note"],
        )
    except services.DuplicateFound as dup:
        return _detail(request, actor, referral, accept_form=form, duplicates=dup.patients, status=409)
    except ValidationError as exc:
        apply_errors(form, exc)
        return _detail(request, actor, referral, accept_form=form, status=422)
    messages.success(request, _("Referral accepted: %(name)s is registered with an episode in intake.")
                     % {"name": done.patient.display_name})
    return redirect("patients:chart", done.patient.id)


@staff_view(Perm.REFERRAL_TRIAGE)
def close(request: HttpRequest, actor: Actor, referral_id: int) -> HttpResponse:
    referral = selectors.referral_get(by=actor, referral_id=referral_id)
    outcome = request.POST.get("outcome") or request.GET.get("outcome") or Referral.Status.DECLINED
    if outcome not in services.CLOSING_OUTCOMES:
        outcome = Referral.Status.DECLINED
    if request.method == "POST" and "letter" in request.POST:
        form = CloseForm(request.POST)
        if form.is_valid():
            data = form.cleaned_data
            try:
                services.referral_close(by=actor, referral_id=referral.id, outcome=data["outcome"],
                                        letter=data["letter"], referred_to=data["referred_to"],
                                        note=data["note"], send=data["send"])
            except ValidationError as exc:
                apply_errors(form, exc)
            else:
                messages.success(request, _("Referral closed and the letter saved."))
                return redirect("referrals:worklist")
        status = 422
    else:
        form = CloseForm(initial={"outcome": outcome, "letter": selectors.default_letter(referral, outcome),
                                  "send": True})
        status = 200
    return TemplateResponse(request, "referrals/close.html", {"referral": referral, "form": form}, status=status)


@staff_view(Perm.REFERRAL_VIEW)
def letter(request: HttpRequest, actor: Actor, referral_id: int) -> HttpResponse:
    _referral, content, info = selectors.letter_of(by=actor, referral_id=referral_id)
    response = HttpResponse(content, content_type="application/pdf")
    response["Content-Disposition"] = f'attachment; filename="referral-{referral_id}.pdf"'
    response["Cache-Control"] = "no-store"
    response["X-Content-Type-Options"] = "nosniff"
    response["ETag"] = f'"{info.sha256}"'
    return response

