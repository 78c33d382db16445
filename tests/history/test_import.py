"""History import through the database: all or nothing, idempotent, audited, scored
by the engine, sessions as held history in an episode without the ledger, and the
imported cohort reaching the outcome report; page and CLI; admins only."""

from __future__ import annotations

from datetime import date, timedelta
from io import StringIO
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command

from openkap.audit.models import AuditEvent
from openkap.history.models import ImportBatch, ImportedRecord
from openkap.history.services import history_import

PATIENTS = "external_id,given_name,family_name,date_of_birth,sex_at_birth\n"
SESSIONS = "external_id,date,route,dose_mg\n"
MEASURES = "external_id,instrument,administered_at,answers\n"
D0 = date(2025, 3, 3)


def _phq9(total: int) -> str:
    answers = [min(3, max(0, total - 3 * i)) for i in range(9)]
    return " ".join(map(str, answers))


@pytest.fixture
def by(org, admin, site, as_actor):
    return as_actor(admin, org)


def run(by, kind: str, text: str, **kw):
    return history_import(by=by, kind=kind, data=text.encode(), filename=f"{kind}.csv", **kw)


def test_a_cohort_imported_reaches_the_outcome_report(org, by):
    from openkap.dosing.models import DosingSession
    from openkap.ledger.models import LedgerEntry
    from openkap.measures.models import MeasureResponse
    from openkap.outcomes.cohort import CohortFilters
    from openkap.outcomes.selectors import build_report
    from openkap.patients.models import Patient

    people = PATIENTS + "".join(f"X{n},Given{n},Family{n},1980-01-0{n},female\n" for n in range(1, 5))
    sessions = SESSIONS + "".join(f"X{n},{D0 + timedelta(days=d)},intramuscular,{50 + n}\n"
                                  for n in range(1, 5) for d in (0, 7, 14))
    # Baselines 20 and endpoints 25 days after the last session: 8 and 10 respond (>= 50 %), 15 and 22 do not.
    measures = MEASURES + "".join(
        f"X{n},phq9,{D0},{_phq9(20)}\nX{n},phq9,{D0 + timedelta(days=39)}T10:00,{_phq9(end)}\n"
        for n, end in ((1, 8), (2, 10), (3, 15), (4, 22))
    )
    ledger_before = LedgerEntry.objects.count()
    assert run(by, "patients", people).written
    assert run(by, "sessions", sessions).written
    report = run(by, "measures", measures)
    assert (report.written, report.to_create) == (True, 8)
    assert Patient.objects.filter(organization=org).count() == 4
    assert DosingSession.objects.held().filter(organization=org).count() == 12
    assert LedgerEntry.objects.count() == ledger_before  # history does not touch the books
    response = MeasureResponse.objects.filter(organization=org, total=8).get()
    assert response.band == "mild"
    assert response.is_scored
    out = build_report(org, CohortFilters()).to_dict(suppress=False)
    assert (out["n_enrolled"], out["n_analysed"]) == (4, 4)
    assert out["response_pct"] == 50.0
    assert {d["label"] for d in out["demographics"]["overall"]["route"]} == {"Intramuscular injection (racemic ketamine)"}


def test_imported_sessions_show_route_and_dose_on_the_patient_outcome_page(org, by, prescriber, client_for):
    from openkap.patients.models import CareTeamMember, Patient

    run(by, "patients", PATIENTS + "X1,Ana,Imported,1980-01-01,female\n")
    run(by, "sessions", SESSIONS + f"X1,{D0},intramuscular,52.5\nX1,{D0 + timedelta(days=7)},sublingual,200\n")
    patient = Patient.objects.get(organization=org, legal_family_name="Imported")
    CareTeamMember.objects.create(organization=org, patient=patient, user=prescriber, role="prescriber")
    body = client_for(prescriber).get(f"/patients/{patient.id}/outcomes/").content.decode()
    rows = [row for row in body.split("<tr>") if "imported history" in row]
    assert len(rows) == 2
    assert "Intramuscular injection" in rows[0]
    assert ">52.50<" in rows[0]
    assert "Sublingual" in rows[1]
    assert ">200<" in rows[1]
    assert not any("not recorded" in row for row in rows)


