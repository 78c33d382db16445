from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import HttpRequest
from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from openkap.accounts.authz import Actor, organizations_of
from openkap.accounts.middleware import SESSION_MFA_KEY
from openkap.core.authz import Perm


def _is_current(path: str, href: str) -> bool:
    return path == href if href == "/" else path.startswith(href)


def _waiting_count(actor: Actor) -> int:
    """Hand-offs waiting for the actor plus their open tasks: the number beside Today."""
    from openkap.tasks.selectors import open_task_counts
    from openkap.web.workqueue import work_count

    return work_count(actor) + open_task_counts(actor).get("mine", 0)


def shell(request: HttpRequest) -> dict[str, Any]:
    """What the base layout needs: navigation by permission, the demo banner, the
    idle timeout (the page clears itself when the session would have expired)."""
    actor = getattr(request, "actor", None)
    context: dict[str, Any] = {
        "demo_mode": settings.DEMO_MODE,
        "idle_timeout_seconds": settings.IDLE_TIMEOUT_SECONDS,
        "actor": actor,
        "nav": [],
    }
    if actor and actor.is_staff and not request.session.get(SESSION_MFA_KEY):
        # Signed in but not past the second step: no navigation yet, only sign-out.
        context["nav_hidden"] = True
    elif actor:
        # The patient's entries are translated; staff pages are English (LanguageMiddleware).
        nav = [("web:home", _("Today"))]
        if actor.can(Perm.PATIENT_VIEW):
            nav.append(("patients:list", "Patients"))
        if actor.can(Perm.SCHEDULE_VIEW):
            nav.append(("scheduling:calendar", "Schedule"))
        if actor.is_patient_only:
            nav.append(("scheduling:portal_appointments", _("Appointments")))
        if actor.can(Perm.LEDGER_VIEW):
            nav.append(("ledger:home", "Controlled substances"))
        if actor.can(Perm.TASK_VIEW):
            nav.append(("tasks:list", "Tasks"))
        if actor.is_patient_only:
            nav.append(("measures:portal", _("Questionnaires")))
        if actor.can(Perm.DOSING_VIEW):
            nav.append(("dosing:home", "Medicine sessions"))
        elif actor.can(Perm.PROTOCOL_VIEW):
            # Clinicians reach the protocol library from the monitoring board.
            nav.append(("dosing:protocols", "Protocols"))
        if actor.can(Perm.REFERRAL_VIEW):
            nav.append(("referrals:worklist", "Referrals"))
        if actor.can(Perm.CLINICAL_VIEW):
            nav.append(("pathway:worklist", "Pathway"))
        if actor.can(Perm.PK_VIEW):
            nav.append(("pharmacokinetics:compare", "Compare routes"))
        if actor.can(Perm.OUTCOMES_VIEW):
            nav.append(("outcomes:report", "Outcomes"))
        if actor.can(Perm.HISTORY_IMPORT):
            nav.append(("history:import", "Import history"))
        if actor.can(Perm.RESEARCH_EXPORT):
            nav.append(("outcomes:research", "Research export"))
        if actor.is_patient_only:
            nav.append(("pathway:portal_care", _("My care")))
            nav.append(("pathway:portal_journal", _("Journal")))
        if actor.can(Perm.CONSENT_MANAGE):
            nav.append(("pathway:consent_documents", "Consent documents"))
        if actor.can(Perm.STAFF_VIEW):
            nav.append(("accounts:staff_list", "Staff"))
        if actor.can(Perm.SITE_MANAGE):
            nav.append(("accounts:sites", "Sites & rooms"))
        if actor.can(Perm.PUBLIC_SITE_MANAGE):
            nav.append(("site:admin_list", "Public site"))
        if actor.can(Perm.MEASURE_WORDING_MANAGE):
            nav.append(("measures:wording_list", "Questionnaire wording"))
        if actor.can(Perm.AUDIT_VIEW):
            nav.append(("audit:log", "Audit log"))
        if actor.can(Perm.API_TOKEN_OWN):
            nav.append(("accounts:api_tokens", "API tokens"))
        if actor.can(Perm.STAFF_MANAGE):
            nav.append(("fhir_admin:clients", "FHIR clients"))
        counts = {"web:home": _waiting_count(actor)} if actor.is_staff else {}
        context["nav"] = [
            {"href": reverse(name), "label": label, "current": _is_current(request.path, reverse(name)),
             "count": counts.get(name, 0)}
            for name, label in nav
        ]
        context["organizations"] = organizations_of(actor.user)
    return context
