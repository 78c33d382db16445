"""The route comparison page and the treatment plan's predicted curve."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from django.test import Client
from django.urls import reverse

from openkap.core.pk import DISCLAIMER, validation
from openkap.pharmacokinetics import predictions

URL = reverse("pharmacokinetics:compare")
IM_SL = {"dose_mg": "100", "weight_kg": "70", "routes": ["im", "sublingual"], "hours": "6", "infusion_min": "40"}


def test_compare_page_shows_chart_numbers_disclaimer_and_sources(prescriber, client_for):
    response = client_for(prescriber).get(URL, IM_SL)
    assert response.status_code == 200
    page = response.content.decode()
    assert page.count("<svg") == 1
    assert DISCLAIMER in page
    assert "population of 300 virtual patients" in page.lower()
    # Models and sources, in the chart and in the table.
    assert "Joint-fit 3-compartment racemic disposition (allometric, per 70 kg) + IM first-order depot" in page
    assert "Joint fit (openkap.core.pk.fit) to published racemic data" in page
    assert "Chong C, Schug S, Page-Sharp M, Ilett K. Pain Med 2006;7(5):469" in page
    assert "Rolan P et al. Br J Clin Pharmacol 2014;77:1011 (PMC4093926)" in page
    comparison = response.context["comparison"]
    im = comparison.results[0]
    assert f"{im.cmax_ng_ml:.1f}" in page
    assert "0.93 (muscle depot)" in page
    assert "Why they differ" in page
    assert "first pass" in page


def test_explanation_on_the_page_is_built_from_the_parameters_used(prescriber, client_for):
    response = client_for(prescriber).get(URL, IM_SL)
    comparison = response.context["comparison"]
    sl = comparison.results[1]
    mucosal = next(p.value for p in sl.parameters if p.name == "mucosal_fraction")
    oral_f = next(p.value for p in sl.parameters if p.set_name.startswith("gut") and p.name == "f")
    page = response.content.decode()
    assert f"{mucosal * 100:.3g} % of the dose crosses the lining of the mouth" in page
    assert f"only {oral_f * 100:.3g} % of it survives the first pass" in page
    assert comparison.explanation.comparisons[0] in page.replace("&#x27;", "'")


def test_compare_page_opens_with_each_route_at_its_usual_dose(nurse, client_for):
    """Issue 20.4: the first visit shows a comparison every route's model accepts."""
    response = client_for(nurse).get(URL)
    assert response.status_code == 200
    comparison = response.context["comparison"]
    assert [r.route for r in comparison.results] == ["im", "sublingual", "in-esketamine"]
    # Hand-computed for 70 kg from the example protocols: IM 0.5 mg/kg x 70 kg = 35 mg,
    # a 100-mg lozenge, Spravato's 56-mg start (two 28-mg devices).
    assert [r.dose_mg for r in comparison.results] == [35.0, 100.0, 56.0]
    page = response.content.decode()
    assert "0.5 mg/kg × 70.0 kg = 35.0 mg" in page
    assert "Fixed dose 56.0 mg" in page
    assert 'value="56"' in page  # the equal-milligram field starts at a dose esketamine allows


def test_compare_page_usual_doses_follow_the_weight(prescriber, client_for):
    query = {"basis": "usual", "weight_kg": "90", "routes": ["im", "iv"], "hours": "6"}
    comparison = client_for(prescriber).get(URL, query).context["comparison"]
    assert [r.dose_mg for r in comparison.results] == [45.0, 45.0]  # 0.5 mg/kg x 90 kg


def test_compare_page_equal_milligrams_needs_a_dose(prescriber, client_for):
    response = client_for(prescriber).get(URL, {"basis": "equal", "weight_kg": "70", "routes": ["im"]})
    assert response.status_code == 422
    assert "Enter the dose" in " ".join(response.context["form"].errors["dose_mg"])


