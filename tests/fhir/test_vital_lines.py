"""The bulk export and searches build vital-sign Observations from templates
(``mapping.vital_lines`` / ``vital_observation``) instead of a dict per resource. Their
output must be, byte for byte, what the reference mapping (``vital_observations``, the
one validated with fhir.resources in the REST tests) serialises, for any row."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from openkap.fhir import bulk, mapping
from tests.fhir.conftest import validate
from tests.profiles import examples

reading = st.one_of(st.none(), st.integers(min_value=0, max_value=32767))
# Hypothesis bounds are naive; the values it draws carry the time zones below (named ones,
# not the machine's, which is UTC on CI: one with DST, one half an hour off).
moment = st.datetimes(min_value=datetime(1990, 1, 1), max_value=datetime(2100, 1, 1),  # noqa: DTZ001
                      timezones=st.sampled_from([UTC, ZoneInfo("America/New_York"), ZoneInfo("Asia/Kolkata")]))
ids = st.integers(min_value=1, max_value=2**62)
rows = st.tuples(ids, ids, ids, moment, moment, reading, reading, reading, reading, reading)


def reference(row: tuple) -> list[dict]:
    v = SimpleNamespace(**dict(zip(mapping.VITAL_COLUMNS, row, strict=True)))
    return mapping.vital_observations(v, v.fhir_patient_id)  # type: ignore[arg-type]


@settings(max_examples=examples(400))
@given(row=rows)
def test_template_lines_are_the_reference_mapping_byte_for_byte(row):
    expected = b"".join(orjson.dumps(r, option=orjson.OPT_APPEND_NEWLINE) for r in reference(row))
    values = mapping.vital_values(row)
    assert mapping.vital_lines(values).encode() == expected
    for resource in reference(row):
        key = resource["id"].rsplit("-", 1)[1]
        assert mapping.vital_observation(values, key) == resource
    assert mapping.vital_keys(row) == [r["id"].rsplit("-", 1)[1] for r in reference(row)]


@pytest.mark.parametrize("row", [
    (7, 3, 11, datetime(2026, 3, 1, 9, 30, tzinfo=UTC), datetime(2026, 3, 1, 9, 31, tzinfo=UTC), 152, 94, 88, 97, 16),
    (8, 3, 11, datetime(2026, 3, 1, 10, 0, tzinfo=UTC), datetime(2026, 3, 1, 10, 0, 5, tzinfo=UTC), 120, None, 70,
     None, None),
])
def test_template_lines_validate_and_read_as_expected(row):
    lines = [json.loads(line) for line in mapping.vital_lines(mapping.vital_values(row)).splitlines()]
    for resource in lines:
        validate(resource)
    if row[6] is None:  # a systolic without a diastolic is no blood-pressure panel
        assert [r["id"] for r in lines] == ["vs-8-hr"]
        return
    bp, hr, spo2, rr = lines
    assert bp["component"][0]["valueQuantity"] == {"value": 152, "unit": "mmHg", "system": "http://unitsofmeasure.org",
                                                   "code": "mm[Hg]"}
    assert bp["code"]["coding"][0]["code"] == "85354-9"
    assert (hr["valueQuantity"]["value"], spo2["valueQuantity"]["code"], rr["code"]["coding"][0]["code"]) == (
        88, "%", "9279-1")
    assert bp["effectiveDateTime"] == "2026-03-01T09:30:00Z"
    assert bp["issued"] == "2026-03-01T09:31:00Z"
    assert bp["subject"] == {"reference": "Patient/3"}
    assert bp["encounter"] == {"reference": "Encounter/11"}


def test_a_time_zone_other_than_utc_is_written_as_utc():
    local = datetime(2026, 7, 1, 12, 0, tzinfo=UTC).astimezone(ZoneInfo("America/New_York"))
    row = (1, 2, 3, local, local + timedelta(seconds=1), None, None, 60, None, None)
    (hr,) = [json.loads(line) for line in mapping.vital_lines(mapping.vital_values(row)).splitlines()]
    assert hr["effectiveDateTime"] == "2026-07-01T12:00:00Z"


@pytest.mark.django_db
def test_the_database_writes_times_that_read_as_the_mapping_instants(record, nurse, org):
    """The export reads the two times as text written by the database (``UtcSecond``,
    through COPY on PostgreSQL); on SQLite and PostgreSQL alike ``bulk.instant`` must read
    them as the mapping's instants (UTC, seconds cut)."""
    from django.db.models import F

    from openkap.dosing.models import VitalSigns
    from openkap.fhir.export import UtcSecond, _vital_rows

    session = record["session"]
    new_york = ZoneInfo("America/New_York")
    for n, (systolic, diastolic, hr, spo2, rr) in enumerate(
            [(250, 140, 180, 100, 60), (None, 80, None, 91, None), (119, None, 40, None, 8), (None,) * 5]):
        taken = datetime(2026, 11, 1, 1, 59, 59, 999999, tzinfo=new_york) + timedelta(minutes=61 * n)
        VitalSigns.objects.create(organization=org, session=session, taken_at=taken, systolic=systolic,
                                  diastolic=diastolic, heart_rate=hr, spo2=spo2, respiratory_rate=rr,
                                  recorded_by=nurse, recorded_at=taken + timedelta(microseconds=1))
    rows = VitalSigns.objects.filter(session=session).annotate(fhir_patient_id=F("session__patient_id")).order_by("pk")
    by_python = [mapping.vital_values(row) for row in rows.values_list(*mapping.VITAL_COLUMNS)]
    copied = rows.annotate(taken=UtcSecond("taken_at"), updated=UtcSecond("recorded_at"))
    fields = [line.rstrip(b"\n").decode().split("\t") for batch in _vital_rows(copied.values_list(*mapping.VITAL_FIELDS))
              for line in batch]
    assert [(bulk.instant(f[3]), bulk.instant(f[4])) for f in fields] == [v[3:5] for v in by_python]
    # 01:59:59.999999 EDT is 05:59:59Z (microseconds cut, not rounded); a microsecond later on
    # the wall clock is 02:00 EST, after the clocks went back: 07:00Z.
    assert by_python[2][3:5] == ("2026-11-01T05:59:59Z", "2026-11-01T07:00:00Z")
    assert fields[2][3:5] == ["2026-11-01 05:59:59", "2026-11-01 07:00:00"]
    lines = "".join(mapping.vital_lines(v) for v in by_python)
    assert lines.count("\n") == 4 + 1 + 4 + 1 + 2 + 0  # the fixture's two sets first


