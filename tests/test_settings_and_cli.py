import os
import subprocess
import sys

import pytest
from django.core.management import call_command

from openkap.accounts.models import Membership, User
from openkap.demo import seed_demo
from openkap.patients.models import Patient


def _settings_import(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if k not in {"SECRET_KEY", "DEBUG", "OPENKAP_DEMO"}}
    return subprocess.run(
        [sys.executable, "-c", "import openkap.settings"], env=clean | env, capture_output=True, text=True
    )


def test_production_refuses_to_start_without_a_secret_key():
    result = _settings_import({"DEBUG": "false"})
    assert result.returncode != 0
    assert "SECRET_KEY must be set" in result.stderr


def test_production_starts_with_a_long_secret_key():
    assert _settings_import({"DEBUG": "false", "SECRET_KEY": "k" * 50}).returncode == 0


def test_demo_mode_is_refused_in_production():
    result = _settings_import({"DEBUG": "false", "SECRET_KEY": "k" * 50, "OPENKAP_DEMO": "true"})
    assert "only allowed with DEBUG=true" in result.stderr


def test_bad_boolean_is_a_clear_error():
    result = _settings_import({"DEBUG": "maybe"})
    assert "DEBUG must be true or false" in result.stderr


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


def test_seed_demo_is_idempotent(db):
    first = seed_demo(patients=30)
    second = seed_demo(patients=30)
    assert (first.created_patients, second.created_patients) == (30, 0)
    assert Patient.objects.count() == 30
    assert User.objects.filter(email__endswith="@demo.openkap.org").count() == 6
    assert Membership.objects.filter(organization=first.organization).count() == 6
    assert Patient.objects.exclude(user=None).count() == 1


def test_seed_demo_tops_up_to_the_requested_total(db):
    seed_demo(patients=10)
    report = seed_demo(patients=25)
    assert report.created_patients == 15
    assert len(set(Patient.objects.values_list("mrn", flat=True))) == 25


def test_seed_command_prints_the_logins(db, capsys):
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
