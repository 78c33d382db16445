"""TOTP secrets are encrypted at rest (docs/adr/0005-field-encryption.md): the raw
column holds a Fernet token, enrolment and verification still work, rotation keeps
them working, and the migration converts existing plaintext secrets both ways."""

import re
from datetime import timedelta

import pyotp
import pytest
from cryptography.fernet import Fernet, InvalidToken
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command
from django.db import connection
from django.db.migrations.loader import MigrationLoader
from django.test import Client, override_settings
from django.urls import reverse
from django.utils import timezone

from openkap.accounts import services
from openkap.accounts.models import RecoveryCode, User
from openkap.accounts.selectors import DEMO_PASSWORD
from openkap.audit.models import AuditAction, AuditEvent

BASE32_SECRET = re.compile(r"[A-Z2-7]{32}")  # pyotp.random_base32() is 32 characters


def _raw_row(user_id: int) -> dict[str, object]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM accounts_user WHERE id = %s", [user_id])
        names = [col[0] for col in cursor.description]
        return dict(zip(names, cursor.fetchone(), strict=True))


def _code(secret: str, seconds_from_now: int = 0) -> str:
    return pyotp.TOTP(secret).at(timezone.now() + timedelta(seconds=seconds_from_now))


def _enrolled(user: User) -> tuple[str, list[str]]:
    """The secret and the recovery codes of a completed enrolment."""
    secret = services.mfa_begin_enrolment(user=user)
    return secret, services.mfa_confirm_enrolment(user=user, code=_code(secret))


def test_the_users_table_holds_no_base32_secret(therapist, settings):
    secret = services.mfa_begin_enrolment(user=therapist)
    assert BASE32_SECRET.fullmatch(secret)
    row = _raw_row(therapist.id)
    assert "totp_secret" not in row  # the plaintext column is gone
    raw = str(row["totp_secret_encrypted"])
    assert raw.startswith("gAAAAA")  # a Fernet token
    assert secret not in str(row)
    assert not BASE32_SECRET.search(str(row))
    # Decrypting with the configured key, outside the app's code, gives the secret back.
    assert Fernet(settings.OPENKAP_FIELD_KEYS[0]).decrypt(raw.encode()).decode() == secret


def test_the_fixture_secret_is_not_stored_in_clear(therapist):
    # tests/conftest.py sets "JBSWY3DPEHPK3PXP" through the model property.
    assert therapist.totp_secret == "JBSWY3DPEHPK3PXP"
    assert "JBSWY3DPEHPK3PXP" not in str(_raw_row(therapist.id))


def test_a_user_without_a_secret_stores_nothing(org):
    user = User.objects.create_user("new@test.org", "long enough password 1", full_name="New")
    assert user.totp_secret == ""
    assert _raw_row(user.id)["totp_secret_encrypted"] == ""


def test_enrolment_and_verification_work_and_a_used_step_is_refused(therapist):
    secret = services.mfa_begin_enrolment(user=therapist)
    first = _code(secret)
    codes = services.mfa_confirm_enrolment(user=therapist, code=first)
    assert len(codes) == 10
    therapist.refresh_from_db()
    assert therapist.mfa_enrolled
    # The step used at enrolment cannot be replayed; the next step is accepted once.
    assert not services.mfa_verify(user=therapist, code=first).ok
    following = _code(secret, 30)
    assert services.mfa_verify(user=therapist, code=following).ok
    assert not services.mfa_verify(user=therapist, code=following).ok
    assert AuditEvent.objects.filter(action=AuditAction.MFA_FAILED, object_id=therapist.id).count() == 2


def test_recovery_codes_are_stored_only_as_hashes(therapist):
    _, codes = _enrolled(therapist)
    stored = list(RecoveryCode.objects.filter(user=therapist).values_list("code_hash", flat=True))
    assert len(stored) == 10
    assert not set(codes) & set(stored)
    assert services._recovery_code_digest(therapist.id, codes[0]) in stored


