"""FHIR Bulk Data $export (Bulk Data Access IG v2): kick-off, the export task, status,
files, cancel and expiry.

The export runs on the database task worker (docs/adr/0003-task-queue.md). It streams
each table in chunks (``QuerySet.iterator``: a server-side cursor on PostgreSQL) and
writes one NDJSON line per resource, so memory stays flat whatever the table's size.
What it exports is what the requester may read: the same ``visible_patients`` and
permissions as a search, checked again when the task runs.
"""

from __future__ import annotations

import shutil
import threading
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from itertools import islice
from pathlib import Path
from typing import Any, BinaryIO
from weakref import WeakKeyDictionary

import orjson
from django.conf import settings
from django.db import connections, router, transaction
from django.db.models import CharField, F, Func, QuerySet
from django.http import Http404
from django.utils import timezone
from django_tasks import task
from isal import igzip

from openkap.accounts.authz import Actor, build_actor, require
from openkap.accounts.models import Membership, Room, Site
from openkap.audit.models import AuditAction
from openkap.audit.services import audit_record
from openkap.core import fhir as core
from openkap.core.authz import ORGANIZATION_WIDE_ROLES, Perm, Role
from openkap.core.instruments.registry import all_instruments
from openkap.dbrouter import replica_reads
from openkap.dosing.models import DosingSession, VitalSigns
from openkap.fhir import bulk, mapping
from openkap.fhir.framework import BASE_URL, FhirError, bad_param
from openkap.fhir.models import BackendClient, ExportJob
from openkap.fhir.smart import client_actor
from openkap.ledger.models import Product
from openkap.measures.models import MeasureResponse
from openkap.patients.models import HeightMeasurement, Patient, WeightMeasurement
from openkap.patients.selectors import visible_patients
from openkap.readahead import read_ahead

CHUNK = 2000
COPY_ROWS = 25_000  # vitals rows a COPY statement reads (100,000 Observations; ~2 MB of text)
BLOCK_ROWS = 100  # vitals rows made into NDJSON at once: ~350 KB, compressed while still in the CPU's cache
CHECK_EVERY = 50_000  # resources between progress updates and cancel checks (about a second)
GZIP_LEVEL = 1  # ISA-L's levels are 0-3; 1 is as small as 2 here (~35-fold) and faster (ADR 0070)
WRITE_BUFFER = 1 << 17  # below a vitals block (~350 KB), which then goes to the file without a copy into it
MAX_OPEN_JOBS = 3  # per user: an export is heavy; more waits for these to finish
NDJSON = "application/fhir+ndjson"
OUTPUT_FORMATS = {NDJSON, "application/ndjson", "ndjson"}

Resource = dict[str, Any]
# An exporter yields resources, or NDJSON already serialised (one or more whole lines).
Exporter = Callable[[QuerySet[Patient], datetime | None, Actor], Iterator[Resource | bulk.Lines]]


# --- what each type exports ----------------------------------------------------------------


def _since(qs: QuerySet[Any], field: str, since: datetime | None) -> QuerySet[Any]:
    return qs.filter(**{f"{field}__gte": since}) if since else qs


def _patients(patients: QuerySet[Patient], since: datetime | None, by: Actor) -> Iterator[Resource]:
    for p in _since(patients, "updated_at", since).order_by("pk").iterator(chunk_size=CHUNK):
        yield mapping.patient(p)


def _observations(patients: QuerySet[Patient], since: datetime | None, by: Actor) -> Iterator[Resource | bulk.Lines]:
    responses = MeasureResponse.objects.filter(
        organization=by.organization, patient__in=patients, correction__isnull=True)
    for r in _since(responses, "submitted_at", since).order_by("pk").iterator(chunk_size=CHUNK):
        yield from mapping.measure_observations(r)
    # Vital signs are most of a clinic's Observations: read as COPY text, written as NDJSON
    # blocks with no Python call per row (ADR 0070).
    vitals = VitalSigns.objects.filter(organization=by.organization, session__patient__in=patients)
    vitals = _since(vitals, "recorded_at", since).annotate(fhir_patient_id=F("session__patient_id"))
    rows = vitals.annotate(taken=UtcSecond("taken_at"), updated=UtcSecond("recorded_at")).order_by("pk")
    for lines in _vital_rows(rows.values_list(*mapping.VITAL_FIELDS)):
        for n in range(0, len(lines), BLOCK_ROWS):
            yield bulk.vital_ndjson(b"".join(lines[n:n + BLOCK_ROWS]))
    weights = WeightMeasurement.objects.filter(organization=by.organization, patient__in=patients)
    for w in _since(weights, "recorded_at", since).order_by("pk").iterator(chunk_size=CHUNK):
        yield mapping.weight_observation(w)
    heights = HeightMeasurement.objects.filter(organization=by.organization, patient__in=patients)
    for h in _since(heights, "recorded_at", since).order_by("pk").iterator(chunk_size=CHUNK):
        yield mapping.height_observation(h)


