"""What pathway reads of the apps above it, registered by them at start-up.

Pathway imports neither measures nor dosing (the import-linter contracts; ADR 0058, ADR
0064): each registers its selector here, and pathway works on the plain values returned.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import date

from django.db.models import QuerySet

from openkap.core.protocols import Protocol
from openkap.pathway.models import Episode

# Which instruments each episode completed for an occasion: the measures app owns the
# answers and registers its selector at start-up (measures.receivers), so pathway never
# imports measures. Unregistered, nothing counts as completed and the guards refuse.
CompletedInstruments = Callable[..., Mapping[int, frozenset[str]]]


_completed_instruments: list[CompletedInstruments] = []


def completed_instruments_from(selector: CompletedInstruments) -> None:
    """Register ``selector(episode_ids, phase=...)`` as the source of completed instruments."""
    _completed_instruments[:] = [selector]


def _completed_instruments_of(episode_ids: list[int], phase: str) -> dict[int, frozenset[str]]:
    if not _completed_instruments:
        return {}
    return dict(_completed_instruments[0](episode_ids, phase=phase))


# What pathway asks of the dosing app: the held sessions (integration is due after each)
# and the approved version of the plan's protocol (the consent states its facts). Dosing
# owns both and registers its selectors at start-up (DosingConfig.ready), so pathway never
# imports dosing (ADR 0064). Unregistered, no session was held and no protocol approved.
@dataclass(frozen=True)
class HeldSession:
    """A dosing session in which the medicine was given (the dosing app's rule)."""

    id: int
    episode_id: int
    dosed_on: date  # the local day of check-in, or of the booking
    integrated_on: date | None  # the day of its first integration session


HeldSessions = Callable[[Iterable[int] | QuerySet[Episode]], list[HeldSession]]


ApprovedProtocol = Callable[[int, str], Protocol | None]


_held_sessions: list[HeldSessions] = []


_approved_protocols: list[ApprovedProtocol] = []


def dosing_reads_from(*, held_sessions: HeldSessions, approved_protocol: ApprovedProtocol) -> None:
    """Register ``held_sessions(episodes)`` (episode ids or a queryset of episodes; in
    booking order) and ``approved_protocol(organization_id, protocol_id)`` (the newest
    approved version's protocol)."""
    _held_sessions[:] = [held_sessions]
    _approved_protocols[:] = [approved_protocol]


def held_sessions_of(episodes: Iterable[int] | QuerySet[Episode]) -> list[HeldSession]:
    return _held_sessions[0](episodes) if _held_sessions else []


def _approved_protocol(organization_id: int, protocol_id: str) -> Protocol | None:
    return _approved_protocols[0](organization_id, protocol_id) if _approved_protocols else None
