"""The cohort report's reads (ADR 0105): columns packed by PostgreSQL (or fetched from
SQLite) give the exact values the rows hold, and the chunks read ahead in a thread see
this thread's uncommitted rows and leave the connection to it afterwards."""

from __future__ import annotations

import threading
from datetime import UTC, date, datetime, timedelta

import numpy as np
import pytest
from django.db import connection, transaction
from django.db.models import F, IntegerField, Value
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from openkap.outcomes.cohort import DAY, FLOAT, INSTANT, INT, ITEM, day_of, instant, read_columns
from openkap.readahead import read_ahead
from tests.profiles import examples

MOMENTS = st.datetimes(min_value=datetime(1901, 1, 1), max_value=datetime(2099, 12, 31),  # noqa: DTZ001
                       timezones=st.just(UTC))


@pytest.mark.django_db
def test_columns_read_give_the_rows_instants_dates_totals_and_item_answers(org, site, prescriber):
    """Instants to the microsecond (before 1970 too), birth dates, totals and item-9 answers
    as `_item` reads them (a digit string counts, a fraction, a negative, a boolean or no
    answer is NaN), through the packed read on PostgreSQL and the cursor on SQLite."""
    from openkap.measures.models import MeasureResponse
    from openkap.patients.models import Patient
    from tests.outcomes.factories import add_patient

    patient = add_patient(org, site, prescriber, dob=date(1904, 2, 29))
    answers = [{"q9": 2}, {"q9": "3"}, {"q9": 2.5}, {"q9": -1}, {"q9": True}, {}, {"q9": 17}]
    moments = [datetime(1960, 1, 1, 0, 0, 0, 1, tzinfo=UTC), datetime(2025, 3, 9, 6, 59, 59, 999999, tzinfo=UTC)]
    expected = []
    for k, given_answers in enumerate(answers):
        when = moments[k % 2] + timedelta(days=k)
        MeasureResponse.objects.create(
            organization=org, patient=patient, instrument_id="phq9", instrument_version="test", occasion="ad_hoc",
            answers=given_answers, result={}, is_scored=True, total=float(k) + 0.5, completed_at=when, via="staff",
            entered_by=prescriber)
        expected.append((when, float(k) + 0.5))
    from django.db.models.fields.json import KeyTextTransform

    rows = (MeasureResponse.objects.filter(patient=patient).order_by()
            .annotate(at=instant(F("completed_at")), q9=KeyTextTransform("q9", "answers"))
            .values_list("id", "at", "total", "q9"))
    ids, at, total, item9 = read_columns(rows, (INT, INSTANT, FLOAT, ITEM))
    order = np.argsort(ids)
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    assert at[order].tolist() == [(when - epoch) // timedelta(microseconds=1) for when, _ in expected]
    assert total[order].tolist() == [t for _, t in expected]
    # SQLite's json_extract hands over a JSON integer as one, so a negative one is read as it
    # was before the packed read; PostgreSQL's text "-1" is not all digits.
    negative = -1.0 if connection.vendor == "sqlite" else None
    assert [None if np.isnan(v) else v for v in item9[order].tolist()] == [2.0, 3.0, None, negative, None, None, 17.0]
    (born,) = read_columns(Patient.objects.filter(id=patient.id).values_list(day_of("date_of_birth")), (DAY,))
    assert born.tolist() == [(date(1904, 2, 29) - date(1970, 1, 1)).days]


@pytest.mark.django_db
def test_instants_read_are_exact_for_any_moment(org):
    from openkap.accounts.models import Organization

    @settings(max_examples=examples(40), deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(moment=MOMENTS)
    def check(moment):
        from django.db.models import DateTimeField

        rows = Organization.objects.filter(pk=org.pk).values_list(instant(Value(moment, DateTimeField())))
        (micros,) = read_columns(rows, (INSTANT,))
        assert micros.tolist() == [(moment - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1)]

    check()


@pytest.mark.postgres
@pytest.mark.django_db
def test_a_null_in_a_packed_column_is_refused(org, site, prescriber):
    """A NULL makes its row's packed value NULL, which the aggregate would skip silently."""
    from openkap.patients.models import Patient
    from tests.outcomes.factories import add_patient

    add_patient(org, site, prescriber)
    with pytest.raises(ValueError, match="NULL"):
        read_columns(Patient.objects.filter(organization=org).values_list("id", Value(None, output_field=IntegerField())),
                     (INT, INT))


@pytest.mark.django_db
def test_read_ahead_on_the_shared_connection_sees_this_transaction_and_gives_it_back(org, site, prescriber):
    """The reader thread reads rows written (not committed) in this thread's transaction, on
    this thread's connection; afterwards the connection is this thread's alone again."""
    from openkap.patients.models import Patient
    from tests.outcomes.factories import add_patient

    with transaction.atomic():
        ids = sorted(add_patient(org, site, prescriber).id for _ in range(3))
        seen_by = []

        def reads():
            for pid in ids:
                seen_by.append((threading.current_thread().name, connection.connection))
                yield Patient.objects.filter(id=pid).values_list("id", flat=True).get()

        assert list(read_ahead(reads(), name="cohort-test-read", share_connections=True)) == ids
        assert {name for name, _ in seen_by} == {"cohort-test-read"}
        assert {raw for _, raw in seen_by} == {connection.connection}
        assert Patient.objects.filter(id__in=ids).count() == 3  # still usable here
        connection.validate_thread_sharing()  # not shared any more: no error in the owner
    assert not [t for t in threading.enumerate() if t.name == "cohort-test-read"]


@pytest.mark.django_db
def test_read_ahead_raises_the_readers_error_and_stops_when_the_caller_stops(org):
    def reads(fail_after):
        for n in range(5):
            if n == fail_after:
                raise LookupError("the database went away")
            yield n

    got = []
    with pytest.raises(LookupError, match="went away"):
        got.extend(read_ahead(reads(2), name="cohort-test-read", share_connections=True))
    assert got == [0, 1]
    ahead = read_ahead(reads(None), name="cohort-test-read", share_connections=True)
    assert next(ahead) == 0
    ahead.close()
    assert not [t for t in threading.enumerate() if t.name == "cohort-test-read"]
    assert connection.allow_thread_sharing is False


@pytest.mark.django_db
@pytest.mark.parametrize("size", [1, 2, 3, 7])
def test_the_database_cuts_the_patients_into_the_core_s_runs(org, site, prescriber, size):
    from openkap.core.outcomes.cohort import patient_ranges
    from openkap.outcomes.cohort import _patient_ranges
    from tests.outcomes.factories import add_patient

    assert _patient_ranges(org.id, size) == []
    ids = np.array(sorted(add_patient(org, site, prescriber).id for _ in range(7)))
    assert _patient_ranges(org.id, size) == patient_ranges(ids, size)