# --- the export's bulk path: COPY text in, NDJSON blocks out (ADR 0070) --------------------


def database_time(moment: datetime) -> str:
    """A time as PostgreSQL writes ``date_trunc('second', t AT TIME ZONE 'UTC')`` (DateStyle ISO)."""
    return moment.astimezone(UTC).replace(tzinfo=None, microsecond=0).isoformat(sep=" ")


def copy_row(row: tuple) -> tuple:
    return (*row[:3], database_time(row[3]), database_time(row[4]), *row[5:])


def copy_block(rows: list[tuple]) -> bytes:
    """Rows as PostgreSQL writes them with COPY (the export's query: ``UtcSecond`` times)."""
    return b"".join(bulk.copy_text(copy_row(row)) for row in rows)


@settings(max_examples=examples(300))
@given(rows=st.lists(rows, max_size=12))
def test_a_block_of_copy_rows_is_the_reference_mapping_byte_for_byte(rows):
    # Any mix of complete rows and rows with readings missing, in any order and number.
    expected = b"".join(orjson.dumps(r, option=orjson.OPT_APPEND_NEWLINE) for row in rows for r in reference(row))
    assert bulk.vital_ndjson(copy_block(rows)) == (expected, expected.count(b"\n"))


def test_each_observation_of_a_block_validates_in_row_order():
    t = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)
    block = copy_block([(1, 5, 9, t, t, 120, 80, 70, 97, 14), (2, 5, 9, t, t, None, 80, 71, None, 15),
                        (3, 6, 10, t, t, 118, 79, 69, 98, 13)])
    lines = [validate(json.loads(line)) for line in bulk.vital_ndjson(block).ndjson.splitlines()]
    assert [r["id"] for r in lines] == ["vs-1-bp", "vs-1-hr", "vs-1-spo2", "vs-1-rr", "vs-2-hr", "vs-2-rr",
                                        "vs-3-bp", "vs-3-hr", "vs-3-spo2", "vs-3-rr"]
    assert lines[6]["subject"] == {"reference": "Patient/6"}
    assert lines[6]["encounter"] == {"reference": "Encounter/10"}
    assert lines[5]["valueQuantity"]["value"] == 15


