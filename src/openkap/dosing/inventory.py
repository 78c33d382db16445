"""Which of a site's ledger lots a protocol can draw from, and the core ``Lot`` for one.

The ledger's formulary classifies products by form (vial, nasal device, lozenge)
with a strength in mg per unit; a protocol names its products by code with a
form and allowed strengths. A ledger product serves the protocol product of a
matching form; the core then decides every stop (product, strength, undiluted
IV, volume). The concentration is always the lot's, from the inventory.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal

from django.utils import timezone

from openkap.accounts.models import Site
from openkap.core.dosing import Lot as CoreLot
from openkap.core.dosing import Stop, lot_stops
from openkap.core.protocols import Product as ProtocolProduct
from openkap.core.protocols import ProductForm, Protocol
from openkap.ledger.models import Lot, Product

# Unit names a compounded lozenge product may carry in a protocol.
LOZENGE_UNITS = frozenset({"troche", "tablet", "lozenge"})

_SERVES: dict[str, Callable[[ProtocolProduct], bool]] = {
    # A vial's solution is drawn up in mL: injectables and oral solutions, not metered sprays.
    Product.Form.VIAL: lambda p: p.form is ProductForm.SOLUTION and p.actuation_volume_ml is None,
    Product.Form.NASAL_DEVICE: lambda p: p.form is ProductForm.UNIT and p.unit_name == "device",
    Product.Form.LOZENGE: lambda p: p.form is ProductForm.UNIT and p.unit_name in LOZENGE_UNITS,
}


def core_lot(protocol: Protocol, lot: Lot) -> CoreLot:
    """The lot as the dose calculation sees it: the protocol product it serves and its
    strength from the inventory. A product that serves none keeps a code no protocol
    uses, so the core refuses it by name."""
    strength = lot.product.strength_mg_per_unit.normalize()
    serves = _SERVES.get(lot.product.form, lambda _p: False)
    candidates = [p for p in protocol.products if serves(p)]
    chosen = next((p for p in candidates if strength in p.strengths), None)
    if chosen is None and candidates:
        chosen = candidates[0]
    code = chosen.code if chosen is not None else f"formulary:{lot.product.form}"
    return CoreLot(product_code=code, concentration=strength, lot_number=lot.lot_number)


@dataclass(frozen=True)
class LotChoice:
    lot: Lot
    core: CoreLot
    on_hand: Decimal
    expired: bool
    stops: tuple[Stop, ...]

    @property
    def usable(self) -> bool:
        return not self.expired and not self.stops and self.on_hand > 0

    @property
    def why_not(self) -> list[str]:
        reasons = [s.message for s in self.stops]
        if self.expired:
            reasons.insert(0, f"Expired on {self.lot.expires_on:%Y-%m-%d}.")
        if self.on_hand <= 0:
            reasons.append("None on hand.")
        return reasons


def lot_choices(protocol: Protocol, site: Site) -> list[LotChoice]:
    """Every lot of the site's inventory with stock, usable ones first, each with the
    reasons it cannot be used for this protocol."""
    today = timezone.localdate()
    choices = []
    lots = (
        Lot.objects.filter(site=site, balance__units__gt=0)
        .select_related("product", "balance")
        .order_by("product__name", "expires_on", "id")
    )
    for lot in lots:
        core = core_lot(protocol, lot)
        choices.append(
            LotChoice(
                lot=lot, core=core, on_hand=lot.balance.units, expired=lot.is_expired_on(today),
                stops=tuple(lot_stops(protocol, core)),
            )
        )
    return sorted(choices, key=lambda c: not c.usable)
