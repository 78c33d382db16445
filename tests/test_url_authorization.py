"""Every URL, every cast member: anonymous -> login (401 for the API), another
organisation -> 404, a role without the permission -> 403.

A view is either listed as public here or decorated with ``staff_view``; a new
view that is neither fails ``test_every_view_is_public_or_protected``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver

from openkap.accounts import services as account_services
from openkap.api.api import api
from openkap.core.authz import ROLE_PERMISSIONS, Perm, Role
from openkap.patients.models import CareTeamMember
from tests.conftest import (
    actor,
    make_admin,
    make_nurse,
    make_org,
    make_other_org,
    make_outsider,
    make_patient,
    make_prescriber,
    make_researcher,
    make_therapist,
    make_unassigned_patient,
)

PUBLIC = {
    "web:home",  # the public site's home for anonymous visitors (tests/site)
    "site:routes",  # the public site (tests/site/test_public_site.py)
    "site:safety",
    "site:eligibility",
    "site:sessions",
    "site:costs",
    "site:contact",
    # The same public pages at /<language>/ (tests/site/test_language_urls.py).
    "site:home_in", "site:routes_in", "site:safety_in", "site:eligibility_in", "site:sessions_in", "site:costs_in",
    "site:contact_in",
    "site:sitemap",
    "site:robots",
    "site:language",  # sets the language cookie only
    "web:healthz",
    "smart_configuration",  # SMART discovery document: public by specification
    "web:readyz",
    "accounts:login",
    "accounts:logout",
    "accounts:mfa_setup",
    "accounts:mfa_verify",
    "accounts:switch_organization",
    "accounts:session_status",  # the idle time-out's own clock; answers anonymous users "signed out"
    "accounts:invitation_accept",
    "accounts:password_reset",
    "accounts:password_reset_done",
    "accounts:password_reset_confirm",
    "scheduling:ics_feed",  # the secret token is the key (tests/scheduling/test_ics.py)
    "patients:portal_accept",  # the emailed portal invitation: the token is the key (tests/patients/test_portal_access.py)
    "measures:link",  # a single-use questionnaire link: the token is the key (tests/measures/test_portal_and_links.py)
    # The public referral forms and the single-use status link (tests/referrals/).
    "referrals:self_start",
    "referrals:self_start_org",
    "referrals:self_step",
    "referrals:thanks",
    "referrals:clinician",
    "referrals:clinician_org",
    "referrals:status_open",
    "referrals:status",
}


@dataclass
class Route:
    name: str
    pattern: str
    callback: object


def _walk(patterns, prefix="", namespace=""):
    for p in patterns:
        if isinstance(p, URLResolver):
            ns = f"{namespace}{p.namespace}:" if p.namespace else namespace
            yield from _walk(p.url_patterns, prefix + str(p.pattern), ns)
        elif isinstance(p, URLPattern):
            yield Route(f"{namespace}{p.name}", prefix + str(p.pattern), p.callback)


def web_routes() -> list[Route]:
    # The API and FHIR take bearer tokens, not sessions: tested below and in tests/fhir.
    return [r for r in _walk(get_resolver().url_patterns) if not r.name.startswith(("api:", "fhir:"))]


def _fill(pattern: str, objects: dict[str, object]) -> str:
    def sub(match: re.Match[str]) -> str:
        return str(objects[match.group(1)])

    return "/" + re.sub(r"<(?:\w+:)?(\w+)>", sub, pattern).lstrip("^").rstrip("$")


def _request(client: Client, path: str):
    response = client.get(path)
    if response.status_code == 405:
        response = client.post(path)
    return response


def url_objects(patient, therapist, org) -> dict[str, object]:
    """One object per URL parameter (its id), made through each app's test factories."""
    token, _ = account_services.api_token_create(by=actor(therapist, org), name="t")
    member = CareTeamMember.objects.filter(patient=patient).first()
    objs = {
        "patient_id": patient.id, "member_id": member.id, "user_id": therapist.id,
        "token_id": token.id, "token": "not-a-token", "uidb64": "MQ", "token_": "x",
        "key": "costs", "language": "en",  # a public-site section (site:admin_edit)
        "client_id": "0" * 32,  # a FHIR backend client (cross-organisation: tests/fhir/test_client_admin.py)
    }
    from tests.scheduling.factories import url_objects as scheduling_objects

    objs |= scheduling_objects(patient=patient, therapist=therapist, org=org)
    from tests.measures.factories import url_objects as measures_objects

    objs |= measures_objects(patient=patient, therapist=therapist, org=org)
    from tests.ledger.factories import url_objects as ledger_objects

    objs |= ledger_objects(patient=patient, therapist=therapist, org=org)
    from tests.pathway.factories import url_objects as pathway_objects

    objs |= pathway_objects(patient=patient, therapist=therapist, org=org)
    from tests.dosing.factories import url_objects as dosing_objects

    objs |= dosing_objects(patient=patient, therapist=therapist, org=org)
    from tests.referrals.factories import url_objects as referral_objects

    objs |= referral_objects(patient=patient, therapist=therapist, org=org)
    return objs


