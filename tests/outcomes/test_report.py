"""The cohort report through the database: page, API, CSV, PDF and CLI agree with the
core on a cohort whose truth is known, and every copy is checked and audited."""

from __future__ import annotations

import json
from datetime import date, datetime, time, timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from openkap.accounts import services as account_services
from openkap.audit.models import AuditEvent
from openkap.outcomes.cohort import CohortFilters
from openkap.outcomes.selectors import build_report
from tests.core.outcomes.test_cohort import synthetic_cohort
from tests.outcomes.factories import add_patient

D0 = date(2025, 3, 3)


def days(*offsets):
    return [D0 + timedelta(days=o) for o in offsets]


@pytest.fixture
def cohort(org, site, prescriber):
    """Four patients worked by hand (tests/core/outcomes/test_cohort.py HAND), one with
    no baseline and one at another site by the intranasal route."""
    from openkap.accounts.models import Site

    for b, e, item9 in [(20, 10, 2), (16, 10, 0), (12, 3, 1), (18, 25, 0)]:
        add_patient(org, site, prescriber, session_days=days(0, 3, 7, 10),
                    scores=[(D0, b, item9), (D0 + timedelta(days=30), e, 0)], diagnoses=["F33.1"], gender="woman")
    add_patient(org, site, prescriber, session_days=days(0, 7), scores=[(D0 + timedelta(days=30), 5, 0)])
    other = Site.objects.create(organization=org, name="Annex", address_line1="2 Side St", city="Albany",
                                state="NY", postal_code="12207", dea_registration="AB1234563")
    add_patient(org, other, prescriber, session_days=days(0, 7), scores=[(D0, 20, 0), (D0 + timedelta(days=25), 4, 0)],
                route="intranasal_esketamine", diagnoses=["F43.10"], sex="male", dob=date(1950, 1, 1))
    return other


def test_hand_computed_cohort_through_the_database(org, cohort):
    out = build_report(org, CohortFilters()).to_dict(suppress=False)
    assert (out["n_enrolled"], out["n_with_baseline"], out["n_with_endpoint"], out["n_analysed"]) == (6, 5, 5, 5)
    assert out["response_pct"] == 60.0  # 3 of 5: the four by hand (2) and 20 -> 4
    assert out["remission_pct"] == 40.0
    assert out["deteriorated_pct"] == 20.0
    assert out["suicidal_ideation"]["n_with_si_at_baseline"] == 2
    assert out["demographics"]["overall"]["n"] == 6
    assert {d["label"] for d in out["demographics"]["overall"]["diagnosis"]} == {"F33", "F43", "not recorded"}
    assert set(out["demographics"]["by_site"]) == {"Main", "Annex"}


def test_filters_by_site_route_diagnosis_dates_clinician_and_band(org, cohort, site, prescriber, therapist):
    def n(**kw):
        return build_report(org, CohortFilters(**kw)).summary.n_enrolled

    assert n(site_id=cohort.id) == 1
    assert n(site_id=site.id) == 5
    assert n(route="intranasal_esketamine") == 1
    assert n(diagnosis="F33") == 4
    assert n(diagnosis="f43.1") == 1
    assert n(date_from=D0 + timedelta(days=1)) == 0
    assert n(date_to=D0) == 6
    assert n(baseline_band="severe") == 2  # 20 and 20
    from openkap.patients.models import CareTeamMember, Patient

    one = Patient.objects.filter(organization=org).first()
    CareTeamMember.objects.create(organization=org, patient=one, user=therapist, role="therapist")
    assert n(clinician_id=therapist.id) == 1


def test_synthetic_cohort_rates_reproduced_exactly_through_the_database(org, site, prescriber):
    for p in synthetic_cohort(7):
        add_patient(org, site, prescriber, p)
    out = build_report(org, CohortFilters()).to_dict(suppress=False)
    assert (out["n_enrolled"], out["n_analysed"]) == (225, 200)
    assert (out["response_pct"], out["remission_pct"], out["deteriorated_pct"]) == (50.0, 30.0, 10.0)


def test_empty_report_shows_the_flow_and_why(org, site, prescriber, client_for):
    response = client_for(prescriber).get("/outcomes/")
    assert response.status_code == 200
    body = response.content.decode()
    assert "Patient flow" in body
    assert "No patient could be analysed" in body
    assert "No patient matching the filters had a held dosing session." in body


def test_page_exact_for_staff_and_shared_view_suppressed(org, cohort, prescriber, client_for):
    client = client_for(prescriber)
    body = client.get("/outcomes/").content.decode()
    assert "Clinic view, exact figures" in body
    assert "60.0%" in body
    shared = client.get("/outcomes/?view=shared").content.decode()
    assert "Shareable view" in shared
    assert "≤7" in shared
    assert "60.0%" not in shared
    event = AuditEvent.objects.filter(object_type="outcomes_report").latest("id")
    assert event.action == "view"
    assert event.detail["suppressed"] is True


