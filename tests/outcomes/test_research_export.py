"""The de-identified research export through the database: no identifier from a seeded
list survives in any file (CSV, Parquet, JSON), dates are relative or shifted
consistently per patient, k holds in what is released, the manifest's hashes are the
files', every copy is audited, and only researchers of the organisation get one."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import zipfile
from collections import Counter
from datetime import date, timedelta
from io import StringIO
from itertools import combinations
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from openkap.accounts import services as account_services
from openkap.audit.models import AuditEvent
from openkap.core.deid import QUASI_IDENTIFIERS
from openkap.outcomes.research import ExportOptions, write_export
from tests.outcomes.factories import add_patient, add_response, at

D0 = date(2025, 3, 3)
# The endpoint score's day: no two of a patient's real dates are a whole number of weeks
# apart, so a shifted date (whole weeks, DateShifter) can never land on a real one and
# the search for real dates in the files cannot fail by chance (at 28 days it did, ~4%).
ENDPOINT = D0 + timedelta(days=29)

# Every one of these is written somewhere in the record; none may reach an export.
SECRET_WORDS = {
    "given": "Zebulonia", "family": "Quaxtonbury", "preferred": "Zebbie", "pronouns": "xe/xem",
    "email": "zebulonia.q@example.net", "phone": "555-867-5309", "street": "742 Evergreen Terrace",
    "city": "Springfieldtown", "zip": "11201", "mrn": "T-SECRET-77", "emergency": "Marjorie Quaxtonbury",
    "emergency_phone": "555-111-2222", "allergy": "Penicillinosis", "meds": "Sertralinex 50",
    "gender": "Genderfluidish", "problems": "Lost job at Acme Widgets", "history": "Admitted St Elsewhere",
    "diagnosis_text": "Depression after Quaxtonbury divorce", "ae": "Vomited on Dr Hibbert",
    "ae_action": "Called Nurse Ratched", "ended": "Left with Aunt Selma", "supplementary": "I live on Elm Street",
}


def _files(blob: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(blob)) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def _text_of(name: str, data: bytes) -> str:
    """A file's content as text: CSV and JSON as they are, Parquet through pyarrow
    (its pages are compressed, so the values are read, with the schema's metadata)."""
    if name.endswith(".parquet"):
        import pyarrow.parquet as pq

        table = pq.read_table(io.BytesIO(data))
        return json.dumps(table.to_pylist(), default=str) + str(table.schema) + str(table.schema.metadata)
    return data.decode("utf-8")


def _csv(files: dict[str, bytes], name: str) -> list[dict[str, str]]:
    return list(csv.DictReader(StringIO(files[name].decode("utf-8"))))


def _export(org, **options) -> tuple[dict[str, bytes], dict]:
    export = write_export(org, ExportOptions(**options))
    try:
        blob = export.zip_path.read_bytes()
    finally:
        export.cleanup()
    assert hashlib.sha256(blob).hexdigest() == export.zip_sha256
    return _files(blob), export.manifest


@pytest.fixture
def identified(org, site, prescriber):
    """One patient with an identifier in every free-text and contact field, and
    company with the same quasi-identifiers so that k = 2 releases them unchanged."""
    from openkap.dosing.models import AdverseEvent, DosingSession
    from openkap.pathway.models import Intake

    w = SECRET_WORDS
    patients = []
    for _n in range(2):
        p = add_patient(org, site, prescriber, session_days=[D0, D0 + timedelta(days=4)],
                        scores=[(D0 - timedelta(days=2), 18, 1), (ENDPOINT, 6, 0)],
                        dob=date(1961, 7, 19), diagnoses=["F33.1"])
        patients.append(p)
    p = patients[0]
    p.legal_given_name, p.legal_family_name, p.preferred_name, p.pronouns = w["given"], w["family"], w["preferred"], w["pronouns"]
    p.email, p.phone, p.mrn = w["email"], w["phone"], w["mrn"]
    p.address = f"{w['street']}\n{w['city']}, NY {w['zip']}"
    p.emergency_contact_name, p.emergency_contact_phone = w["emergency"], w["emergency_phone"]
    p.allergies, p.current_medications, p.gender_identity = w["allergy"], w["meds"], w["gender"]
    p.save()
    patients[1].address = "1 Other Rd\nBrooklyn, NY 11215"
    patients[1].save()
    Intake.objects.filter(episode__patient=p).update(
        presenting_problems=w["problems"], psychiatric_history=w["history"],
        diagnoses=[{"code": "F33.1", "description": w["diagnosis_text"]}],
    )
    session = DosingSession.objects.filter(patient=p).first()
    DosingSession.objects.filter(id=session.id).update(ended_reason=w["ended"])
    AdverseEvent.objects.create(organization=org, session=session, code="vomiting", description=w["ae"],
                                severity="mild", onset_at=at(D0, 11), action_taken=w["ae_action"],
                                outcome="resolved", serious=False, recorded_by=prescriber)
    add_response(org, p, "gad7", D0 - timedelta(days=1), [1, 2, 1, 0, 2, 1, 1], {"note": w["supplementary"]})
    return patients


@pytest.mark.parametrize("dates", ["relative", "shifted"])
def test_no_identifier_survives_in_any_file(org, identified, dates):
    files, manifest = _export(org, k=2, dates=dates)
    assert {"csv/participants.csv", "csv/sessions.csv", "csv/scores.csv", "parquet/participants.parquet",
            "parquet/sessions.parquet", "parquet/scores.parquet", "data_dictionary.csv", "safe_harbor.csv",
            "k_anonymity.csv", "manifest.json"} == set(files)
    forbidden = [v.lower() for v in SECRET_WORDS.values() if v != SECRET_WORDS["zip"]]
    patient = identified[0]
    # Real dates of the patient: birth, sessions, answers (ISO and US style).
    real_days = [patient.date_of_birth, D0, D0 + timedelta(days=4), D0 - timedelta(days=2), D0 - timedelta(days=1),
                 ENDPOINT]
    assert all((a - b).days % 7 for a, b in combinations(real_days[1:], 2))  # see ENDPOINT
    forbidden += [d.isoformat() for d in real_days] + [f"{d:%m/%d/%Y}" for d in real_days]
    for name, data in files.items():
        text = _text_of(name, data).lower()
        for word in forbidden:
            assert word not in text, (word, name)
    # The ZIP survives only as its first three digits.
    rows = _csv(files, "csv/participants.csv")
    assert {r["zip3"] for r in rows} == {"112"}
    assert "11201" not in files["csv/participants.csv"].decode()
    assert manifest["rows"] == {"participants": 2, "sessions": 4, "scores": 5}
    # Adverse events leave as codes only.
    assert "vomiting:mild" in {r["adverse_events"] for r in _csv(files, "csv/sessions.csv")}


def test_relative_days_by_hand(org, identified):
    files, _ = _export(org, k=2, dates="relative")
    sessions = _csv(files, "csv/sessions.csv")
    assert sorted((r["session_number"], r["day"]) for r in sessions) == [("1", "0"), ("1", "0"), ("2", "4"), ("2", "4")]
    scores = _csv(files, "csv/scores.csv")
    assert sorted(r["day"] for r in scores if r["instrument"] == "phq9") == ["-2", "-2", "29", "29"]
    gad = next(r for r in scores if r["instrument"] == "gad7")
    assert gad["day"] == "-1"
    assert json.loads(gad["answers"]) == [1, 2, 1, 0, 2, 1, 1]
    assert gad["total"] == "8.0"
    people = _csv(files, "csv/participants.csv")
    assert {(r["age_band"], r["sex_at_birth"], r["state"], r["route"], r["diagnoses"], r["n_sessions"])
            for r in people} == {("60-69", "female", "NY", "intramuscular", "F33", "2")}
    assert "date" not in people[0]


def test_shifted_dates_one_offset_per_patient(org, identified):
    files, _ = _export(org, k=2, dates="shifted")
    people = {r["study_id"]: date.fromisoformat(r["date"]) for r in _csv(files, "csv/participants.csv")}
    for study_id, first in people.items():
        sessions = [date.fromisoformat(r["date"]) for r in _csv(files, "csv/sessions.csv") if r["study_id"] == study_id]
        scores = [date.fromisoformat(r["date"]) for r in _csv(files, "csv/scores.csv")
                  if r["study_id"] == study_id and r["instrument"] == "phq9"]
        offset = first - D0
        assert offset.days % 7 == 0
        assert offset.days != 0
        assert sessions == [D0 + offset, D0 + timedelta(days=4) + offset]
        assert scores == [D0 - timedelta(days=2) + offset, ENDPOINT + offset]


def test_csv_and_parquet_hold_the_same_rows(org, identified):
    import pyarrow.parquet as pq

    files, _ = _export(org, k=2, dates="shifted")
    for table in ("participants", "sessions", "scores"):
        from_csv = _csv(files, f"csv/{table}.csv")
        from_parquet = pq.read_table(io.BytesIO(files[f"parquet/{table}.parquet"])).to_pylist()
        assert len(from_csv) == len(from_parquet)
        for a, b in zip(from_csv, from_parquet, strict=True):
            assert a["study_id"] == b["study_id"]
            assert a["date"] == b["date"].isoformat()
    scores = pq.read_table(io.BytesIO(files["parquet/scores.parquet"])).to_pylist()
    assert [1, 2, 1, 0, 2, 1, 1] in [s["answers"] for s in scores]


def test_k_holds_and_small_groups_are_generalised_or_left_out(org, site, prescriber):
    # 5 alike; 2 alike but for ZIP3; one 93-year-old man by another route, alone.
    for _ in range(5):
        add_patient(org, site, prescriber, session_days=[D0], scores=[(D0, 15, 0)], dob=date(1985, 1, 1))
    for zip5 in ("10001", "11201"):
        p = add_patient(org, site, prescriber, session_days=[D0], dob=date(1975, 1, 1), sex="male")
        p.address = f"1 Main St\nNew York, NY {zip5}"
        p.save()
    lone = add_patient(org, site, prescriber, session_days=[D0], scores=[(D0, 20, 0)], dob=date(1931, 1, 1),
                       sex="male", route="iv_infusion")
    lone.address = "1 Farm Rd\nNowhere, WY 83001"
    lone.save()
    files, manifest = _export(org, k=2)
    people = _csv(files, "csv/participants.csv")
    assert all(n >= 2 for n in Counter(tuple(r[q] for q in QUASI_IDENTIFIERS) for r in people).values())
    men = [r for r in people if r["sex_at_birth"] == "male"]
    assert {(r["state"], r["zip3"], r["generalisation"]) for r in men} == {("NY", "*", "1")}
    counts = manifest["k_anonymity"]
    assert (counts["patients_eligible"], counts["patients_exported"], counts["patients_left_out"]) == (8, 7, 1)
    assert counts["patients_generalised"] == 2
    # The one left out has no sessions or scores in the export either.
    assert len(_csv(files, "csv/sessions.csv")) == 7
    assert {r["total"] for r in _csv(files, "csv/scores.csv")} == {"15.0"}
    report = _csv(files, "k_anonymity.csv")
    assert sum(int(r["n_patients"]) for r in report) == 7
    assert all(int(r["n_patients"]) >= 2 for r in report)

    # A larger k generalises further; the 93-year-old is never released with his age.
    files, manifest = _export(org, k=3)
    people = _csv(files, "csv/participants.csv")
    assert all(n >= 3 for n in Counter(tuple(r[q] for q in QUASI_IDENTIFIERS) for r in people).values())
    assert "90+" not in {r["age_band"] for r in people} or manifest["k_anonymity"]["patients_left_out"] == 0


def test_ages_over_89_and_small_zip_areas(org, site, prescriber):
    for _ in range(2):
        p = add_patient(org, site, prescriber, session_days=[D0], dob=date(1930, 1, 1))
        p.address = "4 Lake Rd\nBerlin, NH 03601"
        p.save()
    files, _ = _export(org, k=2)
    assert {(r["age_band"], r["zip3"], r["state"]) for r in _csv(files, "csv/participants.csv")} == {("90+", "000", "NH")}


def test_manifest_hashes_are_the_files(org, identified):
    files, manifest = _export(org, k=2)
    listed = {f["path"]: f for f in manifest["files"]}
    assert set(listed) == set(files) - {"manifest.json"}
    for path, entry in listed.items():
        assert hashlib.sha256(files[path]).hexdigest() == entry["sha256"]
        assert len(files[path]) == entry["bytes"]
    assert json.loads(files["manifest.json"]) == manifest
    dictionary = _csv(files, "data_dictionary.csv")
    assert {(r["file"], r["column"]) for r in dictionary} >= {("csv/scores.csv", "answers"),
                                                              ("parquet/participants.parquet", "zip3")}
    assert len(_csv(files, "safe_harbor.csv")) == 18


def test_empty_clinic_exports_headers_only(org):
    files, manifest = _export(org, k=5)
    assert manifest["rows"] == {"participants": 0, "sessions": 0, "scores": 0}
    assert files["csv/participants.csv"].decode().startswith("study_id,age_band")


def test_bad_options_are_refused(org):
    from django.core.exceptions import ValidationError

    for options in (ExportOptions(k=1), ExportOptions(k=101), ExportOptions(dates="real")):  # type: ignore[arg-type]
        with pytest.raises(ValidationError):
            write_export(org, options)


def test_researcher_page_downloads_and_audits(org, identified, researcher, client_for):
    client = client_for(researcher)
    page = client.get("/research/")
    assert page.status_code == 200
    assert b"Safe Harbor" in page.content
    assert b"k_anonymity.csv" in page.content
    response = client.post("/research/", {"k": "2", "dates": "relative"})
    assert response.status_code == 200
    assert response["Content-Type"] == "application/zip"
    blob = b"".join(response.streaming_content)
    assert hashlib.sha256(blob).hexdigest() == response["X-Content-SHA256"]
    files = _files(blob)
    assert len(_csv(files, "csv/participants.csv")) == 2
    event = AuditEvent.objects.get(object_type="research_export", actor_id=researcher.id)
    assert event.action == "export"
    assert event.detail["via"] == "web"
    assert event.detail["zip_sha256"] == response["X-Content-SHA256"]
    assert {f["path"] for f in event.detail["manifest"]["files"]} == set(files) - {"manifest.json"}
    # The export is listed on the page afterwards, with its hash.
    assert response["X-Content-SHA256"].encode() in client.get("/research/").content


def test_researcher_page_refuses_bad_input(org, researcher, client_for):
    client = client_for(researcher)
    for data in ({"k": "1", "dates": "relative"}, {"k": "x", "dates": "relative"}, {"k": "5", "dates": "real"}, {}):
        response = client.post("/research/", data)
        assert response.status_code == 422
        assert response["Content-Type"].startswith("text/html")
    assert not AuditEvent.objects.filter(object_type="research_export").exists()


@pytest.mark.parametrize("role", ["prescriber", "admin", "therapist", "nurse"])
def test_other_roles_get_no_export(request, org, identified, role, client_for, as_actor):
    user = request.getfixturevalue(role)
    assert client_for(user).get("/research/").status_code == 403
    assert client_for(user).post("/research/", {"k": "2", "dates": "relative"}).status_code == 403
    raw = account_services.api_token_create(by=as_actor(user, org), name="t")[1]
    response = client_for(user).get("/api/v1/research/export", HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert response.status_code == 403
    assert not AuditEvent.objects.filter(object_type="research_export", action="export").exists()


def test_researcher_of_another_organisation_sees_none_of_ours(org, other_org, identified, client_for):
    from openkap.core.authz import Role
    from tests.conftest import make_user

    theirs = make_user("r@other.org", "Other Researcher", other_org, Role.RESEARCHER)
    response = client_for(theirs).post("/research/", {"k": "2", "dates": "relative"})
    files = _files(b"".join(response.streaming_content))
    assert _csv(files, "csv/participants.csv") == []


def test_api_export(org, identified, researcher, client_for, as_actor):
    raw = account_services.api_token_create(by=as_actor(researcher, org), name="study")[1]
    client = client_for(researcher)
    response = client.get("/api/v1/research/export?k=2&dates=shifted", HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/zip"
    files = _files(b"".join(response.streaming_content))
    assert json.loads(files["manifest.json"])["options"] == {"k": 2, "dates": "shifted"}
    assert AuditEvent.objects.get(object_type="research_export").detail["via"] == "api"
    for query in ("k=1", "k=abc", "dates=real", "k=101"):
        bad = client.get(f"/api/v1/research/export?{query}", HTTP_AUTHORIZATION=f"Bearer {raw}")
        assert bad.status_code == 422, query
    assert client.get("/api/v1/research/export").status_code == 401


def test_cli_export(org, identified, tmp_path: Path):
    target = tmp_path / "study.zip"
    err = StringIO()
    call_command("research", "export", "--k", "2", "--output", str(target), stderr=err)
    blob = target.read_bytes()
    assert "2 of 2 patients" in err.getvalue()
    assert hashlib.sha256(blob).hexdigest() in err.getvalue()
    event = AuditEvent.objects.get(object_type="research_export")
    assert event.detail["via"] == "cli"
    assert event.actor_email == "command line"
    assert event.detail["zip_sha256"] == hashlib.sha256(blob).hexdigest()
    with pytest.raises(CommandError, match="exists"):
        call_command("research", "export", "--output", str(target))
    with pytest.raises(CommandError, match="k is a whole number"):
        call_command("research", "export", "--k", "1", "--output", str(tmp_path / "other.zip"))
    with pytest.raises(CommandError, match="no directory"):
        call_command("research", "export", "--output", str(tmp_path / "missing" / "x.zip"))