def _vital_rows(rows: QuerySet[Any, tuple[Any, ...]]) -> Iterator[list[bytes]]:
    """The rows (ordered by id) as lines of COPY text, up to COPY_ROWS at a time. On
    PostgreSQL each batch is one ``COPY (SELECT ...) TO STDOUT`` after the last id read,
    run in a thread while the batch before is written (ADR 0085)."""
    connection = connections[rows.db]
    if connection.vendor != "postgresql":
        stream = rows.iterator(chunk_size=CHUNK)
        while batch := list(islice(stream, COPY_ROWS)):
            yield [bulk.copy_text(row) for row in batch]
        return
    connection.ensure_connection()
    raw = connection.connection
    if not (raw.info.parameter_status("DateStyle") or "").startswith("ISO"):  # psycopg reads only ISO times too
        raise RuntimeError("the export reads times as DateStyle ISO writes them; set the database's DateStyle to ISO")
    # Compiled here, in the thread that owns the Django connection; the reader only swaps
    # the last id read into the parameters.
    sql, compiled = rows.filter(pk__gt=_AFTER)[:COPY_ROWS].query.sql_with_params()
    params = list(compiled)
    if params.count(_AFTER) != 1:
        raise RuntimeError("the vitals query's parameters must hold the placeholder for the last id read once")
    at = params.index(_AFTER)
    turn = _turn(connection)

    def batches() -> Iterator[list[bytes]]:
        after = 0
        while True:
            params[at] = after
            with turn, raw.cursor() as cursor, cursor.copy(f"COPY ({sql}) TO STDOUT", params) as copy:
                lines = list(map(bytes, copy))  # one message a row; the memoryviews are psycopg's buffers
            if lines:
                yield lines
            if len(lines) < COPY_ROWS:
                return
            after = int(lines[-1].split(b"\t", 1)[0])

    yield from _read_ahead(batches())


_AFTER = -(2**63)  # a placeholder for the last id read (bigint's least): no other parameter of the query
_turns: WeakKeyDictionary[Any, threading.Lock] = WeakKeyDictionary()


def _turn(connection: Any) -> threading.Lock:
    """Taken for each COPY batch by the export's reader thread and for each progress write
    by the job: a COPY in progress holds its connection, so the two take turns (one batch
    is tens of milliseconds). psycopg 3.3 also holds its own lock through a COPY, 3.2 (which
    we allow) did not. Per connection: a replica's COPY does not stop the primary. Only
    PostgreSQL's are read in a thread."""
    if connection.vendor != "postgresql" or connection.connection is None:
        return threading.Lock()  # no one else's
    return _turns.setdefault(connection.connection, threading.Lock())


def _read_ahead(batches: Iterator[list[bytes]]) -> Iterator[list[bytes]]:
    """The batches, each read in a thread while the caller works on the one before: the
    database makes the next rows while this process fills and writes (psycopg waits for them
    without the GIL). At most three batches are held: the one being read, one waiting, the
    caller's."""
    return read_ahead(batches, name="fhir-export-read")


class UtcSecond(Func):
    """A datetime column in UTC cut to the second, as text the way PostgreSQL writes a
    timestamp (``2026-01-05 14:03:00``; ``bulk.instant`` makes it a FHIR instant). Read
    only as COPY text on PostgreSQL: written by the database, it costs a fraction of
    parsing a datetime and formatting it again in Python (ADR 0045), and about half of
    what ``to_char`` cost the database (ADR 0085)."""

    output_field = CharField()

    def as_postgresql(self, compiler: Any, connection: Any, **extra: Any) -> Any:
        return self.as_sql(compiler, connection, template="date_trunc('second', %(expressions)s AT TIME ZONE 'UTC')",
                           **extra)

    def as_sqlite(self, compiler: Any, connection: Any, **extra: Any) -> Any:
        # Django keeps SQLite datetimes as UTC text, 'YYYY-MM-DD HH:MM:SS[.ffffff]'.
        return self.as_sql(compiler, connection, template="substr(%(expressions)s, 1, 19)", **extra)


