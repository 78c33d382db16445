"""Writes of the controlled-substance ledger.

Every function takes keyword arguments and an explicit actor, checks the
permission, runs in one ``transaction.atomic()`` and writes its audit row in the
same transaction. Decisions (validity, witnesses, negative balances, what a
correction or an adjustment must be) are ``openkap.core.ledger``'s.

Concurrency: a writer locks the site's ``SiteLedgerHead`` row, then the lot's
``LotBalance`` row (``SELECT ... FOR UPDATE`` on PostgreSQL; SQLite runs every
transaction as ``BEGIN IMMEDIATE``, so writers queue for the database). Two
sites are always locked in ascending id order. The functions nest inside a
caller's transaction (the dosing app's): they then use a savepoint, and the locks
are held until the caller commits, so keep that transaction short.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Context, Decimal, Inexact, InvalidOperation
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q
from django.http import Http404
from django.utils import timezone

from openkap.accounts.authz import Actor, require
from openkap.accounts.models import Site, User
from openkap.accounts.services import confirm_password
from openkap.audit.models import AuditAction
from openkap.audit.services import audit_record
from openkap.core import ledger as core
from openkap.core.authz import ROLE_PERMISSIONS, Perm
from openkap.core.identifiers import validate_dea_number
from openkap.dosing.models import DosingSession
from openkap.ledger.chain import to_core
from openkap.ledger.models import (
    UNITS_DP,
    InventoryRecord,
    LedgerEntry,
    Lot,
    LotBalance,
    Product,
    SiteLedgerHead,
    Supplier,
)
from openkap.patients.selectors import patient_for

K = core.EntryKind
MAX_UNITS_PER_ENTRY = Decimal(10_000)
MAX_CONTAINERS = 500
MAX_STRENGTH = Decimal(1000)
BACKDATE_DAYS = 30  # how late an entry may be recorded; older ones need a correction trail
_EXACT = Context(prec=40, traps=[Inexact, InvalidOperation])
_UNIT_STEP = Decimal(1).scaleb(-UNITS_DP)


# --- small parsers ----------------------------------------------------------------------


def _decimal(value: object, field: str, what: str) -> Decimal:
    if isinstance(value, bool) or value is None:
        raise ValidationError({field: f"Enter the {what} as a number."})
    try:
        number = Decimal(str(value).strip()) if not isinstance(value, Decimal) else value
    except (InvalidOperation, ValueError):
        raise ValidationError({field: f"Enter the {what} as a number."}) from None
    if not number.is_finite():
        raise ValidationError({field: f"Enter the {what} as a number."})
    return number


def _units_in_steps(units: Decimal, product: Product, field: str) -> Decimal:
    if units != units.quantize(_UNIT_STEP, context=Context(prec=40)):
        raise ValidationError({field: f"Measure to {_UNIT_STEP} {product.unit} at most."})
    if product.unit == core.Unit.DEVICE and units != units.to_integral_value():
        raise ValidationError({field: "Esketamine devices are single-use: count whole devices."})
    return units


def amount(product: Product, *, mg: object = None, units: object = None, allow_zero: bool = False,
           field: str = "units") -> tuple[Decimal, Decimal]:
    """(mg, units) of ``product`` from exactly one of them; mg = units x strength exactly."""
    if (mg is None) == (units is None):
        raise ValidationError({field: f"Give the amount either in mg or in {product.unit}."})
    strength = product.strength_mg_per_unit
    too_much = f"That is more than {MAX_UNITS_PER_ENTRY} {product.unit} in one entry: please re-check."
    if units is not None:
        u = _decimal(units, field, f"amount in {product.unit}")
        if abs(u) > MAX_UNITS_PER_ENTRY:
            raise ValidationError({field: too_much})
        u = _units_in_steps(u, product, field)
    else:
        m = _decimal(mg, "mg", "amount in mg")
        if abs(m) > MAX_UNITS_PER_ENTRY * strength:
            raise ValidationError({"mg": too_much})
        try:
            u = _EXACT.divide(m, strength)
        except Inexact:
            u = Decimal("NaN")
        if u.is_nan() or u != u.quantize(_UNIT_STEP, context=Context(prec=40)):
            raise ValidationError({"mg": (
                f"{m} mg is not a measurable amount of {product.strength_label}: "
                f"record the {product.unit} drawn instead."
            )})
        _units_in_steps(u, product, "mg")
        field = "mg"
    if u < 0 or (u == 0 and not allow_zero):
        raise ValidationError({field: "The amount cannot be negative." if allow_zero else "The amount must be more than 0."})
    return u * strength, u


def _when(occurred_at: datetime | None, field: str = "occurred_at") -> datetime:
    now = timezone.now()
    if occurred_at is None:
        return now
    if not isinstance(occurred_at, datetime) or timezone.is_naive(occurred_at):
        raise ValidationError({field: "Give the date and time with a time zone."})
    if occurred_at > now + timedelta(minutes=5):
        raise ValidationError({field: "The date and time cannot be in the future."})
    if occurred_at < now - timedelta(days=BACKDATE_DAYS):
        raise ValidationError({field: f"Entries can be recorded up to {BACKDATE_DAYS} days late."})
    return occurred_at


def _text(value: str, field: str, what: str, *, required: bool = True, max_length: int = 200) -> str:
    value = (value or "").strip()
    if required and not value:
        raise ValidationError({field: f"Enter {what}."})
    if len(value) > max_length:
        raise ValidationError({field: f"Keep {what} under {max_length} characters."})
    return value


def _refused(exc: core.LedgerError, field: str = "__all__") -> ValidationError:
    """A core refusal as a form error; a shortfall belongs next to the amount."""
    if isinstance(exc, core.NegativeBalanceError):
        return ValidationError({field: str(exc)})
    return ValidationError({"__all__": str(exc)})


_NDC_SHAPES = {(4, 4, 2), (5, 3, 2), (5, 4, 1), (5, 4, 2)}


def ndc_error(value: str) -> str | None:
    """None for an NDC as printed on the label (10 digits 4-4-2, 5-3-2, 5-4-1, or the
    11-digit 5-4-2 billing form), else what is wrong."""
    parts = value.strip().split("-")
    if len(parts) != 3 or not all(p.isdigit() for p in parts):
        return "Write the NDC with its dashes as on the label, e.g. 0409-2051-05 or 50458-028-02."
    if tuple(len(p) for p in parts) not in _NDC_SHAPES:
        return "An NDC is 4-4-2, 5-3-2, 5-4-1 or 5-4-2 digits."
    return None


# --- lookups in the actor's organisation ---------------------------------------------------


def site_of(by: Actor, site_id: int) -> Site:
    site = Site.objects.filter(id=site_id, organization=by.organization).first()
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


# --- the one writer --------------------------------------------------------------------


def _lock_heads(*sites: Site) -> dict[int, SiteLedgerHead]:
    """Lock the chain heads of ``sites`` in ascending id order (no deadlocks)."""
    heads: dict[int, SiteLedgerHead] = {}
    for site in sorted({s.id: s for s in sites}.values(), key=lambda s: s.id):
        head = SiteLedgerHead.objects.select_for_update().filter(site=site).first()
        if head is None:  # the site's first entry
            SiteLedgerHead.objects.get_or_create(
                site=site,
                defaults={"organization_id": site.organization_id, "last_hash": core.genesis_hash(str(site.id))},
            )
            head = SiteLedgerHead.objects.select_for_update().get(site=site)
        heads[site.id] = head
    return heads


@dataclass
class _Links:
    dosing_session: DosingSession | None = None
    patient_id: int | None = None
    supplier: Supplier | None = None
    counterpart_lot: Lot | None = None
    inventory: InventoryRecord | None = None
    detail: Mapping[str, str] | None = None
    break_glass: bool = False


def _write(
    *,
    by: Actor,
    head: SiteLedgerHead,
    lot: Lot,
    kind: core.EntryKind,
    mg: Decimal,
    units: Decimal,
    occurred_at: datetime,
    witnesses: Iterable[User] = (),
    refers_to: LedgerEntry | None = None,
    reason: str = "",
    links: _Links | None = None,
    amount_field: str = "units",
) -> LedgerEntry:
    """Append one entry to ``lot``'s site chain. The caller holds the site head lock."""
    links = links or _Links()
    balance = LotBalance.objects.select_for_update().filter(lot=lot).first()
    if balance is None:  # the lot's first entry
        balance = LotBalance.objects.create(lot=lot, organization_id=lot.organization_id)
    witness_list = list(witnesses)
    row = LedgerEntry(
        organization_id=lot.organization_id, site_id=lot.site_id, sequence=head.last_sequence + 1,
        lot=lot, kind=kind.value, mg=mg, units=units,
        strength_mg_per_unit=lot.product.strength_mg_per_unit, unit=lot.product.unit,
        occurred_at=occurred_at, recorded_by=by.user,
        witness=witness_list[0] if witness_list else None,
        second_witness=witness_list[1] if len(witness_list) > 1 else None,
        refers_to=refers_to, reason=reason,
        dosing_session=links.dosing_session, patient_id=links.patient_id, supplier=links.supplier,
        counterpart_lot=links.counterpart_lot, inventory=links.inventory,
        detail=dict(links.detail or {}), prev_hash=head.last_hash,
    )
    before = core.LotBalance(str(lot.id), core.Quantity(balance.mg, balance.units))
    referenced = to_core(refers_to) if refers_to is not None else None
    try:
        if kind is K.COUNT:
            found = core.count_discrepancy(before, to_core(row))
            row.discrepancy_mg, row.discrepancy_units = found.mg, found.units
        draft = to_core(row, refers_to.sequence if refers_to is not None else None)
        if kind is K.CORRECTION and referenced is not None:
            core.check_correction(draft, referenced)
        if kind is K.ADJUSTMENT and refers_to is not None and referenced is not None:
            discrepancy = core.Quantity(refers_to.discrepancy_mg or Decimal(0), refers_to.discrepancy_units or Decimal(0))
            core.check_adjustment(draft, referenced, discrepancy)
        after = core.apply(before, draft)
    except core.LedgerError as exc:
        raise _refused(exc, amount_field) from None
    row.entry_hash = core.seal(draft, head.last_hash).entry_hash
    row.save()
    balance.mg, balance.units = after.on_hand.mg, after.on_hand.units
    balance.entries += 1
    balance.save(update_fields=["mg", "units", "entries"])
    head.last_sequence, head.last_hash = row.sequence, row.entry_hash
    head.save(update_fields=["last_sequence", "last_hash"])
    audit_record(
        by=by, action=AuditAction.CREATE, object_type="ledger_entry", object_id=row.id,
        patient_id=links.patient_id, break_glass=links.break_glass,
        detail={"kind": kind.value, "site": lot.site_id, "sequence": row.sequence, "lot": lot.id,
                "mg": str(mg), "units": str(units)},
    )
    return row


