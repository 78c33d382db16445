"""Writes for accounts: login with throttling, MFA, invitations, API tokens, sites.

Every function takes keyword arguments, runs in one transaction, checks the
actor's permission and writes its audit row in the same transaction.
"""

from __future__ import annotations

import math
import secrets
from dataclasses import dataclass
from datetime import timedelta

import pyotp
from django.conf import settings
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.mail import send_mail
from django.core.validators import validate_email
from django.db import transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.crypto import salted_hmac

from openkap.accounts.authz import Actor, require
from openkap.accounts.models import (
    ApiToken,
    Invitation,
    Membership,
    RecoveryCode,
    Room,
    Site,
    User,
)
from openkap.audit.models import AuditAction, AuditEvent
from openkap.audit.services import AuditedRefusal, audit_record
from openkap.core.authz import STAFF_ROLES, Perm, Role
from openkap.core.digest import sha256_hex
from openkap.core.identifiers import validate_dea_number, validate_npi
from openkap.core.netaddr import backoff_seconds
from openkap.dblocks import serialized

RECOVERY_CODE_COUNT = 10
INVITATION_DAYS = 7


# --- login and throttling -------------------------------------------------------


@dataclass(frozen=True)
class LoginResult:
    user: User | None
    error: str = ""


# A wrong code at the second step is a failed sign-in as much as a wrong password.
FAILURE_ACTIONS = (AuditAction.LOGIN_FAILED, AuditAction.MFA_FAILED)


def _recent_failures(**filters: object) -> int:
    since = timezone.now() - timedelta(seconds=settings.LOGIN_FAILURE_WINDOW_SECONDS)
    return AuditEvent.objects.filter(
        action__in=FAILURE_ACTIONS, occurred_at__gte=since, **filters
    ).count()


LOCKED_MESSAGE = (
    "This account is locked after too many failed sign-in attempts. "
    "Ask your clinic admin to unlock it, or try again later."
)
BACKOFF_MESSAGE = "Too many failed sign-in attempts from this network. Wait {seconds} seconds and try again."
BAD_CREDENTIALS_MESSAGE = "That email and password do not match an active account."
KNOWN_ADDRESS_DAYS = 90


def login_attempt(*, email: str, password: str, ip: str, user_agent: str) -> LoginResult:
    """Check a password with lock-out per account and back-off per client address.

    Failures are counted from the audit log, so the log is the single record of
    what happened and an admin sees the same facts that locked the account.
    """
    email = email.strip().lower()
    # One check at a time per account on every server: the lock-out counts each failure.
    with serialized(f"login:{email}"):
        wait = _address_backoff(ip=ip, email=email)
        if wait:
            _login_failed(email=email, ip=ip, user_agent=user_agent, why="ip_backoff")
            return LoginResult(None, BACKOFF_MESSAGE.format(seconds=wait))
        user = User.objects.filter(email=email).first()
        if user is not None and _is_locked(user):
            _login_failed(email=email, ip=ip, user_agent=user_agent, why="locked", user=user)
            return LoginResult(None, LOCKED_MESSAGE)
        if user is None or not user.is_active or not user.check_password(password):
            if user is None:
                # Same work as a real check, so timing does not reveal which emails exist.
                User(email=email).set_password(password)
            _login_failed(email=email, ip=ip, user_agent=user_agent, why="bad_credentials", user=user)
            if user is not None and _lock_if_too_many_failures(user, ip=ip, user_agent=user_agent):
                return LoginResult(None, LOCKED_MESSAGE)
            if user is None and _recent_failures(actor_email=email) >= settings.LOGIN_MAX_FAILURES_PER_ACCOUNT:
                # An address with no account "locks" like one, so the message reveals nothing.
                return LoginResult(None, LOCKED_MESSAGE)
            return LoginResult(None, BAD_CREDENTIALS_MESSAGE)
        return LoginResult(user)


