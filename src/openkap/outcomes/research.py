"""The de-identified research export: treated patients, their held dosing sessions and
their scored questionnaires, for the researcher role.

Built from an allow-list of coded columns (no free text, no names, numbers, contacts,
addresses or database ids ever enter it) and generalised by `openkap.core.deid`: age
bands with 90+, ZIP3 or 000, dates as days from the first dosing session or shifted by
a secret per-patient offset, and k-anonymity over age band, sex, state, ZIP3 and
route. The files (CSV through the project's safe writer, Parquet through pyarrow, a
data dictionary, the Safe Harbor table, the k-anonymity report) are written to a
temporary directory one chunk at a time and zipped; a manifest lists every file's
SHA-256, and the audit row keeps the manifest.

The web page, the API and ``openkap research export`` call `research_export` (or
`write_export` for the command line, which audits as itself).
"""

from __future__ import annotations

import hashlib
import json
import secrets
import shutil
import tempfile
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any, Literal

from django.core.exceptions import ValidationError
from django.db.models import F
from django.db.models.functions import Coalesce
from django.http import FileResponse
from django.utils import timezone

from openkap.accounts.authz import Actor, require
from openkap.accounts.models import Organization
from openkap.audit.models import AuditAction, AuditEvent
from openkap.audit.services import audit_record
from openkap.core.authz import Perm
from openkap.core.csvsafe import SafeWriter
from openkap.core.deid import (
    LADDER,
    QUASI_IDENTIFIERS,
    SAFE_HARBOR,
    DateShifter,
    age_band,
    age_years,
    days_from,
    k_anonymise,
    state_and_zip,
    study_numbers,
    zip3,
)
from openkap.dbrouter import replica_reads
from openkap.dosing.models import AdverseEvent, DoseOrder, DosingSession
from openkap.history.selectors import imported_sessions
from openkap.measures.models import MeasureResponse
from openkap.outcomes.cohort import (
    CHUNK,
    CohortFilters,
    Enrolled,
    _raw,
    enrolled_patients,
    local_day,
)
from openkap.pathway.models import Intake, TreatmentPlan
from openkap.patients.models import Patient

DateMode = Literal["relative", "shifted"]
K_DEFAULT, K_MIN, K_MAX = 5, 2, 100
FORMAT_VERSION = "openkap-research-export/1"


@dataclass(frozen=True)
class ExportOptions:
    k: int = K_DEFAULT
    dates: DateMode = "relative"

    def validate(self) -> None:
        errors: dict[str, list[str]] = {}
        if not K_MIN <= self.k <= K_MAX:
            errors["k"] = [f"k is a whole number from {K_MIN} to {K_MAX}."]
        if self.dates not in ("relative", "shifted"):
            errors["dates"] = ["Dates are 'relative' (days from the first dosing session) or 'shifted'."]
        if errors:
            raise ValidationError(errors)


@dataclass(frozen=True)
class Column:
    name: str
    kind: Literal["string", "int", "float", "bool", "date", "int_list"]
    description: str
    rule: str = ""

    def arrow_type(self) -> Any:
        import pyarrow as pa

        return {"string": pa.string(), "int": pa.int64(), "float": pa.float64(), "bool": pa.bool_(),
                "date": pa.date32(), "int_list": pa.list_(pa.int64())}[self.kind]

    def csv_cell(self, value: Any) -> object:
        if value is None:
            return ""
        if self.kind == "bool":
            return "true" if value else "false"
        if self.kind == "date":
            return value.isoformat()
        if self.kind == "int_list":
            return json.dumps(value)
        return value


STUDY_ID = Column("study_id", "string", "Random study number of the patient: new in every export, the same in every "
                  "file of one export.", "Not derived from the patient (keyed hash with a key that is discarded).")


