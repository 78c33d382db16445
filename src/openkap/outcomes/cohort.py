"""Reading a cohort out of the database for `openkap.core.outcomes`.

Rows are read with `values_list` and streamed in patient order: the sessions first
(one row per held dosing session, a few columns), then the scores of one instrument,
merged patient by patient, so that memory holds one patient's scores at a time plus
one small record per enrolled patient. Filters that are columns (organisation,
instrument) are applied in SQL; those that depend on the first session (date, site,
route) are applied while reading the sessions.
"""

from __future__ import annotations

import dataclasses
import functools
import itertools
import operator
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, tzinfo
from typing import Any
from zoneinfo import ZoneInfo

from django.db import connection
from django.db.models import DateField, F, Func, IntegerField, QuerySet, Value
from django.db.models.fields.json import KeyTransform
from django.db.models.functions import Coalesce
from django.utils import timezone

from openkap.core.outcomes import (
    DEFAULT_DEFINITIONS,
    OutcomeDefinitions,
    PatientInput,
    PatientOutcome,
    Score,
    patient_outcome,
)
from openkap.core.routes import Route
from openkap.dosing.models import DosingSession
from openkap.history.selectors import imported_sessions
from openkap.measures.models import MeasureResponse
from openkap.pathway.models import Intake, TreatmentPlan
from openkap.patients.models import CareTeamMember

CHUNK = 5000


@dataclass(frozen=True)
class CohortFilters:
    instrument: str = "phq9"
    date_from: date | None = None  # first dosing session on or after
    date_to: date | None = None  # ... and on or before
    site_id: int | None = None
    clinician_id: int | None = None  # on the patient's care team
    route: Route | None = None  # of the first session
    diagnosis: str = ""  # ICD-10 code or its start, from the episode's intake
    baseline_band: str = ""  # a band id of the instrument
    endpoint_from_days: int = DEFAULT_DEFINITIONS.endpoint_from_days
    endpoint_to_days: int = DEFAULT_DEFINITIONS.endpoint_to_days

    @property
    def definitions(self) -> OutcomeDefinitions:
        return DEFAULT_DEFINITIONS.with_endpoint(self.endpoint_from_days, self.endpoint_to_days)

    def as_dict(self) -> dict[str, object]:
        return {
            k: (v.isoformat() if isinstance(v, date) else str(v) if isinstance(v, Route) else v)
            for k, v in dataclasses.asdict(self).items()
        }


@dataclass
class Enrolled:
    """What the report needs of one enrolled patient besides scores."""

    patient_id: int
    site_id: int
    episode_id: int
    route: str
    session_days: list[date] = field(default_factory=list)


def _raw(queryset: QuerySet[Any]) -> Iterator[tuple[Any, ...]]:
    """The queryset's rows without Django's per-value converters, in chunks from a
    server-side cursor: the converters (timestamp parsing, time-zone objects) cost
    more than the query itself on a large cohort. Callers convert what they read."""
    sql, params = queryset.query.sql_with_params()
    with connection.chunked_cursor() as cursor:
        cursor.execute(sql, params)
        while rows := cursor.fetchmany(CHUNK):
            yield from rows