@pytest.mark.parametrize(
    ("query", "field", "message"),
    [
        ({"dose_mg": "0"}, "dose_mg", "greater than or equal to 0.1"),
        ({"dose_mg": "abc"}, "dose_mg", "Enter a number"),
        ({"dose_mg": "1e400"}, "dose_mg", ""),
        ({"weight_kg": "7"}, "weight_kg", "greater than or equal to 30"),
        ({"weight_kg": ""}, "weight_kg", "required"),
        ({"routes": []}, "routes", "Choose at least one route"),
        ({"routes": ["rectal"]}, "routes", "not one of the available choices"),
        ({"hours": "NaN"}, "hours", ""),
        ({"hours": "100"}, "hours", "less than or equal to 24"),
        ({"infusion_min": "-5"}, "infusion_min", "greater than or equal to 0"),
        ({"routes": ["in-esketamine"]}, "dose_mg", "28-mg nasal devices"),
    ],
)
def test_bad_input_shows_field_errors_and_no_chart(prescriber, client_for, query, field, message):
    response = client_for(prescriber).get(URL, IM_SL | query)
    assert response.status_code == 422
    form = response.context["form"]
    assert field in form.errors
    assert message in " ".join(form.errors[field])
    assert response.context["comparison"] is None
    assert b"<svg" not in response.content


def test_roles_outside_the_clinic_get_403(admin, researcher, client_for):
    assert client_for(admin).get(URL, IM_SL).status_code == 403
    assert client_for(researcher).get(URL).status_code == 403


def test_anonymous_is_sent_to_login(db):
    response = Client().get(URL, IM_SL)
    assert response.status_code == 302
    assert response.url.startswith("/accounts/login/")


def test_clinicians_see_the_navigation_link_and_admins_do_not(therapist, admin, client_for):
    home = reverse("web:home")
    assert URL.encode() in client_for(therapist).get(home).content
    assert URL.encode() not in client_for(admin).get(home).content


@pytest.fixture
def planned_im(patient, therapist, prescriber, admin, org, as_actor):
    """The pathway's walk to a signed plan, then a new plan version for IM ketamine."""
    from openkap.pathway import services
    from tests.conftest import PASSWORD
    from tests.pathway.helpers import PLAN, walk

    walk(patient, therapist=therapist, prescriber=prescriber, admin=admin, org=org, as_actor=as_actor, to="planned")
    services.plan_sign(
        by=as_actor(prescriber, org), patient_id=patient.id, password=PASSWORD,
        **(PLAN | {"route": "intramuscular", "protocol_id": "im-ketamine", "change_reason": "IM instead."}),
    )
    return patient


def test_treatment_plan_page_shows_the_predicted_curve_for_the_plan(planned_im, prescriber, client_for):
    weight = planned_im.weights.first()
    response = client_for(prescriber).get(reverse("pathway:plan", args=[planned_im.id]))
    assert response.status_code == 200
    page = response.content.decode()
    expected_mg = int(Decimal("0.5") * weight.weight_kg)  # protocol default, whole mg, rounded down
    assert f"0.5 mg/kg × {weight.weight_kg.normalize():f} kg" in page
    assert f"IM injection (racemic ketamine): {expected_mg} mg" in page
    assert DISCLAIMER in page
    assert "Joint fit (openkap.core.pk.fit)" in page
    curve = predictions.predicted_curve(route="im", dose_mg=expected_mg, weight_kg=weight.weight_kg)
    assert f"{curve.result.cmax_ng_ml:.1f} ng/mL" in page


def test_treatment_plan_curve_is_for_the_patients_age_above_60(planned_im, prescriber, client_for):
    from django.utils import timezone

    from openkap.patients.models import Patient

    url = reverse("pathway:plan", args=[planned_im.id])
    assert planned_im.age_on(timezone.localdate()) <= 60
    assert "hepatic blood flow" not in client_for(prescriber).get(url).content.decode()
    # Born on 1 January 76 years ago: 76 today, whatever the date.
    Patient.objects.filter(id=planned_im.id).update(date_of_birth=date(timezone.localdate().year - 76, 1, 1))
    page = client_for(prescriber).get(url).content.decode()
    assert "age 76 (hepatic blood flow -35 L/h)" in page
    weight = planned_im.weights.first()
    dose = int(Decimal("0.5") * weight.weight_kg)
    older = predictions.predicted_curve(route="im", dose_mg=dose, weight_kg=weight.weight_kg, age_years=76)
    assert f"{older.result.cmax_ng_ml:.1f} ng/mL" in page


