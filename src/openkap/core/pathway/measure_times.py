"""When an episode's scheduled measures fall due, from the pathway's own events.

Pure: the measures app passes the episode's opening and its dosing sessions, and
stores the slots this returns. Rules (DESIGN.md §2, issue 21.6):

- baseline: due when the episode opens, overdue 14 days later or at the first dosing
  session, whichever comes first;
- before each dosing session: due 3 days before it, never before the session was
  booked or the episode opened (a session booked for tomorrow is due at once; a
  late entry of a session already held keeps the 3 days),
  overdue when it starts (check-in, else the booked time);
- follow-up at 1, 3 and 6 months after the series: counted from the last session's
  discharge, or its start while it has not been discharged.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

BASELINE = "baseline"
BEFORE_DOSING = "before_dosing"
FOLLOW_UP = "follow_up"
# Placed by the measures app when an integration session is held ("After integration of session 2").
AFTER_INTEGRATION = "after_integration"

BASELINE_WINDOW = timedelta(days=14)
BEFORE_DOSING_LEAD = timedelta(days=3)
FOLLOW_UP_WINDOW = timedelta(days=14)
FOLLOW_UP_MONTHS = (1, 3, 6)
DAYS_PER_MONTH = 30.44


@dataclass(frozen=True)
class SessionTimes:
    """What the schedule needs of one dosing session."""

    id: int
    booked_at: datetime
    start: datetime  # check-in if it happened, else the booked start
    discharged_at: datetime | None = None
    cancelled: bool = False


@dataclass(frozen=True)
class Slot:
    occasion: str
    key: str
    label: str
    due_at: datetime
    overdue_at: datetime


def follow_up_due(anchor: datetime, months: int) -> datetime:
    return anchor + timedelta(days=round(months * DAYS_PER_MONTH))


def follow_up_key(months: int) -> str:
    return f"{months}m"


def slots(opened_at: datetime, sessions: Sequence[SessionTimes]) -> tuple[list[Slot], set[str]]:
    """The episode's slots, and the keys of its cancelled sessions (whose open
    before-dosing measures the caller cancels). Sessions in booking order."""
    active = sorted((s for s in sessions if not s.cancelled), key=lambda s: (s.start, s.id))
    cancelled = {f"dosing:{s.id}" for s in sessions if s.cancelled}
    baseline_overdue = opened_at + BASELINE_WINDOW
    if active:
        baseline_overdue = max(opened_at, min(baseline_overdue, active[0].start))
    out = [Slot(BASELINE, "", "Baseline", opened_at, baseline_overdue)]
    for number, session in enumerate(active, 1):
        # A late entry (booked after it began) does not move the due time.
        floor = opened_at if session.booked_at >= session.start else max(opened_at, session.booked_at)
        due = min(max(session.start - BEFORE_DOSING_LEAD, floor), session.start)
        out.append(Slot(BEFORE_DOSING, f"dosing:{session.id}", f"Before dosing session {number}", due, session.start))
    if active:
        last = active[-1]
        anchor = last.discharged_at or last.start
        for months in FOLLOW_UP_MONTHS:
            due = follow_up_due(anchor, months)
            out.append(Slot(FOLLOW_UP, follow_up_key(months), f"{months}-month follow-up", due,
                            due + FOLLOW_UP_WINDOW))
    return out, cancelled


# The due state of an open measure, as a code the pages put into words in the reader's
# language (openkap.measures.wording); "_before_session" when a dosing session bounds it.
UPCOMING, DUE, OVERDUE = "upcoming", "due", "overdue"
BEFORE_SESSION = "_before_session"
_NUMBERED = re.compile(r"(\d+)$")


def due_state(occasion: str, due_at: datetime, overdue_at: datetime, now: datetime) -> str:
    """``upcoming``, ``due`` or ``overdue``, with ``_before_session`` for a before-dosing
    measure (whose overdue time is the session's start)."""
    state = OVERDUE if now >= overdue_at else DUE if now >= due_at else UPCOMING
    return state + BEFORE_SESSION if occasion == BEFORE_DOSING else state


def occasion_number(occasion: str, key: str, label: str) -> int | None:
    """The number in a scheduled occasion's label: the dosing session's ("Before dosing
    session 2", "After integration of session 2") or the follow-up's months (its key,
    "3m"); None for the baseline and for occasions a clinician named."""
    if occasion == FOLLOW_UP and key.endswith("m") and key[:-1].isdigit():
        return int(key[:-1])
    if occasion in (BEFORE_DOSING, AFTER_INTEGRATION) and key.startswith("dosing:"):
        found = _NUMBERED.search(label)
        return int(found.group(1)) if found else None
    return None
