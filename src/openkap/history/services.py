"""History import: patients, held dosing sessions and scored questionnaires from
another system, from CSV files checked whole by `openkap.core.history_import`.

Nothing is written if any row fails (unless `skip_invalid`), a dry run writes nothing,
and a re-import of the same rows creates nothing (each record is keyed by the other
system's identifiers in `ImportedRecord`); a row whose key was imported before with
other content is an error, since history is corrected in OpenKAP, not by re-import.
Sessions become held, discharged dosing sessions of one "imported history" episode per
patient, without a dose order or a ledger entry (their route and dose are kept on the
imported record). Responses are scored by the same engine and raise no tasks: they are
history, not today's answers. The web page and ``openkap import`` call `history_import`.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import date, datetime, time
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from openkap.accounts.authz import Actor, require
from openkap.accounts.models import Site
from openkap.audit.models import AuditAction
from openkap.audit.services import audit_record
from openkap.core.authz import Perm
from openkap.core.history_import import (
    COLUMNS,
    ImportFileError,
    MeasureRow,
    PatientRow,
    Row,
    RowError,
    SessionRow,
    parse_file,
    row_content,
)
from openkap.core.pathway.episode import State
from openkap.history.models import ImportBatch, ImportedRecord

KINDS = tuple(COLUMNS)


@dataclass
class ImportReport:
    kind: str
    filename: str
    sha256: str
    dry_run: bool
    skip_invalid: bool
    rows: int = 0
    errors: list[RowError] = field(default_factory=list)
    to_create: int = 0
    unchanged: int = 0
    written: bool = False
    batch_id: int | None = None

    @property
    def refused(self) -> bool:
        return bool(self.errors) and not self.skip_invalid

    def summary(self) -> str:
        if self.refused:
            return (f"Nothing imported: {len(self.errors)} of {self.rows} rows have errors "
                    "(fix them, or import the valid rows with skip-invalid).")
        verb = "Would create" if self.dry_run else "Created"
        text = f"{verb} {self.to_create}; {self.unchanged} already imported and unchanged"
        if self.errors:
            text += f"; {len(self.errors)} invalid rows skipped"
        return text + (" (dry run: nothing written)." if self.dry_run else ".")


def _at(day: date | datetime) -> datetime:
    """A day as clinic-local noon (the other system gave no time), or the given moment
    (naive = clinic time)."""
    moment = day if isinstance(day, datetime) else datetime.combine(day, time(12))
    return moment if timezone.is_aware(moment) else timezone.make_aware(moment)


def _content_hash(row: Row) -> str:
    return hashlib.sha256("\x1f".join(row_content(row)).encode()).hexdigest()


def _existing(organization_id: int, kind: str, keys: list[str]) -> dict[str, tuple[int, int, dict[str, Any]]]:
    found: dict[str, tuple[int, int, dict[str, Any]]] = {}
    for start in range(0, len(keys), 900):  # below SQLite's parameter limit
        for key, object_id, patient_id, data in ImportedRecord.objects.filter(
            organization_id=organization_id, kind=kind, key__in=keys[start:start + 900]
        ).values_list("key", "object_id", "patient_id", "data"):
            found[key] = (object_id, patient_id, data)
    return found


def history_import(
    *, by: Actor, kind: str, data: bytes, filename: str, dry_run: bool = False, skip_invalid: bool = False,
    site_id: int | None = None,
) -> ImportReport:
    """Check the file whole, then (not a dry run, no errors or skip_invalid) write it
    in one transaction with an audit row per record and one for the batch."""
    require(by, Perm.HISTORY_IMPORT)
    if kind not in KINDS:
        raise ValidationError({"kind": f"Choose one of: {', '.join(KINDS)}."})
    report = ImportReport(kind, filename[:255], hashlib.sha256(data).hexdigest(), dry_run, skip_invalid)
    try:
        rows, report.errors = parse_file(data, kind, timezone.localdate())
    except ImportFileError as exc:
        raise ValidationError({"file": str(exc)}) from None
    report.rows = len(rows) + len(report.errors)
    organization = by.organization
    site = None
    if kind == "sessions":
        sites = Site.objects.filter(organization=organization, is_active=True).order_by("id")
        site = sites.filter(id=site_id).first() if site_id else sites.first()
        if site is None:
            raise ValidationError({"site": "No such active site in this organisation." if site_id
                                   else "The organisation has no active site to hold the sessions."})
    existing = _existing(organization.id, kind, [r.key for r in rows])
    patients = (
        {} if kind == "patients"
        else _existing(organization.id, "patients", sorted({r.external_id for r in rows}))
    )
    new: list[Row] = []
    for row in rows:
        prior = existing.get(row.key)
        if prior is not None:
            if prior[2].get("content") == _content_hash(row):
                report.unchanged += 1
            else:
                report.errors.append(RowError(row.line, f"{row.key.replace('|', ', ')} was imported before "
                                              "with other content; correct the record in OpenKAP instead"))
            continue
        if kind != "patients" and row.external_id not in patients:
            report.errors.append(RowError(row.line, f"unknown external_id {row.external_id!r}: import the "
                                          "patient first (patients file)"))
            continue
        new.append(row)
    report.errors.sort(key=lambda e: e.line)
    report.to_create = len(new)
    if report.refused or dry_run:
        audit_record(by=by, action=AuditAction.REFUSED if report.refused else AuditAction.VIEW,
                     object_type="history_import", object_id=kind,
                     detail={"file": report.filename, "sha256": report.sha256, "rows": report.rows,
                             "errors": len(report.errors), "dry_run": dry_run, "would_create": report.to_create})
        return report
    with transaction.atomic():
        batch = ImportBatch.objects.create(
            organization=organization, kind=kind, filename=report.filename, sha256=report.sha256, rows=report.rows,
            created=len(new), unchanged=report.unchanged, skipped_invalid=len(report.errors), imported_by=by.user,
            via=by.via,
        )
        writer = _WRITERS[kind]
        for row in new:
            writer(by, batch, row, {k: v[1] for k, v in patients.items()}, site)
        audit_record(by=by, action=AuditAction.CREATE, object_type="history_import", object_id=batch.id,
                     detail={"kind": kind, "file": report.filename, "sha256": report.sha256, "rows": report.rows,
                             "created": len(new), "unchanged": report.unchanged,
                             "skipped_invalid": [str(e) for e in report.errors][:200]})
    report.written, report.batch_id = True, batch.id
    return report


def _record(batch: ImportBatch, kind: str, row: Row, object_id: int, patient_id: int, **data: Any) -> None:
    ImportedRecord.objects.create(organization_id=batch.organization_id, batch=batch, kind=kind, key=row.key,
                                  object_id=object_id, patient_id=patient_id,
                                  data={"content": _content_hash(row), "line": row.line, **data})


def _write_patient(by: Actor, batch: ImportBatch, row: Row, _patients: dict[str, int], _site: Site | None) -> None:
    from openkap.patients.services import patient_create

    assert isinstance(row, PatientRow)
    patient = patient_create(by=by, data={
        "legal_given_name": row.given_name, "legal_family_name": row.family_name,
        "date_of_birth": row.date_of_birth, "sex_at_birth": row.sex_at_birth,
    })
    _record(batch, "patients", row, patient.id, patient.id)


def _episode(by: Actor, batch: ImportBatch, external_id: str, patient_id: int) -> int:
    """The patient's "imported history" episode, made on first need."""
    from openkap.pathway.models import Episode

    found = ImportedRecord.objects.filter(organization=by.organization, kind="episode", key=external_id).first()
    if found is not None:
        return found.object_id
    episode = Episode.objects.create(organization=by.organization, patient_id=patient_id, state=State.COMPLETED,
                                     opened_by=by.user, closed_at=timezone.now())
    ImportedRecord.objects.create(organization=by.organization, batch=batch, kind="episode", key=external_id,
                                  object_id=episode.id, patient_id=patient_id, data={"imported_history": True})
    audit_record(by=by, action=AuditAction.CREATE, object_type="episode", object_id=episode.id,
                 patient_id=patient_id, detail={"imported": batch.id})
    return episode.id


