"""Reads of intake, screening and eligibility, and of reassessment (eligibility judged
again after a series). No access check: the caller has done it."""

from __future__ import annotations

from datetime import datetime

from openkap.core.pathway import State
from openkap.pathway.models import (
    ContraindicationAnswer,
    EligibilityDecision,
    Episode,
    Intake,
    ReassessmentReview,
)


def _last_transition_at(episode: Episode, **filters: str) -> datetime | None:
    last = episode.transitions.filter(**filters).order_by("-at", "-id").first()
    return last.at if last else None


def eligibility_in_force(episode: Episode) -> EligibilityDecision | None:
    """The latest signed decision since the episode last went back to screening."""
    decisions = episode.eligibility_decisions.all()
    since = _last_transition_at(episode, name="rescreen")
    if since is not None:
        decisions = decisions.filter(signed_at__gt=since)
    return decisions.order_by("-signed_at", "-id").first()


def reassessment_in_force(episode: Episode) -> ReassessmentReview | None:
    since = _last_transition_at(episode, to_state=State.REASSESSMENT)
    reviews = episode.reassessments.all()
    if since is not None:
        reviews = reviews.filter(signed_at__gt=since)
    return reviews.order_by("-signed_at", "-id").first()


# --- records of an episode the page has already opened (episode_view audited it) ----------


def intake_of(episode: Episode | None) -> Intake | None:
    return Intake.objects.filter(episode=episode).select_related("weight").first() if episode else None


def contraindication_answers_of(episode: Episode | None) -> dict[str, ContraindicationAnswer]:
    if episode is None:
        return {}
    return {a.item_id: a for a in episode.contraindication_answers.select_related("answered_by")}


def eligibility_decisions_of(episode: Episode | None) -> list[EligibilityDecision]:
    """Newest first."""
    return list(episode.eligibility_decisions.order_by("-signed_at", "-id")) if episode else []


def reassessments_of(episode: Episode | None) -> list[ReassessmentReview]:
    return list(episode.reassessments.all()) if episode else []
