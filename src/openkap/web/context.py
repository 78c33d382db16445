from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.http import HttpRequest
from django.urls import get_script_prefix, get_urlconf, reverse
from django.utils.functional import SimpleLazyObject
from django.utils.translation import get_language
from django.utils.translation import gettext_lazy as _

from openkap.accounts.authz import Actor, organizations_of
from openkap.accounts.middleware import SESSION_MFA_KEY
from openkap.core.authz import Perm, Role
from openkap.web.wayback import way_back
from openkap.web.workqueue import waiting_count


def _is_current(path: str, href: str) -> bool:
    return path == href if href == "/" else path.startswith(href)


# The navigation, in order: (URL name, label, who sees it).
NAV: tuple[tuple[str, Any, Callable[[Actor], bool]], ...] = (
    ("web:home", _("Today"), lambda a: True),
    ("patients:list", "Patients", lambda a: a.can(Perm.PATIENT_VIEW)),
    ("scheduling:calendar", "Schedule", lambda a: a.can(Perm.SCHEDULE_VIEW)),
    ("scheduling:portal_appointments", _("Appointments"), lambda a: a.is_patient_only),
    ("ledger:home", "Controlled substances", lambda a: a.can(Perm.LEDGER_VIEW)),
    ("tasks:list", "Tasks", lambda a: a.can(Perm.TASK_VIEW)),
    ("measures:portal", _("Questionnaires"), lambda a: a.is_patient_only),
    ("dosing:home", "Medicine sessions", lambda a: a.can(Perm.DOSING_VIEW)),
    # Clinicians reach the protocol library from the monitoring board.
    ("dosing:protocols", "Protocols", lambda a: not a.can(Perm.DOSING_VIEW) and a.can(Perm.PROTOCOL_VIEW)),
    ("referrals:worklist", "Referrals", lambda a: a.can(Perm.REFERRAL_VIEW)),
    ("pathway:worklist", "Pathway", lambda a: a.can(Perm.CLINICAL_VIEW)),
    ("pharmacokinetics:compare", "Compare routes", lambda a: a.can(Perm.PK_VIEW)),
    ("outcomes:report", "Outcomes", lambda a: a.can(Perm.OUTCOMES_VIEW)),
    ("history:import", "Import history", lambda a: a.can(Perm.HISTORY_IMPORT)),
    ("outcomes:research", "Research export", lambda a: a.can(Perm.RESEARCH_EXPORT)),
    ("pathway:portal_care", _("My care"), lambda a: a.is_patient_only),
    ("pathway:portal_journal", _("Journal"), lambda a: a.is_patient_only),
    ("pathway:consent_documents", "Consent documents", lambda a: a.can(Perm.CONSENT_MANAGE)),
    ("accounts:staff_list", "Staff", lambda a: a.can(Perm.STAFF_VIEW)),
    ("accounts:sites", "Sites & rooms", lambda a: a.can(Perm.SITE_MANAGE)),
    ("site:admin_list", "Public site", lambda a: a.can(Perm.PUBLIC_SITE_MANAGE)),
    ("measures:wording_list", "Questionnaire wording", lambda a: a.can(Perm.MEASURE_WORDING_MANAGE)),
    ("audit:log", "Audit log", lambda a: a.can(Perm.AUDIT_VIEW)),
    ("accounts:api_tokens", "API tokens", lambda a: a.can(Perm.API_TOKEN_OWN)),
    ("fhir_admin:clients", "FHIR clients", lambda a: a.can(Perm.STAFF_MANAGE)),
)


# Core's roles (core.authz.ROLE_LABELS, English) named in the reader's language; a test
# keeps the keys equal.
ROLE_NAMES = {
    Role.PATIENT: _("Patient"),
    Role.THERAPIST: _("Therapist"),
    Role.NURSE: _("Nurse / monitor"),
    Role.PRESCRIBER: _("Prescriber"),
    Role.ADMIN: _("Clinic admin"),
    Role.RESEARCHER: _("Researcher"),
}


# The number beside Today, kept in the session (read on every request anyway) for this
# long: [organisation id, when counted, the number] (ADR 0088).
NAV_COUNT_KEY = "nav_count"
NAV_COUNT_SECONDS = 30


def forget_nav_count(request: HttpRequest) -> None:
    """The actor's own write may have changed their number: count again on the next page."""
    if NAV_COUNT_KEY in request.session:
        del request.session[NAV_COUNT_KEY]


def _nav_count(request: HttpRequest, actor: Actor) -> int:
    """The hand-offs and tasks waiting for the actor, counted at most every
    NAV_COUNT_SECONDS; the Today page, which lists them, always counts."""
    now = int(time.time())
    kept = request.session.get(NAV_COUNT_KEY)
    org_id, at, count = kept if isinstance(kept, list) and len(kept) == 3 else (None, 0, 0)
    fresh = org_id == actor.organization.id and 0 <= now - at < NAV_COUNT_SECONDS
    today = request.resolver_match is not None and request.resolver_match.view_name == "web:home"
    if fresh and not today:
        return int(count)
    counted = waiting_count(actor)
    if not (fresh and count == counted):  # the Today page saves the session only on a change
        request.session[NAV_COUNT_KEY] = [actor.organization.id, now, counted]
    return counted


# The navigation's and the layout's addresses take no arguments: reversed once per process,
# script prefix, language and URL configuration (a deployment changes none per request).
_HREFS: dict[tuple[str, str, str, str], str] = {}


def href(name: str) -> str:
    """The address of a page that takes no arguments (the navigation's, the layout's)."""
    key = (get_script_prefix(), get_language(), str(get_urlconf() or settings.ROOT_URLCONF), name)
    address = _HREFS.get(key)
    if address is None:
        address = _HREFS[key] = reverse(name)
    return address


def _nav(request: HttpRequest, actor: Actor) -> list[dict[str, Any]]:
    counts = {"web:home": _nav_count(request, actor)} if actor.is_staff else {}
    items = []
    for name, label, shown in NAV:
        if shown(actor):
            address = href(name)
            # The label translated once here, not at each of its uses in the layout.
            items.append({"href": address, "label": str(label), "current": _is_current(request.path, address),
                          "count": counts.get(name, 0)})
    return items


def shell(request: HttpRequest) -> dict[str, Any]:
    """What the base layout needs: navigation by permission, the demo banner, the
    idle timeout (the page clears itself when the session would have expired). The
    navigation and the way back are worked out only if the template shows them (an
    htmx partial does not)."""
    actor = getattr(request, "actor", None)
    context: dict[str, Any] = {
        "demo_mode": settings.DEMO_MODE,
        "idle_timeout_seconds": settings.IDLE_TIMEOUT_SECONDS,
        "actor": actor,
        "role_names": [ROLE_NAMES[r] for r in Role if r in actor.roles] if actor else [],
        "nav": [],
    }
    if actor and actor.is_staff and not request.session.get(SESSION_MFA_KEY):
        # Signed in but not past the second step: no navigation yet, only sign-out.
        context["nav_hidden"] = True
    elif actor:
        context["nav"] = SimpleLazyObject(lambda: _nav(request, actor))
        # The actor's middleware read them with the roles (one query per request).
        organizations = getattr(request, "organizations", None)
        context["organizations"] = organizations if organizations is not None else organizations_of(actor.user)
        context["way_back"] = SimpleLazyObject(lambda: way_back(request, actor))
    return context
