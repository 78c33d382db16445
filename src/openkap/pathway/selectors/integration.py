"""Reads of integration: the held dosing sessions and the integration due after each,
integration notes, the patient's journal and commitments. No access check: the caller
has done it."""

from __future__ import annotations

from datetime import date, timedelta

from django.core.paginator import Page, Paginator
from django.utils import timezone

from openkap.core.pathway import IntegrationDue, open_integrations
from openkap.core.pathway.integration import DEFAULT_INTEGRATION_WINDOW_DAYS, DosingRecord
from openkap.pathway.models import Commitment, Episode, IntegrationNote, JournalEntry, TreatmentPlan
from openkap.patients.models import Patient

from .plan import plan_in_force
from .registered import HeldSession, held_sessions_of


def held_dosing_sessions(episode: Episode) -> list[HeldSession]:
    """The episode's held dosing sessions, in the order they were booked."""
    return held_sessions_of([episode.id])


def integration_window_days(episode: Episode, plan: TreatmentPlan | None = None) -> int:
    plan = plan if plan is not None else plan_in_force(episode)
    return plan.integration_cadence_days if plan else DEFAULT_INTEGRATION_WINDOW_DAYS


def dosing_records(episode: Episode) -> list[DosingRecord]:
    """One record per held dosing session with the date of its first integration note."""
    return [_dosing_record(s) for s in held_dosing_sessions(episode)]


def _dosing_record(session: HeldSession) -> DosingRecord:
    return DosingRecord(str(session.id), session.dosed_on, session.integrated_on)


def integration_due(
    episode: Episode, today: date | None = None, window_days: int | None = None
) -> list[IntegrationDue]:
    """Dosing sessions still waiting for integration, soonest due first (overdue ones flagged).
    ``window_days``: the plan's window when the caller has already read it."""
    return open_integrations(
        dosing_records(episode),
        today=today or timezone.localdate(),
        window_days=window_days if window_days is not None else integration_window_days(episode),
    )


# --- records of an episode the page has already opened (episode_view audited it) ----------


def integration_notes_of(episode: Episode | None) -> list[IntegrationNote]:
    if episode is None:
        return []
    return list(IntegrationNote.objects.filter(episode=episode).select_related("author", "dosing_session"))


# Journal entries a page, newest first (the first page is what the journal always showed).
JOURNAL_PER_PAGE = 100


def journal_of(patient: Patient, page: int = 1) -> tuple[Page[JournalEntry], list[Commitment]]:
    """A page of the journal (a page past the last is the last) and every practice."""
    entries = Paginator(JournalEntry.objects.filter(patient=patient).order_by("-written_at", "-id"),
                        JOURNAL_PER_PAGE).get_page(page)
    commitments = list(
        Commitment.objects.filter(patient=patient).prefetch_related("checks").order_by("created_at", "id")
    )
    return entries, commitments


def recent_days(days: int = 14) -> list[date]:
    today = timezone.localdate()
    return [today - timedelta(days=n) for n in range(days - 1, -1, -1)]
