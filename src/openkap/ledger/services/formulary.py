"""The formulary: suppliers and products."""

from __future__ import annotations

from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import transaction

from openkap.accounts.authz import Actor, require
from openkap.audit.models import AuditAction
from openkap.audit.services import audit_record
from openkap.core.authz import Perm
from openkap.core.identifiers import validate_dea_number, validate_ndc
from openkap.ledger.models import (
    Product,
    Supplier,
)

from .common import _UNIT_STEP, MAX_STRENGTH, MAX_UNITS_PER_ENTRY, _decimal
from .lookups import site_of


def supplier_create(*, by: Actor, name: str, address: str, dea_number: str,
                    is_reverse_distributor: bool = False) -> Supplier:
    require(by, Perm.LEDGER_ADMIN)
    errors: dict[str, str] = {}
    name, address = (name or "").strip(), (address or "").strip()
    if not name or len(name) > 200:
        errors["name"] = "Enter the supplier's registered name (up to 200 characters)."
    if not address or len(address) > 1000:
        errors["address"] = "Enter the supplier's address (DEA receipt records need it)."
    dea_error = validate_dea_number(dea_number or "")
    if dea_error:
        errors["dea_number"] = dea_error
    if not errors and Supplier.objects.filter(organization=by.organization, name=name).exists():
        errors["name"] = "Your organisation already has a supplier with this name."
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        supplier = Supplier.objects.create(
            organization=by.organization, name=name, address=address,
            dea_number=dea_number.strip().upper(), is_reverse_distributor=bool(is_reverse_distributor),
        )
        audit_record(by=by, action=AuditAction.CREATE, object_type="ledger_supplier", object_id=supplier.id)
    return supplier


def product_create(*, by: Actor, site_id: int, name: str, form: str, strength_mg_per_unit: object,
                   package_size: object, ndc: str = "", is_compounded: bool = False) -> Product:
    """A product of a site's formulary. Strength is mg of ketamine base per mL, device or
    lozenge; the NDC is required except for compounded preparations."""
    require(by, Perm.LEDGER_ADMIN)
    site = site_of(by, site_id)
    errors: dict[str, str] = {}
    name = (name or "").strip()
    if not name or len(name) > 200:
        errors["name"] = "Name the product as on the label (up to 200 characters)."
    if form not in Product.Form.values:
        errors["form"] = "Choose vial, nasal spray device or troche / lozenge."
    ndc = (ndc or "").strip()
    if ndc:
        ndc_problem = validate_ndc(ndc)
        if ndc_problem:
            errors["ndc"] = ndc_problem
    elif not is_compounded:
        errors["ndc"] = "Enter the NDC from the label (only compounded preparations have none)."
    try:
        strength = _decimal(strength_mg_per_unit, "strength_mg_per_unit", "strength")
        if not Decimal(0) < strength <= MAX_STRENGTH or strength != strength.quantize(Decimal("0.01")):
            errors["strength_mg_per_unit"] = f"Give the strength in mg of base per unit, above 0 and up to {MAX_STRENGTH}, to 0.01 mg."
    except ValidationError as exc:
        errors |= {k: v[0] for k, v in exc.message_dict.items()}
        strength = Decimal(1)
    try:
        package = _decimal(package_size, "package_size", "package size")
        if not Decimal(0) < package <= MAX_UNITS_PER_ENTRY or package != package.quantize(_UNIT_STEP):
            errors["package_size"] = "Give the units per container (e.g. 20 for a 20 mL vial)."
        elif form == Product.Form.NASAL_DEVICE and package != package.to_integral_value():
            errors["package_size"] = "A kit holds a whole number of devices."
    except ValidationError as exc:
        errors |= {k: v[0] for k, v in exc.message_dict.items()}
        package = Decimal(1)
    if not errors:
        if Product.objects.filter(site=site, name=name).exists():
            errors["name"] = "This site already has a product with this name."
        elif ndc and Product.objects.filter(site=site, ndc=ndc).exists():
            errors["ndc"] = "This site already has a product with this NDC."
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        product = Product.objects.create(
            organization=by.organization, site=site, name=name, ndc=ndc, form=form,
            unit=Product.UNIT_OF_FORM[Product.Form(form)].value, strength_mg_per_unit=strength,
            package_size=package, is_compounded=bool(is_compounded), created_by=by.user,
        )
        audit_record(by=by, action=AuditAction.CREATE, object_type="ledger_product", object_id=product.id)
    return product