@pytest.fixture(scope="module")
def world(django_db_setup, django_db_blocker) -> Iterator[dict[str, object]]:
    """The cast (tests/conftest.py's, same names and data) and one object per URL parameter,
    made once for the module's ~600 requests: making them for every request was most of the
    module's time. They live in a transaction rolled back after the module; each test runs in
    a savepoint of it (``db``), so what a request changes (an allowed POST) is undone before
    the next test, as when each test made its own."""
    from django.db import transaction

    with django_db_blocker.unblock(), transaction.atomic():
        org, other_org = make_org(), make_other_org()
        cast = {"org": org, "other_org": other_org, "therapist": make_therapist(org), "nurse": make_nurse(org),
                "prescriber": make_prescriber(org), "admin": make_admin(org),
                "researcher": make_researcher(org), "outsider": make_outsider(other_org),
                "unassigned_patient": make_unassigned_patient(org)}
        cast["patient"] = make_patient(org, cast["therapist"], cast["prescriber"])
        cast["objects"] = url_objects(cast["patient"], cast["therapist"], org)
        yield cast
        transaction.set_rollback(True)


# The conftest fixtures of the same names, taken from the module's world.
@pytest.fixture
def org(db, world):
    return world["org"]


@pytest.fixture
def other_org(db, world):
    return world["other_org"]


@pytest.fixture
def therapist(db, world):
    return world["therapist"]


@pytest.fixture
def nurse(db, world):
    return world["nurse"]


@pytest.fixture
def prescriber(db, world):
    return world["prescriber"]


@pytest.fixture
def admin(db, world):
    return world["admin"]


@pytest.fixture
def researcher(db, world):
    return world["researcher"]


@pytest.fixture
def outsider(db, world):
    return world["outsider"]


@pytest.fixture
def patient(db, world):
    return world["patient"]


@pytest.fixture
def unassigned_patient(db, world):
    return world["unassigned_patient"]


@pytest.fixture
def objects(db, world):
    return world["objects"]


def test_every_view_is_public_or_protected():
    unprotected = [
        r.name for r in web_routes()
        if r.name not in PUBLIC and not getattr(r.callback, "staff_only", False)
        and not getattr(r.callback, "patient_only", False)
        and not r.pattern.startswith("static")
    ]
    assert unprotected == []


@pytest.mark.parametrize("route", [r for r in web_routes() if r.name not in PUBLIC], ids=lambda r: r.name)
def test_anonymous_is_sent_to_login(route, objects):
    response = _request(Client(), _fill(route.pattern, objects))
    assert response.status_code == 302
    assert response.url.startswith("/accounts/login/")


OBJECT_PARAMS = {"patient_id", "member_id", "user_id", "token_id"}
OBJECT_PARAMS |= {"appointment_id"}
OBJECT_PARAMS |= {"task_id"}
OBJECT_PARAMS |= {"site_id", "lot_id", "entry_id", "inventory_id"}
OBJECT_PARAMS |= {"note_id", "document_id"}
OBJECT_PARAMS |= {"session_id", "version_id", "alarm_id"}
OBJECT_PARAMS |= {"referral_id"}


@pytest.mark.parametrize(
    "route",
    [r for r in web_routes() if r.name not in PUBLIC and OBJECT_PARAMS & set(re.findall(r"<\w+:(\w+)>", r.pattern))],
    ids=lambda r: r.name,
)
def test_another_organisation_gets_404(route, objects, outsider, client_for):
    response = _request(client_for(outsider), _fill(route.pattern, objects))
    assert response.status_code == 404