def test_bad_filters_get_a_clear_error_and_no_report(org, cohort, prescriber, client_for):
    client = client_for(prescriber)
    response = client.get("/outcomes/?date_from=2025-05-01&date_to=2025-01-01")
    assert response.status_code == 422
    assert "The end date is before the start date." in response.content.decode()
    assert client.get("/outcomes/?instrument=nonsense").status_code == 422
    assert client.get("/outcomes/report.csv?site=999999").status_code == 422


def test_csv_is_suppressed_unless_exact_figures_are_asked_for(org, cohort, prescriber, client_for):
    cohort.name = '=HYPERLINK("x")'
    cohort.save()
    client = client_for(prescriber)
    shared = b"".join(client.get("/outcomes/report.csv").streaming_content).decode()
    assert "flow,,n_analysed,≤7" in shared
    exact = b"".join(client.get("/outcomes/report.csv?unsuppressed=1").streaming_content).decode()
    assert "flow,,n_analysed,5" in exact
    assert "outcome,phq9,response_pct,60.0" in exact
    assert 'demographics,"\'=HYPERLINK(""x"")",n,1' in exact  # a formula in a cell is neutralised
    assert AuditEvent.objects.filter(object_type="outcomes_report", action="export").count() == 2


def test_pdf_download(org, cohort, prescriber, client_for):
    response = client_for(prescriber).get("/outcomes/report.pdf?unsuppressed=1")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert response.content.startswith(b"%PDF")


def test_roles_without_the_permission_are_refused(org, cohort, therapist, nurse, researcher, admin, client_for):
    for user in (therapist, nurse, researcher):
        assert client_for(user).get("/outcomes/").status_code == 403
    assert client_for(admin).get("/outcomes/").status_code == 200


def test_another_organisation_sees_only_its_own_patients(org, cohort, outsider, client_for):
    body = client_for(outsider).get("/outcomes/").content.decode()
    assert "No patient matching the filters had a held dosing session." in body


def _api(client, user, org, as_actor, query=""):
    _, raw = account_services.api_token_create(by=as_actor(user, org), name="t")
    return client.get(f"/api/v1/outcomes/report{query}", HTTP_AUTHORIZATION=f"Bearer {raw}")


def test_api_report_has_the_keys_of_the_issue(org, cohort, prescriber, therapist, as_actor, client):
    response = _api(client, prescriber, org, as_actor, "?instrument=phq9&unsuppressed=true")
    assert response.status_code == 200
    data = response.json()
    for key in ("instrument", "n_enrolled", "n_with_baseline", "n_with_endpoint", "n_analysed", "baseline_mean",
                "baseline_sd", "endpoint_mean", "endpoint_sd", "mean_change", "cohens_d", "response_pct",
                "remission_pct", "deteriorated_pct", "by_baseline_band", "definitions"):
        assert key in data
    assert data["n_analysed"] == 5
    assert data["response_pct"] == 60.0
    assert _api(client, prescriber, org, as_actor).json()["n_analysed"] == "≤7"
    assert _api(client, therapist, org, as_actor).status_code == 403
    assert _api(client, prescriber, org, as_actor, "?route=teleport").status_code == 422
    assert _api(client, prescriber, org, as_actor, "?site_id=99999").status_code == 422


def test_cli_report_json_csv_pdf(org, cohort, tmp_path):
    out = StringIO()
    call_command("outcomes", "report", "--instrument", "phq9", "--unsuppressed", stdout=out)
    data = json.loads(out.getvalue())
    assert data["n_analysed"] == 5
    assert data["remission_pct"] == 40.0
    out = StringIO()
    call_command("outcomes", "report", "--format", "csv", "--site", "Annex", stdout=out)
    assert "flow,,n_enrolled,≤7" in out.getvalue()
    pdf = tmp_path / "r.pdf"
    call_command("outcomes", "report", "--format", "pdf", "--output", str(pdf), stderr=StringIO())
    assert pdf.read_bytes().startswith(b"%PDF")
    assert AuditEvent.objects.filter(object_type="outcomes_report", actor_email="command line").count() == 3


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--site", "Nowhere"], "There is no site"),
        (["--format", "pdf"], "needs --output"),
        (["--organization", "nope"], "no organisation"),
        (["--endpoint-days", "31-14"], "endpoint"),
        (["--baseline-band", "awful"], "baseline_band"),
    ],
)
def test_cli_refuses_bad_input(org, cohort, args, message):
    with pytest.raises(CommandError, match=message):
        call_command("outcomes", "report", *args, stdout=StringIO())


