from datetime import timedelta

import pyotp
import pytest
from django.core import mail
from django.test import Client, override_settings
from django.urls import reverse
from django.utils import timezone

from openkap.accounts import services
from openkap.accounts.middleware import SESSION_MFA_KEY
from openkap.accounts.models import User
from openkap.audit.models import AuditAction, AuditEvent
from tests.conftest import PASSWORD


def _login(client: Client, email: str, password: str, ip: str = "10.0.0.1"):
    return client.post(reverse("accounts:login"), {"email": email, "password": password}, REMOTE_ADDR=ip)


def test_login_wrong_password_gives_one_message_and_is_audited(therapist):
    response = _login(Client(), therapist.email, "wrong")
    assert response.status_code == 200
    assert services.BAD_CREDENTIALS_MESSAGE in response.content.decode()
    assert AuditEvent.objects.filter(action=AuditAction.LOGIN_FAILED, actor_email=therapist.email).count() == 1


def test_login_unknown_email_gives_the_same_message(db):
    response = _login(Client(), "nobody@test.org", "whatever")
    assert services.BAD_CREDENTIALS_MESSAGE in response.content.decode()


def test_staff_login_goes_to_mfa_before_any_page(therapist, patient):
    client = Client()
    response = _login(client, therapist.email, PASSWORD)
    assert response.status_code == 302
    response = client.get(reverse("patients:chart", args=[patient.id]))
    assert response.status_code == 302
    assert response.url == reverse("accounts:mfa_setup")  # the cast has an unconfirmed secret


def test_mfa_enrolment_then_verification_with_totp(therapist, settings):
    client = Client()
    _login(client, therapist.email, PASSWORD)
    client.get(reverse("accounts:mfa_setup"))
    therapist.refresh_from_db()
    code = pyotp.TOTP(therapist.totp_secret).now()
    response = client.post(reverse("accounts:mfa_setup"), {"code": code})
    assert response.status_code == 200
    codes = response.context["codes"]
    assert len(codes) == 10
    therapist.refresh_from_db()
    assert therapist.mfa_enrolled
    assert client.get(reverse("patients:list")).status_code == 200

    # A new sign-in asks for the code; a reused code (replay) is refused.
    second = Client()
    _login(second, therapist.email, PASSWORD)
    assert second.get(reverse("patients:list")).url == reverse("accounts:mfa_verify")
    response = second.post(reverse("accounts:mfa_verify"), {"code": code})
    assert "not right" in response.content.decode()
    # A recovery code works once.
    assert second.post(reverse("accounts:mfa_verify"), {"code": codes[0]}).status_code == 302
    assert second.get(reverse("patients:list")).status_code == 200
    third = Client()
    _login(third, therapist.email, PASSWORD)
    response = third.post(reverse("accounts:mfa_verify"), {"code": codes[0]})
    assert response.status_code == 200
    assert AuditEvent.objects.filter(action=AuditAction.MFA_RECOVERY_USED).count() == 1
    assert AuditEvent.objects.filter(action=AuditAction.MFA_FAILED).count() == 2


def test_wrong_mfa_code_at_enrolment_changes_nothing(therapist):
    client = Client()
    _login(client, therapist.email, PASSWORD)
    client.get(reverse("accounts:mfa_setup"))
    response = client.post(reverse("accounts:mfa_setup"), {"code": "000000"})
    assert "not right" in response.content.decode()
    therapist.refresh_from_db()
    assert not therapist.mfa_enrolled


@override_settings(LOGIN_MAX_FAILURES_PER_ACCOUNT=3)
def test_account_locks_after_repeated_failures_and_admin_unlocks(therapist, admin, org, as_actor):
    client = Client()
    for _ in range(3):
        _login(client, therapist.email, "wrong")
    therapist.refresh_from_db()
    assert therapist.locked_until is not None
    response = _login(client, therapist.email, PASSWORD)
    assert services.LOCKED_MESSAGE in response.content.decode()
    assert not response.wsgi_request.user.is_authenticated

    services.user_unlock(by=as_actor(admin, org), user_id=therapist.id)
    response = _login(client, therapist.email, PASSWORD)
    assert response.status_code == 302
    assert AuditEvent.objects.filter(action=AuditAction.LOCKED_OUT).count() == 1
    assert AuditEvent.objects.filter(action=AuditAction.UNLOCK).count() == 1