def _usable(lot: Lot, occurred_at: datetime, field: str = "lot") -> None:
    day = timezone.localtime(occurred_at).date()
    if lot.is_expired_on(day):
        raise ValidationError({field: f"Lot {lot.lot_number} expired on {lot.expires_on:%Y-%m-%d}: it cannot be used. Destroy or return it."})


# --- formulary --------------------------------------------------------------------------


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
        ndc_problem = ndc_error(ndc)
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


# --- receipts and movements ------------------------------------------------------------------


_LOT_NUMBER = re.compile(r"^[A-Za-z0-9][A-Za-z0-9./-]{0,39}$")


def lot_receive(
    *,
    by: Actor,
    site_id: int,
    product_id: object,
    lot_number: str,
    expires_on: date | None,
    supplier_id: object,
    invoice_number: str,
    containers: object,
    received_at: datetime | None = None,
) -> LedgerEntry:
    """Receive containers of a lot from a supplier, on an invoice (Schedule III is
    bought on invoices; the invoice is the receipt record). A second receipt of the
    same lot number adds to the same lot."""
    require(by, Perm.LEDGER_RECORD)
    site = site_of(by, site_id)
    errors: dict[str, str] = {}
    product = Product.objects.filter(id=product_id, site=site).first() if isinstance(product_id, int) else None
    if product is None:
        errors["product"] = "Choose a product of this site's formulary."
    supplier = Supplier.objects.filter(id=supplier_id, organization=by.organization).first() if isinstance(supplier_id, int) else None
    if supplier is None:
        errors["supplier"] = "Choose the supplier on the invoice."
    lot_number = (lot_number or "").strip()
    if not _LOT_NUMBER.match(lot_number):
        errors["lot_number"] = "Enter the lot number as printed (letters, digits, dots, dashes)."
    if not isinstance(expires_on, date):
        errors["expires_on"] = "Enter the expiry date."
    try:
        invoice_number = _text(invoice_number, "invoice_number", "the invoice number", max_length=60)
    except ValidationError as exc:
        errors |= {k: v[0] for k, v in exc.message_dict.items()}
    if not isinstance(containers, int) or isinstance(containers, bool) or not 1 <= containers <= MAX_CONTAINERS:
        errors["containers"] = f"Enter how many containers arrived (1 to {MAX_CONTAINERS})."
    if errors:
        raise ValidationError(errors)
    when = _when(received_at, "received_at")
    if expires_on < timezone.localtime(when).date():
        raise ValidationError({"expires_on": "This lot has already expired: do not receive it into stock."})
    with transaction.atomic():
        heads = _lock_heads(site)
        lot, created = Lot.objects.get_or_create(
            site=site, product=product, lot_number=lot_number,
            defaults={"organization": by.organization, "expires_on": expires_on, "supplier": supplier},
        )
        if not created and lot.expires_on != expires_on:
            raise ValidationError({"expires_on": f"Lot {lot_number} is on file with expiry {lot.expires_on:%Y-%m-%d}; check the label."})
        units = Decimal(containers) * product.package_size
        if units > MAX_UNITS_PER_ENTRY:
            raise ValidationError({"containers": f"That is more than {MAX_UNITS_PER_ENTRY} {product.unit} on one receipt: please re-check."})
        entry = _write(
            by=by, head=heads[site.id], lot=lot, kind=K.RECEIPT, mg=units * product.strength_mg_per_unit,
            units=units, occurred_at=when,
            links=_Links(supplier=supplier, detail={"invoice": invoice_number, "containers": str(containers)}),
        )
    return entry