def _when(mode: DateMode, what: str) -> Column:
    if mode == "relative":
        return Column("day", "int", f"{what}: days from the patient's first held dosing session (0 = that day; "
                      "negative = before it), in the clinic's time zone.", "Safe Harbor: no date elements.")
    return Column("date", "date", f"{what}: the date moved by the patient's secret offset (whole weeks, 1-52, "
                  "earlier or later, the same for all of the patient's dates).",
                  "Shifted: intervals and weekdays are true, calendar dates are not.")


def tables(mode: DateMode) -> dict[str, tuple[Column, ...]]:
    """The exported tables and their columns: the data dictionary is made from these."""
    participants = [
        STUDY_ID,
        Column("age_band", "string", "Age at the first held dosing session in ten-year bands (<18, 18-29, 30-39, "
               "..., 80-89, 90+); * where generalised.", "Safe Harbor: ages over 89 grouped; quasi-identifier."),
        Column("sex_at_birth", "string", "female, male, intersex or unknown; * where generalised.",
               "Quasi-identifier."),
        Column("state", "string", "US state of the patient's address (two letters; empty if it cannot be read); "
               "* where generalised.", "Quasi-identifier."),
        Column("zip3", "string", "First three digits of the patient's ZIP code; 000 for HHS's 17 areas of 20,000 "
               "people or fewer; empty if unknown; * where generalised.", "Safe Harbor ZIP rule; quasi-identifier."),
        Column("route", "string", "Route of the first held dosing session (intramuscular, iv_infusion, "
               "intranasal_esketamine, intranasal_racemic, sublingual, oral; empty if not recorded); "
               "* where generalised.", "Quasi-identifier."),
        Column("generalisation", "int", "How far this patient's quasi-identifiers were generalised for "
               "k-anonymity: 0 none, 1 zip3, 2 zip3 and state, 3 also age band, 4 all five.", "k-anonymity."),
        Column("diagnoses", "string", "ICD-10 categories (three characters) from the intake of the treated "
               "episode, separated by spaces.", "Coded; the intake's descriptions are not exported."),
        Column("n_sessions", "int", "Held dosing sessions (medicine given).", ""),
    ]
    if mode == "shifted":
        participants.append(_when(mode, "First held dosing session"))
    return {
        "participants": tuple(participants),
        "sessions": (
            STUDY_ID,
            Column("session_number", "int", "1 for the first held dosing session, then in order.", ""),
            _when(mode, "Day of the session"),
            Column("route", "string", "Route of the session (see participants.route).", ""),
            Column("dose_mg", "float", "Dose in mg: the signed order not cancelled, or the dose of an imported session; empty if none recorded.",
                   ""),
            Column("adverse_events", "string", "Adverse events as code:severity, separated by spaces (codes: "
                   "nausea, vomiting, dizziness, headache, hypertension, tachycardia, sedation, dissociation, "
                   "anxiety_agitation, emergence_reaction, respiratory_depression, other).",
                   "Coded; descriptions and actions (free text) are not exported."),
            Column("serious_adverse_event", "bool", "Any adverse event marked serious.", ""),
        ),
        "scores": (
            STUDY_ID,
            Column("instrument", "string", "Questionnaire id (phq9, gad7, pcl5, madrs, qidssr16, meq30, cadss, "
                   "ebi, ...; `openkap instruments` lists them).", ""),
            _when(mode, "Day the answers were given"),
            Column("total", "float", "Total score as the scoring engine computed it.", ""),
            Column("band", "string", "Severity band id of the total, if the instrument has bands.", ""),
            Column("answers", "int_list", "Item answers in item order; null for an item left blank. In CSV a "
                   "JSON list.", "Numbers only; supplementary free-text answers are not exported."),
        ),
    }


@dataclass
class _Participant:
    enrolled: Enrolled
    age_band: str = ""
    sex: str = ""
    state: str = ""
    zip3: str = ""
    diagnoses: str = ""

    @property
    def quasi(self) -> tuple[str, ...]:
        return (self.age_band, self.sex, self.state, self.zip3, self.enrolled.route)


