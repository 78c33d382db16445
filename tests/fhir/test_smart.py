"""SMART Backend Services: a registered client signs a JWT assertion (RS384 or ES384,
made here with `cryptography` and PyJWT), gets a short-lived token, and its scopes are
enforced per resource type and interaction. Malformed or replayed assertions and
unknown clients get 401; a wrong scope 403 OperationOutcome."""

from __future__ import annotations

import json
import time
import uuid
from datetime import timedelta
from urllib.parse import urlencode

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.test import Client
from django.utils import timezone
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

from openkap.accounts.authz import Denied, build_actor
from openkap.accounts.models import User
from openkap.audit.models import AuditEvent
from openkap.core.authz import Perm
from openkap.fhir import smart
from openkap.fhir.models import BackendClient, BackendToken, ExportJob
from tests.fhir.conftest import FhirClient, validate

pytestmark = pytest.mark.django_db
TOKEN_URL = "http://testserver/fhir/R4/auth/token"


def rsa_key():
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwk = RSAAlgorithm.to_jwk(private.public_key(), as_dict=True) | {"kid": "rsa-1", "alg": "RS384"}
    return private, jwk


def ec_key():
    private = ec.generate_private_key(ec.SECP384R1())
    jwk = ECAlgorithm.to_jwk(private.public_key(), as_dict=True) | {"kid": "ec-1", "alg": "ES384"}
    return private, jwk


@pytest.fixture(scope="module")
def keys():
    return {"RS384": rsa_key(), "ES384": ec_key()}


@pytest.fixture
def client_app(admin, org, keys):
    return smart.client_register(
        by=build_actor(admin, org), name="Outcomes registry",
        jwks={"keys": [keys["RS384"][1], keys["ES384"][1]]},
        scopes="system/Patient.rs system/Observation.rs system/Encounter.read system/Group.rs",
    )


def assertion(client_id, private, kid, alg, **overrides):
    now = int(time.time())
    claims = {"iss": client_id, "sub": client_id, "aud": TOKEN_URL, "exp": now + 240, "jti": str(uuid.uuid4())}
    claims.update(overrides)
    claims = {k: v for k, v in claims.items() if v is not None}
    return jwt.encode(claims, private, algorithm=alg, headers={"kid": kid})