def _session_for(by: Actor, dosing_session_id: object, site: Site) -> tuple[DosingSession, bool]:
    session = (
        DosingSession.objects.filter(id=dosing_session_id, organization=by.organization).first()
        if isinstance(dosing_session_id, int) else None
    )
    if session is None:
        raise ValidationError({"dosing_session": "Choose the dosing session of this administration."})
    if session.site_id != site.id:
        raise ValidationError({"dosing_session": "This dosing session is at another site; use that site's stock."})
    if session.status == DosingSession.Status.CANCELLED:
        raise ValidationError({"dosing_session": "This dosing session was cancelled."})
    _, glass = patient_for(by, session.patient_id, Perm.PATIENT_VIEW)
    return session, glass


def ledger_administer(
    *,
    by: Actor,
    dosing_session_id: int,
    lot_id: int,
    mg: object = None,
    units: object = None,
    occurred_at: datetime | None = None,
) -> LedgerEntry:
    """Record what was given to the session's patient from ``lot`` (mg of base or units
    drawn, exactly one). Refuses an expired lot, another site's lot or session, a
    cancelled session, and anything the lot does not hold."""
    require(by, Perm.LEDGER_RECORD)
    lot = lot_of(by, lot_id)
    mg_, units_ = amount(lot.product, mg=mg, units=units)
    when = _when(occurred_at)
    _usable(lot, when)
    with transaction.atomic():
        session, glass = _session_for(by, dosing_session_id, lot.site)
        heads = _lock_heads(lot.site)
        entry = _write(
            by=by, head=heads[lot.site_id], lot=lot, kind=K.ADMINISTRATION, mg=mg_, units=units_,
            occurred_at=when,
            links=_Links(dosing_session=session, patient_id=session.patient_id, break_glass=glass),
            amount_field="mg" if mg is not None else "units",
        )
    return entry


