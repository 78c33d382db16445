"""FHIR search grammar and code tables (openkap.core.fhir), without Django.

Rules from the R4 specification, hl7.org/fhir/R4/search.html (date: 'the precision
of the value implies a range'; prefixes eq/ne/gt/lt/ge/le/sa/eb; token system|code)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from openkap.core import fhir

NY = ZoneInfo("America/New_York")


def test_precision_implies_a_range():
    year = fhir.parse_date("2026", tz=UTC)
    assert (year.prefix, year.start, year.end) == ("eq", datetime(2026, 1, 1, tzinfo=UTC), datetime(2027, 1, 1, tzinfo=UTC))
    dec = fhir.parse_date("ge2026-12", tz=UTC)
    assert (dec.prefix, dec.start, dec.end) == ("ge", datetime(2026, 12, 1, tzinfo=UTC), datetime(2027, 1, 1, tzinfo=UTC))
    day = fhir.parse_date("2026-02-28", tz=NY)
    assert day.start == datetime(2026, 2, 28, tzinfo=NY)
    assert day.end - day.start == timedelta(days=1)
    minute = fhir.parse_date("lt2026-03-01T09:30Z")
    assert minute.end - minute.start == timedelta(minutes=1)
    second = fhir.parse_date("2026-03-01T09:30:15+02:00")
    assert second.start == datetime(2026, 3, 1, 7, 30, 15, tzinfo=UTC)
    assert second.end - second.start == timedelta(seconds=1)


def test_a_date_without_zone_is_read_in_the_clinics_zone():
    assert fhir.parse_date("2026-07-04T12:00", tz=NY).start == datetime(2026, 7, 4, 16, 0, tzinfo=UTC)


@pytest.mark.parametrize("text", ["", "yesterday", "2026-13-01", "2026-02-30", "xx2026", "2026-1-1",
                                  "2026-01-01T25:00Z", "20260101", "2026-01-01T10:00+2"])
def test_bad_dates_are_refused(text):
    with pytest.raises(fhir.SearchParamError):
        fhir.parse_date(text)


def test_prefixes_on_an_instant():
    march = fhir.parse_date("2026-03", tz=UTC)
    inside, before, after = (datetime(2026, 3, 15, tzinfo=UTC), datetime(2026, 2, 28, 23, 59, tzinfo=UTC),
                             datetime(2026, 4, 1, tzinfo=UTC))
    table = {"eq": (True, False, False), "ne": (False, True, True), "gt": (False, False, True),
             "ge": (True, False, True), "lt": (False, True, False), "le": (True, True, False),
             "sa": (False, False, True), "eb": (False, True, False)}
    for prefix, expected in table.items():
        r = fhir.DateRange(prefix, march.start, march.end)
        assert (r.matches(inside), r.matches(before), r.matches(after)) == expected, prefix


def test_prefixes_on_a_period():
    march = fhir.parse_date("2026-03", tz=UTC)
    overlapping = (datetime(2026, 2, 20, tzinfo=UTC), datetime(2026, 3, 5, tzinfo=UTC))
    assert fhir.DateRange("ge", march.start, march.end).matches(*overlapping)
    assert fhir.DateRange("lt", march.start, march.end).matches(*overlapping)
    assert not fhir.DateRange("eq", march.start, march.end).matches(*overlapping)
    assert not fhir.DateRange("sa", march.start, march.end).matches(*overlapping)


instants = st.datetimes(min_value=datetime(1900, 1, 2), max_value=datetime(2100, 1, 1),  # noqa: DTZ001
                        timezones=st.just(UTC))


@given(instants, instants)
def test_ge_and_lt_split_time_in_two(t, value):
    text = value.strftime("%Y-%m-%dT%H:%M:%SZ")
    ge, lt = fhir.parse_date(f"ge{text}"), fhir.parse_date(f"lt{text}")
    assert ge.matches(t) != lt.matches(t)
    gt, le = fhir.parse_date(f"gt{text}"), fhir.parse_date(f"le{text}")
    assert gt.matches(t) != le.matches(t)


@given(instants)
def test_a_day_matches_exactly_its_own_instants(t):
    day = t.astimezone(NY).date()
    r = fhir.parse_date(day.isoformat(), tz=NY)
    assert r.matches(t)
    assert not r.matches(t + timedelta(days=2))
    assert not r.matches(t - timedelta(days=2))


def test_tokens():
    assert fhir.parse_token("http://loinc.org|8867-4,9279-1") == [
        fhir.Token("http://loinc.org", "8867-4"), fhir.Token(None, "9279-1")]
    assert fhir.parse_token("|x") == [fhir.Token("", "x")]
    assert fhir.parse_token("http://loinc.org|") == [fhir.Token("http://loinc.org", "")]
    assert fhir.parse_token(r"a\,b") == [fhir.Token(None, "a,b")]
    with pytest.raises(fhir.SearchParamError):
        fhir.parse_token("|")
    codings = [("http://loinc.org", "8867-4")]
    assert fhir.token_matches(fhir.parse_token("8867-4"), codings)
    assert fhir.token_matches(fhir.parse_token("http://loinc.org|"), codings)
    assert not fhir.token_matches(fhir.parse_token("http://snomed.info/sct|8867-4"), codings)
    assert not fhir.token_matches(fhir.parse_token("|8867-4"), codings)


def test_references():
    assert fhir.parse_reference("12", "Patient") == "12"
    assert fhir.parse_reference("Patient/12", "Patient") == "12"
    assert fhir.parse_reference("https://x.org/fhir/R4/Patient/12", "Patient") == "12"
    for bad in ("Practitioner/12", "Patient/", "a b", "Patient/" + "1" * 70):
        with pytest.raises(fhir.SearchParamError):
            fhir.parse_reference(bad, "Patient")


def test_count_and_names():
    assert fhir.parse_count("1000", maximum=500) == 500
    with pytest.raises(fhir.SearchParamError):
        fhir.parse_count("-1", maximum=500)
    assert fhir.split_full_name("Dr. Pat Q. Prescriber") == {
        "text": "Dr. Pat Q. Prescriber", "prefix": ["Dr."], "family": "Prescriber", "given": ["Pat", "Q."]}
    assert fhir.split_full_name("Cher") == {"text": "Cher", "family": "Cher"}


def test_instant_needs_a_zone_and_is_utc():
    assert fhir.instant(datetime(2026, 1, 5, 9, 3, tzinfo=timezone(timedelta(hours=-5)))) == "2026-01-05T14:03:00Z"
    with pytest.raises(ValueError, match="time zone"):
        fhir.instant(datetime(2026, 1, 5))  # noqa: DTZ001


def test_code_tables_cover_every_route_and_sex():
    from openkap.core.routes import Route

    assert set(fhir.ROUTE_SNOMED) == {r.value for r in Route}
    assert set(fhir.GENDER) == set(fhir.BIRTH_SEX) == {"female", "male", "intersex", "unknown"}
    assert {fhir.SEX_FROM_GENDER[g] for g in fhir.GENDER.values()} == set(fhir.GENDER)


def test_smart_scopes():
    assert fhir.parse_scope("system/Patient.rs") == ("Patient", "rs")
    assert fhir.parse_scope("system/*.read") == ("*", "rs")
    assert fhir.parse_scope("system/Observation.write") == ("Observation", "cud")
    assert fhir.parse_scope("system/Patient.cruds") == ("Patient", "cruds")
    for bad in ("system/Patient.sr", "user/Patient.rs", "patient/*.read", "system/Patient", "launch",
                "system/patient.rs", "system/Patient.rx"):
        assert fhir.parse_scope(bad) is None, bad
    assert fhir.scope_allows(["system/*.rs"], "Encounter", "s")
    assert not fhir.scope_allows(["system/Patient.r"], "Patient", "s")
    assert fhir.grant_scopes(["system/Patient.rs", "system/Encounter.rs", "system/*.rs"],
                             ["system/Patient.read", "system/Encounter.r"]) == ["system/Patient.rs"]
    assert fhir.grant_scopes(["system/Patient.rs", "system/*.rs"], ["system/*.rs"]) == [
        "system/Patient.rs", "system/*.rs"]


@given(st.sampled_from(["system/Patient.rs", "system/*.read", "system/Observation.cruds", "system/Encounter.r"]),
       st.lists(st.sampled_from(["system/Patient.rs", "system/*.rs", "system/Observation.s", "bogus"]), max_size=3))
def test_granted_scopes_never_exceed_the_registered(requested, registered):
    for scope in fhir.grant_scopes([requested], registered):
        resource_type, letters = fhir.parse_scope(scope)
        for letter in letters:
            types = ["Patient", "Observation", "Encounter"] if resource_type == "*" else [resource_type]
            assert all(fhir.scope_allows(registered, t, letter) for t in types)


@given(st.text(), st.lists(st.text(), max_size=3))
def test_an_outcome_is_valid_fhir_whatever_it_echoes(diagnostics, expression):
    issue = fhir.operation_outcome("invalid", diagnostics or "x", expression=expression)["issue"][0]
    pattern = re.compile(r"[ \r\n\t\S]+")
    assert pattern.fullmatch(issue["diagnostics"])
    assert all(pattern.fullmatch(e) and e.strip() for e in issue.get("expression", []))