def _write_session(by: Actor, batch: ImportBatch, row: Row, patients: dict[str, int], site: Site | None) -> None:
    from openkap.dosing.models import DosingSession

    assert isinstance(row, SessionRow)
    assert site is not None
    patient_id = patients[row.external_id]
    at = _at(row.day)
    session = DosingSession.objects.create(
        organization=by.organization, patient_id=patient_id, episode_id=_episode(by, batch, row.external_id, patient_id),
        site=site, status=DosingSession.Status.DISCHARGED, scheduled_start=at, started_at=at,
        administration_started_at=at, discharged_at=at, created_by=by.user,
    )
    _record(batch, "sessions", row, session.id, patient_id, route=row.route.value, dose_mg=str(row.dose_mg))
    audit_record(by=by, action=AuditAction.CREATE, object_type="dosing_session", object_id=session.id,
                 patient_id=patient_id, detail={"imported": batch.id, "route": row.route.value,
                                                "dose_mg": str(row.dose_mg)})


def _write_measure(by: Actor, batch: ImportBatch, row: Row, patients: dict[str, int], _site: Site | None) -> None:
    from openkap.core.instruments import get_instrument, highest_severity
    from openkap.measures.models import MeasureResponse, Occasion, Via

    assert isinstance(row, MeasureRow)
    patient_id = patients[row.external_id]
    instrument, result = get_instrument(row.instrument), row.result
    flags = result.flags
    response = MeasureResponse.objects.create(
        organization=by.organization, patient_id=patient_id, instrument_id=instrument.id,
        instrument_version=instrument.version, occasion=Occasion.AD_HOC,
        answers={item.id: (row.answers[i] if i < len(row.answers) else None) for i, item in enumerate(instrument.items)},
        supplementary={"imported_batch": batch.id}, result=result.to_dict(), is_scored=True,
        total=None if result.total is None else float(result.total), band=result.band or "",
        band_label=result.band_label or "", flag_ids=[f.id for f in flags], has_safety_flag=bool(flags),
        highest_severity=highest_severity(f.severity for f in flags), completed_at=_at(row.administered_at), entered_by=by.user,
        via=Via.STAFF,
    )
    _record(batch, "measures", row, response.id, patient_id)
    audit_record(by=by, action=AuditAction.CREATE, object_type="measure_response", object_id=response.id,
                 patient_id=patient_id, detail={"imported": batch.id, "instrument": instrument.id})


_WRITERS = {"patients": _write_patient, "sessions": _write_session, "measures": _write_measure}