def ledger_waste(
    *,
    by: Actor,
    witness_id: int,
    lot_id: int,
    mg: object = None,
    units: object = None,
    dosing_session_id: int | None = None,
    reason: str = "",
    occurred_at: datetime | None = None,
) -> LedgerEntry:
    """Record drug drawn but not given (the rest of a vial's draw, a dropped dose),
    witnessed by a second, different nurse, prescriber or admin. The witness's
    attestation is the caller's to collect (``witness_sign`` in this app's forms)."""
    require(by, Perm.LEDGER_RECORD)
    lot = lot_of(by, lot_id)
    mg_, units_ = amount(lot.product, mg=mg, units=units)
    when = _when(occurred_at)
    _usable(lot, when)
    witness = _witness(by, witness_id, "witness")
    reason = _text(reason, "reason", "the reason", required=False, max_length=500)
    with transaction.atomic():
        session, glass = None, False
        if dosing_session_id is not None:
            session, glass = _session_for(by, dosing_session_id, lot.site)
        heads = _lock_heads(lot.site)
        entry = _write(
            by=by, head=heads[lot.site_id], lot=lot, kind=K.WASTE, mg=mg_, units=units_,
            occurred_at=when, witnesses=[witness], reason=reason,
            links=_Links(dosing_session=session, patient_id=session.patient_id if session else None,
                         break_glass=glass),
            amount_field="mg" if mg is not None else "units",
        )
    return entry