def _encounters(patients: QuerySet[Patient], since: datetime | None, by: Actor) -> Iterator[Resource]:
    from openkap.fhir.resources.encounter import session_updated_expr

    sessions = _since(
        DosingSession.objects.filter(organization=by.organization, patient__in=patients)
        .annotate(last_updated=session_updated_expr()), "last_updated", since,
    )
    for s in sessions.order_by("pk").iterator(chunk_size=CHUNK):
        yield mapping.encounter(s)


def _responses(patients: QuerySet[Patient], since: datetime | None, by: Actor) -> Iterator[Resource]:
    responses = MeasureResponse.objects.filter(organization=by.organization, patient__in=patients)
    for r in _since(responses, "submitted_at", since).order_by("pk").iterator(chunk_size=CHUNK):
        yield mapping.questionnaire_response(r)


def _practitioners(patients: QuerySet[Patient], since: datetime | None, by: Actor) -> Iterator[Resource]:
    staff = (Membership.objects.filter(organization=by.organization, is_active=True)
             .exclude(role=Role.PATIENT).select_related("user").order_by("user_id"))
    seen: dict[int, str] = {}
    users = {}
    for m in staff:
        users[m.user_id] = m.user
        seen[m.user_id] = seen.get(m.user_id) or m.npi
    for user_id, user in users.items():
        if since is None or user.date_joined >= since:
            yield mapping.practitioner(user, seen[user_id])


def _organization(patients: QuerySet[Patient], since: datetime | None, by: Actor) -> Iterator[Resource]:
    if since is None or by.organization.created_at >= since:
        yield mapping.organization(by.organization)


def _locations(patients: QuerySet[Patient], since: datetime | None, by: Actor) -> Iterator[Resource]:
    created = by.organization.created_at
    if since is not None and created < since:
        return
    for site in Site.objects.filter(organization=by.organization).order_by("pk"):
        yield mapping.site_location(site, created)
    for room in Room.objects.filter(organization=by.organization).order_by("pk"):
        yield mapping.room_location(room, created)


def _questionnaires(patients: QuerySet[Patient], since: datetime | None, by: Actor) -> Iterator[Resource]:
    if since is None or by.organization.created_at >= since:
        for instrument in all_instruments():
            yield mapping.questionnaire(instrument, by.organization.created_at)


# (type, permission needed, exporter, in the patient compartment)
EXPORTERS: dict[str, tuple[Perm | None, Exporter, bool]] = {
    "Patient": (Perm.PATIENT_VIEW, _patients, True),
    "Encounter": (Perm.DOSING_VIEW, _encounters, True),
    "Observation": (Perm.CLINICAL_VIEW, _observations, True),
    "QuestionnaireResponse": (Perm.MEASURE_VIEW, _responses, True),
    "Practitioner": (Perm.STAFF_VIEW, _practitioners, False),
    "Organization": (None, _organization, False),
    "Location": (None, _locations, False),
    "Questionnaire": (None, _questionnaires, False),
}


def _register_tables() -> None:
    from openkap.fhir.documents import documents_export
    from openkap.fhir.resources.condition import conditions_export
    from openkap.fhir.resources.tables import TABLES

    EXPORTERS["Condition"] = (Perm.CLINICAL_VIEW, conditions_export, True)
    EXPORTERS["DocumentReference"] = (Perm.CLINICAL_VIEW, documents_export, True)
    for name, table in TABLES.items():
        EXPORTERS[name] = (table.perm, table.export, True)
    EXPORTERS["Medication"] = (None, _medications, False)
    EXPORTERS["PractitionerRole"] = (Perm.STAFF_VIEW, _roles, False)


def _medications(patients: QuerySet[Patient], since: datetime | None, by: Actor) -> Iterator[Resource]:
    products = Product.objects.filter(organization=by.organization)
    for product in _since(products, "created_at", since).order_by("pk"):
        yield mapping.medication(product)


