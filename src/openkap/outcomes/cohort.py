"""Reading a cohort out of the database for `openkap.core.outcomes`.

Rows are read raw, as they lie, into NumPy arrays (no Python object is kept per row),
chunk by chunk of the organisation's patients by patient-id range: the chunk's held
dosing sessions (a few columns each), then its scores of one instrument; both are put
in patient and time order in NumPy, selected by `core.outcomes.arrays.select` and
reduced; the report folds each chunk into counts (`core.outcomes.cohort.Tally`, its
demographics and experience cases) before the next is read (ADR 0093). Instants are read as microseconds since 1970 and turned
into clinic-local days in NumPy (`core.outcomes.days`, ADR 0082). Filters that
are columns (organisation, instrument) are applied in SQL; those that depend on the
first session (date, site, route) are applied to each chunk's sessions.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import operator
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, tzinfo
from typing import Any

import numpy as np
from django.db import connection
from django.db.models import BigIntegerField, CharField, F, Func, QuerySet, Value
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import Coalesce
from django.utils import timezone

from openkap.core.outcomes import DEFAULT_DEFINITIONS, OutcomeDefinitions
from openkap.core.outcomes.arrays import Scores
from openkap.core.outcomes.cohort import Reduced, in_baseline_band, reduce_chunks
from openkap.core.outcomes.days import day_number, from_day_number, local_day_numbers
from openkap.core.routes import Route
from openkap.dosing.models import DosingSession, ProtocolVersion
from openkap.history.models import ImportedRecord
from openkap.history.selectors import imported_sessions
from openkap.measures.models import MeasureResponse
from openkap.pathway.models import Intake, TreatmentPlan
from openkap.patients.models import CareTeamMember, Patient
from openkap.readahead import read_ahead

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


@dataclass(slots=True)
class Enrolled:
    """What the report needs of one enrolled patient besides scores (one per patient:
    slots keep it small)."""

    patient_id: int
    site_id: int
    episode_id: int
    route: str
    first_day_number: int = 0  # of the first held session
    sessions: int = 0  # held sessions

    @property
    def first_day(self) -> date:
        return from_day_number(self.first_day_number)


def raw_chunks(queryset: QuerySet[Any], *, bounded: bool = False) -> Iterator[list[tuple[Any, ...]]]:
    """The queryset's rows without Django's per-value converters, in chunks from a
    server-side cursor: the converters (timestamp parsing, time-zone objects) cost
    more than the query itself on a large cohort. Callers convert what they read.
    `bounded` rows (one chunk of patients') come from an ordinary cursor in one round
    trip: on PostgreSQL in autocommit a server-side cursor is declared WITH HOLD, which
    copies the whole result at its commit before the first fetch (ADR 0082)."""
    sql, params = queryset.query.sql_with_params()
    with connection.cursor() if bounded else connection.chunked_cursor() as cursor:
        cursor.execute(sql, params)
        while rows := cursor.fetchmany(CHUNK):
            yield rows


def _raw(queryset: QuerySet[Any]) -> Iterator[tuple[Any, ...]]:
    for rows in raw_chunks(queryset):
        yield from rows


@functools.lru_cache(maxsize=4096)
def _iso_date(text: str) -> date:
    return date.fromisoformat(text)


def as_date(value: date | str) -> date:
    """A date read raw: a date (PostgreSQL) or its ISO text (SQLite; a few thousand
    distinct days, each parsed once)."""
    return value if isinstance(value, date) else _iso_date(value)


def _column(rows: list[tuple[Any, ...]], k: int, dtype: type) -> np.ndarray:
    return np.fromiter(map(operator.itemgetter(k), rows), dtype, len(rows))


# Kinds of column `read_columns` gives as arrays: its binary form on PostgreSQL and its NumPy type.
# ITEM: an item's answer read as JSON text (`_item`'s number, else NaN).
INT, FLOAT, INSTANT, DAY, ITEM = "int", "float", "instant", "day", "item"
_SEND = {INT: ("int8send({0}::bigint)", ">i8"), FLOAT: ("float8send({0}::float8)", ">f8"),
         INSTANT: ("timestamptz_send({0})", ">i8"), DAY: ("date_send({0})", ">i4"),
         # `_item` on the server: the answers a PHQ-9 item takes by text comparison, anything
         # else by the pattern (a regular expression a row cost as much as the rest of the row).
         ITEM: ("float8send(CASE {0} WHEN '0' THEN 0 WHEN '1' THEN 1 WHEN '2' THEN 2 WHEN '3' THEN 3 "
                "ELSE CASE WHEN {0} ~ '^[0-9]+$' THEN {0}::float8 ELSE 'NaN' END END)", ">f8")}
_TYPE = {INT: np.int64, FLOAT: float, INSTANT: np.int64, DAY: np.int64, ITEM: float}
# PostgreSQL's binary timestamps and dates count from 2000-01-01.
_PG_EPOCH_MICROSECONDS = 946_684_800 * 1_000_000
_PG_EPOCH_DAYS = 10_957


def read_columns(queryset: QuerySet[Any], kinds: tuple[str, ...]) -> list[np.ndarray]:
    """The queryset's rows (a `values_list` of no NULLs, columns made by `instant` and
    `day_of` where they are INSTANT and DAY) as one array a column, in the database's order.
    On PostgreSQL in one round trip and without a Python object a row: the rows are packed
    into one bytea by the server (each value's binary send form, concatenated), which NumPy
    reads as records; fetching rows as tuples and converting them cost as much of this
    process's CPU as the rest of the report (ADR 0105). Elsewhere from an ordinary cursor."""
    sql, params = queryset.query.sql_with_params()
    if connection.vendor != "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            rows = cursor.fetchall()
        return [np.fromiter(map(_item, map(operator.itemgetter(k), rows)), float, len(rows)) if kind == ITEM
                else _column(rows, k, _TYPE[kind]) for k, kind in enumerate(kinds)]
    names = [f"c{k}" for k in range(len(kinds))]
    packed = " || ".join(_SEND[kind][0].format(name) for kind, name in zip(kinds, names, strict=True))
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT count(*), string_agg({packed}, ''::bytea) "  # noqa: S608 - compiled by the ORM
                       f"FROM ({sql}) AS cohort_rows ({', '.join(names)})", params)
        count, data = cursor.fetchone()
    dtype = np.dtype([(name, _SEND[kind][1]) for kind, name in zip(kinds, names, strict=True)])
    data = bytes(data or b"")
    if len(data) != count * dtype.itemsize:  # a NULL makes its row's concatenation NULL: not aggregated
        raise ValueError("read_columns: a column held NULL")
    records = np.frombuffer(data, dtype)
    columns = [records[name].astype(_TYPE[kind]) for kind, name in zip(kinds, names, strict=True)]
    for column, kind in zip(columns, kinds, strict=True):
        if kind in (INSTANT, DAY):
            column += _PG_EPOCH_MICROSECONDS if kind == INSTANT else _PG_EPOCH_DAYS
    return columns


