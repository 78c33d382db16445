from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.forms.models import model_to_dict
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.utils import timezone
from django.views.decorators.http import require_POST

from openkap.accounts import selectors as accounts_selectors
from openkap.accounts.authz import Actor
from openkap.accounts.forms import AcceptInvitationForm
from openkap.accounts.middleware import client_ip
from openkap.core.authz import Perm
from openkap.patients import selectors, services
from openkap.patients.forms import (
    CARE_TEAM_ROLE_LABELS,
    PATIENT_FORM_FIELDS,
    BreakGlassForm,
    CareTeamForm,
    HeightForm,
    NewPatientForm,
    PatientForm,
    PortalInviteForm,
    WeightForm,
)
from openkap.web.decorators import apply_errors, staff_view
from openkap.web.paging import page_number


@staff_view(Perm.PATIENT_VIEW)
def patient_list(request: HttpRequest, actor: Actor) -> HttpResponse:
    query = request.GET.get("q", "")[:100]
    page = selectors.patient_search(by=actor, query=query, page=page_number(request))
    template = "patients/_results.html" if request.headers.get("HX-Request") else "patients/patient_list.html"
    return TemplateResponse(
        request, template, {"page": page, "q": query, "can_create": actor.can(Perm.PATIENT_CREATE)}
    )


@staff_view(Perm.PATIENT_CREATE)
def patient_create(request: HttpRequest, actor: Actor) -> HttpResponse:
    form = NewPatientForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = {k: v for k, v in form.cleaned_data.items() if k != "mrn"}
        try:
            patient = services.patient_create(by=actor, data=data, mrn=form.cleaned_data["mrn"])
        except ValidationError as exc:
            apply_errors(form, exc)
        else:
            messages.success(request, f"{patient.display_name} registered with MRN {patient.mrn}.")
            return redirect("patients:chart", patient_id=patient.id)
    return TemplateResponse(request, "patients/patient_form.html", {"form": form, "creating": True})


@staff_view(Perm.PATIENT_VIEW)
def patient_chart(request: HttpRequest, actor: Actor, patient_id: int) -> HttpResponse:
    chart = selectors.patient_chart(by=actor, patient_id=patient_id)
    return TemplateResponse(
        request,
        "patients/chart.html",
        {
            "chart": chart,
            "patient": chart.patient,
            "weight_form": WeightForm(initial={"unit": "kg", "measured_on": timezone.localdate()}),
            "height_form": HeightForm(initial={"unit": "cm", "measured_on": timezone.localdate()}),
            "can_update": actor.can(Perm.PATIENT_UPDATE),
            "can_weigh": actor.can(Perm.WEIGHT_RECORD),
            "can_manage_team": actor.can(Perm.CARE_TEAM_MANAGE),
            "care_team_form": _care_team_form(actor) if actor.can(Perm.CARE_TEAM_MANAGE) else None,
            "can_manage_portal": actor.can(Perm.PORTAL_ACCESS_MANAGE),
            "portal_form": PortalInviteForm(),
        },
    )


def _care_team_form(actor: Actor, data: object = None) -> CareTeamForm:
    memberships = accounts_selectors.colleagues_in_roles(by=actor, roles=CARE_TEAM_ROLE_LABELS)
    choices = [(f"{m.user_id}:{m.role}", f"{m.user.full_name} · {m.get_role_display()}") for m in memberships]
    return CareTeamForm(data, choices=choices)


@staff_view(Perm.PATIENT_UPDATE)
def patient_edit(request: HttpRequest, actor: Actor, patient_id: int) -> HttpResponse:
    patient = selectors.patient_get(by=actor, patient_id=patient_id)
    form = PatientForm(request.POST or None, initial=model_to_dict(patient, fields=PATIENT_FORM_FIELDS))
    if request.method == "POST" and form.is_valid():
        data = {k: form.cleaned_data[k] for k in PATIENT_FORM_FIELDS}
        try:
            services.patient_update(by=actor, patient_id=patient.id, data=data)
        except ValidationError as exc:
            apply_errors(form, exc)
        else:
            messages.success(request, "Saved.")
            return redirect("patients:chart", patient_id=patient.id)
    return TemplateResponse(request, "patients/patient_form.html", {"form": form, "patient": patient})


@require_POST
@staff_view(Perm.WEIGHT_RECORD)
def weight_add(request: HttpRequest, actor: Actor, patient_id: int) -> HttpResponse:
    form = WeightForm(request.POST)
    if form.is_valid():
        try:
            weight = services.weight_record(by=actor, patient_id=patient_id, **form.cleaned_data)
        except ValidationError as exc:
            apply_errors(form, exc)
        else:
            messages.success(request, f"Weight recorded: {weight.weight_kg} kg.")
            return redirect("patients:chart", patient_id=patient_id)
    return _chart_with_errors(request, actor, patient_id, weight_form=form)


