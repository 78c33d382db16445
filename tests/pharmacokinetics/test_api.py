"""POST /api/v1/pk/simulate and /api/v1/pk/compare: numbers, documented errors, access."""

from __future__ import annotations

import json
from typing import get_args

import pytest
from django.test import Client

from openkap.accounts import services as account_services
from openkap.api.api import api
from openkap.core.pk import DISCLAIMER
from openkap.core.pk.params import INTERACTIONS, ORAL_ABSORPTION, SUBLINGUAL_ABSORPTION
from openkap.pharmacokinetics import predictions
from openkap.pharmacokinetics.api import InteractionName

SIMULATE = "/api/v1/pk/simulate"
COMPARE = "/api/v1/pk/compare"


def token_for(user, org, as_actor):
    return account_services.api_token_create(by=as_actor(user, org), name="t")[1]


@pytest.fixture
def prescriber_token(prescriber, org, as_actor):
    return token_for(prescriber, org, as_actor)


def post(path, body, token):
    headers = {"HTTP_AUTHORIZATION": f"Bearer {token}"} if token else {}
    return Client().post(path, data=json.dumps(body), content_type="application/json", **headers)


def test_simulate_returns_the_curve_thinned_to_400_points(prescriber_token):
    response = post(SIMULATE, {"route": "im", "dose_mg": 100, "weight_kg": 70}, prescriber_token)
    assert response.status_code == 200, response.content
    data = response.json()
    full = predictions.simulation(predictions.curve_key(route="im", dose_mg=100, weight_kg=70))
    assert len(full.times_min) == 721
    assert len(data["times_min"]) == len(data["median"]) == len(data["p5"]) == len(data["p95"]) <= 400
    assert data["times_min"][0] == 0
    assert data["times_min"][-1] == 360
    assert data["cmax_ng_ml"] == pytest.approx(full.cmax_ng_ml, abs=1e-4)
    assert data["tmax_min"] == pytest.approx(full.tmax_min)
    assert data["auc_ng_h_ml"] == pytest.approx(full.auc_ng_h_ml, abs=1e-4)
    assert data["bioavailability"] == 0.93
    assert data["model"] == full.model
    assert data["source"] == full.source
    assert data["prediction"] == "population of 300 virtual patients, seed 0"
    assert data["disclaimer"] == DISCLAIMER
    assert all(lo <= mid <= hi for lo, mid, hi in zip(data["p5"], data["median"], data["p95"], strict=True))


def test_simulate_typical_individual_has_no_band(prescriber_token):
    body = {"route": "in-esketamine", "dose_mg": 56, "population": None, "hours": 2}
    data = post(SIMULATE, body, prescriber_token).json()
    assert data["p5"] is None
    assert data["p95"] is None
    assert data["prediction"].startswith("typical individual")
    assert data["weight_kg"] is None


def test_compare_returns_each_route_and_the_explanation(prescriber_token):
    body = {"routes": ["im", "sublingual"], "dose_mg": 100, "weight_kg": 70, "population": 50}
    response = post(COMPARE, body, prescriber_token)
    assert response.status_code == 200, response.content
    data = response.json()
    assert [c["route"] for c in data["curves"]] == ["im", "sublingual"]
    sl = SUBLINGUAL_ABSORPTION.params["mucosal_fraction"].value
    oral = ORAL_ABSORPTION.params["f"].value
    assert data["curves"][1]["bioavailability"] == pytest.approx(sl + (1 - sl) * oral)
    assert any("Sublingual / buccal delivers" in line for line in data["explanation"])
    assert data["disclaimer"] == DISCLAIMER


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        (SIMULATE, {"route": "in-esketamine", "dose_mg": 100}, "dose_mg"),
        (SIMULATE, {"route": "im", "dose_mg": 100}, "weight_kg"),
        (SIMULATE, {"route": "im", "dose_mg": 100, "weight_kg": 70, "infusion_min": 40}, "infusion_min"),
        (SIMULATE, {"route": "im", "dose_mg": 0, "weight_kg": 70}, "dose_mg"),
        (SIMULATE, {"route": "im", "dose_mg": 100, "weight_kg": 70, "population": 301}, "population"),
        (SIMULATE, {"route": "im", "dose_mg": 100, "weight_kg": 70, "hours": 25}, "hours"),
        (SIMULATE, {"route": "rectal", "dose_mg": 100, "weight_kg": 70}, "route"),
        (COMPARE, {"routes": ["im", "im"], "dose_mg": 100, "weight_kg": 70}, "routes"),
        (COMPARE, {"routes": [], "dose_mg": 100, "weight_kg": 70}, "routes"),
        (COMPARE, {"routes": ["im", "in-esketamine"], "dose_mg": 100, "weight_kg": 70}, "dose_mg"),
    ],
)
def test_bad_input_is_422_with_the_field_named(prescriber_token, path, body, field):
    response = post(path, body, prescriber_token)
    assert response.status_code == 422, response.content
    data = response.json()
    assert set(data) == {"detail", "errors", "codes"}
    assert field in data["errors"], data