def instant(expression: Any) -> Any:
    """A timestamp for `read_columns` as INSTANT (microseconds since 1970): on PostgreSQL the
    column itself, whose binary form is exact microseconds (no arithmetic on the server)."""
    return expression if connection.vendor == "postgresql" else EpochMicroseconds(expression)


class _SqliteDayNumber(Func):
    output_field = BigIntegerField()
    # A date's Julian day is a whole day and a half: exact in a double.
    template = "CAST(julianday(%(expressions)s) - 2440587.5 AS INTEGER)"


def day_of(field: str) -> Any:
    """A date for `read_columns` as DAY (days since 1970): on PostgreSQL the column itself."""
    return F(field) if connection.vendor == "postgresql" else _SqliteDayNumber(field)


MICROSECONDS = 1_000_000


class EpochMicroseconds(Func):
    """Microseconds since 1970 (UTC) of a stored timestamp: an exact integer that the
    driver hands over without building a datetime, so that rows are put in time order in
    NumPy rather than by the database (ADR 0082)."""

    output_field = BigIntegerField()

    def as_postgresql(self, compiler: Any, connection: Any, **extra: Any) -> tuple[str, list[Any]]:
        # date_part's double (the int64 microseconds / 1e6, one rounding) times 1e6 is within
        # 0.5 of the integer for 1834-2106, so rounding gives it back exactly; EXTRACT's
        # numeric did the same at 1-2 µs of the server's CPU a row more (ADR 0093).
        sql, params = compiler.compile(self.source_expressions[0])
        return f"round(date_part('epoch', {sql}) * 1000000)::bigint", list(params)

    def as_sqlite(self, compiler: Any, connection: Any, **extra: Any) -> tuple[str, tuple[Any, ...]]:
        # Stored as UTC text 'YYYY-MM-DD HH:MM:SS[.ffffff]': whole seconds by %s, then the fraction.
        sql, params = compiler.compile(self.source_expressions[0])
        return (f"(CAST(strftime('%%s', substr({sql}, 1, 19)) AS INTEGER) * 1000000 "
                f"+ CAST(substr({sql}, 21) AS INTEGER))", (*params, *params))