@functools.lru_cache(maxsize=8)
def utc_offsets(zone_name: str) -> tuple[tuple[str, int], ...]:
    """The zone's UTC offsets in minutes from each change on, newest first, as
    ('YYYY-MM-DD HH:MM:SS' UTC, minutes), from 1900 to ten years ahead: found day by day
    from the zone's own rules, then to the minute by bisection."""
    zone = ZoneInfo(zone_name)

    def offset(at: datetime) -> int:
        delta = at.astimezone(zone).utcoffset()
        return int(delta.total_seconds() // 60) if delta is not None else 0

    day, end = datetime(1900, 1, 1, tzinfo=UTC), datetime(datetime.now(UTC).year + 10, 1, 1, tzinfo=UTC)
    changes = [("0000-01-01 00:00:00", offset(day))]
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
            changes.append((change.strftime("%Y-%m-%d %H:%M:%S"), offset(change)))
        day = after
    return tuple(reversed(changes))


def _offset_search(sql: str, params: tuple[Any, ...], changes: tuple[tuple[str, int], ...]) -> tuple[str, list[Any]]:
    """SQL giving the date modifier ('-300 minutes') of the last change at or before the
    instant `sql`, for `changes` in time order (the first from the year 0): a binary
    search written as nested CASEs, so a row is compared about eight times, not once per
    change newer than it (twenty for a row of 2025 against a table running ten years ahead)."""
    if len(changes) == 1:
        return "%s", [f"{changes[0][1]:+d} minutes"]
    middle = len(changes) // 2
    later_sql, later_params = _offset_search(sql, params, changes[middle:])
    earlier_sql, earlier_params = _offset_search(sql, params, changes[:middle])
    return (f"CASE WHEN {sql} >= %s THEN {later_sql} ELSE {earlier_sql} END",
            [*params, changes[middle][0], *later_params, *earlier_params])


class LocalDate(Func):
    """The clinic-local calendar day of a stored (UTC) timestamp, computed by the
    database: PostgreSQL with ``AT TIME ZONE`` and its own zone data; SQLite from the
    zone's offsets since 1900 (``utc_offsets``) by a binary search in SQL. Converting in
    Python cost more than reading the rows (ADR 0061)."""

    output_field = DateField()

    def __init__(self, expression: Any, zone_name: str) -> None:
        super().__init__(expression)
        self.zone_name = zone_name

    def as_postgresql(self, compiler: Any, connection: Any, **extra: Any) -> tuple[str, list[Any]]:
        sql, params = compiler.compile(self.source_expressions[0])
        return f"(({sql}) AT TIME ZONE %s)::date", [*params, self.zone_name]

    def as_sqlite(self, compiler: Any, connection: Any, **extra: Any) -> tuple[str, tuple[Any, ...]]:
        sql, params = compiler.compile(self.source_expressions[0])
        modifier, args = _offset_search(sql, tuple(params), tuple(reversed(utc_offsets(self.zone_name))))
        return f"date({sql}, {modifier})", (*params, *args)


@functools.lru_cache(maxsize=4096)
def _iso_date(text: str) -> date:
    return date.fromisoformat(text)


def as_date(value: date | str) -> date:
    """A LocalDate read raw: a date (PostgreSQL) or its ISO text (SQLite; a cohort's rows
    fall on a few hundred distinct days, so each is parsed once)."""
    return value if isinstance(value, date) else _iso_date(value)


def local_day(value: datetime | str, zone: tzinfo | None = None) -> date:
    """The clinic-local day of a stored timestamp: an aware datetime (PostgreSQL), or
    SQLite's UTC as text or as a naive datetime (its declared-type converter)."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)  # stored in UTC; never the process's zone
    return value.astimezone(zone or timezone.get_current_timezone()).date()


def _item(value: object) -> int | None:
    """An item answer read raw from JSON: a number, or its text on PostgreSQL."""
    if type(value) is int:  # not isinstance: a JSON true is no answer
        return value
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return None


def normalise_icd10(code: str) -> str:
    return code.replace(".", "").strip().upper()


def enrolled_patients(organization_id: int, filters: CohortFilters) -> dict[int, Enrolled]:
    """Patients with a held dosing session whose first session matches the filters."""

    plan_route = dict(
        TreatmentPlan.objects.filter(organization_id=organization_id)
        .order_by("episode_id", "version")
        .values_list("episode_id", "route")
    )
    rows = (
        DosingSession.objects.held()
        .filter(organization_id=organization_id)
        .annotate(at=Coalesce("administration_started_at", "scheduled_start"))
        .annotate(day=LocalDate("at", timezone.get_current_timezone_name()))
        .order_by("patient_id", "at", "id")
        .values_list("id", "patient_id", "site_id", "episode_id", "day", F("protocol_version__route"))
    )
    imported = imported_sessions(organization_id)
    enrolled: dict[int, Enrolled] = {}
    for session_id, patient_id, site_id, episode_id, raw_day, route in _raw(rows):
        day = as_date(raw_day)
        record = enrolled.get(patient_id)
        if record is None:
            record = enrolled[patient_id] = Enrolled(
                patient_id, site_id, episode_id,
                route or imported.get(session_id, {}).get("route") or plan_route.get(episode_id, ""),
            )
        record.session_days.append(day)
    keep = {
        pid: e
        for pid, e in enrolled.items()
        if (filters.date_from is None or e.session_days[0] >= filters.date_from)
        and (filters.date_to is None or e.session_days[0] <= filters.date_to)
        and (filters.site_id is None or e.site_id == filters.site_id)
        and (filters.route is None or e.route == filters.route)
    }
    if filters.clinician_id is not None:
        team = set(
            CareTeamMember.objects.filter(organization_id=organization_id, user_id=filters.clinician_id)
            .values_list("patient_id", flat=True)
        )
        keep = {pid: e for pid, e in keep.items() if pid in team}
    if filters.diagnosis:
        wanted = normalise_icd10(filters.diagnosis)
        episodes = {e.episode_id for e in keep.values()}
        matching = {
            episode_id
            for episode_id, diagnoses in Intake.objects.filter(organization_id=organization_id)
            .values_list("episode_id", "diagnoses")
            .iterator(chunk_size=CHUNK)
            if episode_id in episodes
            and any(normalise_icd10(str(d.get("code", ""))).startswith(wanted) for d in diagnoses or [])
        }
        keep = {pid: e for pid, e in keep.items() if e.episode_id in matching}
    return keep


def _score_rows(organization_id: int, instrument_id: str) -> Iterator[tuple[Any, ...]]:
    """(patient id, day, total, item 9 or None) of the instrument's scores, in patient
    and completion order."""

    rows = (
        MeasureResponse.objects.filter(
            organization_id=organization_id, instrument_id=instrument_id, is_scored=True,
            correction__isnull=True,  # a corrected response counts through its correction
        )
        .annotate(day=LocalDate("completed_at", timezone.get_current_timezone_name()),
                  q9=KeyTransform("q9", "answers") if instrument_id == "phq9" else Value(None, IntegerField()))
        .order_by("patient_id", "completed_at", "id")
        .values_list("patient_id", "day", "total", "q9")
    )
    return _raw(rows)


def patient_outcomes(
    organization_id: int,
    enrolled: dict[int, Enrolled],
    filters: CohortFilters,
    *,
    as_of: date,
) -> Iterator[tuple[Enrolled, PatientOutcome]]:
    """Each enrolled patient's outcome, in patient order, merging the score stream
    grouped by patient (a Score is built only for an enrolled patient's rows)."""
    definitions = filters.definitions
    groups = itertools.groupby(_score_rows(organization_id, filters.instrument), key=operator.itemgetter(0))
    pending = next(groups, None)
    for pid in sorted(enrolled):
        while pending is not None and pending[0] < pid:
            pending = next(groups, None)
        mine: tuple[Score, ...] = ()
        if pending is not None and pending[0] == pid:
            mine = tuple(Score(as_date(day), total, _item(q9)) for _, day, total, q9 in pending[1])
            pending = next(groups, None)
        record = enrolled[pid]
        outcome = patient_outcome(
            PatientInput(pid, tuple(record.session_days), mine),
            filters.instrument, as_of=as_of, definitions=definitions,
        )
        if outcome is not None:
            yield record, outcome