@pytest.mark.parametrize("block", [b"1\t2\t3\n", b"1\t2\t3\t4\t5\t6\t7\t8\t9\t10\t11\n",
                                   b"1\t2\t3\t4\t5\t\\N\t7\n"])
def test_a_row_of_the_wrong_width_is_refused_not_misplaced(block):
    with pytest.raises(ValueError, match="10 fields each"):
        bulk.vital_ndjson(block)


@pytest.mark.django_db
def test_the_export_reads_every_row_once_in_order_as_copy_text(record, nurse, org, monkeypatch):
    """The reader the export uses (on PostgreSQL, COPY statements of COPY_ROWS rows after the
    last id read) gives the ORM's rows, as ``copy_text`` writes them, each once and in order."""
    from django.db.models import F

    from openkap.dosing.models import VitalSigns
    from openkap.fhir import export

    session = record["session"]
    start = datetime(2026, 11, 1, 5, 59, 59, 999999, tzinfo=UTC)
    for n in range(7):
        VitalSigns.objects.create(organization=org, session=session, taken_at=start + timedelta(minutes=n),
                                  systolic=None if n == 3 else 100 + n, diastolic=60 + n, heart_rate=70,
                                  spo2=None if n % 2 else 95, respiratory_rate=12, recorded_by=nurse)
    monkeypatch.setattr(export, "COPY_ROWS", 3)  # 9 rows: three full batches and an empty one
    rows = (VitalSigns.objects.filter(organization=org).annotate(fhir_patient_id=F("session__patient_id"))
            .annotate(taken=export.UtcSecond("taken_at"), updated=export.UtcSecond("recorded_at")).order_by("pk"))
    batches = list(export._vital_rows(rows.values_list(*mapping.VITAL_FIELDS)))
    assert [len(b) for b in batches] == [3, 3, 3]
    assert [line for batch in batches for line in batch] == [
        bulk.copy_text(copy_row(row)) for row in rows.values_list(*mapping.VITAL_COLUMNS)]
    # And the ORM's rows are the reference mapping's, through the block transform.
    expected = b"".join(orjson.dumps(r, option=orjson.OPT_APPEND_NEWLINE)
                        for v in VitalSigns.objects.filter(organization=org).select_related("session").order_by("pk")
                        for r in mapping.vital_observations(v, v.session.patient_id))
    assert bulk.vital_ndjson(b"".join(line for batch in batches for line in batch)).ndjson == expected


@pytest.mark.django_db
def test_the_export_refuses_a_datestyle_whose_times_it_would_misread(record, org):
    from django.db import connection
    from django.db.models import F

    from openkap.dosing.models import VitalSigns
    from openkap.fhir import export

    if connection.vendor != "postgresql":
        pytest.skip("only PostgreSQL's rows are read as COPY text")
    rows = (VitalSigns.objects.filter(organization=org).annotate(fhir_patient_id=F("session__patient_id"))
            .annotate(taken=export.UtcSecond("taken_at"), updated=export.UtcSecond("recorded_at")).order_by("pk")
            .values_list(*mapping.VITAL_FIELDS))
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL datestyle TO 'SQL, DMY'")  # times as 05/01/2026 14:03:00
    try:
        with pytest.raises(RuntimeError, match="DateStyle ISO"):
            list(export._vital_rows(rows))
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL datestyle TO 'ISO, MDY'")
    assert len([line for batch in export._vital_rows(rows) for line in batch]) == 2