def test_treatment_plan_curve_reads_the_medication_list(planned_im, prescriber, client_for):
    from openkap.patients.models import Patient

    url = reverse("pathway:plan", args=[planned_im.id])
    assert "medication list" not in client_for(prescriber).get(url).content.decode()
    Patient.objects.filter(id=planned_im.id).update(
        current_medications="Sertraline 100 mg daily\nRifampin 600 mg daily (TB, started 1 May)"
    )
    page = client_for(prescriber).get(url).content.decode()
    # Named in the chart title and source, the matched line quoted under the chart.
    assert "with rifampicin (CYP3A/2B6 inducer)" in page
    assert "Peltoniemi MA et al. Basic Clin Pharmacol Toxicol 2012;111:325" in page
    assert "\u201cRifampin 600 mg daily (TB, started 1 May)\u201d" in page
    weight = planned_im.weights.first()
    dose = int(Decimal("0.5") * weight.weight_kg)
    induced = predictions.predicted_curve(
        route="im", dose_mg=dose, weight_kg=weight.weight_kg, interaction="rifampicin"
    )
    assert f"{induced.result.cmax_ng_ml:.1f} ng/mL" in page


def test_plan_curve_tag_without_a_weight_says_so(planned_im):
    from django.template import Context, Template

    plan = planned_im.episodes.first().plans.first()
    html = Template("{% load pk_tags %}{% pk_plan_curve plan None %}").render(Context({"plan": plan}))
    assert "No weight recorded" in html
    assert "<svg" not in html


def test_compare_page_with_an_age_names_it_on_the_chart(prescriber, client_for):
    client = client_for(prescriber)
    url = reverse("pharmacokinetics:compare")
    query = {"dose_mg": "35", "weight_kg": "70", "routes": ["iv"], "hours": "6"}
    response = client.get(url, query | {"age_years": "78"})
    assert response.status_code == 200
    page = response.content.decode()
    assert "age 78 (slower hepatic clearance)" in page
    assert "Perez-Ruixo" in page
    refused = client.get(url, query | {"age_years": "150"})
    assert refused.status_code == 422
    assert "age 150" not in refused.content.decode()
    assert refused.context["form"].errors["age_years"]


def test_compare_page_with_an_interaction_names_it_on_the_chart(prescriber, client_for):
    client = client_for(prescriber)
    response = client.get(
        reverse("pharmacokinetics:compare"),
        {"dose_mg": "25", "weight_kg": "70", "routes": ["oral"], "hours": "6",
         "interaction": "clarithromycin"},
    )
    assert response.status_code == 200
    page = response.content.decode()
    assert "with clarithromycin (CYP3A inhibitor)" in page
    assert "Hagelberg NM et al. Eur J Pain 2010;14:625" in page


def test_validation_page_shows_each_miss_with_its_sources_side_by_side(prescriber, nurse, client_for):
    page = client_for(prescriber).get(URL)
    assert reverse("pharmacokinetics:validation") in page.content.decode()
    response = client_for(nurse).get(reverse("pharmacokinetics:validation"))
    assert response.status_code == 200
    html = response.content.decode()
    for table in ("in", "loso"):
        rows = validation.stored_rows(table)
        assert f"{sum(r.ok for r in rows)} of {len(rows)} rows on target" in html
    # A leave-one-study-out miss, with both sides and their numbers in its row.
    row = html[html.rindex("<th scope=\"row\">Grant1981</th>"):]  # held out
    row = row[: row.index("</tr>")]
    assert "<strong>no</strong>" in row
    assert "Grant1981: Cmax 45 +/- 10 ng/mL" in row
    assert "Chong2006: Cmax 22.8 +/- 12.8 ng/mL" in row
