"""The words of a scheduled measure in the reader's language: its occasion ("Before
dosing session 2") and its due state ("Due now, before the dosing session on Thursday
10 December at 09:00"). Core decides the state and the numbers (core.pathway.
measure_times); the words are gettext's, the dates Django's, so a Spanish reader gets
"jueves 10 de diciembre"."""

from __future__ import annotations

from datetime import datetime

from django.utils import dateformat
from django.utils.translation import gettext as _
from django.utils.translation import ngettext, pgettext

from openkap.core.pathway import measure_times as mt


def _day(at: datetime, now: datetime) -> str:
    if at.year == now.year:
        return dateformat.format(at, pgettext("weekday, day and month", "l j F"))
    return dateformat.format(at, pgettext("weekday, day, month and year", "l j F Y"))


def due_words(occasion: str, due_at: datetime, overdue_at: datetime, now: datetime) -> str:
    """The due state in words; give the times in the reader's zone."""
    state = mt.due_state(occasion, due_at, overdue_at, now)
    names = {"start": _day(due_at, now), "end": _day(overdue_at, now), "time": f"{overdue_at:%H:%M}"}
    words = {
        mt.OVERDUE + mt.BEFORE_SESSION: _("Overdue: due before the dosing session on %(end)s at %(time)s"),
        mt.DUE + mt.BEFORE_SESSION: _("Due now, before the dosing session on %(end)s at %(time)s"),
        mt.UPCOMING + mt.BEFORE_SESSION: _("Due from %(start)s, before the dosing session on %(end)s at %(time)s"),
        mt.OVERDUE: _("Overdue since %(end)s"),
        mt.DUE: _("Due now, by %(end)s"),
        mt.UPCOMING: _("Due from %(start)s to %(end)s"),
    }
    return words[state] % names


def occasion_words(occasion: str, key: str, label: str, fallback: str) -> str:
    """A scheduled occasion's name in the reader's language; an occasion a clinician
    named keeps their words (``fallback`` when they wrote none)."""
    number = mt.occasion_number(occasion, key, label)
    if occasion == mt.BASELINE and not key:
        return _("Baseline")
    if occasion == mt.BEFORE_DOSING and number is not None:
        return _("Before dosing session %(number)s") % {"number": number}
    if occasion == mt.AFTER_INTEGRATION and number is not None:
        return _("After integration of session %(number)s") % {"number": number}
    if occasion == mt.FOLLOW_UP and number is not None:
        return ngettext("%(months)s-month follow-up", "%(months)s-month follow-up", number) % {"months": number}
    return label or fallback
