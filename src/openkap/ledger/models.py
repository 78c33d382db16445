"""The controlled-substance ledger: products, suppliers and lots per site, and the
append-only, hash-chained entries that move them.

The arithmetic, the rules and the hash chain are ``openkap.core.ledger``; these
tables store what it decides. ``LedgerEntry`` and ``InventoryRecord`` refuse
UPDATE and DELETE in the database (migration 0002). ``SiteLedgerHead`` and
``LotBalance`` are the two rows writers lock: the head serialises a site's chain,
the balance keeps a lot from going below zero.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from django.db import models
from django.utils import timezone

from openkap.accounts.models import Organization, Site, User
from openkap.core.ledger import EntryKind, Unit
from openkap.patients.models import Patient

UNITS_DP = 3  # mL to the microlitre; devices and lozenges are counted
STRENGTH_DP = 2
MG_DP = UNITS_DP + STRENGTH_DP  # exact: mg = units x strength


def _units_field(**kwargs: object) -> models.DecimalField:
    return models.DecimalField(max_digits=12, decimal_places=UNITS_DP, **kwargs)  # type: ignore[arg-type]


def _mg_field(**kwargs: object) -> models.DecimalField:
    return models.DecimalField(max_digits=17, decimal_places=MG_DP, **kwargs)  # type: ignore[arg-type]


class Supplier(models.Model):
    """A DEA registrant the clinic buys from (distributor, manufacturer, 503A/503B pharmacy)
    or sends stock to for destruction (reverse distributor)."""

    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="+")
    name = models.CharField(max_length=200)
    address = models.TextField()
    dea_number = models.CharField("DEA number", max_length=9)
    is_reverse_distributor = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["organization", "name"], name="ledger_supplier_unique_name")
        ]

    def __str__(self) -> str:
        return f"{self.name} (DEA {self.dea_number})"


class Product(models.Model):
    """A formulary item of a site: concentration is data, never typed at the bedside."""

    class Form(models.TextChoices):
        VIAL = "vial", "Injection, multi-dose vial"
        NASAL_DEVICE = "nasal_device", "Nasal spray device"
        LOZENGE = "lozenge", "Troche / lozenge (sublingual)"

    UNIT_OF_FORM = {Form.VIAL: Unit.ML, Form.NASAL_DEVICE: Unit.DEVICE, Form.LOZENGE: Unit.LOZENGE}

    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="+")
    site = models.ForeignKey(Site, on_delete=models.PROTECT, related_name="ledger_products")
    name = models.CharField(max_length=200)
    substance = models.CharField(max_length=40, default="ketamine")
    ndc = models.CharField("NDC", max_length=13, blank=True)
    form = models.CharField(max_length=20, choices=Form.choices)
    unit = models.CharField(max_length=10, choices=[(u.value, u.value) for u in Unit])
    strength_mg_per_unit = models.DecimalField(
        "strength (mg of base per unit)", max_digits=9, decimal_places=STRENGTH_DP
    )
    package_size = _units_field(help_text="Units per container: mL per vial, devices per kit, lozenges per bottle")
    is_compounded = models.BooleanField(default=False)
    created_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["site", "name"], name="ledger_product_unique_name_per_site"),
            models.UniqueConstraint(
                fields=["site", "ndc"], condition=~models.Q(ndc=""), name="ledger_product_unique_ndc_per_site"
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def strength_label(self) -> str:
        return f"{self.strength_mg_per_unit.normalize():f} mg/{self.unit}"


class Lot(models.Model):
    """A manufacturer's lot held at one site. Its movements are ledger entries."""

    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="+")
    site = models.ForeignKey(Site, on_delete=models.PROTECT, related_name="ledger_lots")
    product = models.ForeignKey(Product, on_delete=models.PROTECT, related_name="lots")
    lot_number = models.CharField(max_length=40)
    expires_on = models.DateField()
    supplier = models.ForeignKey(Supplier, on_delete=models.PROTECT, related_name="lots")
    # Set when the lot arrived at this site by a transfer from another site.
    transferred_from = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="transferred_to"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["site", "product", "lot_number"], name="ledger_lot_unique_per_site_product"
            )
        ]

    def __str__(self) -> str:
        return f"{self.product.name} lot {self.lot_number}"

    def is_expired_on(self, day: date) -> bool:
        return day > self.expires_on


class SiteLedgerHead(models.Model):
    """The end of a site's hash chain. Every writer locks this row first, so a site's
    entries get consecutive numbers and each names the hash of the one before."""

    site = models.OneToOneField(Site, on_delete=models.PROTECT, primary_key=True, related_name="+")
    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="+")
    last_sequence = models.PositiveBigIntegerField(default=0)
    last_hash = models.CharField(max_length=64)

    def __str__(self) -> str:
        return f"site {self.site_id} at entry {self.last_sequence}"


class LotBalance(models.Model):
    """What the book says is on the shelf, kept with each entry under a row lock.
    ``openkap ledger verify`` recomputes it from the entries."""

    lot = models.OneToOneField(Lot, on_delete=models.PROTECT, primary_key=True, related_name="balance")
    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="+")
    mg = _mg_field(default=Decimal(0))
    units = _units_field(default=Decimal(0))
    entries = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            # The last line of defence: whatever the code does, the book never goes below zero.
            models.CheckConstraint(
                condition=models.Q(mg__gte=0, units__gte=0), name="ledger_balance_not_negative"
            )
        ]

    def __str__(self) -> str:
        return f"lot {self.lot_id}: {self.mg} mg"