def request_token(signed, scope="system/Patient.rs", **form):
    data = {"grant_type": "client_credentials", "scope": scope,
            "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            "client_assertion": signed, **form}
    return Client().post("/fhir/R4/auth/token", data=urlencode(data), content_type="application/x-www-form-urlencoded")


@pytest.mark.parametrize("alg", ["RS384", "ES384"])
def test_client_credentials_with_a_signed_assertion(client_app, keys, alg, patient):
    private, jwk = keys[alg]
    response = request_token(assertion(client_app.client_id, private, jwk["kid"], alg),
                             scope="system/Patient.rs system/Observation.rs system/Condition.rs")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == 300
    assert body["scope"] == "system/Patient.rs system/Observation.rs"  # Condition was not registered
    assert response["Cache-Control"] == "no-store"
    api = FhirClient(body["access_token"])
    res = validate(api.get(f"Patient/{patient.id}").json())
    assert res["id"] == str(patient.id)
    event = AuditEvent.objects.filter(object_type="fhir.Patient").get()
    assert (event.via, event.actor_id) == ("fhir", client_app.user_id)


def test_scopes_are_enforced_per_type_and_interaction(client_app, keys, patient, record):
    private, jwk = keys["RS384"]
    raw = request_token(assertion(client_app.client_id, private, jwk["kid"], "RS384"),
                        scope="system/Patient.r system/Encounter.read").json()["access_token"]
    api = FhirClient(raw)
    assert api.get(f"Patient/{patient.id}").status_code == 200
    denied = api.get("Patient?family=Lindqvist")  # .r without .s: no search
    assert denied.status_code == 403
    assert validate(denied.json())["issue"][0]["code"] == "forbidden"
    assert api.get(f"Observation?patient={patient.id}").status_code == 403
    assert api.get(f"Encounter?patient={patient.id}").status_code == 200
    assert api.post("Patient", {"resourceType": "Patient"}).status_code == 403


def test_bulk_export_with_a_system_token(client_app, keys, patient, record, settings, tmp_path,
                                         django_capture_on_commit_callbacks):
    settings.FHIR_EXPORT_DIR = tmp_path
    private, jwk = keys["ES384"]
    raw = request_token(assertion(client_app.client_id, private, jwk["kid"], "ES384"),
                        scope="system/Patient.rs system/Observation.rs").json()["access_token"]
    api = FhirClient(raw)
    with django_capture_on_commit_callbacks(execute=True):
        kick = api.get("$export", HTTP_PREFER="respond-async")
    assert kick.status_code == 202, kick.content
    assert ExportJob.objects.get().types == ["Patient", "Observation"]  # what the scopes allow
    manifest = api.get(kick["Content-Location"].replace("http://testserver", "")).json()
    assert {o["type"] for o in manifest["output"]} == {"Patient", "Observation"}
    assert api.get("$export?_type=Encounter", HTTP_PREFER="respond-async").status_code == 403


@pytest.mark.parametrize(("make", "error"), [
    (lambda c, k: "not-a-jwt", "invalid_client"),
    (lambda c, k: assertion("unknown-client", k[0], k[1]["kid"], "RS384"), "invalid_client"),
    (lambda c, k: assertion(c.client_id, k[0], "other-kid", "RS384"), "invalid_client"),
    (lambda c, k: assertion(c.client_id, rsa_key()[0], k[1]["kid"], "RS384"), "invalid_client"),  # wrong key
    (lambda c, k: assertion(c.client_id, k[0], k[1]["kid"], "RS384", aud="https://elsewhere/token"), "invalid_client"),
    (lambda c, k: assertion(c.client_id, k[0], k[1]["kid"], "RS384", exp=int(time.time()) - 120), "invalid_client"),
    (lambda c, k: assertion(c.client_id, k[0], k[1]["kid"], "RS384", exp=int(time.time()) + 3600), "invalid_client"),
    (lambda c, k: assertion(c.client_id, k[0], k[1]["kid"], "RS384", sub="someone-else"), "invalid_client"),
    (lambda c, k: assertion(c.client_id, k[0], k[1]["kid"], "RS384", jti=None), "invalid_client"),
    (lambda c, k: assertion(c.client_id, k[0], k[1]["kid"], "RS256"), "invalid_client"),
    (lambda c, k: jwt.encode({"iss": c.client_id}, "s" * 32, algorithm="HS256"), "invalid_client"),
])
def test_bad_assertions_get_401(client_app, keys, make, error):
    response = request_token(make(client_app, keys["RS384"]))
    assert response.status_code == 401, response.content
    assert response.json()["error"] == error
    assert not BackendToken.objects.exists()


def test_a_replayed_assertion_is_refused(client_app, keys):
    private, jwk = keys["RS384"]
    signed = assertion(client_app.client_id, private, jwk["kid"], "RS384")
    assert request_token(signed).status_code == 200
    assert request_token(signed).status_code == 401


def test_bad_token_requests(client_app, keys):
    private, jwk = keys["RS384"]
    signed = assertion(client_app.client_id, private, jwk["kid"], "RS384")
    assert request_token(signed, grant_type="password").json()["error"] == "unsupported_grant_type"
    assert request_token(signed, client_assertion_type="x").json()["error"] == "invalid_request"
    assert request_token(signed, scope="system/Condition.rs user/Patient.rs").json()["error"] == "invalid_scope"
    assert Client().get("/fhir/R4/auth/token").status_code == 405
    assert Client().post("/fhir/R4/auth/token", data="{}", content_type="application/json").status_code == 400


def test_tokens_expire_and_revoked_clients_stop(client_app, keys, patient):
    private, jwk = keys["RS384"]
    raw = request_token(assertion(client_app.client_id, private, jwk["kid"], "RS384")).json()["access_token"]
    BackendToken.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    assert FhirClient(raw).get(f"Patient/{patient.id}").status_code == 401
    raw = request_token(assertion(client_app.client_id, private, jwk["kid"], "RS384")).json()["access_token"]
    BackendClient.objects.update(revoked_at=timezone.now())
    assert FhirClient(raw).get(f"Patient/{patient.id}").status_code == 401


def test_a_client_sees_only_its_organisation(client_app, keys, other_patient):
    private, jwk = keys["RS384"]
    raw = request_token(assertion(client_app.client_id, private, jwk["kid"], "RS384")).json()["access_token"]
    assert FhirClient(raw).get(f"Patient/{other_patient.id}").status_code == 404


@pytest.mark.parametrize(("jwks", "scopes"), [
    ({"keys": []}, "system/Patient.rs"),
    ({"keys": [{"kty": "RSA", "n": "x", "e": "AQAB"}]}, "system/Patient.rs"),  # no kid
    ({"keys": [{"kty": "oct", "k": "c2VjcmV0", "kid": "a", "alg": "HS256"}]}, "system/Patient.rs"),
    (None, "user/Patient.rs"),
    (None, ""),
])
def test_registration_refuses_bad_keys_and_scopes(admin, org, keys, jwks, scopes):
    if jwks is None:
        jwks = {"keys": [keys["RS384"][1]]}
    with pytest.raises(ValidationError):
        smart.client_register(by=build_actor(admin, org), name="x", jwks=jwks, scopes=scopes)


def test_registration_refuses_a_private_key_and_non_admins(admin, nurse, org, keys):
    users_before = User.objects.count()
    private_jwk = json.loads(RSAAlgorithm.to_jwk(keys["RS384"][0])) | {"kid": "p", "alg": "RS384"}
    with pytest.raises(ValidationError) as refused:
        smart.client_register(by=build_actor(admin, org), name="x", jwks={"keys": [private_jwk]},
                              scopes="system/Patient.rs")
    assert "private key" in str(refused.value)
    with pytest.raises(Denied) as denied:
        smart.client_register(by=build_actor(nurse, org), name="x", jwks={"keys": [keys["RS384"][1]]},
                              scopes="system/Patient.rs")
    # Registration is a staff-management act: the nurse is refused for that permission.
    assert denied.value.perm is Perm.STAFF_MANAGE
    # Neither refusal wrote anything: no client, no client user, no audit row.
    assert not BackendClient.objects.exists()
    assert User.objects.count() == users_before
    assert not AuditEvent.objects.filter(object_type="fhir.client").exists()


def test_register_and_revoke_from_the_command_line(admin, org, keys, tmp_path, capsys):
    path = tmp_path / "jwks.json"
    path.write_text(json.dumps({"keys": [keys["ES384"][1]]}))
    call_command("fhir_client", "register", "--organization", org.slug, "--by", admin.email, "--name", "Lab",
                 "--jwks", str(path), "--scopes", "system/*.rs")
    client_id = json.loads(capsys.readouterr().out)["client_id"]
    assert BackendClient.objects.get(client_id=client_id).name == "Lab"
    call_command("fhir_client", "revoke", "--by", admin.email, "--client-id", client_id)
    assert BackendClient.objects.get(client_id=client_id).revoked_at is not None


def test_smart_configuration_is_public_at_both_places():
    for path in ("/.well-known/smart-configuration", "/fhir/R4/.well-known/smart-configuration"):
        config = Client().get(path).json()
        assert config["token_endpoint"] == TOKEN_URL
        assert config["token_endpoint_auth_signing_alg_values_supported"] == ["RS384", "ES384"]
        assert "system/Patient.crus" in config["scopes_supported"]
        assert "client-confidential-asymmetric" in config["capabilities"]