def _address_backoff(*, ip: str, email: str) -> int:
    """Seconds this client address must still wait before a password is checked.

    Failures from the address beyond a free allowance double the wait after each one
    (openkap.core.netaddr.backoff_seconds). Attempts refused while waiting are audited
    but do not lengthen it, and an account that signed in from this address before
    is not held up at all: one machine guessing behind a clinic's shared address slows
    itself down without keeping the clinic's staff out."""
    since = timezone.now() - timedelta(seconds=settings.LOGIN_FAILURE_WINDOW_SECONDS)
    failures = AuditEvent.objects.filter(
        action__in=FAILURE_ACTIONS, occurred_at__gte=since, ip=ip
    ).exclude(detail__why="ip_backoff")
    wait = backoff_seconds(
        failures.count(), free=settings.LOGIN_MAX_FAILURES_PER_IP,
        base=settings.LOGIN_BACKOFF_BASE_SECONDS, cap=settings.LOGIN_BACKOFF_MAX_SECONDS,
    )
    if not wait or _known_address(email=email, ip=ip):
        return 0
    last = failures.order_by("-occurred_at").values_list("occurred_at", flat=True).first()
    remaining = wait - (timezone.now() - last).total_seconds() if last else 0
    return max(0, math.ceil(remaining))


def _known_address(*, email: str, ip: str) -> bool:
    since = timezone.now() - timedelta(days=KNOWN_ADDRESS_DAYS)
    return AuditEvent.objects.filter(
        action=AuditAction.LOGIN, actor_email=email, ip=ip, occurred_at__gte=since
    ).exists()


def _lock_if_too_many_failures(user: User, *, ip: str, user_agent: str) -> bool:
    """Lock the account once its recent failures (passwords and codes) reach the limit."""
    if _account_failures(user) < settings.LOGIN_MAX_FAILURES_PER_ACCOUNT:
        return False
    with transaction.atomic():
        user.locked_until = timezone.now() + timedelta(seconds=settings.ACCOUNT_LOCK_SECONDS)
        user.save(update_fields=["locked_until"])
        audit_record(
            by=None, action=AuditAction.LOCKED_OUT, object_type="user", object_id=user.id,
            actor_email=user.email, ip=ip, user_agent=user_agent,
        )
    return True


def _is_locked(user: User) -> bool:
    return bool(user.locked_until and user.locked_until > timezone.now())


def _account_failures(user: User) -> int:
    """Recent failed passwords of the account, since an admin last unlocked it."""
    filters: dict[str, object] = {"actor_email": user.email}
    if user.failures_reset_at:
        filters["occurred_at__gt"] = user.failures_reset_at
    return _recent_failures(**filters)


SIGNING_LOCKED_MESSAGE = "Too many wrong passwords: signing is locked for now. Try again later."


def confirm_password(*, by: Actor, user: User, password: str, purpose: str, field: str = "password") -> None:
    """Re-authentication for an electronic signature or a witness co-signature.

    ``user`` is the signer: the actor, or a witness typing their own password at the
    actor's screen. A wrong password counts toward that account's lock-out exactly
    like a failed sign-in, and stays in the audit log even though the signing
    transaction rolls back (see AuditedRefusal)."""
    if _account_failures(user) >= settings.LOGIN_MAX_FAILURES_PER_ACCOUNT:
        raise ValidationError({field: SIGNING_LOCKED_MESSAGE})
    if not password or not user.check_password(password):
        whose = "your" if user.pk == by.user.pk else f"{user.full_name}'s"
        raise AuditedRefusal(
            {field: f"That is not {whose} password."},
            audit={
                "by": None, "action": AuditAction.LOGIN_FAILED, "object_type": "user", "object_id": user.id,
                "organization_id": by.organization.id, "actor_email": user.email, "ip": by.ip,
                "user_agent": by.user_agent, "detail": {"why": purpose, "at_screen_of": by.user.email},
            },
        )