def test_re_import_changes_nothing_and_a_changed_row_is_refused(org, by):
    from openkap.patients.models import Patient

    text = PATIENTS + "A1,Ada,Lovelace,1980-12-10,female\n"
    first = run(by, "patients", text)
    again = run(by, "patients", text)
    assert (first.to_create, again.to_create, again.unchanged) == (1, 0, 1)
    assert Patient.objects.filter(organization=org).count() == 1
    changed = run(by, "patients", PATIENTS + "A1,Ada,Byron,1980-12-10,female\nA2,Bo,B,1970-01-01,male\n")
    assert changed.refused
    assert not changed.written
    assert [(e.line, "imported before" in e.message) for e in changed.errors] == [(2, True)]
    assert Patient.objects.filter(organization=org).count() == 1


def test_one_bad_row_writes_nothing_unless_skipped(org, by):
    from openkap.patients.models import Patient

    text = PATIENTS + "A1,Ada,L,1980-01-01,female\nA2,Bo,L,2999-01-01,male\nA3,Cy,L,1990-01-01,male\n"
    refused = run(by, "patients", text)
    assert refused.refused
    assert [e.line for e in refused.errors] == [3]
    assert Patient.objects.filter(organization=org).count() == 0
    assert not ImportBatch.objects.exists()
    assert AuditEvent.objects.filter(object_type="history_import", action="refused").count() == 1
    skipped = run(by, "patients", text, skip_invalid=True)
    assert skipped.written
    assert skipped.to_create == 2
    assert ImportBatch.objects.get().skipped_invalid == 1


def test_dry_run_writes_nothing(org, by):
    from openkap.patients.models import Patient

    report = run(by, "patients", PATIENTS + "A1,Ada,L,1980-01-01,female\n", dry_run=True)
    assert report.to_create == 1
    assert not report.written
    assert "dry run" in report.summary()
    assert Patient.objects.count() == 0
    assert not ImportedRecord.objects.exists()


def test_sessions_and_measures_need_known_patients(org, by):
    run(by, "patients", PATIENTS + "A1,Ada,L,1980-01-01,female\n")
    report = run(by, "sessions", SESSIONS + "A1,2025-01-05,intramuscular,50\nZZ,2025-01-05,intramuscular,50\n")
    assert report.refused
    assert [(e.line, "unknown external_id 'ZZ'" in e.message) for e in report.errors] == [(3, True)]
    report = run(by, "measures", MEASURES + "ZZ,phq9,2025-01-04,0 0 0 0 0 0 0 0 0\n")
    assert report.refused


def test_every_record_written_is_audited_and_marked_with_its_batch(org, by):
    run(by, "patients", PATIENTS + "A1,Ada,L,1980-01-01,female\n")
    run(by, "sessions", SESSIONS + "A1,2025-01-05,sublingual,200\nA1,2025-01-12,sublingual,200\n")
    batch = ImportBatch.objects.get(kind="sessions")
    records = ImportedRecord.objects.filter(batch=batch)
    assert sorted(records.values_list("kind", flat=True)) == ["episode", "sessions", "sessions"]
    assert {r.data["route"] for r in records if r.kind == "sessions"} == {"sublingual"}
    patient_id = records.first().patient_id
    assert AuditEvent.objects.filter(object_type="dosing_session", action="create", patient_id=patient_id).count() == 2
    assert AuditEvent.objects.filter(object_type="patient", action="create", patient_id=patient_id).exists()
    event = AuditEvent.objects.get(object_type="history_import", object_id=str(batch.id))
    assert event.detail["created"] == 2
    assert event.detail["sha256"] == batch.sha256