def _counterpart_product(product: Product, site: Site, by: Actor) -> Product:
    found = Product.objects.filter(
        site=site, form=product.form, strength_mg_per_unit=product.strength_mg_per_unit,
        package_size=product.package_size,
    ).filter(Q(ndc=product.ndc) if product.ndc else Q(name=product.name)).first()
    if found is not None:
        return found
    if Product.objects.filter(site=site, name=product.name).exists():
        raise ValidationError({"to_site": f"{site.name} has a different product named {product.name}; rename one first."})
    return Product.objects.create(
        organization=product.organization, site=site, name=product.name, substance=product.substance,
        ndc=product.ndc, form=product.form, unit=product.unit,
        strength_mg_per_unit=product.strength_mg_per_unit, package_size=product.package_size,
        is_compounded=product.is_compounded, created_by=by.user,
    )


def ledger_transfer(
    *,
    by: Actor,
    lot_id: int,
    to_site_id: object,
    mg: object = None,
    units: object = None,
    note: str = "",
    occurred_at: datetime | None = None,
) -> tuple[LedgerEntry, LedgerEntry]:
    """Move stock to another site of the organisation: a transfer out here and a
    transfer in there (the same lot number, the product added to that site's
    formulary if missing), in one transaction. Each site keeps its own record,
    with both DEA registrations."""
    require(by, Perm.LEDGER_RECORD)
    lot = lot_of(by, lot_id)
    mg_, units_ = amount(lot.product, mg=mg, units=units)
    when = _when(occurred_at)
    to_site = (
        Site.objects.filter(id=to_site_id, organization=by.organization, is_active=True).first()
        if isinstance(to_site_id, int) else None
    )
    if to_site is None or to_site.id == lot.site_id:
        raise ValidationError({"to_site": "Choose another active site of your organisation."})
    note = _text(note, "note", "the note", required=False, max_length=500)
    detail = {"from_dea": lot.site.dea_registration, "to_dea": to_site.dea_registration}
    if note:
        detail["note"] = note
    with transaction.atomic():
        heads = _lock_heads(lot.site, to_site)
        product = _counterpart_product(lot.product, to_site, by)
        there, _ = Lot.objects.get_or_create(
            site=to_site, product=product, lot_number=lot.lot_number,
            defaults={"organization": by.organization, "expires_on": lot.expires_on,
                      "supplier": lot.supplier, "transferred_from": lot},
        )
        out = _write(
            by=by, head=heads[lot.site_id], lot=lot, kind=K.TRANSFER_OUT, mg=mg_, units=units_,
            occurred_at=when, links=_Links(counterpart_lot=there, detail=detail),
            amount_field="mg" if mg is not None else "units",
        )
        into = _write(
            by=by, head=heads[to_site.id], lot=there, kind=K.TRANSFER_IN, mg=mg_, units=units_,
            occurred_at=when, links=_Links(counterpart_lot=lot, detail=detail | {"transfer_out_entry": str(out.id)}),
        )
    return out, into