def reauthenticate_signer(by: Actor, password: str) -> None:
    """A signature needs the signer's password again (the shared re-authentication: a
    wrong one is refused and counts toward the account's lock-out like a failed sign-in).

    The refusal is audited at once, as the signer: callers (pathway signatures, dose
    orders, discharges, protocol approvals) check the password before their own
    transaction opens, so nothing rolls the row back."""
    try:
        confirm_password(by=by, user=by.user, password=password, purpose="signature_reauthentication")
    except AuditedRefusal as exc:
        audit_record(by=by, action=AuditAction.LOGIN_FAILED, object_type="user", object_id=by.user.id,
                     detail={"why": "signature_reauthentication"})
        exc.recorded = True
        raise


def signer_credentials(by: Actor) -> str:
    """What a prescriber's signature shows after the name: licence, state and NPI."""
    m = Membership.objects.filter(
        organization=by.organization, user=by.user, role=Role.PRESCRIBER, is_active=True
    ).first()
    if m is None:
        return ""
    parts = [p for p in (m.licence_number, f"({m.licence_state})" if m.licence_state else "") if p]
    if m.npi:
        parts.append(f"NPI {m.npi}")
    return " ".join(parts)


def _login_failed(*, email: str, ip: str, user_agent: str, why: str, user: User | None = None) -> None:
    audit_record(
        by=None,
        action=AuditAction.LOGIN_FAILED,
        object_type="user",
        object_id=user.id if user else "",
        actor_email=email,
        ip=ip,
        user_agent=user_agent,
        detail={"why": why},
    )


def login_succeeded(*, user: User, ip: str, user_agent: str) -> None:
    audit_record(
        by=None,
        action=AuditAction.LOGIN,
        object_type="user",
        object_id=user.id,
        actor_email=user.email,
        ip=ip,
        user_agent=user_agent,
    )


def user_unlock(*, by: Actor, user_id: int) -> User:
    require(by, Perm.STAFF_MANAGE)
    with transaction.atomic():
        user = User.objects.select_for_update().get(
            id=user_id, memberships__organization=by.organization
        )
        user.locked_until = None
        user.failures_reset_at = timezone.now()
        user.save(update_fields=["locked_until", "failures_reset_at"])
        audit_record(by=by, action=AuditAction.UNLOCK, object_type="user", object_id=user.id)
    return user


# --- TOTP multi-factor ----------------------------------------------------------


def mfa_begin_enrolment(*, user: User) -> str:
    """A new secret, kept unconfirmed until the user proves their app has it."""
    if user.mfa_enrolled:
        raise ValidationError("Multi-factor authentication is already set up for this account.")
    secret = pyotp.random_base32()
    user.totp_secret = secret  # stored encrypted (User.totp_secret_encrypted)
    user.save(update_fields=["totp_secret_encrypted"])
    return secret


def _verify_totp(user: User, code: str) -> bool:
    """Accept the current or adjacent 30-second step, each step only once (no replay)."""
    code = code.strip().replace(" ", "")
    secret = user.totp_secret
    if not (code.isdigit() and len(code) == 6) or not secret:
        return False
    totp = pyotp.TOTP(secret)
    now = timezone.now()
    for drift in (-1, 0, 1):
        at = now + timedelta(seconds=30 * drift)
        step = totp.timecode(at)
        if step > user.totp_last_step and secrets.compare_digest(totp.at(at), code):
            user.totp_last_step = step
            user.save(update_fields=["totp_last_step"])
            return True
    return False


def mfa_confirm_enrolment(*, user: User, code: str, ip: str = "", user_agent: str = "") -> list[str]:
    """Confirm the app's first code; returns recovery codes, shown once."""
    with transaction.atomic():
        user = User.objects.select_for_update().get(pk=user.pk)
        if user.mfa_enrolled:
            raise ValidationError("Multi-factor authentication is already set up for this account.")
        if not _verify_totp(user, code):
            raise ValidationError({"code": "That code is not right. Check your phone's clock and try the current code."})
        user.totp_confirmed_at = timezone.now()
        user.save(update_fields=["totp_confirmed_at"])
        codes = _new_recovery_codes(user)
        audit_record(
            by=None, action=AuditAction.MFA_ENROLLED, object_type="user", object_id=user.id,
            actor_email=user.email, ip=ip, user_agent=user_agent,
        )
    return codes


