from __future__ import annotations

from dataclasses import dataclass

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
