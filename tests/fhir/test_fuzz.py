"""Fuzzing the FHIR endpoints: arbitrary search parameters, ids, bodies and headers
never produce a 5xx, and every error is an OperationOutcome that validates."""

from __future__ import annotations

import json
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from openkap.fhir.framework import REGISTRY
from tests.fhir.conftest import FhirClient, token_for, validate
from tests.profiles import examples

pytestmark = pytest.mark.django_db
FUZZ = settings(max_examples=examples(60), suppress_health_check=[HealthCheck.function_scoped_fixture])

# NUL included: it is refused at the door (RejectNulMiddleware), as an OperationOutcome here.
text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=40)
param_names = st.one_of(
    st.sampled_from(sorted({p.name for rt in REGISTRY.values() for p in rt.params}
                           | {"_id", "_count", "_offset", "_summary", "_lastUpdated", "_format", "_type"})),
    text,
)
values = st.one_of(text, st.sampled_from(["ge2026-01-01", "lt", "2026-02-30", "Patient/1", "|", ",", "-1",
                                          "99999999999999999999", "http://loinc.org|", "eq", "1e9"]))


def check(response):
    assert response.status_code < 500, (response.status_code, response.content[:300])
    assert response["Content-Type"].startswith("application/fhir+json"), response.content[:300]
    if response.status_code >= 400:
        assert validate(response.json())["resourceType"] == "OperationOutcome"


@pytest.fixture
def client(nurse, org, record):
    return FhirClient(token_for(nurse, org))


@FUZZ
@given(resource_type=st.sampled_from(sorted(REGISTRY)), params=st.lists(st.tuples(param_names, values), max_size=4))
def test_search_never_fails(client, resource_type, params, record):
    query = "&".join(f"{quote(k)}={quote(v)}" for k, v in params)
    if resource_type in ("Observation", "DocumentReference"):
        query += f"&patient={record['session'].patient_id}"
    check(client.get(f"{resource_type}?{query}"))


@FUZZ
@given(path=st.one_of(text, st.sampled_from(["Patient/", "Patient/1/x", "$export-poll/zz", "Observation/mr-",
                                             "Observation/vs-1-", "Location/site-", "Group/care-team-x/$export"])))
def test_any_path_never_fails(client, path):
    check(client.get(f"/fhir/R4/{quote(path)}"))


json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), text),
    lambda children: st.one_of(st.lists(children, max_size=3), st.dictionaries(text, children, max_size=3)),
    max_leaves=10,
)


@pytest.fixture
def writer(prescriber, org):
    return FhirClient(token_for(prescriber, org))  # may create patients and enter answers


@FUZZ
@given(resource_type=st.sampled_from(["Patient", "QuestionnaireResponse"]),
       body=st.dictionaries(st.sampled_from(["name", "gender", "birthDate", "telecom", "address", "contact",
                                             "extension", "identifier", "status", "questionnaire", "subject",
                                             "item", "authored"]), json_values, max_size=6))
def test_any_body_never_fails(writer, resource_type, body):
    check(writer.post(resource_type, json.dumps({"resourceType": resource_type, **body})))
