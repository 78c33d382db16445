"""Reads of preparation and consent: the consent in force and the text to sign, the
safety plan, the session arrangements and the instructions sent before each session,
intentions; and the clinic's consent library. No access check on an episode's records:
the caller has done it."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from django.utils.translation import gettext as _

from openkap.accounts.authz import Actor, require
from openkap.core import consent_text
from openkap.core.authz import Perm
from openkap.core.pathway.plan import SAFETY_PLAN_SECTIONS
from openkap.core.routes import Route
from openkap.pathway.models import (
    ConsentDocument,
    ConsentSignature,
    Episode,
    Intention,
    PreparationSession,
    SafetyPlan,
    SessionArrangements,
)

from .plan import episode_route, plan_in_force
from .registered import _approved_protocol


@dataclass(frozen=True)
class ConsentStatus:
    route: Route | None
    document: ConsentDocument | None  # the version in force for the route
    signature: ConsentSignature | None  # the patient's latest signature for the route
    # The text to sign: the document's, its placeholders filled from the plan's protocol.
    text: str = ""
    # Why the placeholders cannot be filled yet ("" when they can, or there are none).
    unfilled: str = ""

    @property
    def text_sha256(self) -> str:
        return hashlib.sha256(self.text.encode()).hexdigest()

    @property
    def withdrawn(self) -> bool:
        return self.signature is not None and self.signature.withdrawn_at is not None

    @property
    def current(self) -> bool:
        return (
            self.document is not None
            and self.signature is not None
            and not self.withdrawn
            and self.signature.document_id == self.document.id
        )


def consent_document_in_force(organization_id: int, route: Route | None) -> ConsentDocument | None:
    if route is None:
        return None
    return (
        ConsentDocument.objects.filter(organization_id=organization_id, route=route)
        .order_by("-version")
        .first()
    )


def consent_text_for(episode: Episode, document: ConsentDocument) -> tuple[str, str]:
    """(text to sign, why it cannot be filled): the document's placeholders filled from
    the approved protocol the treatment plan names."""
    if not consent_text.placeholders(document.text):
        return document.text, ""
    plan = plan_in_force(episode)
    if plan is None or not plan.protocol_id:
        return document.text, "The consent states the protocol's facts: sign the treatment plan (naming its protocol) first."
    protocol = _approved_protocol(episode.organization_id, plan.protocol_id)
    if protocol is None:
        return document.text, (
            f"The consent states the protocol's facts, and the plan's protocol {plan.protocol_id} has no approved "
            "version in the library yet."
        )
    try:
        return consent_text.fill(document.text, consent_text.protocol_facts(protocol)), ""
    except KeyError as exc:  # a placeholder refused at publishing; kept for documents older than that rule
        return document.text, f"The consent names an unknown fact {exc.args[0]!r}: publish a corrected version."


def consent_status(episode: Episode, route: Route | None = None) -> ConsentStatus:
    route = route if route is not None else episode_route(episode)
    document = consent_document_in_force(episode.organization_id, route)
    signature = (
        ConsentSignature.objects.filter(episode=episode, document__route=route)
        .select_related("document")
        .order_by("-signed_at", "-id")
        .first()
        if route is not None
        else None
    )
    text, unfilled = consent_text_for(episode, document) if document is not None else ("", "")
    return ConsentStatus(route, document, signature, text, unfilled)


def latest_safety_plan(episode: Episode) -> SafetyPlan | None:
    return episode.safety_plans.order_by("-recorded_at", "-id").first()


def safety_plan_sections(plan: SafetyPlan | None) -> dict[str, str]:
    return {key: getattr(plan, key) if plan else "" for key in SAFETY_PLAN_SECTIONS}


def arrangements_of(episode: Episode) -> SessionArrangements | None:
    return SessionArrangements.objects.filter(episode=episode).first()


@dataclass(frozen=True)
class PreSessionInstructions:
    """What the patient is told before each dosing session (reminders use it too)."""

    fasting: str
    medications_to_hold: str
    what_to_bring: str
    escort_name: str
    escort_phone: str

    def as_text(self) -> str:
        """The instructions as plain text in the active language (the caller activates
        the patient's)."""
        parts = [
            (_("Fasting"), self.fasting),
            (_("Medications to hold"), self.medications_to_hold),
            (_("What to bring"), self.what_to_bring),
        ]
        lines = [f"{label}: {text.strip()}" for label, text in parts if text.strip()]
        if self.escort_name:
            lines.append(_("Your escort home: %(name)s, %(phone)s.") % {"name": self.escort_name,
                                                                        "phone": self.escort_phone})
        return "\n".join(lines)


def pre_session_instructions(episode: Episode) -> PreSessionInstructions:
    a = arrangements_of(episode)
    if a is None:
        return PreSessionInstructions("", "", "", "", "")
    return PreSessionInstructions(
        a.fasting, a.medications_to_hold, a.what_to_bring, a.escort_name, a.escort_phone
    )


# --- records of an episode the page has already opened (episode_view audited it) ----------


def preparation_sessions_of(episode: Episode | None) -> list[PreparationSession]:
    if episode is None:
        return []
    return list(PreparationSession.objects.filter(episode=episode).select_related("therapist"))


def intentions_of(episode: Episode | None) -> list[Intention]:
    return list(episode.intentions.select_related("written_by")) if episode else []


def consent_signatures_of(episode: Episode | None) -> list[ConsentSignature]:
    if episode is None:
        return []
    return list(episode.consent_signatures.select_related("document", "recorded_by"))


# --- the consent library (documents, no patient data) ---------------------------------------


def consent_documents(*, by: Actor) -> list[ConsentDocument]:
    require(by, Perm.CONSENT_MANAGE)
    return list(ConsentDocument.objects.filter(organization=by.organization).select_related("published_by"))


def consent_document_of(*, by: Actor, document_id: int) -> ConsentDocument | None:
    """One of the organisation's consent documents (None in another organisation)."""
    require(by, Perm.CONSENT_MANAGE)
    return ConsentDocument.objects.filter(organization=by.organization, id=document_id).first()


def signature_count(document: ConsentDocument) -> int:
    return document.signatures.count()
