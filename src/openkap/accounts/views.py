from __future__ import annotations

import time
from typing import cast

import segno
from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login, logout
from django.contrib.auth import views as auth_views
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import reverse_lazy
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_http_methods, require_POST

from openkap.accounts import selectors, services
from openkap.accounts.authz import Actor, organizations_of
from openkap.accounts.forms import (
    AcceptInvitationForm,
    ApiTokenForm,
    CodeForm,
    InviteForm,
    LoginForm,
    RoomForm,
    SiteForm,
)
from openkap.accounts.middleware import (
    SESSION_ACTIVITY_KEY,
    SESSION_MFA_KEY,
    SESSION_ORG_KEY,
    client_ip,
)
from openkap.accounts.models import User
from openkap.audit.models import AuditAction
from openkap.audit.services import audit_record
from openkap.core.authz import Perm
from openkap.web.decorators import apply_errors, staff_view

SESSION_MFA_FAILURES_KEY = "mfa_failures"
MFA_RESTART_MESSAGE = "Too many wrong codes. Sign in with your password again."


def _safe_next(request: HttpRequest, default: str = "/") -> str:
    target = request.POST.get("next") or request.GET.get("next") or default
    if url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
        return target
    return default


def _ua(request: HttpRequest) -> str:
    return request.META.get("HTTP_USER_AGENT", "")


def login_view(request: HttpRequest) -> HttpResponse:
    form = LoginForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        result = services.login_attempt(
            email=form.cleaned_data["email"],
            password=form.cleaned_data["password"],
            ip=client_ip(request),
            user_agent=_ua(request),
        )
        if result.user is None:
            form.add_error(None, result.error)
        else:
            login(request, result.user, backend="openkap.accounts.backends.EmailBackend")
            services.login_succeeded(user=result.user, ip=client_ip(request), user_agent=_ua(request))
            request.session[SESSION_MFA_KEY] = False
            return redirect(_safe_next(request))
    return TemplateResponse(
        request,
        "accounts/login.html",
        {"form": form, "next": _safe_next(request, ""), "demo_users": selectors.demo_logins()},
    )


@require_POST
def logout_view(request: HttpRequest) -> HttpResponse:
    if request.user.is_authenticated:
        audit_record(
            by=None, action=AuditAction.LOGOUT, object_type="user", object_id=request.user.pk,
            actor_email=request.user.email, ip=client_ip(request), user_agent=_ua(request),
        )
    logout(request)
    messages.info(request, "You are signed out.")
    return redirect("accounts:login")


@require_http_methods(["GET", "POST"])
def session_status(request: HttpRequest) -> HttpResponse:
    """The idle time-out's clock for the page's warning (WCAG 2.2.1). GET reads it
    without counting as activity (the page sends X-Background-Refresh); POST is the
    person choosing to stay, which restarts it. Reveals nothing but the session's own age."""
    if not request.user.is_authenticated:
        return JsonResponse({"signed_in": False, "remaining": 0})
    now = int(time.time())
    if request.method == "POST":
        request.session[SESSION_ACTIVITY_KEY] = now
    last = request.session.get(SESSION_ACTIVITY_KEY, now)
    remaining = max(0, settings.IDLE_TIMEOUT_SECONDS - (now - last))
    return JsonResponse({"signed_in": True, "remaining": remaining})


def _require_login(request: HttpRequest) -> User | None:
    return request.user if request.user.is_authenticated else None


def mfa_setup(request: HttpRequest) -> HttpResponse:
    user = _require_login(request)
    if user is None:
        return redirect("accounts:login")
    if user.mfa_enrolled:
        return redirect("accounts:mfa_verify")
    form = CodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            codes = services.mfa_confirm_enrolment(
                user=user, code=form.cleaned_data["code"], ip=client_ip(request), user_agent=_ua(request)
            )
        except ValidationError as exc:
            apply_errors(form, exc)
        else:
            request.session[SESSION_MFA_KEY] = True
            return TemplateResponse(request, "accounts/recovery_codes.html", {"codes": codes})
    if request.method == "GET" or not user.totp_secret:
        services.mfa_begin_enrolment(user=user)
    uri = selectors.mfa_provisioning_uri(user)
    qr_svg = segno.make(uri, error="m").svg_inline(scale=5, dark="#1b2430", light="#ffffff")
    return TemplateResponse(
        request,
        "accounts/mfa_setup.html",
        {"form": form, "qr_svg": qr_svg, "secret": user.totp_secret, "demo_code": selectors.demo_current_code(user)},
    )


def mfa_verify(request: HttpRequest) -> HttpResponse:
    user = _require_login(request)
    if user is None:
        return redirect("accounts:login")
    if not user.mfa_enrolled:
        return redirect("accounts:mfa_setup")
    form = CodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        result = services.mfa_verify(user=user, code=form.cleaned_data["code"], ip=client_ip(request), user_agent=_ua(request))
        if result.ok:
            request.session.pop(SESSION_MFA_FAILURES_KEY, None)
            request.session.cycle_key()
            request.session[SESSION_MFA_KEY] = True
            return redirect(_safe_next(request))
        failures = request.session.get(SESSION_MFA_FAILURES_KEY, 0) + 1
        request.session[SESSION_MFA_FAILURES_KEY] = failures
        if result.locked or failures >= settings.MFA_MAX_FAILURES_PER_SESSION:
            # Guessing codes must cost a password each few tries: start again from the password.
            logout(request)
            messages.error(request, services.LOCKED_MESSAGE if result.locked else MFA_RESTART_MESSAGE)
            return redirect("accounts:login")
        form.add_error("code", "That code is not right. Use the current code from your app, or a recovery code.")
    return TemplateResponse(
        request,
        "accounts/mfa_verify.html",
        {"form": form, "next": _safe_next(request, ""), "demo_code": selectors.demo_current_code(user)},
    )


