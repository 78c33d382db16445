"""Admin -> FHIR clients: an admin registers a SMART backend client with a PEM public key
or a JWK Set and chooses its scopes; the client then gets tokens; revoking stops them.
The same services as ``openkap fhir_client``; audited; another organisation's admin
neither sees nor revokes the client."""

from __future__ import annotations

import json

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from django.core.management import call_command
from django.urls import reverse

from openkap.audit.models import AuditEvent
from openkap.fhir.models import BackendClient
from tests.fhir.conftest import FhirClient
from tests.fhir.test_smart import assertion, request_token

pytestmark = pytest.mark.django_db
PAGE = "/admin/fhir-clients/"


def pem(public_key) -> str:
    return public_key.public_bytes(serialization.Encoding.PEM,
                                   serialization.PublicFormat.SubjectPublicKeyInfo).decode()


@pytest.fixture(scope="module")
def rsa_private():
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def register(client, **fields):
    data = {"name": "State registry", "scopes": ["system/Patient.rs", "system/Observation.rs"], **fields}
    return client.post(PAGE, data)


def test_an_admin_registers_a_pem_key_and_the_client_gets_tokens(admin, client_for, rsa_private, patient):
    page = client_for(admin)
    assert page.get(PAGE).status_code == 200
    response = register(page, public_key_pem=pem(rsa_private.public_key()))
    assert response.status_code == 302, response.content.decode()[:2000]
    client = BackendClient.objects.get()
    assert client.scopes.split() == ["system/Patient.rs", "system/Observation.rs"]
    (key,) = client.jwks["keys"]
    assert (key["kty"], key["alg"]) == ("RSA", "RS384")
    assert "d" not in key
    listing = page.get(PAGE).content.decode()
    assert client.client_id in listing
    assert "State registry" in listing
    created = AuditEvent.objects.get(object_type="fhir.client", action="create")
    assert (created.actor_id, created.detail["kids"]) == (admin.id, [key["kid"]])

    # The client signs with the private key of the PEM it registered.
    token = request_token(assertion(client.client_id, rsa_private, key["kid"], "RS384"))
    assert token.status_code == 200, token.content
    reader = FhirClient(token.json()["access_token"])
    assert reader.get(f"Patient/{patient.id}").status_code == 200
    assert reader.get(f"Encounter?patient={patient.id}").status_code == 403  # not a scope it was given

    revoked = page.post(reverse("fhir_admin:client_revoke", args=[client.client_id]))
    assert revoked.status_code == 302
    assert reader.get(f"Patient/{patient.id}").status_code == 401
    assert AuditEvent.objects.filter(object_type="fhir.client", action="token_revoked", actor_id=admin.id).exists()
    assert "revoked" in page.get(PAGE).content.decode()


def test_a_jwk_set_and_an_ec_pem_are_accepted(admin, client_for):
    page = client_for(admin)
    ec_public = ec.generate_private_key(ec.SECP384R1()).public_key()
    assert register(page, name="EC", public_key_pem=pem(ec_public)).status_code == 302
    jwks = {"keys": [BackendClient.objects.get(name="EC").jwks["keys"][0] | {"kid": "copied"}]}
    assert register(page, name="JWKS", jwks=json.dumps(jwks)).status_code == 302
    assert BackendClient.objects.get(name="JWKS").jwks["keys"][0]["alg"] == "ES384"


@pytest.mark.parametrize("fields", [
    {},  # no keys at all
    {"jwks": "{not json"},
    {"public_key_pem": "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----"},
    {"public_key_pem": "private"},  # replaced below by a real private key
    {"public_key_pem": "rsa1024"},  # replaced below by a 1024-bit RSA key
    {"public_key_pem": "p256"},  # replaced below by an EC P-256 key (ES256 is not accepted)
    {"public_key_pem": "rsa", "scopes": []},
    {"public_key_pem": "rsa", "scopes": ["system/Nothing.rs"]},
    {"public_key_pem": "rsa", "name": ""},
])
def test_bad_registrations_change_nothing(admin, client_for, rsa_private, fields):
    if fields.get("public_key_pem") == "private":
        fields["public_key_pem"] = rsa_private.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()).decode()
    elif fields.get("public_key_pem") == "rsa1024":
        fields["public_key_pem"] = pem(rsa.generate_private_key(public_exponent=65537, key_size=1024).public_key())  # noqa: S505 - refused
    elif fields.get("public_key_pem") == "p256":
        fields["public_key_pem"] = pem(ec.generate_private_key(ec.SECP256R1()).public_key())
    elif fields.get("public_key_pem") == "rsa":
        fields["public_key_pem"] = pem(rsa_private.public_key())
    response = register(client_for(admin), **fields)
    assert response.status_code == 422
    assert 'role="alert"' in response.content.decode()
    assert not BackendClient.objects.exists()
    assert not AuditEvent.objects.filter(object_type="fhir.client", action="create").exists()


def test_a_key_error_is_shown_next_to_the_key(admin, client_for, rsa_private):
    private = rsa_private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                        serialization.NoEncryption()).decode()
    response = register(client_for(admin), public_key_pem=private)
    assert response.context["form"].errors["public_key_pem"] == [
        "That is a private key: register the public key only."]


def test_only_admins_of_the_organisation(admin, nurse, outsider, client_for, rsa_private):
    register(client_for(admin), public_key_pem=pem(rsa_private.public_key()))
    client = BackendClient.objects.get()
    assert client_for(nurse).get(PAGE).status_code == 403
    assert register(client_for(nurse), public_key_pem=pem(rsa_private.public_key())).status_code == 403
    assert client_for(nurse).post(reverse("fhir_admin:client_revoke", args=[client.client_id])).status_code == 403
    stranger = client_for(outsider)  # an admin, of another clinic
    assert client.client_id not in stranger.get(PAGE).content.decode()
    assert stranger.post(reverse("fhir_admin:client_revoke", args=[client.client_id])).status_code == 404
    client.refresh_from_db()
    assert client.revoked_at is None
    assert client_for(admin).get(reverse("fhir_admin:client_revoke", args=[client.client_id])).status_code == 405


def test_the_command_line_takes_a_pem_too(admin, org, rsa_private, tmp_path, capsys):
    path = tmp_path / "client.pem"
    path.write_text(pem(rsa_private.public_key()))
    call_command("fhir_client", "register", "--organization", org.slug, "--by", admin.email, "--name", "Lab",
                 "--pem", str(path), "--scopes", "system/Observation.rs")
    out = json.loads(capsys.readouterr().out)
    assert BackendClient.objects.get(client_id=out["client_id"]).jwks["keys"][0]["kid"] == out["kids"][0]


def test_a_pem_keys_kid_is_its_rfc_7638_thumbprint():
    """RFC 7638 section 3.1: the JWK of RFC 7517 appendix A.1 has the thumbprint below."""
    import base64

    from openkap.fhir.smart import jwks_from_pem

    n = ("0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3"
         "oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zg"
         "dAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csF"
         "Cur-kEgU8awapJzKnqDKgw")
    modulus = int.from_bytes(base64.urlsafe_b64decode(n + "=" * (-len(n) % 4)), "big")
    (key,) = jwks_from_pem(pem(rsa.RSAPublicNumbers(65537, modulus).public_key()))["keys"]
    assert key["kid"] == "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
    assert (key["n"], key["e"]) == (n, "AQAB")
