"""Issue 13, finding 1: the TOTP step had no throttle (400 wrong codes in 12 s, then the
right one accepted) and recovery codes were stored as unsalted SHA-256."""

import hashlib
from datetime import timedelta

import pyotp
from django.db import connection
from django.test import Client, override_settings
from django.urls import reverse
from django.utils import timezone

from openkap.accounts import services
from openkap.accounts.models import RecoveryCode, User
from openkap.audit.models import AuditAction, AuditEvent
from tests.conftest import PASSWORD


def _signed_in_past_password(user: User) -> Client:
    client = Client()
    response = client.post(reverse("accounts:login"), {"email": user.email, "password": PASSWORD})
    assert response.status_code == 302
    return client


def _enrol(user: User) -> list[str]:
    secret = services.mfa_begin_enrolment(user=user)
    return services.mfa_confirm_enrolment(user=user, code=pyotp.TOTP(secret).now())


def _wrong(client: Client, code: str = "000000"):
    return client.post(reverse("accounts:mfa_verify"), {"code": code})


def _right_code(user: User) -> str:
    user.refresh_from_db()
    return pyotp.TOTP(user.totp_secret).at(timezone.now() + timedelta(seconds=30))


@override_settings(MFA_MAX_FAILURES_PER_SESSION=3, LOGIN_MAX_FAILURES_PER_ACCOUNT=100)
def test_wrong_codes_end_the_session_and_the_password_is_asked_again(therapist):
    _enrol(therapist)
    client = _signed_in_past_password(therapist)
    for _ in range(2):
        assert "not right" in _wrong(client).content.decode()
    response = _wrong(client)
    assert response.status_code == 302
    assert response.url.startswith(reverse("accounts:login"))
    assert "_auth_user_id" not in client.session
    # The right code is no use without the password again.
    response = client.post(reverse("accounts:mfa_verify"), {"code": _right_code(therapist)})
    assert response.status_code == 302
    assert response.url.startswith(reverse("accounts:login"))


@override_settings(MFA_MAX_FAILURES_PER_SESSION=100, LOGIN_MAX_FAILURES_PER_ACCOUNT=5)
def test_mfa_failures_count_toward_the_account_lock_out(therapist):
    """The probe's attack: many wrong codes, then the right one. The account locks after
    a small number and the right code is then refused too."""
    _enrol(therapist)
    client = _signed_in_past_password(therapist)
    for _ in range(4):
        _wrong(client)
    response = _wrong(client)
    therapist.refresh_from_db()
    assert therapist.locked_until is not None
    assert therapist.locked_until > timezone.now()
    assert response.status_code == 302
    assert AuditEvent.objects.filter(action=AuditAction.LOCKED_OUT, object_id=str(therapist.id)).count() == 1
    # A fresh session gets no further: the password step says locked.
    again = Client()
    response = again.post(reverse("accounts:login"), {"email": therapist.email, "password": PASSWORD})
    assert services.LOCKED_MESSAGE in response.content.decode()
    assert not services.mfa_verify(user=therapist, code=_right_code(therapist)).ok


@override_settings(MFA_MAX_FAILURES_PER_SESSION=100, LOGIN_MAX_FAILURES_PER_ACCOUNT=3)
def test_wrong_recovery_codes_count_like_wrong_totp_codes(therapist):
    codes = _enrol(therapist)
    client = _signed_in_past_password(therapist)
    for guess in ("aaaaaa-bbbbbb", "cccccc-dddddd", "eeeeee-ffffff"):
        _wrong(client, guess)
    therapist.refresh_from_db()
    assert therapist.locked_until is not None
    assert not services.mfa_verify(user=therapist, code=codes[0]).ok
    assert RecoveryCode.objects.filter(user=therapist, used_at__isnull=False).count() == 0


@override_settings(MFA_MAX_FAILURES_PER_SESSION=100, LOGIN_MAX_FAILURES_PER_ACCOUNT=5)
def test_password_and_code_failures_add_up(therapist):
    _enrol(therapist)
    for _ in range(3):
        Client().post(reverse("accounts:login"), {"email": therapist.email, "password": "wrong"})
    client = _signed_in_past_password(therapist)
    _wrong(client)
    _wrong(client)
    therapist.refresh_from_db()
    assert therapist.locked_until is not None


def test_recovery_codes_are_stored_as_a_keyed_hmac_not_a_bare_sha256(therapist):
    codes = _enrol(therapist)
    with connection.cursor() as cursor:
        cursor.execute("SELECT code_hash FROM accounts_recoverycode WHERE user_id = %s", [therapist.id])
        stored = {row[0] for row in cursor.fetchall()}
    assert len(stored) == len(codes)
    for code in codes:
        assert hashlib.sha256(code.encode()).hexdigest() not in stored
    # Another key (a stolen dump without SECRET_KEY) does not reproduce the stored values.
    with override_settings(SECRET_KEY="another-key-entirely-0123456789-abcdefghij"):
        assert services._recovery_code_digest(therapist.id, codes[0]) not in stored
    assert services._recovery_code_digest(therapist.id, codes[0]) in stored
    assert services.mfa_verify(user=therapist, code=codes[0]).ok


def test_recovery_codes_survive_a_secret_key_rotation_through_fallbacks(therapist, settings):
    codes = _enrol(therapist)
    old = settings.SECRET_KEY
    settings.SECRET_KEY = "a-new-secret-key-after-rotation-0123456789-xyz"
    settings.SECRET_KEY_FALLBACKS = [old]
    assert services.mfa_verify(user=therapist, code=codes[1]).ok


def test_migration_converts_stored_sha256_codes_to_the_hmac(therapist):
    from django.db.migrations.loader import MigrationLoader

    from openkap.core.digest import sha256_hex

    code = "abc123-def456"
    RecoveryCode.objects.create(user=therapist, code_hash=sha256_hex(code))  # the old format
    loader = MigrationLoader(connection)
    migration = loader.get_migration("accounts", "0003_recovery_codes_hmac")
    state = loader.project_state(("accounts", "0002_encrypt_totp_secrets"))
    migration.operations[0].code(state.apps, None)  # data only: no schema editor needed
    assert RecoveryCode.objects.get(user=therapist).code_hash == services._recovery_code_digest(therapist.id, code)
    assert services.mfa_verify(user=therapist, code=code).ok
