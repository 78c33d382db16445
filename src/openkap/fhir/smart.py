"""SMART Backend Services (hl7.org/fhir/smart-app-launch/backend-services.html): a
registered client proves itself with a JWT signed by its private key (RS384 or ES384)
and gets a short-lived access token whose scopes (``system/Patient.rs``) bound what it
may do, on top of what its clinic-wide actor may do."""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.http import Http404
from django.utils import timezone

from openkap.accounts.authz import Actor, require
from openkap.accounts.models import User
from openkap.audit.models import AuditAction
from openkap.audit.services import audit_record
from openkap.core import fhir as core
from openkap.core.authz import Perm, Role
from openkap.core.digest import sha256_hex
from openkap.fhir.models import BackendClient, BackendToken, UsedAssertion

ALGORITHMS = ("RS384", "ES384")
TOKEN_PREFIX = "okfs_"  # noqa: S105 - a prefix, not a secret
TOKEN_SECONDS = 300
MAX_ASSERTION_SECONDS = 300  # the spec: exp no more than five minutes ahead
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
# A backend client acts clinic-wide: the registry (admin) and clinical reads and entries
# (nurse), never a prescriber's signature. Its scopes narrow this per type and interaction.
CLIENT_ROLES = frozenset({Role.NURSE, Role.ADMIN})


class OAuthError(Exception):
    def __init__(self, status: int, error: str, description: str):
        super().__init__(description)
        self.status, self.error, self.description = status, error, description


def client_actor(client: BackendClient, *, ip: str = "", user_agent: str = "") -> Actor:
    return Actor(user=client.user, organization=client.organization, roles=CLIENT_ROLES, ip=ip,
                 user_agent=user_agent[:400], via="fhir")


# --- registration ---------------------------------------------------------------------------


def _check_jwks(jwks: Any) -> dict[str, Any]:
    if not isinstance(jwks, dict) or not isinstance(jwks.get("keys"), list) or not jwks["keys"]:
        raise ValidationError({"jwks": 'Give a JWK Set: {"keys": [...]}.'})
    for key in jwks["keys"]:
        if not isinstance(key, dict) or not key.get("kid"):
            raise ValidationError({"jwks": "Every key needs a kid."})
        if "d" in key:
            raise ValidationError({"jwks": "That is a private key: register the public key only."})
        try:
            parsed = jwt.PyJWK(key, algorithm=key.get("alg"))
        except (jwt.PyJWKError, jwt.InvalidKeyError, ValueError, TypeError) as exc:
            raise ValidationError({"jwks": f"Key {key['kid']}: {exc}"}) from None
        if parsed.algorithm_name not in ALGORITHMS:
            raise ValidationError({"jwks": f"Key {key['kid']}: use RS384 or ES384 (alg), not {parsed.algorithm_name}."})
    return jwks


def jwks_from_pem(pem: str) -> dict[str, Any]:
    """A JWK Set from one PEM public key: RSA (2048 bits or more, RS384) or EC P-384 (ES384);
    its kid is the RFC 7638 thumbprint."""
    from cryptography.hazmat.primitives.asymmetric import ec, rsa
    from cryptography.hazmat.primitives.serialization import (
        load_pem_private_key,
        load_pem_public_key,
    )
    from jwt.algorithms import ECAlgorithm, RSAAlgorithm

    data = pem.strip().encode()
    try:
        load_pem_private_key(data, password=None)
    except (ValueError, TypeError):
        pass
    else:
        raise ValidationError({"public_key_pem": "That is a private key: register the public key only."})
    try:
        key = load_pem_public_key(data)
    except (ValueError, TypeError):
        raise ValidationError({"public_key_pem": "Not a PEM public key (-----BEGIN PUBLIC KEY-----…)."}) from None
    if isinstance(key, rsa.RSAPublicKey):
        if key.key_size < 2048:
            raise ValidationError({"public_key_pem": f"An RSA key needs 2048 bits or more (this one has {key.key_size})."})
        jwk, alg = json.loads(RSAAlgorithm.to_jwk(key)), "RS384"
        members: tuple[str, ...] = ("e", "kty", "n")
    elif isinstance(key, ec.EllipticCurvePublicKey) and isinstance(key.curve, ec.SECP384R1):
        jwk, alg = json.loads(ECAlgorithm.to_jwk(key)), "ES384"
        members = ("crv", "kty", "x", "y")
    else:
        raise ValidationError({"public_key_pem": "Use an RSA key (RS384) or an EC P-384 key (ES384)."})
    thumbprint = json.dumps({m: jwk[m] for m in members}, separators=(",", ":"), sort_keys=True)
    kid = base64.urlsafe_b64encode(hashlib.sha256(thumbprint.encode()).digest()).rstrip(b"=").decode()
    return {"keys": [{**{m: jwk[m] for m in members}, "kid": kid, "alg": alg, "use": "sig"}]}


