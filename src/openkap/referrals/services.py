"""Writes of referrals: the public submission (self and clinician), status links, and the
intake team's decisions. Keyword-only, one transaction, audited; the urgent task for a
positive suicide-risk screen is raised in the referral's own transaction.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.http import Http404
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from openkap.accounts.authz import Actor, require
from openkap.accounts.models import Membership, Organization
from openkap.audit.models import AuditAction
from openkap.audit.services import audit_record
from openkap.core.authz import ROLE_PERMISSIONS, Perm, Role
from openkap.core.referrals import (
    RED_FLAG_IDS,
    Triage,
    TriageInputError,
    Urgency,
    triage,
)
from openkap.dblocks import serialized
from openkap.measures.models import MeasureResponse, Occasion
from openkap.measures.services import response_enter
from openkap.pathway.models import Episode
from openkap.pathway.selectors import current_episode
from openkap.pathway.services import episode_open
from openkap.patients.models import Patient
from openkap.patients.selectors import patient_for
from openkap.patients.services import patient_create
from openkap.referrals.models import Referral, ReferralLetter, StatusLink, SubmissionAttempt
from openkap.referrals.selectors import crisis_text, duplicates_of
from openkap.referrals.validation import check_letter, clean_person, clean_referrer, clean_story
from openkap.tasks.models import Task
from openkap.tasks.services import task_create

RISK_TASK_KIND = "referral_risk"
STATUS_LINK_DAYS = 30
MAX_LETTER_TEXT = 10_000
MAX_NOTE = 2000
# The core's NPI messages, for the Spanish catalogue (the core has no Django).
NPI_MESSAGES = (
    gettext_noop("An NPI is ten digits and starts with 1 or 2."),
    gettext_noop("This NPI's check digit does not match: please re-check it for a typo."),
)


def _email_digest(email: str) -> str:
    """A keyed hash: the attempts table never holds an address in the clear."""
    key = settings.SECRET_KEY.encode()
    return hmac.new(key, email.strip().lower().encode(), hashlib.sha256).hexdigest()


def _token_hash(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def _triage_of(instruments: Mapping[str, Mapping[str, int | None]], red_flags: Iterable[str],
              *, clinician_reports_suicide_risk: bool = False) -> Triage:
    try:
        return triage(instruments=instruments, red_flags=red_flags,
                      clinician_reports_suicide_risk=clinician_reports_suicide_risk)
    except TriageInputError:
        raise ValidationError({"__all__": _("Some answers could not be read: please start again.")}) from None


# --- abuse resistance ------------------------------------------------------------------------


class RateLimited(Exception):
    """Too many referrals from this client address: the person is asked to call instead."""


def _recent(**filters: object) -> int:
    window = timedelta(seconds=settings.REFERRAL_WINDOW_SECONDS)
    return SubmissionAttempt.objects.filter(created_at__gte=timezone.now() - window, **filters).count()


def _check_address(ip: str) -> None:
    if ip and _recent(ip=ip, outcome__in=("stored", "email_limit", "automated")) >= settings.REFERRAL_MAX_PER_IP:
        raise RateLimited


def _email_over_limit(email: str) -> bool:
    if not email:
        return False
    window = timedelta(seconds=settings.REFERRAL_EMAIL_WINDOW_SECONDS)
    return SubmissionAttempt.objects.filter(
        email_hash=_email_digest(email), outcome="stored", created_at__gte=timezone.now() - window
    ).count() >= settings.REFERRAL_MAX_PER_EMAIL


def record_automated(*, organization: Organization, ip: str) -> None:
    SubmissionAttempt.objects.create(organization=organization, ip=ip, outcome="automated")


# --- submission ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Submitted:
    """What the person is told is the same whether or not anything new was stored."""

    referral: Referral | None
    created: bool
    triage: Triage


def _intake_team_ids(organization: Organization) -> list[int]:
    """Everyone who may triage referrals in the organisation."""
    roles = [r.value for r in Role if Perm.REFERRAL_TRIAGE in ROLE_PERMISSIONS[r]]
    return sorted(set(
        Membership.objects.filter(organization=organization, is_active=True, role__in=roles)
        .values_list("user_id", flat=True)
    ))


def _raise_risk_task(referral: Referral, result: Triage) -> Task:
    team = _intake_team_ids(referral.organization)
    emergency = result.urgency == Urgency.EMERGENCY
    url = reverse("referrals:detail", args=[referral.id])
    return task_create(
        by=None, organization=referral.organization, kind=RISK_TASK_KIND,
        priority=Task.Priority.EMERGENCY if emergency else Task.Priority.URGENT,
        title=f"{'Emergency' if emergency else 'Urgent'}: new referral with a positive suicide-risk screen",
        detail="Contact the person today and assess suicide risk.\n" + "\n".join(result.reasons)
        + f"\nReferral: {url}",
        data={"referral_id": referral.id, "reasons": list(result.reasons), "url": url},
        subject_type="referral", subject_id=referral.id,
        assignee_ids=team, assigned_role="" if team else Role.ADMIN.value, notify=True,
    )


def _status_link(referral: Referral) -> str:
    raw = secrets.token_urlsafe(32)
    StatusLink.objects.create(
        organization=referral.organization, referral=referral, token_hash=_token_hash(raw),
        expires_at=timezone.now() + timedelta(days=STATUS_LINK_DAYS),
    )
    return raw


def _send_confirmation_on_commit(referral: Referral, raw: str) -> None:
    to = referral.email if referral.kind == Referral.Kind.SELF else referral.referrer_email
    if not to:
        return
    link = settings.SITE_URL.rstrip("/") + reverse("referrals:status_open", args=[raw])
    organization = referral.organization
    with translation.override(referral.preferred_language if referral.kind == Referral.Kind.SELF else "en"):
        subject = _("[%(clinic)s] We received your referral") % {"clinic": organization.name}
        body = _(
            "Thank you. %(clinic)s received the referral and its intake team will review it "
            "and contact you.\n\n"
            "You can see its status once with this link (it works for %(days)s days):\n%(link)s\n\n"
            "If you are in crisis or thinking about harming yourself, do not wait for us:\n%(crisis)s\n"
        ) % {"clinic": organization.name, "days": STATUS_LINK_DAYS, "link": link,
             "crisis": crisis_text(organization)}
    transaction.on_commit(
        lambda: send_mail(subject=subject, message=body, from_email=None, recipient_list=[to],
                          fail_silently=True)
    )


def referral_submit(
    *,
    organization: Organization,
    kind: str,
    person: Mapping[str, Any],
    story: Mapping[str, Any],
    instruments: Mapping[str, Mapping[str, int | None]] | None = None,
    red_flags: Iterable[str] = (),
    consent_to_contact: bool,
    submission_key: str,
    crisis_shown: bool = False,
    referrer: Mapping[str, Any] | None = None,
    clinician_reports_suicide_risk: bool = False,
    letter: tuple[str, bytes] | None = None,
    ip: str = "",
    user_agent: str = "",
) -> Submitted:
    """Store a referral from a public form. A second post with the same `submission_key`
    returns the first referral and stores nothing; an email over its daily limit stores
    nothing unless the answers show suicide risk (a risk is never dropped)."""
    if kind not in Referral.Kind.values:
        raise ValidationError({"kind": "Unknown kind of referral."})
    errors: dict[str, Any] = {}
    cleaned: dict[str, Any] = {}
    parts: list[tuple[Any, Mapping[str, Any]]] = [(lambda d: clean_person(d, kind=kind), person),
                                                  (clean_story, story)]
    if kind == Referral.Kind.CLINICIAN:
        parts.append((clean_referrer, referrer or {}))
    for clean, raw in parts:
        try:
            cleaned.update(clean(raw))
        except ValidationError as exc:
            errors.update(exc.message_dict)
    if not consent_to_contact:
        errors["consent_to_contact"] = [_("We can only help if we may contact you: please tick the box.")]
    flags = list(red_flags)
    if any(f not in RED_FLAG_IDS for f in flags):
        errors["red_flags"] = [_("Choose from the listed conditions.")]
    if letter is not None:
        try:
            check_letter(*letter)
        except ValidationError as exc:
            errors.update(exc.message_dict)
    if not submission_key or len(submission_key) > 64:
        errors["__all__"] = [_("This form has expired: please start again.")]
    if errors:
        raise ValidationError(errors)
    result = _triage_of(instruments or {}, flags, clinician_reports_suicide_risk=clinician_reports_suicide_risk)
    contact_email = cleaned["email"] if kind == Referral.Kind.SELF else cleaned["referrer_email"]
    digest = _email_digest(contact_email) if contact_email else ""
    # The limits count stored attempts: one submission per address and per email at a time,
    # on every server, so two at once cannot both pass the last free slot.
    with serialized(*([f"referral-ip:{ip}"] if ip else []), *([f"referral-email:{digest}"] if digest else [])):
        _check_address(ip)
        existing = Referral.objects.filter(submission_key=submission_key).first()
        if existing is not None:
            return Submitted(existing, False, result)
        if not result.suicide_risk and _email_over_limit(contact_email):
            SubmissionAttempt.objects.create(organization=organization, ip=ip, email_hash=digest, outcome="email_limit")
            return Submitted(None, False, result)
        try:
            with transaction.atomic():
                referral = Referral.objects.create(
                    organization=organization, kind=kind, urgency=int(result.urgency),
                    triage=result.to_dict(), crisis_shown=crisis_shown or result.crisis,
                    consent_to_contact=True, submission_key=submission_key, **cleaned,
                )
                if letter is not None:
                    name, content = letter
                    ReferralLetter.objects.create(
                        organization=organization, referral=referral, filename=name[:200], content=content,
                        size=len(content), sha256=hashlib.sha256(content).hexdigest(),
                    )
                audit_record(
                    by=None, action=AuditAction.CREATE, object_type="referral", object_id=referral.id,
                    organization_id=organization.id, actor_email=f"{kind} referral form", ip=ip,
                    user_agent=user_agent,
                    detail={"kind": kind, "urgency": result.urgency.slug, "crisis": result.crisis,
                            "letter": letter is not None},
                )
                if result.suicide_risk:
                    _raise_risk_task(referral, result)
                SubmissionAttempt.objects.create(organization=organization, ip=ip, email_hash=digest, outcome="stored")
                _send_confirmation_on_commit(referral, _status_link(referral))
        except IntegrityError:
            # The same form posted twice at once: the other request stored it.
            existing = Referral.objects.filter(submission_key=submission_key).first()
            if existing is None:
                raise
            return Submitted(existing, False, result)
        return Submitted(referral, True, result)


# --- the status link -------------------------------------------------------------------------


class LinkRefused(Exception):
    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason  # "unknown", "used", "expired"


def status_link_use(*, raw: str, ip: str = "", user_agent: str = "") -> Referral:
    """Spend the single-use link; the caller keeps the referral's id in the session."""
    with transaction.atomic():
        link = (StatusLink.objects.select_for_update().select_related("referral")
                .filter(token_hash=_token_hash(raw)).first())
        if link is None:
            raise LinkRefused("unknown")
        if link.used_at is not None:
            raise LinkRefused("used")
        if link.expires_at <= timezone.now():
            raise LinkRefused("expired")
        link.used_at = timezone.now()
        link.save(update_fields=["used_at"])
        audit_record(
            by=None, action=AuditAction.VIEW, object_type="referral_status", object_id=link.referral_id,
            organization_id=link.organization_id, actor_email="referral status link", ip=ip,
            user_agent=user_agent,
        )
    return link.referral