@require_POST
@staff_view(Perm.WEIGHT_RECORD)
def height_add(request: HttpRequest, actor: Actor, patient_id: int) -> HttpResponse:
    form = HeightForm(request.POST)
    if form.is_valid():
        try:
            height = services.height_record(by=actor, patient_id=patient_id, **form.cleaned_data)
        except ValidationError as exc:
            apply_errors(form, exc)
        else:
            messages.success(request, f"Height recorded: {height.height_cm.normalize():f} cm.")
            return redirect("patients:chart", patient_id=patient_id)
    return _chart_with_errors(request, actor, patient_id, height_form=form)


def _chart_with_errors(
    request: HttpRequest, actor: Actor, patient_id: int, *, weight_form: WeightForm | None = None,
    height_form: HeightForm | None = None,
) -> HttpResponse:
    chart = selectors.patient_chart(by=actor, patient_id=patient_id)
    today = timezone.localdate()
    return TemplateResponse(
        request, "patients/chart.html",
        {"chart": chart, "patient": chart.patient, "can_weigh": True,
         "weight_form": weight_form or WeightForm(initial={"unit": "kg", "measured_on": today}),
         "height_form": height_form or HeightForm(initial={"unit": "cm", "measured_on": today}),
         "can_update": actor.can(Perm.PATIENT_UPDATE)},
        status=422,
    )


@require_POST
@staff_view(Perm.CARE_TEAM_MANAGE)
def care_team_add(request: HttpRequest, actor: Actor, patient_id: int) -> HttpResponse:
    form = _care_team_form(actor, request.POST)
    user_id, role = form.cleaned_data["member"].split(":") if form.is_valid() else ("0", "")
    try:
        services.care_team_add(by=actor, patient_id=patient_id, user_id=int(user_id), role=role)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    return redirect("patients:chart", patient_id=patient_id)


@require_POST
@staff_view(Perm.CARE_TEAM_MANAGE)
def care_team_remove(request: HttpRequest, actor: Actor, patient_id: int, member_id: int) -> HttpResponse:
    services.care_team_remove(by=actor, patient_id=patient_id, member_id=member_id)
    return redirect("patients:chart", patient_id=patient_id)


@staff_view(Perm.BREAK_GLASS)
def break_glass(request: HttpRequest, actor: Actor, patient_id: int) -> HttpResponse:
    selectors.patient_in_organization(actor, patient_id)
    form = BreakGlassForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            services.break_glass(by=actor, patient_id=patient_id, reason=form.cleaned_data["reason"])
        except ValidationError as exc:
            apply_errors(form, exc)
        else:
            messages.warning(request, f"Emergency access granted for {services.BREAK_GLASS_HOURS} hours. It is logged for review.")
            return redirect("patients:chart", patient_id=patient_id)
    return TemplateResponse(request, "patients/break_glass.html", {"form": form, "patient_id": patient_id})


@require_POST
@staff_view(Perm.PORTAL_ACCESS_MANAGE)
def portal_invite(request: HttpRequest, actor: Actor, patient_id: int) -> HttpResponse:
    form = PortalInviteForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Enter a valid email address.")
        return redirect("patients:chart", patient_id=patient_id)
    try:
        invitation, _ = services.portal_invite(by=actor, patient_id=patient_id, email=form.cleaned_data["email"])
    except ValidationError as exc:
        apply_errors(form, exc)
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, f"Portal invitation emailed to {invitation.email}.")
    return redirect("patients:chart", patient_id=patient_id)


@require_POST
@staff_view(Perm.PORTAL_ACCESS_MANAGE)
def portal_revoke(request: HttpRequest, actor: Actor, patient_id: int) -> HttpResponse:
    try:
        services.portal_revoke(by=actor, patient_id=patient_id)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, "Portal access revoked: the link no longer works and the account is disabled.")
    return redirect("patients:chart", patient_id=patient_id)


def portal_accept(request: HttpRequest, token: str) -> HttpResponse:
    """The emailed link: anyone holding it may set the password, once."""
    invitation = services.portal_invitation_for_token(token)
    form = AcceptInvitationForm(request.POST or None)
    if invitation is not None and request.method == "POST" and form.is_valid():
        try:
            services.portal_invitation_accept(
                token=token, password=form.cleaned_data["password"], ip=client_ip(request),
                user_agent=request.META.get("HTTP_USER_AGENT", ""),
            )
        except ValidationError as exc:
            apply_errors(form, exc)
        else:
            messages.success(
                request,
                "Your portal account is ready: sign in with your email and new password. "
                "Once in, you can add an authenticator app for extra protection.",
            )
            return redirect("accounts:login")
    return TemplateResponse(
        request, "patients/portal_accept.html", {"form": form, "invitation": invitation},
        status=200 if invitation is not None else 410,
    )