def _roles(patients: QuerySet[Patient], since: datetime | None, by: Actor) -> Iterator[Resource]:
    roles = Membership.objects.filter(organization=by.organization).exclude(role=Role.PATIENT)
    for membership in _since(roles, "created_at", since).order_by("pk"):
        yield mapping.practitioner_role(membership)


_register_tables()


def exportable_types(level: str) -> list[str]:
    return [name for name, (_, _, compartment) in EXPORTERS.items()
            if compartment or level == ExportJob.Level.SYSTEM]


def default_types(by: Actor, level: str, scopes: tuple[str, ...] | None = None) -> list[str]:
    """Without _type: every type of the level that the requester may read (and, for a
    backend client, that its token's scopes allow reading)."""
    return [t for t, perm in ((t, EXPORTERS[t][0]) for t in exportable_types(level))
            if (perm is None or by.can(perm))
            and (scopes is None or core.scope_allows(scopes, t, "r"))]


# --- groups -------------------------------------------------------------------------------

GROUP_ALL = "all-patients"


def group_patients(by: Actor, group_id: str) -> QuerySet[Patient]:
    """The groups a clinic has: every patient the requester may see, or the patients on
    one clinician's care team (``care-team-<practitioner id>``)."""
    patients = visible_patients(by)
    if group_id == GROUP_ALL:
        return patients
    if group_id.startswith("care-team-") and group_id[10:].isdigit():
        user_id = int(group_id[10:])
        if Membership.objects.filter(organization=by.organization, user_id=user_id, is_active=True).exists():
            return patients.filter(care_team__user_id=user_id, care_team__ended_at__isnull=True).distinct()
    raise Http404


# --- kick-off, status, cancel ---------------------------------------------------------------


def parse_kickoff(by: Actor, level: str, params: list[tuple[str, str]], *,
                  scopes: tuple[str, ...] | None = None) -> tuple[list[str], datetime | None]:
    types: list[str] | None = None
    since = None
    for name, value in params:
        if name == "_type":
            allowed = exportable_types(level)
            types = (types or []) + [t.strip() for t in value.split(",") if t.strip()]
            unknown = [t for t in types if t not in allowed]
            if unknown:
                raise bad_param("_type", f"cannot export {', '.join(unknown)} at this level "
                                         f"(exportable: {', '.join(allowed)})")
        elif name == "_since":
            try:
                since = datetime.fromisoformat(value.replace("Z", "+00:00"))
            except ValueError:
                raise bad_param("_since", "_since must be an instant, e.g. 2026-01-01T00:00:00Z") from None
            if since.tzinfo is None:
                raise bad_param("_since", "_since needs a time zone")
        elif name == "_outputFormat":
            if value not in OUTPUT_FORMATS:
                raise bad_param("_outputFormat", "only application/fhir+ndjson is produced")
        elif name != "_format":
            raise bad_param(name, f"$export does not support '{name}' here")
    if types is None:
        types = default_types(by, level, scopes)
    for t in types:
        perm = EXPORTERS[t][0]
        if perm is not None:
            require(by, perm)
    return list(dict.fromkeys(types)), since


def export_start(*, by: Actor, level: str, group_id: str = "", types: list[str], since: datetime | None,
                 request_url: str, backend_client: BackendClient | None = None) -> ExportJob:
    require(by, Perm.PATIENT_VIEW)
    if level == ExportJob.Level.GROUP:
        group_patients(by, group_id)  # 404 for a group that is not there
    with transaction.atomic():
        open_jobs = ExportJob.objects.filter(
            requested_by=by.user, status__in=[ExportJob.Status.QUEUED, ExportJob.Status.RUNNING]).count()
        if open_jobs >= MAX_OPEN_JOBS:
            raise FhirError(429, "throttled", f"{open_jobs} exports are already running; wait for one to "
                                              "finish or cancel it")
        job = ExportJob.objects.create(
            organization=by.organization, requested_by=by.user, api_token_id=by.api_token_id,
            backend_client=backend_client, level=level,
            group_id=group_id, types=types, since=since, request_url=request_url[:2000],
        )
        audit_record(by=by, action=AuditAction.EXPORT, object_type="fhir.export", object_id=job.id,
                     detail={"event": "requested", "level": level, "group": group_id, "types": types,
                             "since": since.isoformat() if since else None})
        transaction.on_commit(lambda: run_export.enqueue(str(job.id)), robust=True)
    return job


