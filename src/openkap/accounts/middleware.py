from __future__ import annotations

import time
from collections.abc import Callable

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.utils.functional import SimpleLazyObject

from openkap.accounts.authz import Actor, Denied, active_memberships
from openkap.audit.models import AuditAction
from openkap.audit.services import audit_record
from openkap.core.authz import Role
from openkap.core.netaddr import client_address

SESSION_ORG_KEY = "organization_id"
SESSION_MFA_KEY = "mfa_verified"
SESSION_ACTIVITY_KEY = "last_activity"
ACTIVITY_RESOLUTION_SECONDS = 30


def client_ip(request: HttpRequest) -> str:
    """The client's address; X-Forwarded-For counts only from OPENKAP_TRUSTED_PROXIES."""
    return client_address(
        request.META.get("REMOTE_ADDR", ""), request.META.get("HTTP_X_FORWARDED_FOR", ""), settings.TRUSTED_PROXIES
    )[:45]


def actor_for_request(request: HttpRequest) -> Actor | None:
    """The actor from the user's active memberships (their organisations and roles), read
    with the user; the organisations stay on the request for the page's organisation switcher."""
    user = request.user
    if not user.is_authenticated:
        return None
    memberships = active_memberships(user)
    orgs = sorted({m.organization_id: m.organization for m in memberships}.values(), key=lambda o: (o.name, o.id))
    request.organizations = orgs  # type: ignore[attr-defined]
    if not orgs:
        return None
    chosen = request.session.get(SESSION_ORG_KEY)
    organization = next((o for o in orgs if o.id == chosen), orgs[0])
    return Actor(
        user=user,
        organization=organization,
        roles=frozenset(Role(m.role) for m in memberships if m.organization_id == organization.id),
        ip=client_ip(request),
        user_agent=request.META.get("HTTP_USER_AGENT", "")[:400],
    )


class ActorMiddleware:
    """Attach ``request.actor``: the user in their chosen organisation, or None."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        request.actor = SimpleLazyObject(lambda: actor_for_request(request))  # type: ignore[attr-defined]
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> None:
        # Services raise inside their transaction, which rolls back; the refusal is
        # written here, afterwards, so it is never lost with the rollback.
        if isinstance(exception, Denied):
            actor = request.actor  # type: ignore[attr-defined]
            audit_record(
                by=actor if actor else None,
                action=AuditAction.PERMISSION_DENIED,
                object_type="url",
                object_id=request.path[:64],
                patient_id=exception.patient_id,
                detail={"permission": exception.perm.value if exception.perm else ""},
                ip=client_ip(request),
            )


class IdleTimeoutMiddleware:
    """Log out after ``IDLE_TIMEOUT_SECONDS`` without a request (HIPAA automatic logoff)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.user.is_authenticated and not request.path.startswith("/api/"):
            now = int(time.time())
            last = request.session.get(SESSION_ACTIVITY_KEY, now)
            if now - last > settings.IDLE_TIMEOUT_SECONDS:
                logout(request)
                messages.info(request, "You were signed out after a period of inactivity.")
                login_url = f"{settings.LOGIN_URL_PATH}?next={request.path}"
                if request.headers.get("HX-Request"):
                    # A partial must not land inside the page: htmx loads the login page whole.
                    response = HttpResponse(status=204)
                    response["HX-Redirect"] = login_url
                    return response
                return redirect(login_url)
            # A page refreshing itself (the monitoring board) is not a person at the screen.
            # Saving the session on every request would make each page a database write;
            # a 30-second resolution is plenty for a 15-minute timeout.
            background = request.headers.get("X-Background-Refresh") == "1"
            if not background and (
                now - last >= ACTIVITY_RESOLUTION_SECONDS or SESSION_ACTIVITY_KEY not in request.session
            ):
                request.session[SESSION_ACTIVITY_KEY] = now
        return self.get_response(request)


MFA_EXEMPT_PREFIXES = ("/accounts/", "/static/", "/api/", "/healthz", "/readyz")


class MfaRequiredMiddleware:
    """Staff must complete TOTP (and enrol first) before any other page; so must a
    patient who chose to enrol."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if (
            request.user.is_authenticated
            and not request.session.get(SESSION_MFA_KEY)
            and not request.path.startswith(MFA_EXEMPT_PREFIXES)
        ):
            # A lazy object: "is not None" would be true even when it wraps None (a user
            # whose memberships were all disabled), so test its truth.
            actor = request.actor  # type: ignore[attr-defined]
            if actor and actor.is_staff:
                if request.user.mfa_enrolled:
                    return redirect("accounts:mfa_verify")
                return redirect("accounts:mfa_setup")
            # MFA is optional for patients, but once a patient enrols it is asked for.
            if actor and request.user.mfa_enrolled:
                return redirect("accounts:mfa_verify")
        return self.get_response(request)
