"""Issue 13, finding 7: HSTS and the TLS redirect off behind the recommended proxy;
API responses to bearer tokens cacheable; two OpenAPI schemas named PreparationOut."""

import json
import secrets

from django.test import Client

from openkap.accounts import services as account_services
from tests.test_settings_and_cli import PRODUCTION, _start

SHOW = "from django.conf import settings as s; print(json.dumps([s.SECURE_SSL_REDIRECT, s.SECURE_HSTS_SECONDS]))"


def _tls_settings(tmp_path, **env):
    import subprocess
    import sys

    result = subprocess.run(
        [sys.executable, "-c", f"import django, json; django.setup(); {SHOW}"],
        env={"PATH": "/usr/bin:/bin", "DJANGO_SETTINGS_MODULE": "openkap.settings", "OPENKAP_VAR_DIR": str(tmp_path),
             **PRODUCTION, **env},
        capture_output=True, text=True, check=True, cwd=tmp_path,
    )
    return json.loads(result.stdout)


def test_behind_a_tls_proxy_hsts_and_the_redirect_are_on_by_default(tmp_path):
    assert _tls_settings(tmp_path, BEHIND_TLS_PROXY="true") == [True, 31536000]


def test_each_can_be_turned_off_explicitly(tmp_path):
    assert _tls_settings(tmp_path, BEHIND_TLS_PROXY="true", SECURE_SSL_REDIRECT="false",
                         SECURE_HSTS_SECONDS="0") == [False, 0]
    assert _tls_settings(tmp_path) == [False, 0]  # no proxy declared: plain HTTP development


def test_the_deploy_guide_environment_passes_the_deploy_check_cleanly(tmp_path):
    env = {**PRODUCTION, "SECRET_KEY": secrets.token_urlsafe(50), "ALLOWED_HOSTS": "clinic.example.org",
           "BEHIND_TLS_PROXY": "true", "SECURE_HSTS_INCLUDE_SUBDOMAINS": "true", "SECURE_HSTS_PRELOAD": "true"}
    result = _start(env, tmp_path, "check", "--deploy")
    assert result.returncode == 0, result.stderr
    assert "System check identified no issues" in result.stdout, result.stderr


def test_api_responses_to_a_bearer_token_are_not_stored(therapist, org, as_actor):
    token = account_services.api_token_create(by=as_actor(therapist, org), name="t")[1]
    response = Client().get("/api/v1/me", HTTP_AUTHORIZATION=f"Bearer {token}")
    assert response.status_code == 200
    assert response["Cache-Control"] == "no-store"
    # A refusal too: it says which tokens are not valid.
    assert Client().get("/api/v1/me", HTTP_AUTHORIZATION="Bearer nope")["Cache-Control"] == "no-store"


def test_no_two_api_schemas_share_a_name(db):
    """django-ninja names components by class name: two classes of one name silently
    document one endpoint with the other's schema."""
    from ninja import Schema

    seen: dict[str, type] = {}

    def walk(cls: type) -> None:
        for sub in cls.__subclasses__():
            if sub.__module__.startswith("openkap."):
                assert seen.setdefault(sub.__name__, sub) is sub, (
                    f"{sub.__name__} is defined in {seen[sub.__name__].__module__} and {sub.__module__}"
                )
            walk(sub)

    import openkap.urls  # noqa: F401 - imports every API module

    walk(Schema)


def test_the_pathway_preparation_endpoint_documents_its_own_schema(db):
    schema = Client().get("/api/v1/openapi.json").json()
    paths = [p for p in schema["paths"] if p.startswith("/api/v1/patients/") and p.endswith("/preparation")]
    assert paths
    ref = schema["paths"][paths[0]]["get"]["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
    props = schema["components"]["schemas"][ref.rsplit("/", 1)[1]]["properties"]
    assert "sessions" in props
    assert "lot_id" not in props  # a field of the dosing preparation