def job_for(by: Actor, job_id: str) -> ExportJob:
    """The requester's own job; anyone else's (or an expired one) is 404."""
    job = ExportJob.objects.filter(pk=_uuid(job_id), organization=by.organization, requested_by=by.user).first()
    if job is None or job.status == ExportJob.Status.EXPIRED:
        raise Http404
    if job.expires_at is not None and job.expires_at <= timezone.now():
        _expire(job)
        raise Http404
    return job


def _uuid(text: str) -> Any:
    import uuid

    try:
        return uuid.UUID(text)
    except ValueError:
        raise Http404 from None


def export_cancel(*, by: Actor, job_id: str) -> None:
    with transaction.atomic():
        job = job_for(by, job_id)
        job = ExportJob.objects.select_for_update().get(pk=job.pk)
        if job.status == ExportJob.Status.CANCELLED:
            raise Http404
        job.status = ExportJob.Status.CANCELLED
        job.finished_at = timezone.now()
        job.save(update_fields=["status", "finished_at"])
        audit_record(by=by, action=AuditAction.EXPORT, object_type="fhir.export", object_id=job.id,
                     detail={"event": "cancelled"})
    shutil.rmtree(job_dir(job), ignore_errors=True)


def job_dir(job: ExportJob) -> Path:
    return Path(settings.FHIR_EXPORT_DIR) / str(job.id)


def stored_path(directory: Path, name: str) -> Path:
    """Where an output file (``Observation.ndjson``) is kept: as ``Observation.ndjson.gz``
    when exports are compressed (``OPENKAP_FHIR_EXPORT_GZIP``, the default), else as named."""
    return directory / f"{name}.gz" if settings.FHIR_EXPORT_GZIP else directory / name


def is_gzip(path: Path) -> bool:
    return path.suffix == ".gz"


def _open_output(path: Path) -> BinaryIO:
    if is_gzip(path):
        return igzip.open(path, "wb", compresslevel=GZIP_LEVEL)
    return open(path, "wb", buffering=WRITE_BUFFER)


def file_path(by: Actor, job_id: str, name: str) -> Path:
    """The stored (gzip) file of a finished export, for its requester; audited."""
    job = job_for(by, job_id)
    if job.status != ExportJob.Status.DONE or name not in {o["file"] for o in job.output}:
        raise Http404
    audit_record(by=by, action=AuditAction.EXPORT, object_type="fhir.export", object_id=job.id,
                 detail={"event": "downloaded", "file": name})
    packed = job_dir(job) / f"{name}.gz"  # as it was written, whatever the setting is now
    return packed if packed.exists() else job_dir(job) / name


def _expire(job: ExportJob) -> None:
    shutil.rmtree(job_dir(job), ignore_errors=True)
    ExportJob.objects.filter(pk=job.pk).update(status=ExportJob.Status.EXPIRED)


def export_cleanup(now: datetime | None = None) -> int:
    """Delete the files of expired exports (and of cancelled or failed ones)."""
    now = now or timezone.now()
    stale = ExportJob.objects.filter(expires_at__lte=now).exclude(status=ExportJob.Status.EXPIRED)
    count = 0
    for job in stale:
        _expire(job)
        count += 1
    for job in ExportJob.objects.filter(status__in=[ExportJob.Status.CANCELLED, ExportJob.Status.FAILED]):
        shutil.rmtree(job_dir(job), ignore_errors=True)
    return count


# --- the task -----------------------------------------------------------------------------


class _Cancelled(Exception):
    pass


