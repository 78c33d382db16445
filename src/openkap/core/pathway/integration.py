"""Integration due after each dosing session.

Each dosing session is followed by an integration session within a window
(default 7 days, a clinic setting). The Django layer passes one record per
dosing session with the date of the earliest integration session linked to
it; dates are the clinic's local calendar dates.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta

DEFAULT_INTEGRATION_WINDOW_DAYS = 7


@dataclass(frozen=True)
class DosingRecord:
    session_id: str
    dosed_on: date
    integrated_on: date | None = None


@dataclass(frozen=True)
class IntegrationDue:
    session_id: str
    dosed_on: date
    due_by: date
    days_overdue: int  # 0 while still within the window

    @property
    def overdue(self) -> bool:
        return self.days_overdue > 0


def _check(records: Iterable[DosingRecord], today: date, window_days: int) -> list[DosingRecord]:
    if window_days < 0:
        raise ValueError("The integration window cannot be negative.")
    checked = list(records)
    for value in (today, *(r.dosed_on for r in checked), *(r.integrated_on for r in checked)):
        # datetime is a date subclass; a timestamp here would compare in the wrong zone.
        if isinstance(value, datetime):
            raise ValueError("Integration dates must be calendar dates, not timestamps.")
    for r in checked:
        if r.integrated_on is not None and r.integrated_on < r.dosed_on:
            raise ValueError(
                f"Dosing session {r.session_id} on {r.dosed_on.isoformat()} cannot be integrated "
                f"before it happened ({r.integrated_on.isoformat()})."
            )
    return checked


def open_integrations(
    records: Iterable[DosingRecord],
    *,
    today: date,
    window_days: int = DEFAULT_INTEGRATION_WINDOW_DAYS,
) -> list[IntegrationDue]:
    """Dosing sessions still waiting for their integration session, soonest due first."""
    due = []
    for r in _check(records, today, window_days):
        if r.integrated_on is not None:
            continue
        due_by = r.dosed_on + timedelta(days=window_days)
        due.append(IntegrationDue(r.session_id, r.dosed_on, due_by, max(0, (today - due_by).days)))
    return sorted(due, key=lambda d: (d.due_by, d.session_id))


def overdue_integrations(
    records: Iterable[DosingRecord],
    *,
    today: date,
    window_days: int = DEFAULT_INTEGRATION_WINDOW_DAYS,
) -> list[IntegrationDue]:
    """Dosing sessions whose integration window has passed with no integration session."""
    return [
        d for d in open_integrations(records, today=today, window_days=window_days) if d.overdue
    ]
