"""The clinic itself: Organization, Practitioner and PractitionerRole (its staff),
Location (its sites and rooms), Medication (its formulary)."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from django.http import Http404

from openkap.accounts.authz import Actor, require
from openkap.accounts.models import Membership, Room, Site
from openkap.accounts.selectors import sites_of, staff_list
from openkap.core import fhir as core
from openkap.core.authz import Perm, Role
from openkap.fhir import mapping
from openkap.fhir.framework import (
    Found,
    Page,
    Param,
    Query,
    ResourceType,
    db_id,
    list_page,
    queryset_page,
    register,
)
from openkap.ledger.models import Product

from .common import _one


def _npis(by: Actor) -> dict[int, str]:
    return dict(
        Membership.objects.filter(organization=by.organization, is_active=True)
        .exclude(npi="").values_list("user_id", "npi")
    )


def _practitioners(by: Actor) -> list[dict[str, Any]]:
    npis = _npis(by)
    return [mapping.practitioner(row.user, npis.get(row.user.id, "")) for row in staff_list(by=by)]


def practitioner_read(by: Actor, resource_id: str) -> Found:
    return Found(_one(_practitioners(by), str(db_id(resource_id))))


def practitioner_search(by: Actor, query: Query) -> Page:
    resources = _practitioners(by)
    for value in query.params.get("name", []):
        resources = [r for r in resources if value.lower() in r["name"][0]["text"].lower()]
    for value in query.params.get("identifier", []):
        tokens = core.parse_token(value)
        resources = [r for r in resources if core.token_matches(
            tokens, [(i["system"], i["value"]) for i in r.get("identifier", [])])]
    return list_page(resources, query)


def organization_read(by: Actor, resource_id: str) -> Found:
    if db_id(resource_id) != by.organization.id:
        raise Http404
    return Found(mapping.organization(by.organization))


def organization_search(by: Actor, query: Query) -> Page:
    return list_page([mapping.organization(by.organization)], query)


def _locations(by: Actor) -> list[dict[str, Any]]:
    created = by.organization.created_at
    out = []
    for site in sites_of(by=by):
        out.append(mapping.site_location(site, created))
        out += [mapping.room_location(room, created) for room in site.rooms.all()]
    return out


def location_read(by: Actor, resource_id: str) -> Found:
    if resource_id.startswith("site-"):
        site = Site.objects.filter(organization=by.organization, pk=db_id(resource_id, "site-")).first()
        if site:
            return Found(mapping.site_location(site, by.organization.created_at))
    elif resource_id.startswith("room-"):
        room = Room.objects.filter(organization=by.organization, pk=db_id(resource_id, "room-")).first()
        if room:
            return Found(mapping.room_location(room, by.organization.created_at))
    raise Http404


def location_search(by: Actor, query: Query) -> Page:
    resources = _locations(by)
    for value in query.params.get("name", []):
        resources = [r for r in resources if value.lower() in r["name"].lower()]
    for value in query.params.get("partof", []):
        ref = core.parse_reference(value, "Location")
        resources = [r for r in resources if r.get("partOf", {}).get("reference") == f"Location/{ref}"]
    for name, key in (("address-city", "city"), ("address-state", "state"), ("address-postalcode", "postalCode")):
        for value in query.params.get(name, []):
            resources = [r for r in resources if r.get("address", {}).get(key, "").lower().startswith(value.lower())]
    return list_page(resources, query)


def medication_read(by: Actor, resource_id: str) -> Found:
    product = Product.objects.filter(organization=by.organization, pk=db_id(resource_id)).first()
    if product is None:
        raise Http404
    return Found(mapping.medication(product))


def medication_search(by: Actor, query: Query) -> Page:
    qs = Product.objects.filter(organization=by.organization)
    for tokens in query.tokens("code"):
        qs = qs.filter(ndc__in=[t.code for t in tokens if t.system in (None, core.NDC)])
    return queryset_page(qs, query, to_fhir=mapping.medication, updated_field="created_at")


def _roles(by: Actor) -> QuerySet[Membership]:
    require(by, Perm.STAFF_VIEW)
    return Membership.objects.filter(organization=by.organization).exclude(role=Role.PATIENT)


def role_read(by: Actor, resource_id: str) -> Found:
    membership = _roles(by).filter(pk=db_id(resource_id)).first()
    if membership is None:
        raise Http404
    return Found(mapping.practitioner_role(membership))


def role_search(by: Actor, query: Query) -> Page:
    qs = _roles(by)
    for value in query.params.get("practitioner", []):
        qs = qs.filter(user_id=db_id(core.parse_reference(value, "Practitioner")))
    for tokens in query.tokens("role"):
        qs = qs.filter(role__in=[t.code for t in tokens])
    return queryset_page(qs, query, to_fhir=mapping.practitioner_role, updated_field="created_at")


register(ResourceType(
    "Practitioner", "Staff of the clinic (needs the staff list permission).",
    profile=f"{core.US_CORE}/us-core-practitioner",
    params=(Param("name", "string", "Any part of the name"), Param("identifier", "token", "NPI")),
    read=practitioner_read, search=practitioner_search,
))


register(ResourceType(
    "Organization", "The token's organisation (the clinic).",
    profile=f"{core.US_CORE}/us-core-organization",
    read=organization_read, search=organization_search,
))


register(ResourceType(
    "Location", "Sites (Location/site-N) and their rooms (Location/room-N, partOf the site).",
    profile=f"{core.US_CORE}/us-core-location",
    params=(
        Param("name", "string", "Name contains"),
        Param("partof", "reference", "The site of a room"),
        Param("address-city", "string", "City"),
        Param("address-state", "string", "State"),
        Param("address-postalcode", "string", "ZIP code"),
    ),
    read=location_read, search=location_search,
))


register(ResourceType(
    "Medication", "The clinic's controlled-substance formulary: product, NDC, strength; Schedule III.",
    params=(Param("code", "token", "NDC"),), read=medication_read, search=medication_search,
))


register(ResourceType(
    "PractitionerRole", "Each role a staff member holds in the clinic (with NPI and site).",
    profile=f"{core.US_CORE}/us-core-practitionerrole",
    params=(Param("practitioner", "reference", "The staff member"), Param("role", "token", "Role code")),
    read=role_read, search=role_search,
))