def test_rotation_re_encrypts_secrets_and_verification_keeps_working(therapist, nurse, org, settings):
    secret, _ = _enrolled(therapist)
    patient_user = User.objects.create_user("portal@test.org", "long enough password 1", full_name="P")
    old_key = settings.OPENKAP_FIELD_KEYS[0]
    new_key = Fernet.generate_key().decode()
    before = _raw_row(therapist.id)["totp_secret_encrypted"]
    with override_settings(OPENKAP_FIELD_KEYS=[new_key, old_key]):
        call_command("rotate_field_keys")
    after = str(_raw_row(therapist.id)["totp_secret_encrypted"])
    assert after != before
    assert Fernet(new_key).decrypt(after.encode()).decode() == secret
    with pytest.raises(InvalidToken):
        Fernet(old_key).decrypt(after.encode())
    assert _raw_row(patient_user.id)["totp_secret_encrypted"] == ""  # nothing to rotate
    # The two cast users with secrets (therapist, nurse) were re-encrypted and the run audited.
    event = AuditEvent.objects.get(object_type="user", actor_email="rotate-field-keys")
    assert event.detail == {"field": "totp_secret_encrypted", "re_encrypted": 2}
    with override_settings(OPENKAP_FIELD_KEYS=[new_key]):
        therapist.refresh_from_db()
        assert services.mfa_verify(user=therapist, code=_code(secret, 30)).ok


def test_a_secret_whose_key_was_removed_stops_with_a_configuration_error(therapist):
    secret, _ = _enrolled(therapist)
    with override_settings(OPENKAP_FIELD_KEYS=[Fernet.generate_key().decode()]):
        therapist.refresh_from_db()
        with pytest.raises(ImproperlyConfigured, match="retired key"):
            services.mfa_verify(user=therapist, code=_code(secret, 30))


@pytest.mark.django_db(transaction=True)
def test_migration_encrypts_existing_plaintext_secrets_and_reverses(settings):
    # The migration's own operations, run on states of accounts and its dependencies only
    # (the executor would re-render every app's migrations, which takes minutes).
    loader = MigrationLoader(connection)
    migration = loader.get_migration("accounts", "0002_encrypt_totp_secrets")
    before = loader.project_state(("accounts", "0001_initial"))  # what both directions start from

    applied = True

    def run(*, forwards: bool) -> None:
        nonlocal applied
        with connection.schema_editor(atomic=migration.atomic) as editor:
            (migration.apply if forwards else migration.unapply)(before.clone(), editor)
        applied = forwards

    secret = pyotp.random_base32()
    try:
        run(forwards=False)
        OldUser = before.apps.get_model("accounts", "User")
        old = OldUser.objects.create(email="old@test.org", full_name="Old", password="!", totp_secret=secret,
                                     totp_confirmed_at=timezone.now())
        OldUser.objects.create(email="none@test.org", full_name="No MFA", password="!")

        run(forwards=True)
        raw = str(_raw_row(old.id)["totp_secret_encrypted"])
        assert secret not in raw
        assert Fernet(settings.OPENKAP_FIELD_KEYS[0]).decrypt(raw.encode()).decode() == secret
        assert User.objects.get(id=old.id).totp_secret == secret
        assert User.objects.get(email="none@test.org").totp_secret_encrypted == ""

        run(forwards=False)
        assert _raw_row(old.id)["totp_secret"] == secret
    finally:
        if not applied:
            run(forwards=True)  # later tests need the current schema


def test_demo_users_sign_in_with_the_code_shown_on_screen(demo_clinic, db):
    therapist = User.objects.get(email="therapist@demo.openkap.org")
    assert not BASE32_SECRET.search(str(_raw_row(therapist.id)))
    client = Client()
    with override_settings(DEMO_MODE=True):
        response = client.post(reverse("accounts:login"), {"email": therapist.email, "password": DEMO_PASSWORD},
                               REMOTE_ADDR="10.0.0.1")
        assert response.status_code == 302
        page = client.get(reverse("accounts:mfa_verify"))
        shown = re.search(r'data-testid="demo-code">(\d{6})<', page.content.decode())
        assert shown is not None
        # The code of the current step (or of the one that just ended) of the stored secret.
        assert shown.group(1) in {_code(therapist.totp_secret), _code(therapist.totp_secret, -30)}
        assert client.post(reverse("accounts:mfa_verify"), {"code": shown.group(1)}).status_code == 302
    assert client.get(reverse("patients:list")).status_code == 200
