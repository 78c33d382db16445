"""The actor of a request and the one place permissions are checked.

Service functions take ``by: Actor`` and call ``require``; views and API
operations never decide on their own.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.core.exceptions import PermissionDenied

from openkap.accounts.models import Membership, Organization, User
from openkap.compiled import CompiledRead
from openkap.core.authz import PERM_LABELS, STAFF_ROLES, Perm, Role, allows, permissions_for


class Denied(PermissionDenied):
    """A refused action; recorded in the audit log by the request's error handler."""

    def __init__(
        self, message: str, *, perm: Perm | None = None, patient_id: int | None = None,
        care_team: bool = False,
    ):
        super().__init__(message)
        self.message = message
        self.perm = perm
        self.patient_id = patient_id
        # True when the role allows the action but not for this patient (care-team rule).
        self.care_team = care_team


@dataclass(frozen=True)
class Actor:
    """Who acts, in which organisation, with which roles, and from where."""

    user: User
    organization: Organization
    roles: frozenset[Role]
    ip: str = ""
    user_agent: str = ""
    via: str = "web"
    api_token_id: int | None = None
    permissions: frozenset[Perm] = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "permissions", permissions_for(self.roles))

    def can(self, perm: Perm) -> bool:
        return perm in self.permissions

    @property
    def is_staff(self) -> bool:
        return bool(self.roles & STAFF_ROLES)

    @property
    def is_patient_only(self) -> bool:
        return self.roles == frozenset({Role.PATIENT})


def roles_in(user: User, organization: Organization) -> frozenset[Role]:
    return frozenset(
        Role(r)
        for r in Membership.objects.filter(
            user=user, organization=organization, is_active=True
        ).values_list("role", flat=True)
    )


# The session's user and their active memberships (with the organisations) in one read,
# compiled once (ADR 0112): every signed-in request loads the user and builds its actor.
_ACTIVE_MEMBERSHIPS = CompiledRead(Membership, lambda user_id: Membership.objects.filter(
    user_id=user_id, is_active=True).select_related("user", "organization"), "user_id")
_USER = CompiledRead(User, lambda user_id: User.objects.filter(pk=user_id), "user_id")
# Where the memberships read with the user wait for this request's actor.
_MEMBERSHIPS_ATTR = "_active_memberships"


def user_with_memberships(user_id: int) -> User | None:
    """The user (active or not: the caller decides) carrying the active memberships read with it."""
    memberships = _ACTIVE_MEMBERSHIPS.read(user_id=user_id)
    user = memberships[0].user if memberships else _USER.first(user_id=user_id)
    if user is not None:
        for membership in memberships:
            membership.user = user
        setattr(user, _MEMBERSHIPS_ATTR, memberships)
    return user


def active_memberships(user: User) -> list[Membership]:
    """The user's active memberships with their organisations: those read with the user
    for this request (users live one request), else read now."""
    kept = getattr(user, _MEMBERSHIPS_ATTR, None)
    if kept is not None:
        return kept
    return list(Membership.objects.filter(user=user, is_active=True).select_related("organization"))


def organizations_of(user: User) -> list[Organization]:
    return list(
        Organization.objects.filter(memberships__user=user, memberships__is_active=True)
        .distinct()
        .order_by("name")
    )


def build_actor(
    user: User,
    organization: Organization,
    *,
    ip: str = "",
    user_agent: str = "",
    via: str = "web",
    api_token_id: int | None = None,
) -> Actor:
    return Actor(
        user=user,
        organization=organization,
        roles=roles_in(user, organization),
        ip=ip,
        user_agent=user_agent[:400],
        via=via,
        api_token_id=api_token_id,
    )


def require(
    by: Actor,
    perm: Perm,
    *,
    on_care_team: bool | None = None,
    break_glass_active: bool = False,
    patient_id: int | None = None,
) -> None:
    if not allows(by.roles, perm, on_care_team=on_care_team, break_glass_active=break_glass_active):
        what = PERM_LABELS.get(perm, "do this")
        if by.can(perm) and on_care_team is not None:
            raise Denied(
                f"You are not on this patient's care team, and only the care team may {what}.",
                perm=perm, patient_id=patient_id, care_team=True,
            )
        raise Denied(f"Your role does not allow you to {what}.", perm=perm, patient_id=patient_id)