# --- the intake team's decisions -------------------------------------------------------------


def _referral_locked(by: Actor, referral_id: int) -> Referral:
    referral = Referral.objects.select_for_update().filter(id=referral_id, organization=by.organization).first()
    if referral is None:
        raise Http404("No such referral in your organisation.")
    if not referral.is_open:
        raise ValidationError({"__all__": "This referral was already decided."})
    return referral


class DuplicateFound(ValidationError):
    def __init__(self, patients: list[Patient]):
        super().__init__({"existing_patient_id": (
            "A patient with this name and date of birth is already registered: choose them, or "
            "confirm that this is a different person.")})
        self.patients = patients


@dataclass(frozen=True)
class Accepted:
    referral: Referral
    patient: Patient
    episode: Episode
    responses: list[MeasureResponse]


def _prescreen_responses(by: Actor, referral: Referral, patient: Patient) -> list[MeasureResponse]:
    """The pre-screen's complete instruments as measure responses of the new episode,
    dated when the person answered (scored and flagged again by the measures service)."""
    responses = []
    when = referral.created_at
    if when < timezone.now() - timedelta(days=365):
        return []  # older than the measures service accepts: not a current measure
    for instrument_id, outcome in (referral.triage.get("instruments") or {}).items():
        if not outcome.get("complete"):
            continue
        responses.append(response_enter(
            by=by, patient_id=patient.id, instrument_id=instrument_id,
            answers=outcome["answers"], occasion=Occasion.AD_HOC, completed_at=when,
        ))
    return responses