def test_roles_without_pk_access_get_403(admin, researcher, org, as_actor):
    body = {"route": "im", "dose_mg": 100, "weight_kg": 70}
    for user in (admin, researcher):
        assert post(SIMULATE, body, token_for(user, org, as_actor)).status_code == 403
        assert post(COMPARE, body | {"routes": ["im"]}, token_for(user, org, as_actor)).status_code == 403


def test_clinical_roles_may_simulate(therapist, nurse, org, as_actor):
    body = {"route": "oral", "dose_mg": 50, "weight_kg": 70, "population": 10}
    for user in (therapist, nurse):
        assert post(SIMULATE, body, token_for(user, org, as_actor)).status_code == 200


def test_anonymous_gets_401(db):
    assert post(SIMULATE, {"route": "im", "dose_mg": 100, "weight_kg": 70}, None).status_code == 401


def test_schema_bounds_population_and_hours_so_fuzzing_stays_fast(db):
    schemas = api.get_openapi_schema()["components"]["schemas"]
    for name in ("SimulateIn", "CompareIn"):
        props = schemas[name]["properties"]
        population = next(s for s in props["population"]["anyOf"] if s.get("type") == "integer")
        assert population["maximum"] == predictions.MAX_POPULATION == 300
        assert props["hours"]["maximum"] == 24
        assert props["dose_mg"]["maximum"] == predictions.DOSE_MG_MAX
    assert schemas["CompareIn"]["properties"]["routes"]["maxItems"] == 6
    paths = api.get_openapi_schema()["paths"]
    for path in ("/api/v1/pk/simulate", "/api/v1/pk/compare"):
        assert set(paths[path]["post"]["responses"]) == {200, 400, 401, 403, 422}


def test_simulate_with_an_interaction_names_it_and_raises_oral_exposure(prescriber_token):
    body = {"route": "oral", "dose_mg": 25, "weight_kg": 70, "population": None}
    plain = post(SIMULATE, body, prescriber_token).json()
    data = post(SIMULATE, body | {"interaction": "clarithromycin"}, prescriber_token).json()
    assert data["interaction"] == "clarithromycin"
    assert "clarithromycin (CYP3A inhibitor)" in data["model"]
    assert "Hagelberg NM et al. Eur J Pain 2010;14:625" in data["source"]
    assert data["cmax_ng_ml"] > 2 * plain["cmax_ng_ml"]
    assert post(SIMULATE, body | {"interaction": "fluconazole"}, prescriber_token).status_code == 422


def test_every_documented_interaction_is_offered():
    assert set(get_args(InteractionName)) == set(INTERACTIONS)


def test_simulate_with_an_age_above_60_names_it_and_raises_iv_exposure(prescriber_token):
    body = {"route": "iv", "dose_mg": 35, "weight_kg": 70, "population": None}
    plain = post(SIMULATE, body, prescriber_token).json()
    older = post(SIMULATE, body | {"age_years": 80}, prescriber_token).json()
    assert older["age_years"] == 80
    assert "age 80 years" in older["model"]
    assert "Perez-Ruixo" in older["source"]
    assert older["auc_ng_h_ml"] > 1.1 * plain["auc_ng_h_ml"]
    # Up to 60 nothing changes, and the answer says no age was applied.
    younger = post(SIMULATE, body | {"age_years": 45}, prescriber_token).json()
    assert younger["age_years"] is None
    assert younger["auc_ng_h_ml"] == plain["auc_ng_h_ml"]
    bad = post(SIMULATE, body | {"age_years": 12}, prescriber_token)
    assert bad.status_code == 422
    assert "age_years" in bad.json()["errors"]


def test_simulate_can_add_racemic_norketamine(prescriber_token):
    body = {"route": "oral", "dose_mg": 25, "weight_kg": 70, "population": None}
    assert post(SIMULATE, body, prescriber_token).json()["metabolites"] == []
    data = post(SIMULATE, body | {"norketamine": True}, prescriber_token).json()
    (nk,) = data["metabolites"]
    assert nk["name"] == "norketamine"
    assert nk["cmax_ng_ml"] > data["cmax_ng_ml"]  # Chong 2006: oral NK exceeds ketamine
    assert len(nk["median"]) == len(data["times_min"])
    refused = post(SIMULATE, {"route": "in-esketamine", "dose_mg": 56, "norketamine": True}, prescriber_token)
    assert refused.status_code == 422