def test_broken_file_is_a_clear_error(org, by):
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError, match="not UTF-8"):
        history_import(by=by, kind="patients", data=(PATIENTS + "A1,Zo\xeb,L,1980-01-01,female\n").encode("cp1252"),
                       filename="x.csv")
    with pytest.raises(ValidationError, match="header"):
        run(by, "sessions", PATIENTS)


def test_only_admins_import(org, by, prescriber, therapist, nurse, researcher, outsider, client_for):
    for user in (prescriber, therapist, nurse, researcher):
        assert client_for(user).get("/import/").status_code == 403
    run(by, "patients", PATIENTS + "A1,Ada,L,1980-01-01,female\n")
    # Another organisation's admin sees their own (empty) import history, not ours.
    page = client_for(outsider).get("/import/")
    assert page.status_code == 200
    assert b"patients.csv" not in page.content


def test_page_checks_then_imports(org, admin, site, client_for):
    from openkap.patients.models import Patient

    client = client_for(admin)
    assert client.get("/import/").status_code == 200

    def upload(text: str, **extra):
        return client.post("/import/", {"kind": "patients", "file": SimpleUploadedFile("p.csv", text.encode()),
                                        **extra})

    bad = upload(PATIENTS + "A1,Ada,L,1980-01-01,female\nA2,=cmd(),L,1980-01-01,male\n")
    assert bad.status_code == 422
    assert b"spreadsheet formula" in bad.content
    assert b"Nothing imported" in bad.content
    dry = upload(PATIENTS + "A1,Ada,L,1980-01-01,female\n", dry_run="on")
    assert dry.status_code == 200
    assert b"Would create 1" in dry.content
    assert Patient.objects.count() == 0
    done = upload(PATIENTS + "A1,Ada,L,1980-01-01,female\n")
    assert done.status_code == 200
    assert b"Created 1" in done.content
    assert Patient.objects.count() == 1
    latin = client.post("/import/", {"kind": "patients", "file": SimpleUploadedFile(
        "p.csv", (PATIENTS + "A2,Zo\xeb,L,1980-01-01,female\n").encode("latin-1"))})
    assert latin.status_code == 422
    assert b"not UTF-8" in latin.content
    # A UTF-16 file (NUL bytes): refused by the NUL guard at the door (400) where it runs,
    # else by the file check (422); both name the NUL bytes.
    utf16 = client.post("/import/", {"kind": "patients", "file": SimpleUploadedFile("p.csv", PATIENTS.encode("utf-16"))})
    assert utf16.status_code in {400, 422}
    assert b"NUL" in utf16.content
    assert Patient.objects.count() == 1
    assert client.post("/import/", {"kind": "invoices"}).status_code == 422


def test_cli(org, admin, site, prescriber, tmp_path: Path):
    from openkap.patients.models import Patient

    good = tmp_path / "patients.csv"
    good.write_text(PATIENTS + "A1,Ada,L,1980-01-01,female\n")
    out = StringIO()
    call_command("import", "patients", str(good), "--by", admin.email, "--dry-run", stdout=out)
    assert "Would create 1" in out.getvalue()
    assert Patient.objects.count() == 0
    call_command("import", "patients", str(good), "--by", admin.email, stdout=out)
    assert Patient.objects.count() == 1
    assert AuditEvent.objects.filter(object_type="history_import", action="create", actor_id=admin.id).exists()
    bad = tmp_path / "sessions.csv"
    bad.write_text(SESSIONS + "A1,2025-01-05,im,50\n")
    err = StringIO()
    with pytest.raises(CommandError, match="Nothing imported"):
        call_command("import", "sessions", str(bad), "--by", admin.email, stderr=err)
    assert "sessions.csv: line 2: route 'im'" in err.getvalue()
    with pytest.raises(CommandError, match="may not import"):
        call_command("import", "patients", str(good), "--by", prescriber.email)
    with pytest.raises(CommandError, match="no file"):
        call_command("import", "patients", str(tmp_path / "none.csv"), "--by", admin.email)