RECOVERY_CODE_SALT = "openkap.accounts.recovery-code"


def _recovery_code_digest(user_id: int, code: str, *, secret: str | None = None) -> str:
    """What is stored for a recovery code: an HMAC under the server's SECRET_KEY (a copy
    of the database alone cannot test guesses offline), of the user's id and the code's
    SHA-256 (the form the first codes were stored in, so migration 0003 could convert
    them without knowing the codes)."""
    inner = f"{user_id}:{sha256_hex(code.strip().lower())}"
    return salted_hmac(RECOVERY_CODE_SALT, inner, secret=secret, algorithm="sha256").hexdigest()


def _recovery_code_candidates(user_id: int, code: str) -> list[str]:
    # SECRET_KEY_FALLBACKS keep codes working while a rotated key is phased out.
    keys = [str(settings.SECRET_KEY), *map(str, settings.SECRET_KEY_FALLBACKS)]
    return [_recovery_code_digest(user_id, code, secret=key) for key in keys]


def _new_recovery_codes(user: User) -> list[str]:
    RecoveryCode.objects.filter(user=user).delete()
    codes = [f"{secrets.token_hex(3)}-{secrets.token_hex(3)}" for _ in range(RECOVERY_CODE_COUNT)]
    RecoveryCode.objects.bulk_create(
        RecoveryCode(user=user, code_hash=_recovery_code_digest(user.id, c)) for c in codes
    )
    return codes


@dataclass(frozen=True)
class MfaResult:
    ok: bool
    # The password must be asked again: the account is (now) locked.
    locked: bool = False


def mfa_verify(*, user: User, code: str, ip: str = "", user_agent: str = "") -> MfaResult:
    """A TOTP code, or a one-time recovery code (which is then spent).

    A wrong code is a failed sign-in: it counts toward the account's lock-out with
    wrong passwords, and a locked account accepts no code at all."""
    with transaction.atomic():
        user = User.objects.select_for_update().get(pk=user.pk)
        if _is_locked(user):
            audit_record(
                by=None, action=AuditAction.MFA_FAILED, object_type="user", object_id=user.id,
                actor_email=user.email, ip=ip, user_agent=user_agent, detail={"why": "locked"},
            )
            return MfaResult(ok=False, locked=True)
        if _verify_totp(user, code):
            return MfaResult(ok=True)
        recovery = RecoveryCode.objects.filter(
            user=user, used_at__isnull=True, code_hash__in=_recovery_code_candidates(user.id, code)
        ).first()
        if recovery is not None:
            recovery.used_at = timezone.now()
            recovery.save(update_fields=["used_at"])
            audit_record(
                by=None, action=AuditAction.MFA_RECOVERY_USED, object_type="user",
                object_id=user.id, actor_email=user.email, ip=ip, user_agent=user_agent,
            )
            return MfaResult(ok=True)
    audit_record(
        by=None, action=AuditAction.MFA_FAILED, object_type="user", object_id=user.id,
        actor_email=user.email, ip=ip, user_agent=user_agent,
    )
    return MfaResult(ok=False, locked=_lock_if_too_many_failures(user, ip=ip, user_agent=user_agent))


# --- staff, invitations ---------------------------------------------------------


def _validate_prescriber_credentials(role: str, licence_number: str, licence_state: str, npi: str) -> dict[str, str]:
    errors: dict[str, str] = {}
    if role != Role.PRESCRIBER:
        return errors
    if not licence_number.strip():
        errors["licence_number"] = "A prescriber needs a licence number."
    if len(licence_state.strip()) != 2 or not licence_state.strip().isalpha():
        errors["licence_state"] = "Give the two-letter state of the licence (e.g. NY)."
    npi_error = validate_npi(npi)
    if npi_error:
        errors["npi"] = npi_error
    return errors