@override_settings(LOGIN_MAX_FAILURES_PER_IP=4, LOGIN_MAX_FAILURES_PER_ACCOUNT=100, LOGIN_BACKOFF_BASE_SECONDS=600)
def test_client_address_must_wait_after_failures_across_accounts(therapist, nurse):
    client = Client()
    for i in range(4):
        _login(client, f"guess{i}@test.org", "x", ip="10.9.9.9")
    response = _login(client, nurse.email, PASSWORD, ip="10.9.9.9")
    assert "Too many failed sign-in attempts from this network. Wait" in response.content.decode()
    # Another address is not affected.
    assert _login(Client(), nurse.email, PASSWORD, ip="10.1.1.1").status_code == 302


def test_lock_expires(therapist):
    therapist.locked_until = timezone.now() - timedelta(seconds=1)
    therapist.save()
    assert _login(Client(), therapist.email, PASSWORD).status_code == 302


@override_settings(IDLE_TIMEOUT_SECONDS=60)
def test_idle_session_is_signed_out(therapist, client_for):
    client = client_for(therapist)
    assert client.get(reverse("patients:list")).status_code == 200
    session = client.session
    session["last_activity"] = session["last_activity"] - 61
    session.save()
    response = client.get(reverse("patients:list"))
    assert response.status_code == 302
    assert response.url.startswith(reverse("accounts:login"))
    assert "_auth_user_id" not in client.session


def test_password_reset_by_email(therapist):
    client = Client()
    client.post(reverse("accounts:password_reset"), {"email": therapist.email})
    assert len(mail.outbox) == 1
    link = next(line for line in mail.outbox[0].body.splitlines() if "/accounts/reset/" in line)
    path = link.split("testserver", 1)[1]
    response = client.get(path, follow=True)
    form_url = response.redirect_chain[-1][0]
    new = "a much better passphrase 42"
    response = client.post(form_url, {"new_password1": new, "new_password2": new})
    assert response.status_code == 302
    assert User.objects.get(pk=therapist.pk).check_password(new)
    assert AuditEvent.objects.filter(action=AuditAction.PASSWORD_RESET).count() == 1


def test_password_is_hashed_with_argon2_in_production_settings():
    import importlib

    prod = importlib.import_module("openkap.settings")
    assert prod.PASSWORD_HASHERS[0].endswith("Argon2PasswordHasher")


def test_session_marks_mfa_only_after_second_step(therapist):
    client = Client()
    _login(client, therapist.email, PASSWORD)
    assert client.session[SESSION_MFA_KEY] is False


@pytest.mark.parametrize("path", ["/patients/", "/admin/staff/"])  # "/" is the public site (tests/site)
def test_anonymous_is_sent_to_login(db, path):
    response = Client().get(path)
    assert response.status_code == 302
    assert "/accounts/login/" in response.url


def test_patient_sees_the_crisis_resources_on_their_home_page(org, client_for):
    from openkap.core.authz import Role
    from tests.conftest import make_user

    user = make_user("pat@test.org", "Pat Patient", org, Role.PATIENT)
    html = client_for(user).get("/").content.decode()
    assert "988" in html
    assert "Patients" not in html  # no staff navigation


@override_settings(IDLE_TIMEOUT_SECONDS=60)
def test_background_refreshes_do_not_keep_an_idle_session_alive(therapist, client_for):
    client = client_for(therapist)
    client.get(reverse("patients:list"))
    session = client.session
    session["last_activity"] -= 45
    session.save()
    client.get(reverse("patients:list"), HTTP_X_BACKGROUND_REFRESH="1")
    session = client.session
    session["last_activity"] -= 20
    session.save()
    response = client.get(reverse("patients:list"), HTTP_X_BACKGROUND_REFRESH="1", HTTP_HX_REQUEST="true")
    assert response.status_code == 204
    assert response["HX-Redirect"].startswith(reverse("accounts:login"))
