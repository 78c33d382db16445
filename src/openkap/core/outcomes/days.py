"""Clinic-local days of stored UTC instants, for a whole cohort at once.

The database hands over seconds since 1970 (UTC); the zone's offsets since 1900 are
walked once from Python's zoneinfo, and each instant finds its offset by a binary search
in NumPy (ADR 0082). Days are numbered from 1970-01-01 so that they are plain integers.
"""

from __future__ import annotations

import functools
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np

_EPOCH = date(1970, 1, 1).toordinal()
_DAY_SECONDS = 86_400


def day_number(day: date) -> int:
    return day.toordinal() - _EPOCH


def from_day_number(number: int) -> date:
    return date.fromordinal(number + _EPOCH)


@functools.lru_cache(maxsize=8)
def utc_offsets(zone_name: str) -> tuple[tuple[int, int], ...]:
    """The zone's UTC offsets in seconds from each change on, in time order, as (UTC
    seconds since 1970, offset seconds), from 1900 to ten years ahead: found day by day
    from the zone's own rules, then to the minute by bisection. The first entry stands
    for all time before 1900."""
    zone = ZoneInfo(zone_name)

    def offset(at: datetime) -> int:
        delta = at.astimezone(zone).utcoffset()
        return int(delta.total_seconds()) if delta is not None else 0

    day, end = datetime(1900, 1, 1, tzinfo=UTC), datetime(datetime.now(UTC).year + 10, 1, 1, tzinfo=UTC)
    changes = [(np.iinfo(np.int64).min, offset(day))]
    step = timedelta(days=1)
    while day < end:
        after = day + step
        old = offset(day)
        if offset(after) != old:
            low, high = 0, 24 * 60  # minutes into the day: the old offset at low, the new at high
            while high - low > 1:
                middle = (low + high) // 2
                low, high = (middle, high) if offset(day + timedelta(minutes=middle)) == old else (low, middle)
            change = day + timedelta(minutes=high)
            changes.append((int(change.timestamp()), offset(change)))
        day = after
    return tuple(changes)


@functools.lru_cache(maxsize=8)
def _table(zone_name: str) -> tuple[np.ndarray, np.ndarray]:
    changes = utc_offsets(zone_name)
    return (np.array([at for at, _ in changes], dtype=np.int64),
            np.array([seconds for _, seconds in changes], dtype=np.int64))


def local_day_numbers(utc_seconds: np.ndarray, zone_name: str) -> np.ndarray:
    """The clinic-local day number of each instant (whole seconds since 1970, UTC)."""
    instants, offsets = _table(zone_name)
    seconds = np.asarray(utc_seconds, dtype=np.int64)
    local = seconds + offsets[np.searchsorted(instants, seconds, side="right") - 1]
    days: np.ndarray = np.floor_divide(local, _DAY_SECONDS)
    return days