def staff_invite(
    *,
    by: Actor,
    email: str,
    full_name: str,
    role: str,
    licence_number: str = "",
    licence_state: str = "",
    npi: str = "",
) -> tuple[Invitation, str]:
    """Create an invitation and email its link; returns the invitation and the raw token."""
    require(by, Perm.STAFF_MANAGE)
    errors: dict[str, str] = {}
    email = email.strip().lower()
    try:
        validate_email(email)
    except ValidationError:
        errors["email"] = "Enter a valid email address."
    if not full_name.strip():
        errors["full_name"] = "Enter the person's name."
    if role not in {r.value for r in STAFF_ROLES}:
        errors["role"] = "Choose a staff role."
    errors |= _validate_prescriber_credentials(role, licence_number, licence_state, npi)
    if not errors and Membership.objects.filter(
        organization=by.organization, user__email=email, role=role, is_active=True
    ).exists():
        errors["email"] = "This person already has that role in your organisation."
    if errors:
        raise ValidationError(errors)
    token = secrets.token_urlsafe(32)
    with transaction.atomic():
        invitation = Invitation.objects.create(
            organization=by.organization,
            email=email,
            full_name=full_name.strip(),
            role=role,
            licence_number=licence_number.strip(),
            licence_state=licence_state.strip().upper(),
            npi=npi.strip(),
            token_hash=sha256_hex(token),
            invited_by=by.user,
            expires_at=timezone.now() + timedelta(days=INVITATION_DAYS),
        )
        audit_record(
            by=by, action=AuditAction.INVITE, object_type="invitation", object_id=invitation.id,
            detail={"email": email, "role": role},
        )
        link = settings.SITE_URL.rstrip("/") + reverse("accounts:invitation_accept", args=[token])
        transaction.on_commit(
            lambda: send_mail(
                subject=f"You are invited to {by.organization.name} on OpenKAP",
                message=(
                    f"{by.user.full_name} invited you to join {by.organization.name} as "
                    f"{Role(role).label}.\n\nSet your password here (valid {INVITATION_DAYS} days):\n{link}\n"
                ),
                from_email=None,
                recipient_list=[email],
            )
        )
    return invitation, token


def invitation_for_token(token: str) -> Invitation | None:
    return (
        Invitation.objects.select_related("organization")
        .filter(
            token_hash=sha256_hex(token),
            accepted_at__isnull=True,
            revoked_at__isnull=True,
            expires_at__gt=timezone.now(),
        )
        .first()
    )


def invitation_accept(*, token: str, password: str) -> User:
    with transaction.atomic():
        invitation = invitation_for_token(token)
        if invitation is None:
            raise ValidationError("This invitation link is invalid, used or expired. Ask your clinic admin for a new one.")
        invitation = Invitation.objects.select_for_update().get(pk=invitation.pk)
        user = User.objects.filter(email=invitation.email).first()
        if user is None:
            user = User(email=invitation.email, full_name=invitation.full_name)
            try:
                validate_password(password, user)
            except ValidationError as exc:
                raise ValidationError({"password": exc.messages}) from exc
            user.set_password(password)
            user.save()
        Membership.objects.get_or_create(
            organization=invitation.organization,
            user=user,
            role=invitation.role,
            defaults={
                "licence_number": invitation.licence_number,
                "licence_state": invitation.licence_state,
                "npi": invitation.npi,
            },
        )
        invitation.accepted_at = timezone.now()
        invitation.save(update_fields=["accepted_at"])
        audit_record(
            by=None, action=AuditAction.CREATE, object_type="membership", object_id=user.id,
            organization_id=invitation.organization_id, actor_email=user.email,
            detail={"role": invitation.role, "invitation": invitation.id},
        )
    return user


# --- API tokens -----------------------------------------------------------------

TOKEN_PREFIX = "okap_"  # noqa: S105 - a marker, not a secret


