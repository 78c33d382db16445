"""Lookups in the actor's organisation: sites, lots, entries and witnesses (with their signature)."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.http import Http404

from openkap.accounts.authz import Actor
from openkap.accounts.models import Site, User
from openkap.accounts.services import confirm_password
from openkap.compiled import CompiledRead
from openkap.core.authz import ROLE_PERMISSIONS, Perm
from openkap.ledger.models import (
    LedgerEntry,
    Lot,
)

# Every ledger page and write looks its site up (ADR 0118).
_SITE = CompiledRead(Site, lambda site_id, organization_id: Site.objects.filter(
    id=site_id, organization_id=organization_id).order_by("pk")[:1], "site_id", "organization_id")


def site_of(by: Actor, site_id: int) -> Site:
    site = _SITE.first(site_id=site_id, organization_id=by.organization.id)
    if site is None:
        raise Http404("No such site in your organisation.")
    return site


def lot_of(by: Actor, lot_id: int) -> Lot:
    qs = Lot.objects.select_related("product", "site", "supplier")
    lot = qs.filter(id=lot_id, organization=by.organization).first()
    if lot is None:
        raise Http404("No such lot in your organisation.")
    return lot


def entry_of(by: Actor, entry_id: int) -> LedgerEntry:
    entry = (
        LedgerEntry.objects.select_related("lot__product", "site", "refers_to")
        .filter(id=entry_id, organization=by.organization)
        .first()
    )
    if entry is None:
        raise Http404("No such ledger entry in your organisation.")
    return entry


LEDGER_ROLES = [role.value for role, perms in ROLE_PERMISSIONS.items() if Perm.LEDGER_RECORD in perms]


def witness_candidates(by: Actor) -> list[User]:
    """Staff who may sign as a witness: active nurses, prescribers and admins of the
    organisation other than the actor."""
    return list(
        User.objects.filter(
            memberships__organization=by.organization, memberships__is_active=True,
            memberships__role__in=LEDGER_ROLES, is_active=True,
        ).exclude(id=by.user.id).distinct().order_by("full_name")
    )


def _witness(by: Actor, witness_id: object, field: str) -> User:
    if not isinstance(witness_id, int) or isinstance(witness_id, bool):
        raise ValidationError({field: "Choose a witness."})
    if witness_id == by.user.id:
        raise ValidationError({field: "The witness must be someone other than the person recording."})
    witness = User.objects.filter(
        id=witness_id, is_active=True, memberships__organization=by.organization,
        memberships__is_active=True, memberships__role__in=LEDGER_ROLES,
    ).first()
    if witness is None:
        raise ValidationError({field: "The witness must be a nurse, prescriber or admin of your organisation."})
    return witness




def witness_sign(*, by: Actor, witness_id: object, password: str, field: str = "witness_password") -> User:
    """The witness co-signs at the actor's screen with their own password. A wrong one
    counts toward the witness's lock-out and stays audited even when the caller's
    transaction (a dosing session's waste, say) rolls back."""
    witness = _witness(by, witness_id, "witness")
    confirm_password(by=by, user=witness, password=password, purpose="witness_signature", field=field)
    return witness
