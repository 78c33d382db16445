import os
import re
import secrets
import subprocess
import sys

import pytest
from cryptography.fernet import Fernet
from django.apps import apps
from django.core.management import call_command

from openkap.accounts.models import Membership, User
from openkap.demo import seed_demo
from openkap.patients.models import Patient
from tests.conftest import DEMO_PATIENTS

# Production needs these, and nothing else, to start: each refusal case removes or spoils one.
SECRET = "s3cr3t-" + "x" * 25  # 32 characters, the minimum
FIELD_KEY = Fernet.generate_key().decode()
PRODUCTION = {"DEBUG": "false", "SECRET_KEY": SECRET, "OPENKAP_FIELD_KEYS": FIELD_KEY}


def _start(env: dict[str, str], tmp_path, *command: str) -> subprocess.CompletedProcess[str]:
    """Start Django (or run an ``openkap`` command) in a fresh process with exactly this
    environment: nothing leaks in from the test run (tests/settings.py sets keys)."""
    argv = ["-m", "openkap.cli", *command] if command else ["-c", "import django; django.setup()"]
    base = {"PATH": os.environ.get("PATH", ""), "DJANGO_SETTINGS_MODULE": "openkap.settings",
            "OPENKAP_VAR_DIR": str(tmp_path)}
    return subprocess.run([sys.executable, *argv], env=base | env, capture_output=True, text=True,
                          check=False, cwd=tmp_path)


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"DEBUG": "false", "OPENKAP_FIELD_KEYS": FIELD_KEY}, "SECRET_KEY must be set"),
        ({**PRODUCTION, "SECRET_KEY": ""}, "SECRET_KEY must be set"),
        ({**PRODUCTION, "SECRET_KEY": SECRET[:-1]}, "at least 32 characters"),
        ({"DEBUG": "false", "SECRET_KEY": SECRET}, "OPENKAP_FIELD_KEYS must be set"),
        ({**PRODUCTION, "OPENKAP_FIELD_KEYS": " , "}, "OPENKAP_FIELD_KEYS must be set"),
        ({**PRODUCTION, "OPENKAP_FIELD_KEYS": "not-a-key"}, "OPENKAP_FIELD_KEYS entry 1 is not a Fernet key"),
        ({**PRODUCTION, "OPENKAP_FIELD_KEYS": FIELD_KEY[:-2]}, "OPENKAP_FIELD_KEYS entry 1 is not a Fernet key"),
        ({**PRODUCTION, "OPENKAP_FIELD_KEYS": f"{FIELD_KEY},{FIELD_KEY[:20]}"},
         "OPENKAP_FIELD_KEYS entry 2 is not a Fernet key"),
        ({**PRODUCTION, "OPENKAP_DEMO": "true"}, "OPENKAP_DEMO=true is only allowed with DEBUG=true"),
        ({"OPENKAP_DEMO": "true"}, "OPENKAP_DEMO=true is only allowed with DEBUG=true"),  # DEBUG is off by default
        ({"DEBUG": "maybe"}, "DEBUG must be true or false"),
        ({**PRODUCTION, "DATABASE_SQLITE_SYNCHRONOUS": "OFF"}, "DATABASE_SQLITE_SYNCHRONOUS must be FULL"),
    ],
    ids=["no-secret-key", "empty-secret-key", "short-secret-key", "no-field-keys", "blank-field-keys",
         "malformed-field-key", "truncated-field-key", "second-field-key-malformed", "demo-in-production",
         "demo-without-debug", "bad-boolean", "sqlite-synchronous-off"],
)
def test_production_refuses_to_start_without_its_secrets(env, message, tmp_path):
    result = _start(env, tmp_path)
    assert result.returncode == 1
    assert "django.core.exceptions.ImproperlyConfigured: " in result.stderr
    assert message in result.stderr