def invitation_accept(request: HttpRequest, token: str) -> HttpResponse:
    invitation = services.invitation_for_token(token)
    form = AcceptInvitationForm(request.POST or None)
    if invitation is not None and request.method == "POST" and form.is_valid():
        try:
            services.invitation_accept(token=token, password=form.cleaned_data["password"])
        except ValidationError as exc:
            apply_errors(form, exc)
        else:
            messages.success(request, "Your account is ready. Sign in and set up your authenticator app.")
            return redirect("accounts:login")
    return TemplateResponse(request, "accounts/invitation_accept.html", {"form": form, "invitation": invitation})


@require_POST
def switch_organization(request: HttpRequest) -> HttpResponse:
    user = _require_login(request)
    if user is None:
        return redirect("accounts:login")
    wanted = request.POST.get("organization", "")
    if any(str(o.id) == wanted for o in organizations_of(user)):
        request.session[SESSION_ORG_KEY] = int(wanted)
    return redirect("web:home")


class PasswordResetView(auth_views.PasswordResetView):
    template_name = "accounts/password_reset.html"
    email_template_name = "accounts/password_reset_email.txt"
    subject_template_name = "accounts/password_reset_subject.txt"
    success_url = reverse_lazy("accounts:password_reset_done")


class PasswordResetConfirmView(auth_views.PasswordResetConfirmView):
    template_name = "accounts/password_reset_confirm.html"
    success_url = reverse_lazy("accounts:login")

    def form_valid(self, form):
        response = super().form_valid(form)
        user = form.user
        audit_record(
            by=None, action=AuditAction.PASSWORD_RESET, object_type="user", object_id=user.pk,
            actor_email=user.email, ip=client_ip(self.request), user_agent=_ua(self.request),
        )
        messages.success(self.request, "Your password is changed. Sign in with the new one.")
        return response


# --- staff administration --------------------------------------------------------


@staff_view(Perm.STAFF_VIEW)
def staff_list(request: HttpRequest, actor: Actor) -> HttpResponse:
    return TemplateResponse(
        request,
        "accounts/staff_list.html",
        {"staff": selectors.staff_list(by=actor), "can_manage": actor.can(Perm.STAFF_MANAGE)},
    )


@staff_view(Perm.STAFF_MANAGE)
def staff_invite(request: HttpRequest, actor: Actor) -> HttpResponse:
    form = InviteForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            services.staff_invite(by=actor, **form.cleaned_data)
        except ValidationError as exc:
            apply_errors(form, exc)
        else:
            messages.success(request, f"Invitation sent to {form.cleaned_data['email']}.")
            return redirect("accounts:staff_list")
    return TemplateResponse(request, "accounts/staff_invite.html", {"form": form})


@require_POST
@staff_view(Perm.STAFF_MANAGE)
def staff_unlock(request: HttpRequest, actor: Actor, user_id: int) -> HttpResponse:
    get_object_or_404(User, id=user_id, memberships__organization=actor.organization)
    user = services.user_unlock(by=actor, user_id=user_id)
    messages.success(request, f"{user.full_name} can sign in again.")
    return redirect("accounts:staff_list")


@staff_view(Perm.API_TOKEN_OWN)
def api_tokens(request: HttpRequest, actor: Actor) -> HttpResponse:
    form = ApiTokenForm(request.POST or None)
    new_token = None
    if request.method == "POST" and form.is_valid():
        try:
            _, new_token = services.api_token_create(by=actor, name=form.cleaned_data["name"])
        except ValidationError as exc:
            apply_errors(form, exc)
        else:
            form = ApiTokenForm()
    return TemplateResponse(
        request,
        "accounts/api_tokens.html",
        {"form": form, "tokens": selectors.api_tokens_of(by=actor), "new_token": new_token},
    )


@require_POST
@staff_view(Perm.API_TOKEN_OWN)
def api_token_revoke(request: HttpRequest, actor: Actor, token_id: int) -> HttpResponse:
    get_object_or_404(selectors.api_tokens_of(by=actor), id=token_id)
    services.api_token_revoke(by=actor, token_id=token_id)
    messages.success(request, "Token revoked.")
    return redirect("accounts:api_tokens")


@staff_view(Perm.SITE_MANAGE)
def sites(request: HttpRequest, actor: Actor) -> HttpResponse:
    site_list = selectors.sites_of(by=actor)
    site_form = SiteForm(request.POST if request.POST.get("form") == "site" else None, prefix="site")
    room_form = RoomForm(request.POST if request.POST.get("form") == "room" else None, prefix="room")
    cast(forms.ChoiceField, room_form.fields["site"]).choices = [(s.id, s.name) for s in site_list]
    if request.method == "POST":
        form, create = (
            (site_form, lambda d: services.site_create(by=actor, **d))
            if request.POST.get("form") == "site"
            else (room_form, lambda d: services.room_create(by=actor, site_id=d.pop("site"), **d))
        )
        if form.is_valid():
            try:
                create(dict(form.cleaned_data))
            except ValidationError as exc:
                apply_errors(form, exc)
            else:
                messages.success(request, "Saved.")
                return redirect("accounts:sites")
    return TemplateResponse(
        request, "accounts/sites.html", {"sites": site_list, "site_form": site_form, "room_form": room_form}
    )