DESTRUCTION_METHODS = {
    "reverse_distributor": "Returned to a reverse distributor",
    "on_site": "Rendered non-retrievable on site",
}


def ledger_destroy(
    *,
    by: Actor,
    lot_id: int,
    witness_id: int,
    second_witness_id: int,
    method: str,
    mg: object = None,
    units: object = None,
    reverse_distributor_id: int | None = None,
    location: str = "",
    occurred_at: datetime | None = None,
) -> LedgerEntry:
    """Destruction or return of stock (DEA Form 41): two authorised witnesses, the
    method, where, and the reverse distributor when returned. Expired lots may be
    destroyed."""
    require(by, Perm.LEDGER_RECORD)
    lot = lot_of(by, lot_id)
    mg_, units_ = amount(lot.product, mg=mg, units=units)
    when = _when(occurred_at)
    errors: dict[str, str] = {}
    if method not in DESTRUCTION_METHODS:
        errors["method"] = "Choose how the drug was destroyed or returned."
    witnesses: list[User] = []
    for field, wid in (("witness", witness_id), ("second_witness", second_witness_id)):
        try:
            witnesses.append(_witness(by, wid, field))
        except ValidationError as exc:
            errors |= {k: v[0] for k, v in exc.message_dict.items()}
    if len(witnesses) == 2 and witnesses[0].id == witnesses[1].id:
        errors["second_witness"] = "Form 41 needs two different witnesses."
    distributor = None
    if method == "reverse_distributor":
        distributor = Supplier.objects.filter(
            id=reverse_distributor_id, organization=by.organization, is_reverse_distributor=True
        ).first() if isinstance(reverse_distributor_id, int) else None
        if distributor is None:
            errors["reverse_distributor"] = "Choose the reverse distributor the drug went to."
    try:
        location = _text(location, "location", "where it happened", max_length=200)
    except ValidationError as exc:
        errors |= {k: v[0] for k, v in exc.message_dict.items()}
    if errors:
        raise ValidationError(errors)
    detail = {"method": method, "location": location}
    if distributor is not None:
        detail |= {"reverse_distributor": distributor.name, "reverse_distributor_dea": distributor.dea_number}
    with transaction.atomic():
        heads = _lock_heads(lot.site)
        entry = _write(
            by=by, head=heads[lot.site_id], lot=lot, kind=K.DESTRUCTION, mg=mg_, units=units_,
            occurred_at=when, witnesses=witnesses, links=_Links(supplier=distributor, detail=detail),
            amount_field="mg" if mg is not None else "units",
        )
    return entry


LOSS_TYPES = {
    "theft_break_in": "Night break-in / armed robbery",
    "employee_pilferage": "Employee pilferage",
    "customer_theft": "Customer / patient theft",
    "lost_in_transit": "Lost in transit",
    "other_loss": "Other loss (breakage, spill)",
}


def ledger_loss(
    *,
    by: Actor,
    lot_id: int,
    loss_type: str,
    discovered_on: date | None,
    circumstances: str,
    mg: object = None,
    units: object = None,
    police_report: str = "",
    occurred_at: datetime | None = None,
) -> LedgerEntry:
    """A loss or theft (DEA Form 106 data): what kind, when it was discovered, the
    circumstances and any police report number. Breakage and spills are losses too."""
    require(by, Perm.LEDGER_RECORD)
    lot = lot_of(by, lot_id)
    mg_, units_ = amount(lot.product, mg=mg, units=units)
    when = _when(occurred_at)
    errors: dict[str, str] = {}
    if loss_type not in LOSS_TYPES:
        errors["loss_type"] = "Choose the type of loss or theft."
    if not isinstance(discovered_on, date) or discovered_on > timezone.localdate():
        errors["discovered_on"] = "Enter the date the loss was discovered (not in the future)."
    try:
        circumstances = _text(circumstances, "circumstances", "what happened", max_length=2000)
        police_report = _text(police_report, "police_report", "the police report number", required=False, max_length=60)
    except ValidationError as exc:
        errors |= {k: v[0] for k, v in exc.message_dict.items()}
    if errors:
        raise ValidationError(errors)
    detail = {"loss_type": loss_type, "discovered_on": discovered_on.isoformat()}
    if police_report:
        detail["police_report"] = police_report
    with transaction.atomic():
        heads = _lock_heads(lot.site)
        entry = _write(
            by=by, head=heads[lot.site_id], lot=lot, kind=K.LOSS, mg=mg_, units=units_,
            occurred_at=when, reason=circumstances, links=_Links(detail=detail),
            amount_field="mg" if mg is not None else "units",
        )
    return entry