class _TableWriter:
    """One table written as CSV and as Parquet, a chunk of rows at a time."""

    def __init__(self, root: Path, name: str, columns: tuple[Column, ...]):
        import pyarrow as pa
        import pyarrow.parquet as pq

        self.name, self.columns, self.rows = name, columns, 0
        self.csv_path = root / "csv" / f"{name}.csv"
        self.parquet_path = root / "parquet" / f"{name}.parquet"
        self._csv_file = self.csv_path.open("w", newline="", encoding="utf-8")
        self._csv = SafeWriter(self._csv_file)
        self._csv.writerow([c.name for c in columns])
        self._schema = pa.schema([(c.name, c.arrow_type()) for c in columns])
        self._parquet = pq.ParquetWriter(self.parquet_path, self._schema)
        self._buffer: list[tuple[Any, ...]] = []

    def add(self, row: tuple[Any, ...]) -> None:
        self._csv.writerow([c.csv_cell(v) for c, v in zip(self.columns, row, strict=True)])
        self._buffer.append(row)
        self.rows += 1
        if len(self._buffer) >= CHUNK:
            self._flush()

    def _flush(self) -> None:
        import pyarrow as pa

        if self._buffer:
            columns = list(zip(*self._buffer, strict=True))
            self._parquet.write_batch(pa.record_batch(
                [pa.array(values, type=c.arrow_type()) for c, values in zip(self.columns, columns, strict=True)],
                schema=self._schema,
            ))
            self._buffer.clear()

    def close(self) -> None:
        self._flush()
        self._parquet.close()
        self._csv_file.close()


@dataclass
class ResearchExport:
    """A finished export: the zip on disk (in its own temporary directory, which the
    caller removes with `cleanup`) and its manifest."""

    directory: Path
    zip_path: Path
    manifest: dict[str, Any]
    zip_sha256: str = ""
    filename: str = field(default="")

    def cleanup(self) -> None:
        shutil.rmtree(self.directory, ignore_errors=True)


def _participants(organization: Organization, mode: DateMode) -> dict[int, _Participant]:
    enrolled = enrolled_patients(organization.id, CohortFilters())
    people: dict[int, _Participant] = {}
    for pid, dob, sex, address in (
        Patient.objects.filter(organization=organization).values_list("id", "date_of_birth", "sex_at_birth", "address")
        .iterator(chunk_size=CHUNK)
    ):
        record = enrolled.get(pid)
        if record is None:
            continue
        state, zip5 = state_and_zip(address or "")
        people[pid] = _Participant(record, age_band(age_years(dob, record.first_day)), sex or "unknown",
                                   state, zip3(zip5))
    episodes = {p.enrolled.episode_id: p for p in people.values()}
    for episode_id, diagnoses in (
        Intake.objects.filter(organization=organization).values_list("episode_id", "diagnoses").iterator(chunk_size=CHUNK)
    ):
        person = episodes.get(episode_id)
        if person is not None:
            codes = sorted({str(d.get("code", "")).replace(".", "").strip().upper()[:3]
                            for d in diagnoses or [] if isinstance(d, dict) and d.get("code")})
            person.diagnoses = " ".join(c for c in codes if c.isalnum())
    return people


def _sessions(organization: Organization) -> Iterator[tuple[int, date, str, float | None, str, bool]]:
    """Held sessions in patient order with their ordered dose and coded adverse events."""

    doses: dict[int, Any] = dict(
        DoseOrder.objects.filter(organization=organization, cancelled_at__isnull=True)
        .order_by("session_id", "signed_at").values_list("session_id", "dose_mg")
    )
    events: dict[int, list[tuple[str, str, bool]]] = {}
    for session_id, code, severity, serious in (
        AdverseEvent.objects.filter(organization=organization).order_by("session_id", "onset_at", "id")
        .values_list("session_id", "code", "severity", "serious")
    ):
        events.setdefault(session_id, []).append((code, severity, serious))

    plan_route = dict(
        TreatmentPlan.objects.filter(organization=organization).order_by("episode_id", "version")
        .values_list("episode_id", "route")
    )
    rows = (
        DosingSession.objects.held().filter(organization=organization)
        .annotate(at=Coalesce("administration_started_at", "scheduled_start"))
        .order_by("patient_id", "at", "id")
        .values_list("id", "patient_id", "episode_id", "at", F("protocol_version__route"))
    )
    imported = imported_sessions(organization.id)
    zone = timezone.get_current_timezone()
    for session_id, pid, episode_id, at, route in _raw(rows):
        mine = events.get(session_id, [])
        history = imported.get(session_id, {})
        dose = doses.get(session_id, history.get("dose_mg"))
        yield (pid, local_day(at, zone), route or history.get("route") or plan_route.get(episode_id, ""),
               None if dose is None else float(dose),
               " ".join(f"{code}:{severity}" for code, severity, _ in mine), any(s for _, _, s in mine))