@task()
def run_export(job_id: str) -> str:
    """Write one NDJSON file per type. Re-reads the job and the requester's access when it
    runs; a cancelled job stops at the next check and leaves no files."""
    export_cleanup()
    with transaction.atomic():
        job = (ExportJob.objects.select_for_update(of=("self",)).select_related("backend_client")
               .filter(pk=job_id).first())
        if job is None or job.status != ExportJob.Status.QUEUED:
            return "skipped: not queued"
        job.status, job.started_at = ExportJob.Status.RUNNING, timezone.now()
        job.save(update_fields=["status", "started_at"])
    if job.backend_client is not None:
        by = client_actor(job.backend_client)
    else:
        by = build_actor(job.requested_by, job.organization, via="fhir", api_token_id=job.api_token_id)
    directory = job_dir(job)
    base = BASE_URL.set(_base_of(job.request_url))
    try:
        with replica_reads():  # bulk reads; the job's status and audit rows stay on the primary
            output = _write_files(job, by, directory)
    except _Cancelled:
        shutil.rmtree(directory, ignore_errors=True)
        return "cancelled"
    except Exception as exc:  # a failed export must say so to the poller, not stay "running"
        shutil.rmtree(directory, ignore_errors=True)
        ExportJob.objects.filter(pk=job.pk).update(
            status=ExportJob.Status.FAILED, error=f"{type(exc).__name__}: {exc}"[:2000], finished_at=timezone.now())
        raise
    finally:
        BASE_URL.reset(base)
    finished = timezone.now()
    with transaction.atomic():
        updated = ExportJob.objects.filter(pk=job.pk, status=ExportJob.Status.RUNNING).update(
            status=ExportJob.Status.DONE, output=output, finished_at=finished, progress="done",
            expires_at=finished + timedelta(hours=settings.FHIR_EXPORT_HOURS))
        if not updated:  # cancelled in the last moments
            shutil.rmtree(directory, ignore_errors=True)
            return "cancelled"
        audit_record(by=by, action=AuditAction.EXPORT, object_type="fhir.export", object_id=job.id,
                     detail={"event": "completed", "counts": {o["type"]: o["count"] for o in output}})
    return "done"


def _base_of(request_url: str) -> str:
    """The FHIR base the export was requested at (links in the files point there)."""
    head, marker, _ = request_url.partition("/fhir/R4/")
    return f"{head}/fhir/R4" if marker else f"{settings.SITE_URL.rstrip('/')}/fhir/R4"


def _write_files(job: ExportJob, by: Actor, directory: Path) -> list[dict[str, Any]]:
    if job.level == ExportJob.Level.GROUP:
        patients = group_patients(by, job.group_id)
    elif by.roles & ORGANIZATION_WIDE_ROLES:
        patients = Patient.objects.filter(organization=by.organization)
    else:
        patients = visible_patients(by)
    directory.mkdir(parents=True, exist_ok=True)
    output = []
    written = 0
    for n, type_name in enumerate(job.types):
        perm, exporter, _ = EXPORTERS[type_name]
        if perm is not None:
            require(by, perm)  # access is decided again when the task runs
        name = f"{type_name}.ndjson"
        count = 0
        next_check = written + CHECK_EVERY
        # Kept gzip-compressed unless the clinic turned it off (ADR 0062).
        with _open_output(stored_path(directory, name)) as out:
            for resource in exporter(patients, job.since, by):
                if isinstance(resource, bulk.Lines):
                    out.write(resource.ndjson)
                    lines = resource.resources
                else:
                    out.write(orjson.dumps(resource, option=orjson.OPT_APPEND_NEWLINE))
                    lines = 1
                count += lines
                written += lines
                # While the vitals reader holds the connection, the check waits for a later
                # write rather than for the reader's batch, unless it is a whole interval late.
                if written >= next_check and _checkpoint(
                        job, f"{n}/{len(job.types)} types done; {type_name}: {count} resources",
                        wait=written >= next_check + CHECK_EVERY):
                    next_check = written + CHECK_EVERY
        if count:
            output.append({"type": type_name, "file": name, "count": count})
        else:
            stored_path(directory, name).unlink()
        _checkpoint(job, f"{n + 1}/{len(job.types)} types done")
    return output


def _checkpoint(job: ExportJob, progress: str, *, wait: bool = True) -> bool:
    """Write the progress and stop if the job was cancelled. Without ``wait``, only if the
    connection is free now (False: not done)."""
    turn = _turn(connections[router.db_for_write(ExportJob)])
    if not turn.acquire(blocking=wait):
        return False
    try:
        updated = ExportJob.objects.filter(pk=job.pk, status=ExportJob.Status.RUNNING).update(progress=progress[:200])
    finally:
        turn.release()
    if not updated:
        raise _Cancelled
    return True
