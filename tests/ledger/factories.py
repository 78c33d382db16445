"""Objects the URL-enumeration test needs for the ledger's URL parameters."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal


def url_objects(*, patient, therapist, org) -> dict[str, object]:
    """A site with a received lot, a count that differs from the book, and an inventory."""
    from django.utils import timezone

    from openkap.accounts.authz import build_actor
    from openkap.accounts.models import Site
    from openkap.core.authz import Role
    from openkap.ledger import services
    from openkap.ledger.models import Product, Supplier
    from tests.conftest import make_user

    site = Site.objects.create(
        organization=org, name="Ledger test site", address_line1="3 Main St", city="Albany", state="NY",
        postal_code="12207", dea_registration="AB1234563",
    )
    keeper = make_user("ledger-keeper@test.org", "Kim Keeper", org, Role.ADMIN)
    witness = make_user("ledger-witness@test.org", "Wes Witness", org, Role.NURSE)
    product = Product.objects.create(
        organization=org, site=site, name="Ketamine 50 mg/mL, 10 mL vial", ndc="0409-2053-10", form="vial",
        unit="mL", strength_mg_per_unit=Decimal(50), package_size=Decimal(10), created_by=keeper,
    )
    supplier = Supplier.objects.create(organization=org, name="URL Supplier", address="1 Rd", dea_number="PH1234563")
    by = build_actor(keeper, org)
    receipt = services.lot_receive(
        by=by, site_id=site.id, product_id=product.id, lot_number="URL-1",
        expires_on=timezone.localdate() + timedelta(days=300), supplier_id=supplier.id,
        invoice_number="INV-URL", containers=1,
    )
    record = services.inventory_take(
        by=by, site_id=site.id, kind="initial", business_time="opening", witness_id=witness.id,
        counts={receipt.lot_id: Decimal("9.5")}, signature="Kim Keeper",
    )
    count = record.counts.get()
    return {"site_id": site.id, "lot_id": receipt.lot_id, "entry_id": count.id, "inventory_id": record.id}