class InventoryRecord(models.Model):
    """An initial, biennial or other inventory of a site: the counts it took are
    ledger entries that point here. Written once, signed, never changed."""

    class Kind(models.TextChoices):
        INITIAL = "initial", "Initial inventory"
        BIENNIAL = "biennial", "Biennial inventory"
        OTHER = "other", "Other inventory (e.g. change of registrant)"

    class BusinessTime(models.TextChoices):
        OPENING = "opening", "Opening of business"
        CLOSE = "close", "Close of business"

    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="+")
    site = models.ForeignKey(Site, on_delete=models.PROTECT, related_name="ledger_inventories")
    kind = models.CharField(max_length=10, choices=Kind.choices)
    business_time = models.CharField(max_length=10, choices=BusinessTime.choices)
    taken_at = models.DateTimeField()
    taken_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    witness = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    signature = models.CharField(max_length=200, help_text="The full name typed by the person signing")
    signed_at = models.DateTimeField(default=timezone.now)
    notes = models.TextField(blank=True)

    class Meta:
        ordering = ["-taken_at"]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} of site {self.site_id} on {self.taken_at:%Y-%m-%d}"

    @property
    def count_entry_ids(self) -> list[int]:
        return list(self.counts.order_by("sequence").values_list("id", flat=True))


KIND_CHOICES = [(k.value, k.value.replace("_", " ")) for k in EntryKind]


class LedgerEntry(models.Model):
    """One row of a site's ledger. ``sequence`` numbers the site's chain from 1; the
    hashed fields are those of ``openkap.core.ledger.LedgerEntry`` (see ``chain.py``
    for how a row maps to them)."""

    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="+")
    # site and lot: served by the (site, sequence) and (lot, sequence) indexes below.
    site = models.ForeignKey(Site, on_delete=models.PROTECT, related_name="ledger_entries", db_index=False)
    sequence = models.PositiveBigIntegerField()
    lot = models.ForeignKey(Lot, on_delete=models.PROTECT, related_name="entries", db_index=False)
    kind = models.CharField(max_length=20, choices=KIND_CHOICES)
    # Positive for movements, what was found for a count, signed for adjustments and
    # corrections (as in the core).
    mg = _mg_field()
    units = _units_field()
    strength_mg_per_unit = models.DecimalField(max_digits=9, decimal_places=STRENGTH_DP)
    unit = models.CharField(max_length=10, choices=[(u.value, u.value) for u in Unit])
    occurred_at = models.DateTimeField()
    recorded_at = models.DateTimeField(default=timezone.now)
    recorded_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    # The five references most entries leave empty are indexed where set (Meta.indexes).
    witness = models.ForeignKey(User, null=True, blank=True, on_delete=models.PROTECT, related_name="+", db_index=False)
    second_witness = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.PROTECT, related_name="+", db_index=False
    )
    # The corrected entry (correction) or the count (adjustment): at most one each.
    refers_to = models.OneToOneField(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="referred_by"
    )
    reason = models.TextField(blank=True)
    # What the entry is about; all of it is part of the hashed reference.
    # By name: the dosing app's models refer to the ledger's too.
    dosing_session = models.ForeignKey(
        "dosing.DosingSession", null=True, blank=True, on_delete=models.PROTECT, related_name="ledger_entries"
    )
    patient = models.ForeignKey(Patient, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    supplier = models.ForeignKey(
        Supplier, null=True, blank=True, on_delete=models.PROTECT, related_name="+", db_index=False
    )
    counterpart_lot = models.ForeignKey(
        Lot, null=True, blank=True, on_delete=models.PROTECT, related_name="+", db_index=False,
        help_text="The other site's lot of a transfer",
    )
    inventory = models.ForeignKey(
        InventoryRecord, null=True, blank=True, on_delete=models.PROTECT, related_name="counts", db_index=False
    )
    # The count's difference from the book when it was taken (counted - book).
    discrepancy_mg = _mg_field(null=True, blank=True)
    discrepancy_units = _units_field(null=True, blank=True)
    # Form 41 / Form 106 / receipt details, string values only (hashed as given).
    detail = models.JSONField(default=dict, blank=True)
    prev_hash = models.CharField(max_length=64)
    # Unique by a constraint, not unique=True, which adds a LIKE (varchar_pattern_ops) copy on PostgreSQL.
    entry_hash = models.CharField(max_length=64)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["site", "sequence"], name="ledger_entry_unique_sequence"),
            models.UniqueConstraint(fields=["entry_hash"], name="ledger_entry_unique_hash"),
            models.CheckConstraint(condition=models.Q(sequence__gte=1), name="ledger_entry_sequence_positive"),
        ]
        indexes = [
            models.Index(fields=["lot", "sequence"], name="ledger_entry_lot_seq"),
            models.Index(fields=["site", "kind", "occurred_at"], name="ledger_entry_site_kind_time"),
            *(models.Index(fields=[f], condition=models.Q(**{f"{f}__isnull": False}), name=f"ledger_entry_{f}")
              for f in ("witness", "second_witness", "supplier", "counterpart_lot", "inventory")),
        ]

    def __str__(self) -> str:
        return f"{self.site_id}#{self.sequence} {self.kind}"

    @property
    def witness_ids(self) -> list[int]:
        return [w for w in (self.witness_id, self.second_witness_id) if w is not None]

    @property
    def number(self) -> str:
        """How staff name an entry: site entry number."""
        return f"#{self.sequence}"