def _cast(therapist, nurse, prescriber, admin, researcher):
    return {Role.THERAPIST: therapist, Role.NURSE: nurse, Role.PRESCRIBER: prescriber,
            Role.ADMIN: admin, Role.RESEARCHER: researcher}


# Routes whose object in this matrix is clinical content (the task is a PHQ-9 item-9
# safety task): a role holding the route's permission but not the clinical record's
# (the admin's TASK_VIEW) is refused too (issue 21.4).
CLINICAL_OBJECT_ROUTES = {"tasks:detail"}


@pytest.mark.parametrize(
    "route",
    [r for r in web_routes() if getattr(r.callback, "required_permission", None)],
    ids=lambda r: r.name,
)
def test_roles_without_the_permission_get_403(
    route, objects, therapist, nurse, prescriber, admin, researcher, client_for
):
    perm = route.callback.required_permission
    cast = _cast(therapist, nurse, prescriber, admin, researcher)
    lacking = [
        role for role in cast
        if perm not in ROLE_PERMISSIONS[role]
        or (route.name in CLINICAL_OBJECT_ROUTES and Perm.CLINICAL_VIEW not in ROLE_PERMISSIONS[role])
    ]
    for role in lacking:
        response = _request(client_for(cast[role]), _fill(route.pattern, objects))
        assert response.status_code == 403, (role, response.status_code)
    for role in set(cast) - set(lacking):
        response = _request(client_for(cast[role]), _fill(route.pattern, objects))
        assert response.status_code != 403, (role, response.status_code)


@pytest.mark.parametrize(
    "route",
    [r for r in web_routes() if r.name.startswith("patients:") and "<id:patient_id>" in r.pattern
     and r.name not in {"patients:break_glass"}],
    ids=lambda r: r.name,
)
def test_therapist_outside_the_care_team_gets_403(route, unassigned_patient, therapist, objects, client_for):
    response = _request(client_for(therapist), _fill(route.pattern, objects | {"patient_id": unassigned_patient.id}))
    assert response.status_code == 403


def test_safety_task_is_for_the_care_team_or_break_glass(
    objects, patient, therapist, nurse, prescriber, admin, org, as_actor, client_for
):
    from tests.conftest import make_user

    url = f"/tasks/{objects['task_id']}/"
    for user in (therapist, prescriber, nurse):  # the care team, and nurses who see every chart
        assert client_for(user).get(url).status_code == 200
        assert client_for(user).post(url, {"note": "Called her; safe, plan reviewed."}).status_code != 403
    off_team = make_user("t2@test.org", "Tia Other", org, Role.THERAPIST)
    for user in (admin, off_team):
        assert client_for(user).get(url).status_code == 403
        assert client_for(user).post(url, {"note": "Called her; safe, plan reviewed."}).status_code == 403
    from openkap.patients import services as patient_services

    patient_services.break_glass(by=as_actor(off_team, org), patient_id=patient.id, reason="On call, patient rang in crisis")
    assert client_for(off_team).get(url).status_code == 200


def test_patient_role_cannot_open_staff_pages(org, patient, client_for):
    from tests.conftest import make_user

    user = make_user("p@test.org", "P", org, Role.PATIENT)
    assert client_for(user).get(f"/patients/{patient.id}/").status_code == 403


# --- the API ---------------------------------------------------------------------------


def api_operations() -> list[tuple[str, str]]:
    schema = api.get_openapi_schema()
    return [(method.upper(), path) for path, ops in schema["paths"].items() for method in ops]


# A valid body per operation, so that the answer is about access, not about the payload.
BODIES = {
    ("POST", "/api/v1/patients"): {"legal_given_name": "A", "legal_family_name": "B",
                                   "date_of_birth": "1990-01-01", "sex_at_birth": "female"},
    ("POST", "/api/v1/patients/{patient_id}/weights"): {"value": "70", "unit": "kg"},
    ("POST", "/api/v1/patients/{patient_id}/heights"): {"value": "170", "unit": "cm"},
    ("PATCH", "/api/v1/patients/{patient_id}"): {"pronouns": "they/them"},
}
BODIES |= {
    ("POST", "/api/v1/patients/{patient_id}/measures/assignments"): {"instrument_id": "gad7"},
    ("POST", "/api/v1/patients/{patient_id}/measures/responses"): {
        "instrument_id": "gad7", "answers": {f"q{n}": 1 for n in range(1, 8)}},
}