def api_token_create(*, by: Actor, name: str) -> tuple[ApiToken, str]:
    require(by, Perm.API_TOKEN_OWN)
    name = name.strip()
    if not name or len(name) > 100:
        raise ValidationError({"name": "Give the token a name of 1 to 100 characters (what will use it?)."})
    raw = TOKEN_PREFIX + secrets.token_urlsafe(32)
    with transaction.atomic():
        token = ApiToken.objects.create(
            organization=by.organization, user=by.user, name=name, prefix=raw[:12],
            token_hash=sha256_hex(raw),
        )
        audit_record(by=by, action=AuditAction.TOKEN_CREATED, object_type="api_token", object_id=token.id)
    return token, raw


def api_token_revoke(*, by: Actor, token_id: int) -> ApiToken:
    require(by, Perm.API_TOKEN_OWN)
    with transaction.atomic():
        token = ApiToken.objects.select_for_update().get(
            id=token_id, user=by.user, organization=by.organization
        )
        if token.revoked_at is None:
            token.revoked_at = timezone.now()
            token.save(update_fields=["revoked_at"])
            audit_record(by=by, action=AuditAction.TOKEN_REVOKED, object_type="api_token", object_id=token.id)
    return token


def api_token_authenticate(raw: str) -> ApiToken | None:
    if not raw.startswith(TOKEN_PREFIX):
        return None
    token = (
        ApiToken.objects.select_related("user", "organization")
        .filter(token_hash=sha256_hex(raw), revoked_at__isnull=True, user__is_active=True)
        .first()
    )
    if token is not None:
        # Touch at most once a minute: every request writing a row would serialise the API.
        now = timezone.now()
        if token.last_used_at is None or now - token.last_used_at > timedelta(minutes=1):
            ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
    return token


# --- sites and rooms --------------------------------------------------------------


def site_create(
    *,
    by: Actor,
    name: str,
    address_line1: str,
    city: str,
    state: str,
    postal_code: str,
    dea_registration: str,
    address_line2: str = "",
    phone: str = "",
) -> Site:
    require(by, Perm.SITE_MANAGE)
    errors: dict[str, str] = {}
    for field_name, value in (("name", name), ("address_line1", address_line1), ("city", city)):
        if not value.strip():
            errors[field_name] = "This field is required."
    if len(state.strip()) != 2 or not state.strip().isalpha():
        errors["state"] = "Give the two-letter state code (e.g. NY)."
    if not postal_code.strip().replace("-", "").isdigit():
        errors["postal_code"] = "Enter a ZIP code (e.g. 10001 or 10001-1234)."
    dea_error = validate_dea_number(dea_registration)
    if dea_error:
        errors["dea_registration"] = dea_error
    if not errors and Site.objects.filter(organization=by.organization, name=name.strip()).exists():
        errors["name"] = "Your organisation already has a site with this name."
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        site = Site.objects.create(
            organization=by.organization,
            name=name.strip(),
            address_line1=address_line1.strip(),
            address_line2=address_line2.strip(),
            city=city.strip(),
            state=state.strip().upper(),
            postal_code=postal_code.strip(),
            phone=phone.strip(),
            dea_registration=dea_registration.strip().upper(),
        )
        audit_record(by=by, action=AuditAction.CREATE, object_type="site", object_id=site.id)
    return site


def room_create(*, by: Actor, site_id: int, name: str, kind: str) -> Room:
    require(by, Perm.SITE_MANAGE)
    site = Site.objects.get(id=site_id, organization=by.organization)
    errors: dict[str, str] = {}
    if not name.strip():
        errors["name"] = "Give the room a name."
    if kind not in Room.Kind.values:
        errors["kind"] = "Choose a room type."
    if not errors and Room.objects.filter(site=site, name=name.strip()).exists():
        errors["name"] = "This site already has a room with this name."
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        room = Room.objects.create(
            organization=by.organization, site=site, name=name.strip(), kind=kind
        )
        audit_record(by=by, action=AuditAction.CREATE, object_type="room", object_id=room.id)
    return room