def referral_accept(
    *, by: Actor, referral_id: int, existing_patient_id: int | None = None, different_person: bool = False,
    note: str = "",
) -> Accepted:
    """Accept into the clinic: the patient (new, or the existing one the clinician chose
    after the duplicate check), an episode in intake and the pre-screen answers as
    measure responses, in one transaction."""
    require(by, Perm.REFERRAL_TRIAGE)
    require(by, Perm.PATIENT_CREATE)
    note = (note or "").strip()
    if len(note) > MAX_NOTE:
        raise ValidationError({"note": f"Keep the note under {MAX_NOTE} characters."})
    with transaction.atomic():
        referral = _referral_locked(by, referral_id)
        duplicates = duplicates_of(referral)
        if existing_patient_id is not None:
            if existing_patient_id not in {p.id for p in duplicates}:
                raise ValidationError({"existing_patient_id": "Choose one of the matching patients."})
            patient, _glass = patient_for(by, existing_patient_id, Perm.PATIENT_UPDATE)
        elif duplicates and not different_person:
            raise DuplicateFound(duplicates)
        else:
            data = {
                "legal_given_name": referral.given_name, "legal_family_name": referral.family_name,
                "date_of_birth": referral.date_of_birth, "sex_at_birth": referral.sex_at_birth,
                "email": referral.email, "phone": referral.phone,
                "preferred_language": referral.preferred_language,
            }
            patient = patient_create(by=by, data=data)
        episode = current_episode(patient)
        if episode is None:
            episode = episode_open(by=by, patient_id=patient.id)
        responses = _prescreen_responses(by, referral, patient)
        referral.status = Referral.Status.ACCEPTED
        referral.decided_at = timezone.now()
        referral.decided_by = by.user
        referral.decision_note = note
        referral.patient = patient
        referral.episode = episode
        referral.save()
        audit_record(
            by=by, action=AuditAction.UPDATE, object_type="referral", object_id=referral.id,
            patient_id=patient.id, reason=note,
            detail={"status": referral.status, "episode_id": episode.id, "existing_patient": existing_patient_id
                    is not None, "responses": [r.id for r in responses]},
        )
    return Accepted(referral, patient, episode, responses)


