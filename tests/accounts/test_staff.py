import pytest
from django.core import mail
from django.core.exceptions import PermissionDenied, ValidationError
from django.test import Client
from django.urls import reverse

from openkap.accounts import services
from openkap.accounts.models import ApiToken, Invitation, Membership, Site
from openkap.core.authz import Role


def test_admin_invites_staff_and_the_link_creates_the_account(
    admin, org, as_actor, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        invitation, token = services.staff_invite(
            by=as_actor(admin, org), email="New.Nurse@Test.org", full_name="New Nurse", role="nurse"
        )
    assert invitation.email == "new.nurse@test.org"
    assert len(mail.outbox) == 1
    assert token in mail.outbox[0].body
    assert Invitation.objects.get().token_hash != token  # only the hash is stored
    response = Client().post(
        reverse("accounts:invitation_accept", args=[token]),
        {"password": "a long enough passphrase", "password_again": "a long enough passphrase"},
    )
    assert response.status_code == 302
    assert Membership.objects.filter(user__email="new.nurse@test.org", role=Role.NURSE, organization=org).exists()
    # The link works once.
    response = Client().get(reverse("accounts:invitation_accept", args=[token]))
    assert "cannot be used" in response.content.decode()


@pytest.mark.parametrize(
    ("fields", "error_field"),
    [
        ({"email": "not-an-email"}, "email"),
        ({"role": "patient"}, "role"),
        ({"role": "prescriber", "npi": "1234567890", "licence_number": "X", "licence_state": "NY"}, "npi"),
        ({"role": "prescriber", "npi": "1234567893", "licence_number": "", "licence_state": "NY"}, "licence_number"),
    ],
)
def test_invite_bad_input_is_refused_and_nothing_sent(admin, org, as_actor, fields, error_field):
    data = {"email": "x@test.org", "full_name": "X", "role": "therapist"} | fields
    with pytest.raises(ValidationError) as exc:
        services.staff_invite(by=as_actor(admin, org), **data)
    assert error_field in exc.value.message_dict
    assert not Invitation.objects.exists()
    assert not mail.outbox


def test_only_admins_invite(therapist, org, as_actor):
    with pytest.raises(PermissionDenied):
        services.staff_invite(by=as_actor(therapist, org), email="a@b.org", full_name="A", role="nurse")


@pytest.mark.parametrize(
    ("dea", "ok"), [("AB1234563", True), ("AB1234564", False), ("A1234563", False)]
)
def test_site_dea_number_is_validated(admin, org, as_actor, dea, ok):
    call = lambda: services.site_create(  # noqa: E731
        by=as_actor(admin, org), name="Second", address_line1="2 Main", city="Troy", state="NY",
        postal_code="12180", dea_registration=dea,
    )
    if ok:
        assert call().dea_registration == dea
    else:
        with pytest.raises(ValidationError) as exc:
            call()
        assert "dea_registration" in exc.value.message_dict
        assert not Site.objects.filter(name="Second").exists()


def test_site_form_shows_the_error_next_to_the_field(admin, client_for):
    response = client_for(admin).post(
        reverse("accounts:sites"),
        {"form": "site", "site-name": "X", "site-address_line1": "1", "site-city": "Y", "site-state": "NY",
         "site-postal_code": "12345", "site-dea_registration": "AB1234564"},
    )
    assert response.status_code == 200
    assert "check digit" in response.content.decode()
    assert not Site.objects.filter(name="X").exists()


def test_api_token_is_shown_once_stored_hashed_and_revocable(therapist, org, as_actor):
    token, raw = services.api_token_create(by=as_actor(therapist, org), name="script")
    assert raw.startswith("okap_")
    assert token.token_hash != raw
    assert services.api_token_authenticate(raw).id == token.id
    services.api_token_revoke(by=as_actor(therapist, org), token_id=token.id)
    assert services.api_token_authenticate(raw) is None
    assert ApiToken.objects.get().revoked_at is not None


def test_a_user_cannot_revoke_someone_elses_token(therapist, nurse, org, as_actor, client_for):
    token, _ = services.api_token_create(by=as_actor(therapist, org), name="mine")
    response = client_for(nurse).post(reverse("accounts:api_token_revoke", args=[token.id]))
    assert response.status_code == 404
    token.refresh_from_db()
    assert token.revoked_at is None


def test_wrong_signature_password_is_audited_although_the_transaction_rolls_back(
    prescriber, nurse, org, as_actor, settings
):
    from django.db import transaction

    from openkap.audit.models import AuditAction, AuditEvent
    from openkap.audit.services import AuditedRefusal, record_refusal
    from tests.conftest import PASSWORD

    by = as_actor(prescriber, org)
    with pytest.raises(AuditedRefusal) as exc, transaction.atomic():
        services.confirm_password(by=by, user=nurse, password="wrong", purpose="witness")
    assert "Nell Nurse's password" in exc.value.message_dict["password"][0]
    assert not AuditEvent.objects.filter(action=AuditAction.LOGIN_FAILED).exists()
    record_refusal(exc.value)
    record_refusal(exc.value)  # recorded once, however many handlers see it
    event = AuditEvent.objects.get(action=AuditAction.LOGIN_FAILED)
    assert (event.actor_email, event.detail["at_screen_of"]) == (nurse.email, prescriber.email)
    services.confirm_password(by=by, user=prescriber, password=PASSWORD, purpose="signature")

    settings.LOGIN_MAX_FAILURES_PER_ACCOUNT = 1
    with pytest.raises(ValidationError) as exc:
        services.confirm_password(by=by, user=nurse, password=PASSWORD, purpose="witness")
    assert exc.value.message_dict["password"] == [services.SIGNING_LOCKED_MESSAGE]