def test_a_correct_production_environment_starts_and_passes_the_deploy_check(tmp_path):
    assert _start(PRODUCTION, tmp_path).returncode == 0
    # Django's deploy check wants a longer, more varied key than the 32 characters we insist on.
    env = {**PRODUCTION, "SECRET_KEY": secrets.token_urlsafe(50), "ALLOWED_HOSTS": "clinic.example.org",
           "BEHIND_TLS_PROXY": "true", "SECURE_SSL_REDIRECT": "true", "SECURE_HSTS_SECONDS": "31536000"}
    result = _start(env, tmp_path, "check", "--deploy")
    assert result.returncode == 0, result.stderr
    # Left: HSTS for subdomains and preload, which are each clinic's choice, not a setting.
    assert set(re.findall(r"\((security\.W\d+)\)", result.stderr)) <= {"security.W005", "security.W021"}


def test_development_needs_no_secrets(tmp_path):
    assert _start({"DEBUG": "true"}, tmp_path).returncode == 0
    assert _start({"DEBUG": "true", "OPENKAP_DEMO": "true"}, tmp_path).returncode == 0


def test_sqlite_runs_in_wal_mode(db, tmp_path):
    from django.db import connection
    from django.db.backends.sqlite3.base import DatabaseWrapper

    if connection.vendor != "sqlite":
        pytest.skip("SQLite only")
    # The test database is in memory (no WAL there); open a file database with the same options.
    wrapper = DatabaseWrapper({**connection.settings_dict, "NAME": str(tmp_path / "wal.sqlite3")})
    try:
        wrapper.ensure_connection()
        assert wrapper.connection.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    finally:
        wrapper.close()


@pytest.mark.parametrize(("value", "expected"), [(None, 2), ("normal", 1)], ids=["default-full", "normal"])
def test_sqlite_commits_reach_the_disk_unless_told_otherwise(value, expected, tmp_path):
    """PRAGMA synchronous: 2 is FULL (each commit synced to disk), 1 NORMAL (ADR 0092)."""
    env = {"PATH": os.environ.get("PATH", ""), "DJANGO_SETTINGS_MODULE": "openkap.settings", "DEBUG": "true",
           "OPENKAP_VAR_DIR": str(tmp_path), "DATABASE_URL": f"sqlite:///{tmp_path / 'sync.sqlite3'}"}
    if value is not None:
        env["DATABASE_SQLITE_SYNCHRONOUS"] = value
    code = ("import django; django.setup(); from django.db import connection; connection.ensure_connection(); "
            "print(connection.connection.execute('PRAGMA synchronous').fetchone()[0])")
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=False,
                            cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(expected)


def _row_counts() -> dict[str, int]:
    return {model._meta.label: model._default_manager.count() for model in apps.get_models()}


def test_seed_demo_is_idempotent(demo_clinic, db):
    first = demo_clinic.report
    assert first.created_patients == DEMO_PATIENTS
    assert Patient.objects.filter(organization=first.organization).count() == DEMO_PATIENTS
    # Six staff (two of them nurses) and the portal patient.
    assert User.objects.filter(email__endswith="@demo.openkap.org").count() == 7
    assert Membership.objects.filter(organization=first.organization).count() == 7
    assert Patient.objects.filter(organization=first.organization).exclude(user=None).count() == 1
    before = _row_counts()
    second = seed_demo(patients=DEMO_PATIENTS)
    assert second.created_patients == 0
    assert _row_counts() == before  # not a row more in any table


def test_seed_demo_tops_up_to_the_requested_total(demo_clinic, db):
    org = demo_clinic.report.organization
    report = seed_demo(patients=DEMO_PATIENTS + 5)
    assert report.created_patients == 5
    assert len(set(Patient.objects.filter(organization=org).values_list("mrn", flat=True))) == DEMO_PATIENTS + 5


def test_seed_command_prints_the_logins(demo_clinic, db, capsys, settings):
    settings.DEBUG = settings.DEMO_MODE = True
    call_command("seed_demo", "--patients", "3")
    out = capsys.readouterr().out
    assert "therapist@demo.openkap.org" in out
    assert "demo-password-2026" in out


def test_openkap_command_runs_django_commands_with_dashes():
    result = subprocess.run(
        [sys.executable, "-m", "openkap.cli", "seed-demo", "--help"], capture_output=True, text=True,
        env={**os.environ, "DEBUG": "true"},
    )
    assert result.returncode == 0
    assert "Demo KAP Clinic" in result.stdout