CLOSING_OUTCOMES = (Referral.Status.DECLINED, Referral.Status.REFERRED_ELSEWHERE)


def referral_close(
    *, by: Actor, referral_id: int, outcome: str, letter: str, referred_to: str = "", note: str = "",
    send: bool = True,
) -> Referral:
    """Decline, or refer elsewhere, with the letter as the clinician edited it; emailed to
    the person (or to the referring clinician) after commit when `send`."""
    require(by, Perm.REFERRAL_TRIAGE)
    errors: dict[str, str] = {}
    if outcome not in CLOSING_OUTCOMES:
        errors["outcome"] = "Choose decline or refer elsewhere."
    letter = (letter or "").strip()
    referred_to = (referred_to or "").strip()
    note = (note or "").strip()
    if len(letter) < 20:
        errors["letter"] = "Write the letter (at least 20 characters)."
    elif len(letter) > MAX_LETTER_TEXT:
        errors["letter"] = f"Keep the letter under {MAX_LETTER_TEXT} characters."
    if outcome == Referral.Status.REFERRED_ELSEWHERE and not referred_to:
        errors["referred_to"] = "Say where the person is referred."
    if len(referred_to) > 200:
        errors["referred_to"] = "Keep this under 200 characters."
    if len(note) > MAX_NOTE:
        errors["note"] = f"Keep the note under {MAX_NOTE} characters."
    if "\x00" in letter + referred_to + note:
        errors["letter"] = "The text contains a character that cannot be stored."
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        referral = _referral_locked(by, referral_id)
        referral.status = outcome
        referral.decided_at = timezone.now()
        referral.decided_by = by.user
        referral.decision_note = note
        referral.letter = letter
        referral.referred_to = referred_to
        referral.save()
        audit_record(
            by=by, action=AuditAction.UPDATE, object_type="referral", object_id=referral.id, reason=note,
            detail={"status": outcome, "referred_to": referred_to, "letter_sent": send},
        )
        to = referral.email or referral.referrer_email
        if send and to:
            with translation.override(referral.preferred_language):
                subject = _("[%(clinic)s] About your referral") % {"clinic": referral.organization.name}
            transaction.on_commit(
                lambda: send_mail(subject=subject, message=letter, from_email=None, recipient_list=[to],
                                  fail_silently=True)
            )
    return referral
