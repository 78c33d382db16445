"""Reading the history-import CSV files (core.history_import): every broken file and
row gets a clear error with its line, and good rows are parsed and scored."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from openkap.core.history_import import (
    MAX_BYTES,
    ImportFileError,
    MeasureRow,
    PatientRow,
    SessionRow,
    parse_file,
)
from openkap.core.routes import Route
from tests.profiles import examples

TODAY = date(2026, 6, 1)
PATIENTS = "external_id,given_name,family_name,date_of_birth,sex_at_birth\n"
SESSIONS = "external_id,date,route,dose_mg\n"
MEASURES = "external_id,instrument,administered_at,answers\n"


def parse(text: str | bytes, kind: str):
    return parse_file(text.encode() if isinstance(text, str) else text, kind, TODAY)


def test_good_files_parse() -> None:
    rows, errors = parse(PATIENTS + "A-1,Ada,Lovelace,1980-12-10,Female\n", "patients")
    assert errors == []
    assert rows == [PatientRow(2, "A-1", "Ada", "Lovelace", date(1980, 12, 10), "female")]
    rows, errors = parse(SESSIONS + "A-1,2025-01-05,intramuscular,52.5\n", "sessions")
    assert rows == [SessionRow(2, "A-1", date(2025, 1, 5), Route.INTRAMUSCULAR, Decimal("52.5"))]
    rows, errors = parse(MEASURES + "A-1,PHQ9,2025-01-04,2 2 2 1 1 1 1 1 0\nA-1,gad7,2025-01-04T09:30,1 0 1 1 1 1 1\n",
                         "measures")
    assert errors == []
    phq, gad = rows
    assert isinstance(phq, MeasureRow)
    assert phq.instrument == "phq9"
    assert phq.result.total == 11
    assert phq.result.band == "moderate"  # Kroenke 2001: 10-14
    assert gad.administered_at == datetime(2025, 1, 4, 9, 30)  # noqa: DTZ001 - the file gave clinic time, no offset
    assert gad.answers[1] == 0


def test_bom_and_crlf_are_read() -> None:
    rows, errors = parse(b"\xef\xbb\xbf" + (PATIENTS + "A1,Ada,L,1980-01-01,male\r\n").replace("\n", "\r\n").encode(),
                         "patients")
    assert errors == []
    assert rows[0].external_id == "A1"


@pytest.mark.parametrize(("data", "message"), [
    (b"", "empty"),
    (b"\n\n", "empty"),
    (PATIENTS.encode("utf-16"), "NUL bytes"),
    ((PATIENTS + "A1,Zo\xeb,L,1980-01-01,female\n").encode("latin-1"), "line 2: the file is not UTF-8 (byte 0xeb)"),
    (b"PK\x03\x04\x00\x00", "NUL bytes"),
    (b"external_id,given_name,family_name,date_of_birth\nA1,a,b,1980-01-01\n", "missing sex_at_birth"),
    (b"external_id,given_name,family_name,date_of_birth,sex_at_birth,mrn\n", "unexpected 'mrn'"),
    (b"given_name,external_id,family_name,date_of_birth,sex_at_birth\n", "another order"),
    (b"external_id,instrument,administered_at,answers\n", "header must be external_id,given_name"),
    (PATIENTS.encode() + b'A1,"unterminated,x,1980-01-01,female\n', "line"),
])
def test_broken_files_are_refused_whole(data: bytes, message: str) -> None:
    with pytest.raises(ImportFileError, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse(data, "patients")


def test_too_large_a_file_is_refused() -> None:
    with pytest.raises(ImportFileError, match="limit"):
        parse(PATIENTS.encode() + b"x" * MAX_BYTES, "patients")


def test_unknown_kind() -> None:
    with pytest.raises(ImportFileError, match="Unknown import"):
        parse(PATIENTS, "invoices")


@pytest.mark.parametrize(("kind", "row", "message"), [
    ("patients", "A1,Ada,Lovelace,2027-01-01,female", "date_of_birth 2027-01-01 is in the future"),
    ("patients", "A1,Ada,Lovelace,1880-01-01,female", "before 1900"),
    ("patients", "A1,Ada,Lovelace,01/02/1980,female", "not a date (YYYY-MM-DD)"),
    ("patients", "A1,Ada,Lovelace,1980-01-01,f", "sex_at_birth 'f' must be one of"),
    ("patients", "A1,,Lovelace,1980-01-01,female", "given_name is empty"),
    ("patients", "A1,=HYPERLINK(\"x\"),L,1980-01-01,female", "starts like a spreadsheet formula"),
    ("patients", "A1,@SUM(A1),L,1980-01-01,female", "spreadsheet formula"),
    ("patients", " ,Ada,L,1980-01-01,female", "external_id '' must be"),
    ("patients", "A 1,Ada,L,1980-01-01,female", "external_id 'A 1' must be"),
    ("patients", "A1,Ada,L,1980-01-01", "4 fields where 5 are expected"),
    ("patients", "A1,Ada,L,1980-01-01,female,extra", "6 fields where 5"),
    ("patients", "A1," + "x" * 101 + ",L,1980-01-01,female", "longer than 100"),
    ("sessions", "A1,2025-01-05,im,50", "route 'im' must be one of"),
    ("sessions", "A1,2025-01-05,intramuscular,fifty", "dose_mg 'fifty' is not a number"),
    ("sessions", "A1,2025-01-05,intramuscular,0", "more than 0"),
    ("sessions", "A1,2025-01-05,intramuscular,-5", "more than 0"),
    ("sessions", "A1,2025-01-05,intramuscular,5000", "at most 1000"),
    ("sessions", "A1,2025-01-05,intramuscular,NaN", "more than 0"),
    ("sessions", "A1,2026-07-01,intramuscular,50", "in the future"),
    ("measures", "A1,phq10,2025-01-04,1 1 1", "unknown instrument 'phq10'"),
    ("measures", "A1,phq9,2025-01-04,1 1 1 1 1 1 1 1 4", "4 is not an answer"),
    ("measures", "A1,phq9,2025-01-04,1 1 1 1 1 1 1 1", "expects 9 answers"),
    ("measures", "A1,phq9,2025-01-04,1 1 1 1 1 1 1 1 1.0", "not an answer"),
    ("measures", "A1,phq9,2025-01-04,1 1 1 1 1 1 1 1 +1", "not an answer"),
    ("measures", "A1,phq9,2025-01-04,", "answers is empty"),
    ("measures", "A1,phq9,2025-13-04,1 1 1 1 1 1 1 1 1", "not a date"),
    ("measures", "A1,phq9,2025-01-04T25:00,1 1 1 1 1 1 1 1 1", "not a date or date and time"),
    ("measures", "A1,phq9,2099-01-04,1 1 1 1 1 1 1 1 1", "in the future"),
])
def test_bad_rows_name_the_line_and_the_problem(kind: str, row: str, message: str) -> None:
    header = {"patients": PATIENTS, "sessions": SESSIONS, "measures": MEASURES}[kind]
    good = {"patients": "OK1,Ada,L,1980-01-01,female", "sessions": "OK1,2025-01-05,intramuscular,50",
            "measures": "OK1,phq9,2025-01-04,0 0 0 0 0 0 0 0 0"}[kind]
    rows, errors = parse(header + good + "\n" + row + "\n", kind)
    assert [r.line for r in rows] == [2]
    assert len(errors) == 1
    assert errors[0].line == 3
    assert message in errors[0].message, errors[0].message


def test_a_blank_item_that_cannot_be_scored_is_an_error() -> None:
    rows, errors = parse(MEASURES + "A1,gad7,2025-01-04,1 - 1 1 1 1 1\n", "measures")
    assert rows == []
    assert errors[0].line == 2
    assert "unanswered q2" in errors[0].message


def test_repeated_keys_point_at_the_first_line() -> None:
    rows, errors = parse(SESSIONS + "A1,2025-01-05,intramuscular,50\nA1,2025-01-06,intramuscular,50\n"
                         "A1,2025-01-05,intramuscular,60\n", "sessions")
    assert len(rows) == 2
    assert [(e.line, e.message) for e in errors] == [(4, "repeats line 2 (A1, 2025-01-05)")]


def test_blank_lines_are_ignored_and_lines_counted() -> None:
    rows, errors = parse(PATIENTS + "\nA1,Ada,L,1980-01-01,female\n\nA2,Bo,L,1980-13-01,male\n", "patients")
    assert [r.line for r in rows] == [3]
    assert errors[0].line == 5


@given(st.lists(st.text(max_size=30), min_size=1, max_size=6))
@settings(max_examples=examples(200))
def test_any_row_is_parsed_or_refused_never_crashes(fields: list[str]) -> None:
    import csv
    import io

    out = io.StringIO()
    csv.writer(out).writerow(fields)
    try:
        rows, errors = parse(MEASURES + out.getvalue(), "measures")
    except ImportFileError:
        return
    assert len(rows) + len(errors) <= 1