def test_a_corrected_response_counts_through_its_correction(org, site, prescriber):
    from openkap.measures.models import MeasureResponse

    patient = add_patient(org, site, prescriber, session_days=days(0, 7), scores=[(D0, 20, 0), (D0 + timedelta(days=25), 4, 0)])
    wrong = MeasureResponse.objects.get(patient=patient, total=4)
    fields = {f.name: getattr(wrong, f.name) for f in MeasureResponse._meta.concrete_fields if f.name not in {"id"}}
    MeasureResponse.objects.create(**(fields | {"total": 15, "corrects": wrong, "correction_reason": "typo"}))
    out = build_report(org, CohortFilters()).to_dict(suppress=False)
    assert out["endpoint_mean"] == 15
    assert out["response_pct"] == 0.0


def test_experience_versus_outcome_finds_the_association_built_in(org, site, prescriber, client_for):
    from tests.outcomes.factories import add_response

    # 40 patients from PHQ-9 20: the more they improved, the higher their MEQ-30 answers
    # in the induction (all 30 items = k); outside the induction an opposite MEQ-30 is ignored.
    for i in range(40):
        endpoint = 2 + (i % 17)
        k = 5 - endpoint // 4
        p = add_patient(org, site, prescriber, session_days=days(0, 7),
                        scores=[(D0, 20, 0), (D0 + timedelta(days=25), endpoint, 0)])
        add_response(org, p, "meq30", D0 + timedelta(days=i % 2 * 7), [k] * 30)
        add_response(org, p, "meq30", D0 + timedelta(days=60), [5 - k] * 30)
    out = build_report(org, CohortFilters()).to_dict(suppress=True)
    meq = next(e for e in out["experience"] if e["measure"] == "MEQ-30")
    assert meq["n"] == 40
    assert "points" not in meq
    assert meq["spearman_vs_percent_change"]["rho"] < -0.9
    cme = meq["complete_mystical_experience"]  # all items 3 or more = every subscale at least 60 %
    assert cme["response_pct_complete"] > 90 > 0 == cme["response_pct_not"]
    cadss = next(e for e in out["experience"] if e["measure"] == "CADSS")
    assert cadss["n"] == 0
    assert "Fewer than 10" in cadss["why"]
    body = client_for(prescriber).get("/outcomes/").content.decode()
    assert "Experience during the induction and outcome" in body
    assert "not show that the experience caused" in body


def test_days_are_the_clinics_local_days():
    from datetime import UTC, datetime

    from django.utils import timezone

    from openkap.outcomes.cohort import local_day

    # 02:30 UTC on 5 March is still 4 March in New York (the test settings' zone).
    assert timezone.get_current_timezone_name() == "America/New_York"
    assert local_day("2025-03-05 02:30:00") == date(2025, 3, 4)
    assert local_day(datetime(2025, 3, 5, 2, 30, tzinfo=UTC)) == date(2025, 3, 4)
    assert local_day("2025-03-05 12:00:00.250000") == date(2025, 3, 5)
    assert local_day(datetime(2025, 3, 5, 2, 30)) == date(2025, 3, 4)  # noqa: DTZ001 - naive = UTC, as SQLite stores it


def test_a_late_evening_score_counts_on_its_local_day(org, site, prescriber):
    from django.utils import timezone

    from openkap.measures.models import MeasureResponse

    # Endpoint window 14-31 days after D0 + 7: a score at 22:30 local on the last day
    # (day 38) is stored on day 39 in UTC and must still count.
    p = add_patient(org, site, prescriber, session_days=days(0, 7), scores=[(D0, 20, 0), (D0 + timedelta(days=38), 4, 0)])
    late = MeasureResponse.objects.get(patient=p, total=4)
    local = timezone.make_aware(datetime.combine(D0 + timedelta(days=38), time(22, 30)))
    fields = {f.name: getattr(late, f.name) for f in MeasureResponse._meta.concrete_fields if f.name != "id"}
    MeasureResponse.objects.create(**(fields | {"completed_at": local, "total": 3, "corrects": late, "correction_reason": "time"}))
    out = build_report(org, CohortFilters()).to_dict(suppress=False)
    assert out["n_analysed"] == 1
    assert out["endpoint_mean"] == 3