def local_day(value: datetime | str, zone: tzinfo | None = None) -> date:
    """The clinic-local day of a stored timestamp: an aware datetime (PostgreSQL), or
    SQLite's UTC as text or as a naive datetime (its declared-type converter)."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)  # stored in UTC; never the process's zone
    return value.astimezone(zone or timezone.get_current_timezone()).date()


@functools.lru_cache(maxsize=256)
def _item(value: object) -> float:
    """An item answer read raw from JSON (a number, or its text), or NaN for none: a
    column holds a handful of distinct values, each converted once."""
    if type(value) is int:  # not isinstance: a JSON true is no answer
        return float(value)
    if isinstance(value, str) and value.isdigit():
        return float(int(value))
    return math.nan


def normalise_icd10(code: str) -> str:
    return code.replace(".", "").strip().upper()


def current_zone_name() -> str:
    """The clinic's zone by its IANA key: Django names a fixed-offset zone (Etc/GMT-4) by
    its abbreviation, "+04", which zoneinfo does not know."""
    zone = timezone.get_current_timezone()
    return getattr(zone, "key", None) or timezone.get_current_timezone_name()


@dataclass(frozen=True)
class EnrolledCohort:
    """The enrolled patients and their held sessions' days, in patient then time order."""

    records: dict[int, Enrolled]
    session_patient: np.ndarray
    session_day: np.ndarray


def enrolled_patients(organization_id: int, filters: CohortFilters) -> dict[int, Enrolled]:
    """Patients with a held dosing session whose first session matches the filters."""
    return enrolled_cohort(organization_id, filters).records


def enrolled_cohort(organization_id: int, filters: CohortFilters) -> EnrolledCohort:
    """`enrolled_patients` with their sessions' days (every patient at once)."""
    return _enrolled_chunk(organization_id, filters, _lookups(organization_id, filters), None)


@dataclass(frozen=True)
class _Lookups:
    """What the first-session filters need beyond the sessions, read once for all chunks."""

    any_imported: bool  # any imported session: their routes are read chunk by chunk
    team: set[int] | None  # patients on the clinician's care team, when filtered by one
    episodes: set[int] | None  # episodes whose intake has the diagnosis, when filtered by one


def _lookups(organization_id: int, filters: CohortFilters) -> _Lookups:
    team = None
    if filters.clinician_id is not None:
        team = set(
            CareTeamMember.objects.filter(organization_id=organization_id, user_id=filters.clinician_id)
            .values_list("patient_id", flat=True)
        )
    episodes = None
    if filters.diagnosis:
        wanted = normalise_icd10(filters.diagnosis)
        episodes = {
            episode_id
            for episode_id, diagnoses in Intake.objects.filter(organization_id=organization_id)
            .values_list("episode_id", "diagnoses")
            .iterator(chunk_size=CHUNK)
            if any(normalise_icd10(str(d.get("code", ""))).startswith(wanted) for d in diagnoses or [])
        }
    any_imported = ImportedRecord.objects.filter(organization_id=organization_id, kind="sessions").exists()
    return _Lookups(any_imported, team, episodes)