# pathway API bodies
_PW = "/api/v1/patients/{patient_id}/pathway"
BODIES |= {
    ("POST", f"{_PW}/transitions"): {"name": "start_screening"},
    ("PUT", f"{_PW}/intake"): {"presenting_problems": "Low mood"},
    ("PUT", f"{_PW}/checklist"): {"answers": {"mania": False}},
    ("POST", f"{_PW}/eligibility"): {"outcome": "not_eligible", "reasons": "r", "password": "x"},
    ("POST", f"{_PW}/plans"): {"indication": "TRD", "route": "intramuscular", "protocol_id": "im-ketamine",
                               "dose_level": "psycholytic", "dosing_sessions_planned": 6, "goals": "g",
                               "password": "x"},
    ("POST", f"{_PW}/reassessment"): {"summary": "s", "recommendation": "complete", "password": "x"},
    ("POST", f"{_PW}/preparation/sessions"): {"held_on": "2026-01-05"},
    ("POST", f"{_PW}/preparation/intentions"): {"text": "Be kind to myself"},
    ("PUT", f"{_PW}/preparation/safety-plan"): {"warning_signs": "Not sleeping"},
    ("PUT", f"{_PW}/preparation/escort"): {"name": "Ana", "phone": "555 010 7788"},
    ("PUT", f"{_PW}/preparation/instructions"): {"fasting": "2 hours"},
    ("POST", f"{_PW}/consent/signatures"): {"typed_name": "Maya Lindqvist", "document_sha256": "0" * 64},
    ("POST", f"{_PW}/consent/withdrawal"): {"reason": "Changed my mind"},
    ("POST", f"{_PW}/integration-notes"): {"session_date": "2026-01-05", "template": "dap",
                                          "sections": {"data": "d"}},
    ("POST", "/api/v1/pathway/consent-documents"): {"route": "oral", "title": "t", "text": "x" * 300},
}
# end pathway API bodies

# pharmacokinetics API bodies
BODIES |= {
    ("POST", "/api/v1/pk/simulate"): {"route": "im", "dose_mg": 50, "weight_kg": 70, "population": 10},
    ("POST", "/api/v1/pk/compare"): {"routes": ["im"], "dose_mg": 50, "weight_kg": 70, "population": 10},
}

# scheduling API bodies
BODIES |= {
    ("POST", "/api/v1/scheduling/appointments/{appointment_id}/reschedule"): {
        "start": "2030-01-07T10:00:00", "reason": "The patient asked for another day."},
}


def _api_call(client: Client, method: str, path: str, token: str | None, patient_id: int):
    url = path.replace("{patient_id}", str(patient_id))
    headers = {"HTTP_AUTHORIZATION": f"Bearer {token}"} if token else {}
    body = json.dumps(BODIES.get((method, path), {}))
    return client.generic(method, url, data=body, content_type="application/json", **headers)


@pytest.mark.parametrize(("method", "path"), api_operations())
def test_api_anonymous_gets_401(method, path, patient):
    assert _api_call(Client(), method, path, None, patient.id).status_code == 401


@pytest.mark.parametrize(("method", "path"), [op for op in api_operations() if "{patient_id}" in op[1]])
def test_api_another_organisation_gets_404(method, path, patient, outsider, other_org, as_actor):
    _, raw = account_services.api_token_create(by=as_actor(outsider, other_org), name="x")
    assert _api_call(Client(), method, path, raw, patient.id).status_code == 404


@pytest.mark.parametrize(("method", "path"), [op for op in api_operations() if op[1].startswith("/api/v1/patients")])
def test_api_role_without_patient_access_gets_403(method, path, patient, researcher, org, as_actor):
    _, raw = account_services.api_token_create(by=as_actor(researcher, org), name="x")
    assert _api_call(Client(), method, path, raw, patient.id).status_code == 403