def _scores(organization: Organization) -> Iterator[tuple[int, str, date, float | None, str, list[int | None]]]:
    rows = (
        MeasureResponse.objects.filter(organization=organization, is_scored=True, correction__isnull=True)
        .order_by("patient_id", "completed_at", "id")
        .values_list("patient_id", "instrument_id", "completed_at", "total", "band", "answers")
    )
    zone = timezone.get_current_timezone()
    for pid, instrument, at, total, band, answers in rows.iterator(chunk_size=CHUNK):
        values = list(answers.values()) if isinstance(answers, dict) else []
        yield pid, instrument, local_day(at, zone), total, band, [
            v if isinstance(v, int) and not isinstance(v, bool) else None for v in values
        ]


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def write_export(organization: Organization, options: ExportOptions) -> ResearchExport:
    """Build the export's files and zip them; no permission check or audit row (the
    callers do both)."""
    options.validate()
    secret = secrets.token_bytes(32)  # never stored: offsets and study numbers cannot be recomputed
    shifter = DateShifter(secret)
    people = _participants(organization, options.dates)
    anonymity = k_anonymise({pid: p.quasi for pid, p in people.items()}, options.k)
    kept = {pid: people[pid] for pid in anonymity.released}
    numbers = study_numbers(kept, secret)

    def when(pid: int, day: date) -> int | date:
        if options.dates == "relative":
            return days_from(day, kept[pid].enrolled.first_day)
        return shifter.shift(day, pid)

    directory = Path(tempfile.mkdtemp(prefix="openkap-research-"))
    root = directory / "export"
    (root / "csv").mkdir(parents=True)
    (root / "parquet").mkdir()
    spec = tables(options.dates)
    writers = {name: _TableWriter(root, name, columns) for name, columns in spec.items()}
    try:
        for pid in sorted(kept, key=numbers.__getitem__):
            p = kept[pid]
            row: tuple[Any, ...] = (numbers[pid], *anonymity.released[pid], anonymity.levels[pid], p.diagnoses,
                                    p.enrolled.sessions)
            if options.dates == "shifted":
                row = (*row, when(pid, p.enrolled.first_day))
            writers["participants"].add(row)
        number_of_session = 0
        last = None
        for pid, day, route, dose, adverse, serious in _sessions(organization):
            if pid not in kept:
                continue
            number_of_session = number_of_session + 1 if pid == last else 1
            last = pid
            writers["sessions"].add((numbers[pid], number_of_session, when(pid, day), route, dose, adverse, serious))
        for pid, instrument, day, total, band, answers in _scores(organization):
            if pid in kept:
                writers["scores"].add((numbers[pid], instrument, when(pid, day), total, band, answers))
    finally:
        for writer in writers.values():
            writer.close()
    _write_csv(root / "data_dictionary.csv", ["file", "column", "type", "description", "de-identification"], (
        [f"{folder}/{name}.{ext}", c.name, c.kind, c.description, c.rule]
        for name, columns in spec.items() for folder, ext in (("csv", "csv"), ("parquet", "parquet"))
        for c in columns
    ))
    _write_csv(root / "safe_harbor.csv", ["identifier (45 CFR 164.514(b)(2))", "in this export"], SAFE_HARBOR)
    _write_csv(root / "k_anonymity.csv", [*QUASI_IDENTIFIERS, "n_patients"],
               ([*values, n] for values, n in anonymity.classes))
    files = sorted(p for p in root.rglob("*") if p.is_file())
    manifest: dict[str, Any] = {
        "format": FORMAT_VERSION,
        "generated_at": timezone.now().isoformat(timespec="seconds"),
        "options": {"k": options.k, "dates": options.dates},
        "cohort": "Patients with at least one held dosing session (medicine given).",
        "k_anonymity": {
            "k": options.k, "quasi_identifiers": list(QUASI_IDENTIFIERS),
            "patients_eligible": len(people), "patients_exported": len(kept),
            "patients_generalised": anonymity.n_generalised, "patients_left_out": len(anonymity.dropped),
            "by_level": {str(i): sum(1 for v in anonymity.levels.values() if v == i) for i in range(len(LADDER))},
        },
        "rows": {name: w.rows for name, w in writers.items()},
        "excluded": "Names, contact details, addresses below state and ZIP3, dates of birth, record and "
                    "licence numbers, database ids, staff, sites, lots, and all free text (clinical notes, "
                    "psychotherapy notes, intentions, reasons, descriptions).",
        "files": [{"path": str(p.relative_to(root)), "bytes": p.stat().st_size, "sha256": _sha256(p)} for p in files],
    }
    (root / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    filename = f"openkap-research-{timezone.localdate():%Y%m%d}-k{options.k}-{options.dates}.zip"
    zip_path = directory / filename
    with zipfile.ZipFile(zip_path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for path in [*files, root / "manifest.json"]:
            archive.write(path, str(path.relative_to(root)))
    shutil.rmtree(root)
    return ResearchExport(directory, zip_path, manifest, _sha256(zip_path), filename)


def _write_csv(path: Path, header: list[str], rows: Any) -> None:
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = SafeWriter(f)
        writer.writerow(header)
        writer.writerows(rows)


def audit_detail(export: ResearchExport, via: str) -> dict[str, Any]:
    return {"via": via, "zip": export.filename, "zip_sha256": export.zip_sha256, "manifest": export.manifest}


def research_export(*, by: Actor, options: ExportOptions, via: str) -> ResearchExport:
    """The de-identified export of `by`'s organisation, audited with its manifest."""
    require(by, Perm.RESEARCH_EXPORT)
    with replica_reads():  # seconds-old data is fine for research; the audit row goes to the primary
        export = write_export(by.organization, options)
    audit_record(by=by, action=AuditAction.EXPORT, object_type="research_export", object_id=export.zip_sha256[:16],
                 detail=audit_detail(export, via))
    return export


def export_response(export: ResearchExport) -> FileResponse:
    """The zip as a download; the temporary directory goes at once (the open handle
    keeps the file readable until the response has been sent)."""
    handle = export.zip_path.open("rb")
    export.cleanup()
    response = FileResponse(handle, as_attachment=True, filename=export.filename, content_type="application/zip")
    response["X-Content-SHA256"] = export.zip_sha256
    return response


def research_history(*, by: Actor, limit: int = 20) -> list[dict[str, Any]]:
    """The actor's own earlier exports (when, options, rows and the zip's hash) from the
    audit log, so a researcher can match a file on disk to its record."""

    require(by, Perm.RESEARCH_EXPORT)
    events = (
        AuditEvent.objects.filter(organization_id=by.organization.id, actor_id=by.user.id,
                                  object_type="research_export", action=AuditAction.EXPORT)
        .order_by("-id").values_list("occurred_at", "detail")[:limit]
    )
    history = []
    for at, detail in events:
        manifest = detail.get("manifest", {})
        history.append({"at": at, "via": detail.get("via", ""), "zip": detail.get("zip", ""),
                        "sha256": detail.get("zip_sha256", ""), **manifest.get("options", {}),
                        "patients": manifest.get("k_anonymity", {}).get("patients_exported")})
    return history