def _enrolled_chunk(organization_id: int, filters: CohortFilters, lookups: _Lookups,
                    patients: tuple[int, int] | None) -> EnrolledCohort:
    """The enrolled patients among those with ids in the closed range `patients` (all
    without it), from their held sessions read by that range."""

    sessions = DosingSession.objects.held().filter(organization_id=organization_id)
    if patients is not None:
        sessions = sessions.filter(patient_id__gte=patients[0], patient_id__lte=patients[1])
    rows = (
        sessions
        .annotate(at=instant(Coalesce("administration_started_at", "scheduled_start")))
        # Unordered, and without the join to the protocol version (looked up below for
        # first sessions only): sorting and joining in the database cost more than the
        # rest of the query (ADR 0082).
        .order_by()
        .values_list("id", "patient_id", "site_id", "episode_id", "at",
                     Coalesce("protocol_version_id", Value(-1), output_field=BigIntegerField()))
    )
    columns = read_columns(rows, (INT, INT, INT, INT, INSTANT, INT))
    order = np.lexsort((columns[0], columns[4], columns[1]))  # patient, instant, id
    session_id, patient, site, episode, at, protocol = (c[order] for c in columns)
    session_day = local_day_numbers(at // MICROSECONDS, current_zone_name())
    ids, first, counts = np.unique(patient, return_index=True, return_counts=True)
    protocol_route = dict(ProtocolVersion.objects.filter(id__in=set(protocol[first].tolist()) - {-1})
                          .values_list("id", "route"))
    # The first sessions' other sources of a route: imported ones, else the episode's latest
    # plan (an episode is its patient's, so a chunk's episodes are those of its patients).
    plans = TreatmentPlan.objects.filter(organization_id=organization_id).order_by("episode_id", "version")
    if patients is not None:
        plans = plans.filter(episode__patient_id__gte=patients[0], episode__patient_id__lte=patients[1])
    plan_route = dict(plans.values_list("episode_id", "route"))
    imported: dict[int, dict[str, Any]] = {}
    if lookups.any_imported:
        imported = imported_sessions(organization_id,
                                     session_ids=None if patients is None else session_id[first].tolist())
    enrolled = {
        patient_id: Enrolled(
            patient_id, site_id, episode_id,
            protocol_route.get(protocol_id) or imported.get(sid, {}).get("route") or plan_route.get(episode_id, ""),
            first_day, sessions,
        )
        for patient_id, sid, site_id, episode_id, protocol_id, first_day, sessions in zip(
            ids.tolist(), session_id[first].tolist(), site[first].tolist(), episode[first].tolist(),
            protocol[first].tolist(), session_day[first].tolist(), counts.tolist(), strict=True)
    }
    date_from = None if filters.date_from is None else day_number(filters.date_from)
    date_to = None if filters.date_to is None else day_number(filters.date_to)
    keep = {
        pid: e
        for pid, e in enrolled.items()
        if (date_from is None or e.first_day_number >= date_from)
        and (date_to is None or e.first_day_number <= date_to)
        and (filters.site_id is None or e.site_id == filters.site_id)
        and (filters.route is None or e.route == filters.route)
        and (lookups.team is None or pid in lookups.team)
        and (lookups.episodes is None or e.episode_id in lookups.episodes)
    }
    kept = np.isin(patient, np.fromiter(keep, np.int64, len(keep)))
    return EnrolledCohort(keep, patient[kept], session_day[kept])


def _patient_ranges(organization_id: int, size: int) -> list[tuple[int, int]]:
    """`core.outcomes.cohort.patient_ranges` of the organisation's patient ids (the chunks'
    bounds), cut by the database: a row a chunk comes back, not a row a patient (a million
    ids read at once were some 40 MiB of the report's peak, ADR 0105)."""
    sql, params = Patient.objects.filter(organization_id=organization_id).order_by().values("id").query.sql_with_params()
    runs = (f"SELECT min(id), max(id) FROM (SELECT id, (row_number() OVER (ORDER BY id) - 1) / %s AS run FROM ({sql}) "  # noqa: S608 - compiled by the ORM
            "AS ids) AS runs GROUP BY run ORDER BY run")
    with connection.cursor() as cursor:
        cursor.execute(runs, [size, *params])
        return [(int(low), int(high)) for low, high in cursor.fetchall()]


def _scores(organization_id: int, instrument_id: str, patients: tuple[int, int] | None = None) -> Scores:
    """The instrument's scores in patient and completion order; with `patients`, only those
    of the patients with ids in that closed range."""
    return _ordered_scores(_score_columns(organization_id, instrument_id, patients))


def _score_columns(organization_id: int, instrument_id: str, patients: tuple[int, int] | None) -> list[np.ndarray]:
    """`_scores`' columns (patient, instant, id, total, item 9) as they lie."""
    responses = MeasureResponse.objects.filter(organization_id=organization_id, instrument_id=instrument_id,
                                               is_scored=True, total__isnull=False)
    if patients is not None:
        responses = responses.filter(patient_id__gte=patients[0], patient_id__lte=patients[1])
    rows = (
        responses
        # A corrected response counts through its correction. NOT IN over the few corrections
        # (an index range), not an anti-join over every response: 0.14 s instead of 0.20 s
        # for 100,000 scores on PostgreSQL.
        .exclude(id__in=MeasureResponse.objects.filter(organization_id=organization_id, corrects__isnull=False)
                 .values("corrects_id"))
        .annotate(at=instant(F("completed_at")),
                  q9=KeyTextTransform("q9", "answers") if instrument_id == "phq9" else Value(None, CharField()))
        .order_by()
        .values_list("patient_id", "at", "id", "total", "q9")
    )
    return read_columns(rows, (INT, INSTANT, INT, FLOAT, ITEM))


def _ordered_scores(columns: list[np.ndarray]) -> Scores:
    """Sorted here: an index scan in patient and completion order took twice as long as
    reading the rows as they lie (ADR 0082)."""
    patient, at, ids, total, item9 = columns
    order = np.lexsort((ids, at, patient))
    return Scores(patient=patient[order],
                  day=local_day_numbers(at[order] // MICROSECONDS, current_zone_name()),
                  total=total[order], item9=item9[order])


@dataclass(frozen=True)
class Chunk:
    """One chunk of patients, reduced: the patients with ids in `patients` (a closed
    range) who are enrolled and pass every filter, their records, and what the caller's
    `also_read` read of the chunk."""

    patients: tuple[int, int]
    reduced: Reduced
    records: dict[int, Enrolled]
    also: Any = None


def cohort_chunks(
    organization_id: int,
    filters: CohortFilters,
    *,
    as_of: date,
    patients_per_chunk: int = CHUNK,
    also_read: Callable[[tuple[int, int]], Any] | None = None,
) -> Iterator[Chunk]:
    """Every enrolled patient's outcome reduced to what the report needs, chunk by chunk of
    `patients_per_chunk` of the organisation's patients in ascending id order: each chunk's
    sessions and scores read by its patient-id range, filtered by first session and
    baseline band, selected and reduced, so that a caller folding each chunk holds one
    chunk's patients at a time (ADR 0082, 0093). `also_read(patients)` reads more of a chunk
    with an enrolled patient, for the caller (`Chunk.also`).

    The reads run in a thread on this thread's connection, a chunk ahead of the selection
    and of the caller's work on the chunk before (ADR 0105): the caller must not use the
    database while it iterates."""

    lookups = _lookups(organization_id, filters)

    def reads() -> Iterator[tuple[tuple[int, int], EnrolledCohort, list[np.ndarray], Any]]:
        for low, high in _patient_ranges(organization_id, patients_per_chunk):
            cohort = _enrolled_chunk(organization_id, filters, lookups, (low, high))
            if not cohort.records:  # nobody enrolled here: no scores to read
                continue
            yield ((low, high), cohort, _score_columns(organization_id, filters.instrument, (low, high)),
                   None if also_read is None else also_read((low, high)))

    for patients, cohort, columns, also in read_ahead(reads(), name="cohort-read", share_connections=True):
        (reduced,) = reduce_chunks([(cohort.session_patient, cohort.session_day, _ordered_scores(columns))],
                                   filters.instrument, as_of=as_of, definitions=filters.definitions)
        if filters.baseline_band:
            reduced = reduced.subset(in_baseline_band(reduced, filters.baseline_band))
        yield Chunk(patients, reduced, {pid: cohort.records[pid] for pid in reduced.patients.tolist()}, also)