def client_register(*, by: Actor, name: str, scopes: str, jwks: Any = None, public_key_pem: str = "") -> BackendClient:
    """An admin registers a system: its public keys (a JWK Set, or one PEM public key) and
    the scopes it may be granted. The web page and ``openkap fhir_client`` both call this."""
    require(by, Perm.STAFF_MANAGE)
    name = name.strip()
    if not name or len(name) > 200:
        raise ValidationError({"name": "Name the client (up to 200 characters)."})
    if public_key_pem.strip():
        if jwks:
            raise ValidationError({"jwks": "Give a JWK Set or a PEM public key, not both."})
        jwks = jwks_from_pem(public_key_pem)
    _check_jwks(jwks)
    wanted = scopes.split()
    bad = [s for s in wanted if core.parse_scope(s) is None]
    if not wanted or bad:
        raise ValidationError({"scopes": f"Scopes are system/<Type>.<cruds> or system/<Type>.read; not {bad}."})
    client_id = secrets.token_hex(16)
    with transaction.atomic():
        user = User(email=f"fhir-client-{client_id}@clients.invalid", full_name=f"{name} (FHIR client)")
        user.set_unusable_password()
        user.save()
        client = BackendClient.objects.create(organization=by.organization, client_id=client_id, name=name,
                                              jwks=jwks, scopes=" ".join(wanted), user=user, registered_by=by.user)
        audit_record(by=by, action=AuditAction.CREATE, object_type="fhir.client", object_id=client.id,
                     detail={"name": name, "scopes": wanted, "kids": [k["kid"] for k in jwks["keys"]]})
    return client


def client_revoke(*, by: Actor, client_id: str) -> BackendClient:
    """Revoke a client of the actor's organisation: its tokens stop working at once."""
    require(by, Perm.STAFF_MANAGE)
    with transaction.atomic():
        client = BackendClient.objects.select_for_update().filter(
            organization=by.organization, client_id=client_id, revoked_at__isnull=True).first()
        if client is None:
            raise Http404("No such active client in your organisation.")
        client.revoked_at = timezone.now()
        client.save(update_fields=["revoked_at"])
        audit_record(by=by, action=AuditAction.TOKEN_REVOKED, object_type="fhir.client", object_id=client.id,
                     detail={"name": client.name})
    return client


def clients_of(*, by: Actor) -> list[BackendClient]:
    """The organisation's backend clients, newest first (their public keys, not patient data)."""
    require(by, Perm.STAFF_MANAGE)
    return list(BackendClient.objects.filter(organization=by.organization).select_related("registered_by")
                .order_by("-created_at", "-id"))


# --- the token endpoint ---------------------------------------------------------------------


def token_issue(*, form: dict[str, str], token_url: str) -> dict[str, Any]:
    if form.get("grant_type") != "client_credentials":
        raise OAuthError(400, "unsupported_grant_type", "grant_type must be client_credentials")
    if form.get("client_assertion_type") != ASSERTION_TYPE:
        raise OAuthError(400, "invalid_request", f"client_assertion_type must be {ASSERTION_TYPE}")
    assertion = form.get("client_assertion", "")
    client, claims = _verify_assertion(assertion, token_url)
    granted = core.grant_scopes(form.get("scope", "").split(), client.scopes.split())
    if not granted:
        raise OAuthError(400, "invalid_scope", "None of the requested scopes is registered for this client")
    raw = TOKEN_PREFIX + secrets.token_urlsafe(32)
    now = timezone.now()
    with transaction.atomic():
        try:
            with transaction.atomic():
                UsedAssertion.objects.create(client=client, jti=claims["jti"],
                                             expires_at=datetime.fromtimestamp(claims["exp"], tz=UTC))
        except IntegrityError:
            raise OAuthError(401, "invalid_client", "This assertion (jti) was already used") from None
        BackendToken.objects.create(client=client, token_hash=sha256_hex(raw), scopes=" ".join(granted),
                                    expires_at=now + timedelta(seconds=TOKEN_SECONDS))
        audit_record(by=client_actor(client), action=AuditAction.TOKEN_CREATED, object_type="fhir.client",
                     object_id=client.id, detail={"scopes": granted})
    UsedAssertion.objects.filter(expires_at__lt=now).delete()
    BackendToken.objects.filter(expires_at__lt=now - timedelta(days=1)).delete()
    return {"access_token": raw, "token_type": "bearer", "expires_in": TOKEN_SECONDS, "scope": " ".join(granted)}