def ledger_count(
    *,
    by: Actor,
    witness_id: int,
    lot_id: int,
    units: object,
    estimated: bool = False,
    occurred_at: datetime | None = None,
    inventory: InventoryRecord | None = None,
) -> LedgerEntry:
    """A witnessed physical count of a lot. It does not move the book: a difference is
    kept on the count as an open discrepancy until an admin adjusts it with a reason.
    ``estimated`` marks an opened container estimated rather than measured (allowed
    for Schedule III)."""
    require(by, Perm.LEDGER_RECORD)
    lot = lot_of(by, lot_id)
    mg_, units_ = amount(lot.product, units=units, allow_zero=True)
    when = _when(occurred_at)
    witness = _witness(by, witness_id, "witness")
    detail = {"estimated": "yes"} if estimated else {}
    with transaction.atomic():
        heads = _lock_heads(lot.site)
        entry = _write(
            by=by, head=heads[lot.site_id], lot=lot, kind=K.COUNT, mg=mg_, units=units_,
            occurred_at=when, witnesses=[witness], links=_Links(inventory=inventory, detail=detail),
        )
    return entry


def _after(entry: LedgerEntry, occurred_at: datetime | None) -> datetime:
    when = _when(occurred_at)
    if when < entry.occurred_at:
        raise ValidationError({"occurred_at": f"This cannot be dated before entry {entry.number} it refers to."})
    return when


def ledger_adjust(*, by: Actor, count_id: int, reason: str, occurred_at: datetime | None = None) -> LedgerEntry:
    """Move the book by a count's discrepancy, with an admin's reason."""
    require(by, Perm.LEDGER_ADMIN)
    count = entry_of(by, count_id)
    reason = _text(reason, "reason", "the reason for the adjustment", max_length=2000)
    when = _after(count, occurred_at)
    if count.kind != K.COUNT:
        raise ValidationError({"__all__": "Only a count can be adjusted."})
    if not count.discrepancy_units:
        raise ValidationError({"__all__": "This count matched the book: there is nothing to adjust."})
    with transaction.atomic():
        heads = _lock_heads(count.site)
        if LedgerEntry.objects.filter(refers_to=count).exists():
            raise ValidationError({"__all__": f"Count {count.number} is already adjusted."})
        entry = _write(
            by=by, head=heads[count.site_id], lot=count.lot, kind=K.ADJUSTMENT,
            mg=count.discrepancy_mg or Decimal(0), units=count.discrepancy_units,
            occurred_at=when, refers_to=count, reason=reason,
        )
    return entry


