"""Reads of referrals: the intake worklist and one referral, checked and audited; and
which organisation a public form belongs to."""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.db.models import QuerySet
from django.http import Http404, HttpRequest
from django.utils import translation
from django.utils.translation import gettext as _

from openkap.accounts.authz import Actor, require
from openkap.accounts.models import Organization
from openkap.audit.models import AuditAction
from openkap.audit.services import audit_record
from openkap.core.authz import Perm
from openkap.core.referrals import normalise_name
from openkap.patients.models import Patient
from openkap.referrals.models import Referral
from openkap.site.selectors import public_organization as site_organization

VIEWS = ("open", "decided", "all")


def public_organization(request: HttpRequest, slug: str | None = None) -> Organization:
    """The clinic a public form belongs to: the one named in the address, else the
    deployment's `OPENKAP_REFERRAL_ORGANIZATION`, else the clinic whose public site this
    host serves (`OPENKAP_PUBLIC_SITES`, or the only organisation there is)."""
    if slug:
        org = Organization.objects.filter(slug=slug).first()
    elif settings.REFERRAL_ORGANIZATION:
        org = Organization.objects.filter(slug=settings.REFERRAL_ORGANIZATION).first()
    else:
        org = site_organization(request)
    if org is None:
        raise Http404("No clinic takes referrals at this address.")
    return org


def _of_organization(by: Actor) -> QuerySet[Referral]:
    return Referral.objects.filter(organization=by.organization)


def worklist(*, by: Actor, view: str = "open") -> list[Referral]:
    """Most urgent first, then oldest first: who waits longest at the same urgency."""
    require(by, Perm.REFERRAL_VIEW)
    if view not in VIEWS:
        view = "open"
    rows = _of_organization(by)
    if view == "open":
        rows = rows.filter(status=Referral.Status.NEW).order_by("urgency", "created_at")
    else:
        if view == "decided":
            rows = rows.exclude(status=Referral.Status.NEW)
        rows = rows.order_by("-created_at")
    result = list(rows.select_related("decided_by")[:500])
    audit_record(
        by=by, action=AuditAction.SEARCH, object_type="referral", detail={"view": view, "count": len(result)},
    )
    return result


def clinic_of(organization_id: object) -> Organization | None:
    """The clinic a referral form's signed state names (anonymous pages: no actor)."""
    if not isinstance(organization_id, int):
        return None
    return Organization.objects.filter(id=organization_id).first()


def open_count(by: Actor) -> int:
    if not by.can(Perm.REFERRAL_VIEW):
        return 0
    return _of_organization(by).filter(status=Referral.Status.NEW).count()


@dataclass(frozen=True)
class LetterInfo:
    filename: str
    size: int
    sha256: str


def referral_get(*, by: Actor, referral_id: int) -> Referral:
    """404 for another organisation's referral (or none), 403 without the permission."""
    referral = _of_organization(by).filter(id=referral_id).select_related("decided_by", "patient").first()
    if referral is None:
        raise Http404("No such referral in your organisation.")
    require(by, Perm.REFERRAL_VIEW)
    audit_record(
        by=by, action=AuditAction.VIEW, object_type="referral", object_id=referral.id,
        patient_id=referral.patient_id,
    )
    return referral


def letter_of(*, by: Actor, referral_id: int) -> tuple[Referral, bytes, LetterInfo]:
    referral = referral_get(by=by, referral_id=referral_id)
    letter = getattr(referral, "attachment", None)
    if letter is None:
        raise Http404("This referral has no letter.")
    audit_record(
        by=by, action=AuditAction.EXPORT, object_type="referral_letter", object_id=referral.id,
        patient_id=referral.patient_id,
    )
    return referral, bytes(letter.content), LetterInfo(letter.filename, letter.size, letter.sha256)


def status_page(referral_id: object) -> Referral | None:
    """The referral whose single-use status link this browser spent (its id kept in the
    session): anonymous, so no actor; what it shows is ``status_for``'s words alone."""
    if not isinstance(referral_id, int):
        return None
    return Referral.objects.filter(id=referral_id).select_related("organization").first()


def status_for(referral: Referral) -> str:
    """What the person sees on their status page: no clinical detail."""
    labels = {
        Referral.Status.NEW: _("Received: the intake team will review it and contact you."),
        Referral.Status.ACCEPTED: _("Accepted: the intake team will contact you to arrange the next step."),
        Referral.Status.DECLINED: _("Reviewed: the intake team has written to you."),
        Referral.Status.REFERRED_ELSEWHERE: _("Reviewed: the intake team has written to you."),
    }
    return labels[Referral.Status(referral.status)]


# --- crisis resources in the person's language --------------------------------------------


def crisis_line() -> str:
    return _("988 Suicide & Crisis Lifeline: call or text 988 (in English and Spanish), or chat at "
             "988lifeline.org. In an emergency call 911.")


def crisis_text(organization: Organization) -> str:
    """The clinic's own crisis resources when it has set them, then the 988 line."""
    own = organization.own_crisis_resources
    return f"{own}\n{crisis_line()}" if own else crisis_line()


# --- what the intake team sees beside a referral ----------------------------------------------


def duplicates_of(referral: Referral) -> list[Patient]:
    """Patients of the organisation with the same date of birth and the same name
    (case, spacing and accents aside)."""
    given, family = normalise_name(referral.given_name), normalise_name(referral.family_name)
    return [
        p for p in Patient.objects.filter(organization_id=referral.organization_id,
                                          date_of_birth=referral.date_of_birth).order_by("id")
        if normalise_name(p.legal_given_name) == given and normalise_name(p.legal_family_name) == family
    ]


def default_letter(referral: Referral, outcome: str, referred_to: str = "") -> str:
    """A starting point the clinician edits, in the person's language."""
    with translation.override(referral.preferred_language):
        greeting = _("Dear %(name)s,") % {"name": referral.given_name}
        if outcome == Referral.Status.REFERRED_ELSEWHERE:
            body = _(
                "Thank you for contacting %(clinic)s. After reviewing your referral, we believe "
                "another service is better placed to help you: %(where)s. We have not shared your "
                "answers with them; please contact them directly, or ask us to send them your referral."
            ) % {"clinic": referral.organization.name, "where": referred_to or _("[the service]")}
        else:
            body = _(
                "Thank you for contacting %(clinic)s. After reviewing your referral, we are not able "
                "to offer you ketamine-assisted psychotherapy at this time. This is not a judgement of "
                "you or of how much you are struggling. Your doctor or a mental-health service can "
                "talk with you about other treatments."
            ) % {"clinic": referral.organization.name}
        crisis = _("If you are in crisis or thinking about harming yourself: %(crisis)s") % {
            "crisis": crisis_text(referral.organization)}
        closing = _("With best wishes,\nThe intake team, %(clinic)s") % {"clinic": referral.organization.name}
    return f"{greeting}\n\n{body}\n\n{crisis}\n\n{closing}"
