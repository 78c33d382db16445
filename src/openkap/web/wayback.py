"""The way back on every signed-in page: a link to the page's parent, worked out in
one place so that templates carry no back links of their own.

The parent is the nearest shorter URL (dropping path segments one at a time) that is
itself a page the user may open; a view with a better parent than its URL suggests
(a session's monitoring board) declares it with ``declare_parent``, and may add a
related page beside it (the patient's other sessions). The home page is the parent of
last resort.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from django.conf import settings
from django.http import HttpRequest
from django.urls import Resolver404, get_urlconf, resolve, reverse
from django.utils.translation import gettext_lazy as _

from openkap.accounts.authz import Actor

# The name a parent goes by in the link ("Back to …"); pages not listed here are
# named after their URL name.
LABELS = {
    "web:home": _("Today"),
    "patients:list": _("Patients"),
    "patients:chart": _("the chart"),
    "pathway:worklist": _("Pathway"),
    "pathway:overview": _("the pathway"),
    "pathway:plan": _("Treatment plan"),
    "pathway:preparation": _("Preparation"),
    "pathway:psychotherapy_notes": _("Psychotherapy notes"),
    "pathway:consent_documents": _("Consent documents"),
    "pathway:portal_care": _("My care"),
    "pathway:portal_journal": _("Journal"),
    "measures:patient": _("Measures"),
    "tasks:list": _("Tasks"),
    "measures:wording_list": _("Questionnaire wording"),
    "measures:portal": _("Your questionnaires"),
    "scheduling:calendar": _("Schedule"),
    "scheduling:appointment": _("the appointment"),
    "scheduling:book": _("Book"),
    "ledger:home": _("Controlled substances"),
    "ledger:site": _("the site's ledger"),
    "ledger:reports": _("Reports"),
    "ledger:inventories": _("Inventories"),
    "ledger:lot": _("the lot"),
    "dosing:home": _("Medicine sessions"),
    "dosing:protocols": _("Protocol library"),
    "dosing:protocol": _("the protocol"),
    "dosing:protocol_new": _("New protocol"),
    "dosing:protocol_edit": _("the form"),
    "dosing:board": _("Monitoring board"),
    "dosing:session": _("the session"),
    "dosing:rems": _("the REMS form"),
    "referrals:worklist": _("Referrals"),
    "referrals:detail": _("the referral"),
    "outcomes:report": _("Outcomes"),
    "accounts:staff_list": _("Staff"),
    "accounts:api_tokens": _("API tokens"),
    "audit:log": _("Audit log"),
    "site:admin_list": _("Public site"),
    "fhir_admin:clients": _("FHIR clients"),
}

# Parents that take no URL arguments and are not the URL's parent.
PARENTS = {
    "pathway:portal_consent": "pathway:portal_care",
}

_DECLARED = "_way_back"


@dataclass(frozen=True)
class Link:
    href: str
    label: str


@dataclass(frozen=True)
class WayBack:
    href: str
    label: str
    # Pages beside the parent, shown after it in the same navigation (already worded:
    # "All sessions of Maya Lindqvist", not "Back to ...").
    also: tuple[Link, ...] = ()


def declare_parent(request: HttpRequest, href: str, label: str, *, also: tuple[Link, ...] = ()) -> None:
    """A view whose parent is not its URL's parent names it here (before rendering)."""
    setattr(request, _DECLARED, WayBack(href, label, also))


def _label(url_name: str) -> str:
    return str(LABELS.get(url_name) or url_name.split(":")[-1].replace("_", " ").capitalize())


def may_open(actor: Actor, callback: object) -> bool:
    if getattr(callback, "patient_only", False):
        return actor.is_patient_only
    if getattr(callback, "staff_only", False):
        if not actor.is_staff:
            return False
        perm = getattr(callback, "required_permission", None)
        return perm is None or actor.can(perm)
    return False  # public pages, sign-in steps: not a way back inside the application


@lru_cache(maxsize=4096)
def _page_at(path: str, urlconf: str) -> tuple[Any, str] | None:
    """The view and URL name at ``path``, or None. Resolving walks the whole URL
    configuration (5-6% of the board's CPU, profiled); the answer depends only on the
    path and the configuration, which is code, so it is kept per process (bounded)."""
    try:
        match = resolve(path, urlconf)
    except Resolver404:
        return None
    return match.func, match.view_name


def way_back(request: HttpRequest, actor: Actor) -> WayBack | None:
    declared = getattr(request, _DECLARED, None)
    if declared is not None:
        return declared
    home = reverse("web:home")
    match = request.resolver_match
    if request.path == home or match is None:
        return None
    if match.view_name in PARENTS:
        name = PARENTS[match.view_name]
        return WayBack(reverse(name), _label(name))
    segments = request.path.strip("/").split("/")
    for cut in range(len(segments) - 1, 0, -1):
        path = "/" + "/".join(segments[:cut]) + "/"
        parent = _page_at(path, get_urlconf() or settings.ROOT_URLCONF)
        if parent is not None and may_open(actor, parent[0]):
            return WayBack(path, _label(parent[1]))
    return WayBack(home, _label("web:home"))