def ledger_correct(*, by: Actor, entry_id: int, reason: str, occurred_at: datetime | None = None) -> list[LedgerEntry]:
    """Reverse an entry recorded in error with a correction that names it (the entry
    itself never changes). Correcting either leg of a transfer reverses both."""
    require(by, Perm.LEDGER_ADMIN)
    target = entry_of(by, entry_id)
    reason = _text(reason, "reason", "why the entry was wrong", max_length=2000)
    when = _after(target, occurred_at)
    targets = [target]
    legs = LedgerEntry.objects.select_related("lot__product", "site")
    if target.kind == K.TRANSFER_OUT:
        targets += list(legs.filter(kind=K.TRANSFER_IN, detail__transfer_out_entry=str(target.id)))
    elif target.kind == K.TRANSFER_IN:
        targets += list(legs.filter(kind=K.TRANSFER_OUT, id=int(target.detail.get("transfer_out_entry", 0))))
    with transaction.atomic():
        heads = _lock_heads(*(t.site for t in targets))
        corrections = []
        for t in sorted(targets, key=lambda t: t.site_id):
            if LedgerEntry.objects.filter(refers_to=t).exists():
                raise ValidationError({"__all__": f"Entry {t.number} is already corrected."})
            reverse = -core.signed_effect(to_core(t))
            corrections.append(_write(
                by=by, head=heads[t.site_id], lot=t.lot, kind=K.CORRECTION, mg=reverse.mg,
                units=reverse.units, occurred_at=when, refers_to=t, reason=reason,
                links=_Links(dosing_session=t.dosing_session, patient_id=t.patient_id),
            ))
    return corrections


# --- inventories ------------------------------------------------------------------------------


def _same_name(a: str, b: str) -> bool:
    return " ".join(a.lower().split()) == " ".join(b.lower().split())


def inventory_take(
    *,
    by: Actor,
    site_id: int,
    kind: str,
    business_time: str,
    witness_id: int,
    counts: Mapping[int, Any],
    signature: str,
    estimated_lot_ids: Iterable[int] = (),
    taken_at: datetime | None = None,
    notes: str = "",
) -> InventoryRecord:
    """An initial or biennial inventory: every lot on hand counted (opened containers
    may be estimated), at opening or close of business, signed by the person taking
    it (typing their full name) with a witness. One count entry per lot."""
    require(by, Perm.LEDGER_RECORD)
    site = site_of(by, site_id)
    errors: dict[str, str] = {}
    if kind not in InventoryRecord.Kind.values:
        errors["kind"] = "Choose initial, biennial or other inventory."
    elif kind == InventoryRecord.Kind.INITIAL and InventoryRecord.objects.filter(site=site, kind=kind).exists():
        errors["kind"] = "This site already has its initial inventory; take a biennial one."
    if business_time not in InventoryRecord.BusinessTime.values:
        errors["business_time"] = "Say whether it was taken at opening or close of business."
    if not _same_name(signature or "", by.user.full_name):
        errors["signature"] = f"Sign by typing your full name as on your account ({by.user.full_name})."
    try:
        witness = _witness(by, witness_id, "witness")
    except ValidationError as exc:
        errors |= {k: v[0] for k, v in exc.message_dict.items()}
    lots = {lot.id: lot for lot in Lot.objects.filter(site=site).select_related("product", "balance")}
    unknown = set(counts) - set(lots)
    if unknown:
        errors["counts"] = "Count only lots of this site."
    on_hand = {lid for lid, lot in lots.items() if hasattr(lot, "balance") and lot.balance.units > 0}
    missing = sorted(on_hand - set(counts))
    if missing:
        errors["counts"] = "Count every lot on hand: " + ", ".join(lots[i].lot_number for i in missing) + "."
    if not counts:
        errors.setdefault("counts", "There is nothing to count at this site yet.")
    notes = (notes or "").strip()[:2000]
    if errors:
        raise ValidationError(errors)
    when = _when(taken_at, "taken_at")
    estimated = set(estimated_lot_ids)
    with transaction.atomic():
        record = InventoryRecord.objects.create(
            organization=by.organization, site=site, kind=kind, business_time=business_time,
            taken_at=when, taken_by=by.user, witness=witness, signature=signature.strip(), notes=notes,
        )
        for lot_id in sorted(counts):
            try:
                ledger_count(by=by, witness_id=witness.id, lot_id=lot_id, units=counts[lot_id],
                             estimated=lot_id in estimated, occurred_at=when, inventory=record)
            except ValidationError as exc:
                raise ValidationError({"counts": f"Lot {lots[lot_id].lot_number}: " + " ".join(exc.messages)}) from None
        audit_record(by=by, action=AuditAction.CREATE, object_type="ledger_inventory", object_id=record.id,
                     detail={"kind": kind, "site": site.id, "lots": len(counts)})
    return record
