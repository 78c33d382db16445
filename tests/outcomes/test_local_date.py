"""The cohort's clinic-local days come from seconds since 1970 read from the database and
the zone's offset table searched in NumPy (ADR 0082): they must be the days Python's
zoneinfo gives, in every zone shape (DST north and south, half-hour and 45-minute
offsets, a zone that changed its standard offset), on both databases; and the report
read through them must equal the pure core on the same data."""

from __future__ import annotations

import math
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import pytest
from django.db import transaction
from django.db.models import DateTimeField, Value
from django.test import override_settings
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from openkap.core.outcomes import PatientInput, Score, patient_outcome
from openkap.core.outcomes.arrays import Selection, select
from openkap.core.outcomes.cohort import Tally, reduce
from openkap.core.outcomes.days import from_day_number, local_day_numbers, utc_offsets
from openkap.outcomes.cohort import (
    MICROSECONDS,
    CohortFilters,
    EnrolledCohort,
    EpochMicroseconds,
    _scores,
    cohort_chunks,
    enrolled_cohort,
)
from tests.profiles import examples


def cohort_selection(organization_id: int, cohort: EnrolledCohort, filters: CohortFilters, *,
                     as_of: date) -> Selection:
    """The oracle of the chunked report: every enrolled patient selected at once (one chunk)."""
    return select(cohort.session_patient, cohort.session_day, _scores(organization_id, filters.instrument),
                  filters.instrument, as_of=as_of, definitions=filters.definitions)

ZONES = ["America/New_York", "Australia/Lord_Howe", "Asia/Kathmandu", "America/St_Johns", "Europe/London",
         "Pacific/Apia", "UTC"]
# Hypothesis takes naive bounds and attaches the zone itself.
MOMENTS = st.datetimes(min_value=datetime(1901, 1, 1), max_value=datetime(2035, 12, 31),  # noqa: DTZ001
                       timezones=st.just(UTC))


def _day(seconds: int, zone: str) -> date:
    return from_day_number(int(local_day_numbers(np.array([seconds]), zone)[0]))


@given(moment=MOMENTS, zone=st.sampled_from(ZONES))
def test_the_offset_table_gives_zoneinfo_s_day(moment, zone):
    assert _day(math.floor(moment.timestamp()), zone) == moment.astimezone(ZoneInfo(zone)).date()


def test_the_offset_table_knows_the_changes_of_a_hand_checked_zone():
    table = dict(utc_offsets("America/New_York"))
    # US daylight saving time, 2025: 2 a.m. EST on 9 March (07:00 UTC), 2 a.m. EDT on 2 November (06:00 UTC).
    assert table[int(datetime(2025, 3, 9, 7, tzinfo=UTC).timestamp())] == -4 * 3600
    assert table[int(datetime(2025, 11, 2, 6, tzinfo=UTC).timestamp())] == -5 * 3600
    # One second before the change it is still 9 March 01:59:59 EST; at it, 03:00 EDT.
    march_9 = int(datetime(2025, 3, 9, 7, tzinfo=UTC).timestamp())
    assert _day(march_9 - 1, "America/New_York") == _day(march_9, "America/New_York") == date(2025, 3, 9)
    # Once summer time has begun (UTC-4) the local day turns at 04:00 UTC, not 05:00.
    assert _day(int(datetime(2025, 3, 10, 3, 59, 59, tzinfo=UTC).timestamp()), "America/New_York") == date(2025, 3, 9)
    assert _day(int(datetime(2025, 3, 10, 4, tzinfo=UTC).timestamp()), "America/New_York") == date(2025, 3, 10)


