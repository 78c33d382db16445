"""The measure schedule follows the care pathway's events (``pathway.events``): each
receiver runs in the transaction of the pathway step that sent it. The pathway's guards
learn from measures which instruments an episode completed (``connect``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from openkap.accounts.authz import Actor
from openkap.pathway import events
from openkap.pathway import selectors as pathway_selectors
from openkap.pathway.models import Episode

from . import selectors, services


def on_episode_opened(*, by: Actor, episode: Episode, **_: Any) -> None:
    services.sync_schedule(episode, by=by)  # the baseline falls due at intake


def on_plan_signed(*, by: Actor, episode: Episode, plan: dict[str, list[str]], **_: Any) -> None:
    services.measure_plan_update(by=by, episode_id=episode.id, plan=plan)


def on_reassessment_started(*, by: Actor, episode: Episode, **_: Any) -> None:
    services.schedule_reassessment(by=by, episode_id=episode.id)


def on_integration_recorded(
    *, by: Actor, episode: Episode, dosing_session_id: int, held_at: datetime, **_: Any
) -> None:
    # The plan's after-integration measures fall due now (once per dosing session).
    services.schedule_after_integration(
        by=by, episode_id=episode.id, dosing_session_id=dosing_session_id, held_at=held_at
    )


def connect() -> None:
    # The pathway's guards count the baseline and reassessment measures done.
    pathway_selectors.completed_instruments_from(selectors.completed_instruments_of)
    events.episode_opened.connect(on_episode_opened, dispatch_uid="measures.baseline_at_intake")
    events.plan_signed.connect(on_plan_signed, dispatch_uid="measures.plan_schedule")
    events.reassessment_started.connect(on_reassessment_started, dispatch_uid="measures.reassessment")
    events.integration_recorded.connect(on_integration_recorded, dispatch_uid="measures.after_integration")
