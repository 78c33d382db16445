from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import pyotp
from django.conf import settings
from django.db.models import QuerySet
from django.utils import timezone

from openkap.accounts.authz import Actor, require
from openkap.accounts.models import ApiToken, Membership, Site, User
from openkap.core.authz import Perm, Role


@dataclass(frozen=True)
class StaffRow:
    user: User
    roles: list[str]
    locked: bool


def staff_list(*, by: Actor) -> list[StaffRow]:
    require(by, Perm.STAFF_VIEW)
    now = timezone.now()
    rows: dict[int, StaffRow] = {}
    memberships = (
        Membership.objects.filter(organization=by.organization, is_active=True)
        .exclude(role=Role.PATIENT)
        .select_related("user")
        .order_by("user__full_name")
    )
    for m in memberships:
        row = rows.setdefault(
            m.user_id,
            StaffRow(m.user, [], bool(m.user.locked_until and m.user.locked_until > now)),
        )
        row.roles.append(m.get_role_display())
    return list(rows.values())


def api_tokens_of(*, by: Actor) -> QuerySet[ApiToken]:
    require(by, Perm.API_TOKEN_OWN)
    return ApiToken.objects.filter(user=by.user, organization=by.organization).order_by("-created_at")


def sites_of(*, by: Actor) -> list[Site]:
    return list(Site.objects.filter(organization=by.organization).prefetch_related("rooms").order_by("name"))


def active_sites(*, by: Actor) -> QuerySet[Site]:
    return Site.objects.filter(organization=by.organization, is_active=True).order_by("name")


def has_other_sites(*, by: Actor, site_id: int) -> bool:
    return Site.objects.filter(organization=by.organization).exclude(id=site_id).exists()


def home_site(*, by: Actor) -> Site | None:
    """The site of the actor's own membership, else the organisation's first active site."""
    membership = Membership.objects.filter(
        organization=by.organization, user=by.user, is_active=True, site__isnull=False, site__is_active=True
    ).select_related("site").first()
    if membership is not None:
        return membership.site
    return Site.objects.filter(organization=by.organization, is_active=True).order_by("name").first()


def colleagues_in_roles(*, by: Actor, roles: Iterable[str]) -> list[Membership]:
    """Active memberships of the actor's organisation in these roles (one row per role a
    person holds), with the user, by name: the choices of staff pickers."""
    return list(
        Membership.objects.filter(organization=by.organization, is_active=True, role__in=list(roles))
        .select_related("user")
        .order_by("user__full_name")
    )


@dataclass(frozen=True)
class DemoLogin:
    role: str
    email: str
    password: str


DEMO_PASSWORD = "demo-password-2026"  # noqa: S105 - the fictional demo clinic only


def demo_logins() -> list[DemoLogin]:
    """The seeded demo accounts, listed on the login page only in demo mode."""
    if not settings.DEMO_MODE:
        return []
    return [
        DemoLogin(m.get_role_display(), m.user.email, DEMO_PASSWORD)
        for m in Membership.objects.filter(user__email__endswith="@demo.openkap.org")
        .select_related("user")
        .order_by("role")
    ]


# --- the second factor's enrolment and the demo's sign-in -----------------------------------

TOTP_ISSUER = "OpenKAP"  # the name authenticator apps show


def mfa_provisioning_uri(user: User) -> str:
    return pyotp.TOTP(user.totp_secret).provisioning_uri(name=user.email, issuer_name=TOTP_ISSUER)


def demo_current_code(user: User) -> str | None:
    """The current TOTP code of a demo user; the login page shows it only in demo mode."""
    if not settings.DEMO_MODE:
        return None
    secret = user.totp_secret
    return str(pyotp.TOTP(secret).now()) if secret else None