def test_scores_in_completion_order_to_the_microsecond_whatever_their_ids(org, site, prescriber):
    """Rows are read unordered and sorted in NumPy by patient, completion instant to the
    microsecond, then id: of two endpoint scores in the same second, the one completed
    later is the endpoint even when it was stored first."""
    from django.utils import timezone

    from openkap.measures.models import MeasureResponse

    p = add_patient(org, site, prescriber, session_days=days(0, 7), scores=[(D0, 20, 0), (D0 + timedelta(days=30), 9, 0)])
    stored = MeasureResponse.objects.get(patient=p, total=9)
    fields = {f.name: getattr(stored, f.name) for f in MeasureResponse._meta.concrete_fields if f.name not in ("id", "corrects")}
    noon = timezone.make_aware(datetime.combine(D0 + timedelta(days=31), time(12, 0)))
    MeasureResponse.objects.create(**(fields | {"completed_at": noon + timedelta(microseconds=500), "total": 4}))
    MeasureResponse.objects.create(**(fields | {"completed_at": noon + timedelta(microseconds=250), "total": 6}))
    out = build_report(org, CohortFilters(), as_of=date(2026, 1, 1)).to_dict(suppress=False)
    assert out["n_analysed"] == 1
    assert out["endpoint_mean"] == 4


def test_ages_in_whole_years_as_a_birthday_counts_them():
    import numpy as np
    from hypothesis import given
    from hypothesis import strategies as st

    from openkap.outcomes.demographics import _ages

    dates = st.dates(min_value=date(1900, 1, 1), max_value=date(2030, 12, 31))

    @given(pairs=st.lists(st.tuples(dates, dates), min_size=1, max_size=20))
    def check(pairs):
        born = np.array([b for b, _ in pairs], "datetime64[D]")
        on = np.array([o for _, o in pairs], "datetime64[D]")
        assert _ages(born, on).tolist() == [o.year - b.year - ((o.month, o.day) < (b.month, b.day)) for b, o in pairs]

    check()
    # Born on 29 February: a year older on 1 March, not on 28 February.
    assert _ages(np.array(["2000-02-29"] * 2, "datetime64[D]"),
                 np.array(["2001-02-28", "2001-03-01"], "datetime64[D]")).tolist() == [0, 1]


def test_the_route_is_the_first_session_protocol_s_then_the_plan_s(org, site, prescriber):
    """A first session dosed from a protocol version gives its route (looked up after the
    sessions are read); without one the episode's plan gives it; a later session's
    protocol does not count."""
    from openkap.core.routes import Route
    from openkap.dosing.models import DosingSession, ProtocolVersion

    oral = ProtocolVersion.objects.create(organization=org, protocol_id="oral", version=1, title="Oral", route="oral",
                                          content="-", sha256="0" * 64, created_by=prescriber)
    scores = [(D0, 20, 0), (D0 + timedelta(days=30), 9, 0)]
    first_oral = add_patient(org, site, prescriber, session_days=days(0, 7), scores=scores)
    second_oral = add_patient(org, site, prescriber, session_days=days(0, 7), scores=scores)
    DosingSession.objects.filter(patient=first_oral, administration_started_at__date__lte=D0 + timedelta(days=1)).update(
        protocol_version=oral)
    DosingSession.objects.filter(patient=second_oral, administration_started_at__date__gte=D0 + timedelta(days=5)).update(
        protocol_version=oral)
    out = build_report(org, CohortFilters(), as_of=date(2026, 1, 1)).to_dict(suppress=False)
    routes = {r["label"]: r["n"] for r in out["demographics"]["overall"]["route"]}
    assert routes == {"Oral (racemic ketamine, swallowed)": 1, "Intramuscular injection (racemic ketamine)": 1}
    assert build_report(org, CohortFilters(route=Route.ORAL), as_of=date(2026, 1, 1)).summary.n_enrolled == 1



def test_age_mean_and_sd_from_sums_equal_the_statistics_module():
    """Demographics keep a count, sum and sum of squares of the ages per site (ADR 0093);
    the mean and SD from them are statistics.fmean's and statistics.stdev's, exactly."""
    import statistics

    import numpy as np
    from hypothesis import given
    from hypothesis import strategies as st

    from openkap.outcomes.demographics import Demographics, sqrt_of_fraction

    @given(st.lists(st.integers(0, 120), min_size=2, max_size=300), st.integers(0, 300))
    def check(ages, cut):
        demo = Demographics(n=len(ages))
        demo.add_ages(np.array(ages[:cut], np.int64))  # two chunks
        demo.add_ages(np.array(ages[cut:], np.int64))
        n, total, squares = demo.age_n, demo.age_sum, demo.age_squares
        assert total / n == statistics.fmean(ages)
        assert sqrt_of_fraction(n * squares - total * total, n * (n - 1)) == statistics.stdev(ages)
        out = demo.to_dict(suppress=False)
        assert (out["age_mean"], out["age_sd"]) == (round(statistics.fmean(ages), 1), round(statistics.stdev(ages), 1))

    check()