@pytest.mark.django_db
@pytest.mark.parametrize("zone", ZONES)
def test_the_database_gives_zoneinfo_s_day(org, zone):
    from openkap.accounts.models import Organization

    @settings(max_examples=examples(40), deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(moment=MOMENTS)
    def check(moment):
        micros = (Organization.objects.filter(pk=org.pk)
                  .annotate(at=EpochMicroseconds(Value(moment, output_field=DateTimeField())))
                  .values_list("at", flat=True).get())
        assert micros == (moment - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1)
        assert _day(micros // MICROSECONDS, zone) == moment.astimezone(ZoneInfo(zone)).date()

    with override_settings(TIME_ZONE=zone):
        check()


DAYS = st.dates(min_value=date(2024, 10, 1), max_value=date(2025, 6, 30))
# Times near local midnight are where a wrong conversion moves a score to another day.
HOURS = st.sampled_from([0, 1, 9, 22, 23])


@pytest.mark.django_db
def test_the_report_read_through_the_database_equals_the_core(org, site, prescriber):
    """Random cohorts with sessions and scores at times near midnight across daylight-saving
    changes: the database path gives each patient the outcome the pure core computes
    from zoneinfo's days."""
    from openkap.dosing.models import DosingSession
    from openkap.measures.models import MeasureResponse
    from tests.outcomes.factories import add_patient

    zone = ZoneInfo("America/New_York")
    patients = st.lists(st.tuples(st.lists(st.tuples(DAYS, HOURS), min_size=1, max_size=5),
                                  st.lists(st.tuples(DAYS, HOURS, st.integers(0, 27)), max_size=8)),
                        min_size=1, max_size=4)

    @settings(max_examples=examples(15), deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(cohort=patients)
    def check(cohort):
        with transaction.atomic():  # each example starts from the empty clinic
            compare(cohort)
            transaction.set_rollback(True)

    def compare(cohort):
        expected = {}
        for sessions, scores in cohort:
            patient = add_patient(org, site, prescriber)
            episode = patient.episodes.get()
            session_times = sorted(datetime(d.year, d.month, d.day, h, 30, tzinfo=zone) for d, h in sessions)
            for when in session_times:
                DosingSession.objects.create(
                    organization=org, patient=patient, episode=episode, site=site,
                    status=DosingSession.Status.DISCHARGED, scheduled_start=when, started_at=when,
                    administration_started_at=when, created_by=prescriber)
            score_rows = sorted((datetime(d.year, d.month, d.day, h, 15, tzinfo=zone), t) for d, h, t in scores)
            for when, total in score_rows:
                MeasureResponse.objects.create(
                    organization=org, patient=patient, episode=episode, instrument_id="phq9",
                    instrument_version="test", occasion="ad_hoc", answers={"q9": 0}, result={}, is_scored=True,
                    total=total, completed_at=when, via="staff", entered_by=prescriber)
            expected[patient.id] = patient_outcome(
                PatientInput(patient.id, tuple(w.astimezone(UTC).astimezone(zone).date() for w in session_times),
                             tuple(Score(w.date(), float(t), 0) for w, t in score_rows)),
                "phq9", as_of=date(2026, 1, 1))
        filters = CohortFilters()
        enrolled = enrolled_cohort(org.id, filters)
        selection = cohort_selection(org.id, enrolled, filters, as_of=date(2026, 1, 1))
        got = {o.patient_id: o for o in selection.outcomes()}
        assert got == expected
        # Sessions and scores read chunk by chunk of whole patients (queries per chunk): the
        # same per-patient outputs and records, unfiltered and filtered by first session.
        whole = reduce(selection, definitions=filters.definitions)
        for size in (1, 2, 7):
            assert chunked(org.id, filters, size) == (Tally.of("phq9", [whole]), enrolled.records)
        late = CohortFilters(date_from=sorted(e.first_day for e in enrolled.records.values())[len(enrolled.records) // 2])
        late_enrolled = enrolled_cohort(org.id, late)
        assert late_enrolled.records  # the patient whose first day it is, at least
        late_whole = reduce(cohort_selection(org.id, late_enrolled, late, as_of=date(2026, 1, 1)),
                            definitions=late.definitions)
        for size in (1, 2, 7):
            assert chunked(org.id, late, size) == (Tally.of("phq9", [late_whole]), late_enrolled.records)

    def chunked(organization_id, filters, size):
        """The report's chunks folded as the report folds them, and their records."""
        chunks = list(cohort_chunks(organization_id, filters, as_of=date(2026, 1, 1), patients_per_chunk=size))
        return (Tally.of("phq9", (c.reduced for c in chunks)),
                {pid: record for c in chunks for pid, record in c.records.items()})

    with override_settings(TIME_ZONE="America/New_York"):
        check()



@pytest.mark.django_db
@pytest.mark.parametrize("zone", ["Etc/GMT-4", "Etc/GMT+5", "America/New_York"])
def test_the_cohort_reads_days_in_the_clinic_s_zone_whatever_its_shape(org, site, prescriber, zone):
    """A fixed-offset zone (the demo clinic's tests run in one) is named "+04" by Django,
    which zoneinfo does not know (the report answered 500). A session at 22:30 UTC is
    held on the 2nd east of Greenwich, on the 1st west of it."""
    from openkap.dosing.models import DosingSession
    from tests.outcomes.factories import add_patient

    patient = add_patient(org, site, prescriber)
    moment = datetime(2025, 3, 1, 22, 30, tzinfo=UTC)
    DosingSession.objects.create(
        organization=org, patient=patient, episode=patient.episodes.get(), site=site,
        status=DosingSession.Status.DISCHARGED, scheduled_start=moment, started_at=moment,
        administration_started_at=moment, created_by=prescriber)
    with override_settings(TIME_ZONE=zone):
        first = enrolled_cohort(org.id, CohortFilters()).records[patient.id].first_day_number
    assert from_day_number(first) == (date(2025, 3, 2) if zone == "Etc/GMT-4" else date(2025, 3, 1))