def _verify_assertion(assertion: str, token_url: str) -> tuple[BackendClient, dict[str, Any]]:
    def refuse(why: str) -> OAuthError:
        return OAuthError(401, "invalid_client", why)

    try:
        header = jwt.get_unverified_header(assertion)
        unverified = jwt.decode(assertion, options={"verify_signature": False})
    except jwt.PyJWTError:
        raise refuse("client_assertion is not a JWT") from None
    if header.get("alg") not in ALGORITHMS:
        raise refuse("The assertion must be signed with RS384 or ES384")
    client_id = unverified.get("iss")
    client = BackendClient.objects.select_related("user", "organization").filter(
        client_id=str(client_id), revoked_at__isnull=True).first() if isinstance(client_id, str) else None
    if client is None:
        raise refuse("Unknown client")
    keys = [k for k in client.jwks["keys"] if k.get("kid") == header.get("kid")]
    if not keys:
        raise refuse("No registered key has this kid")
    try:
        key = jwt.PyJWK(keys[0], algorithm=keys[0].get("alg"))
        claims = jwt.decode(assertion, key=key.key, algorithms=[header["alg"]], audience=token_url,
                            issuer=client.client_id, options={"require": ["iss", "sub", "aud", "exp", "jti"]},
                            leeway=30)
    except jwt.PyJWTError as exc:
        raise refuse(f"The assertion does not verify: {exc}") from None
    if claims["sub"] != client.client_id:
        raise refuse("sub must be the client_id")
    if claims["exp"] > timezone.now().timestamp() + MAX_ASSERTION_SECONDS + 30:
        raise refuse("exp may be at most five minutes ahead")
    if not isinstance(claims["jti"], str) or not 0 < len(claims["jti"]) <= 255:
        raise refuse("jti must be a string")
    return client, claims


@dataclass(frozen=True)
class BackendAccess:
    actor: Actor
    scopes: tuple[str, ...]
    client: BackendClient


def token_authenticate(raw: str, *, ip: str = "", user_agent: str = "") -> BackendAccess | None:
    if not raw.startswith(TOKEN_PREFIX):
        return None
    token = BackendToken.objects.select_related("client__user", "client__organization").filter(
        token_hash=sha256_hex(raw), expires_at__gt=timezone.now(), client__revoked_at__isnull=True).first()
    if token is None:
        return None
    return BackendAccess(client_actor(token.client, ip=ip, user_agent=user_agent), tuple(token.scopes.split()),
                         token.client)


def smart_configuration(token_url: str) -> dict[str, Any]:
    from openkap.fhir.framework import REGISTRY

    return {
        "token_endpoint": token_url,
        "grant_types_supported": ["client_credentials"],
        "token_endpoint_auth_methods_supported": ["private_key_jwt"],
        "token_endpoint_auth_signing_alg_values_supported": list(ALGORITHMS),
        "scopes_supported": [f"system/{name}.{letters}" for name, rt in sorted(REGISTRY.items())
                             for letters in _letters(rt)] + ["system/*.rs"],
        "capabilities": ["client-confidential-asymmetric", "permission-v1", "permission-v2"],
    }


def _letters(rt: Any) -> list[str]:
    letters = ("c" if rt.create else "") + ("r" if rt.read else "") + ("u" if rt.update else "") + (
        "s" if rt.search else "")
    return [letters] if letters else []
