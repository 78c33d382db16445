"""A site's formulary, a supplier, a received lot and dosing sessions for the ledger tests."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from openkap.accounts.models import Site
from openkap.core.authz import Role
from openkap.dosing.models import DosingSession
from openkap.ledger import services
from openkap.pathway.models import Episode

EXPIRY = timezone.localdate() + timedelta(days=365)  # a calendar date well in the future


@pytest.fixture
def admin_actor(admin, org, as_actor):
    return as_actor(admin, org)


@pytest.fixture
def nurse_actor(nurse, org, as_actor):
    return as_actor(nurse, org)


@pytest.fixture
def supplier(admin_actor):
    return services.supplier_create(by=admin_actor, name="Hudson Pharma Distributors",
                                    address="1 Depot Rd, Albany NY 12207", dea_number="PH1234563")


@pytest.fixture
def reverse_distributor(admin_actor):
    return services.supplier_create(by=admin_actor, name="Returns Inc", address="2 Dock St, Troy NY 12180",
                                    dea_number="RR1234563", is_reverse_distributor=True)


@pytest.fixture
def vial_100(admin_actor, site):
    return services.product_create(by=admin_actor, site_id=site.id, name="Ketamine HCl 100 mg/mL, 5 mL vial",
                                   form="vial", strength_mg_per_unit=Decimal(100), package_size=Decimal(5),
                                   ndc="0409-2051-05")


@pytest.fixture
def esketamine(admin_actor, site):
    return services.product_create(by=admin_actor, site_id=site.id, name="Spravato 28 mg device, kit of 2",
                                   form="nasal_device", strength_mg_per_unit=Decimal(28), package_size=Decimal(2),
                                   ndc="50458-028-02")


@pytest.fixture
def lot(nurse_actor, site, vial_100, supplier):
    """Two 5 mL vials of 100 mg/mL: 10 mL, 1000 mg."""
    entry = services.lot_receive(by=nurse_actor, site_id=site.id, product_id=vial_100.id, lot_number="KX-100-A",
                                 expires_on=EXPIRY, supplier_id=supplier.id, invoice_number="INV-1001",
                                 containers=2)
    return entry.lot


@pytest.fixture
def other_site(org):
    return Site.objects.create(organization=org, name="Annex", address_line1="2 Side St", city="Albany",
                               state="NY", postal_code="12207", dea_registration="AB7654321")


def make_session(org, site, patient, by_user, *, status=DosingSession.Status.DISCHARGED) -> DosingSession:
    episode = Episode.objects.filter(patient=patient).first() or Episode.objects.create(
        organization=org, patient=patient, opened_by=by_user, state="active")
    now = timezone.now()
    return DosingSession.objects.create(
        organization=org, patient=patient, episode=episode, site=site, status=status,
        scheduled_start=now - timedelta(hours=3), started_at=now - timedelta(hours=3),
        discharged_at=now - timedelta(hours=1) if status == DosingSession.Status.DISCHARGED else None,
        created_by=by_user,
    )


@pytest.fixture
def session(org, site, patient, nurse):
    return make_session(org, site, patient, nurse)


ROLES_WITH_LEDGER = (Role.NURSE, Role.PRESCRIBER, Role.ADMIN)
