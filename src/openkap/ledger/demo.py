"""The demo clinic's controlled-substance records: a formulary per site, suppliers,
four weeks of receipts, administrations, witnessed waste, a transfer, a loss, a
destruction, counts (one adjusted, one still open) and signed initial inventories.

Everything is written through the ledger's services, so the demo's chains verify.
Administrations need completed dosing sessions: the seeder takes the discharged
sessions of the last four weeks at each site, which the measures demo's series
booked through the scheduling service. One recent session per site is left without
its administration, as reconciliation would show it the morning after.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from decimal import Decimal

from django.db import transaction
from django.utils import timezone

from openkap.accounts.authz import Actor, build_actor
from openkap.accounts.models import Site
from openkap.core.authz import Role
from openkap.demo import DemoContext
from openkap.dosing.models import DosingSession
from openkap.ledger import services
from openkap.ledger.models import LedgerEntry, Lot, Product, Supplier

# name, form, mg per unit, units per container, NDC (empty: compounded)
FORMULARY = [
    ("Ketamine HCl injection 10 mg/mL, 20 mL multi-dose vial", "vial", "10", "20", "42023-113-10"),
    ("Ketamine HCl injection 50 mg/mL, 10 mL multi-dose vial", "vial", "50", "10", "0409-2053-10"),
    ("Ketamine HCl injection 100 mg/mL, 5 mL multi-dose vial", "vial", "100", "5", "0409-2051-05"),
    ("Spravato (esketamine) 28 mg nasal spray device, kit of 2", "nasal_device", "28", "2", "50458-028-02"),
    ("Ketamine troche 100 mg, bottle of 30 (compounded)", "lozenge", "100", "30", ""),
]
SUPPLIERS = [
    ("Empire Medical Supply", "400 Industrial Way\nSecaucus, NJ 07094", "RE", "271828", False),
    ("Northeast Compounding Pharmacy (503A)", "18 Elm St\nAlbany, NY 12207", "FN", "314159", False),
    ("Clearwater Pharma Returns", "9 Harbor Rd\nNewark, NJ 07114", "RC", "161803", True),
]


def _dea(prefix: str, six: str) -> str:
    from openkap.core.identifiers import dea_check_digit

    return f"{prefix}{six}{dea_check_digit(six)}"


def _at(days_ago: int, hour: int, minute: int = 0) -> datetime:
    day = timezone.localdate() - timedelta(days=days_ago)
    return timezone.make_aware(datetime.combine(day, time(hour, minute)))


@dataclass
class _Cast:
    admin: Actor
    nurse: Actor
    prescriber: Actor


def seed(context: DemoContext) -> None:
    org = context.organization
    if LedgerEntry.objects.filter(organization=org).exists():
        return
    staff = context.staff
    cast = _Cast(*(build_actor(staff[r], org, via="seed") for r in (Role.ADMIN, Role.NURSE, Role.PRESCRIBER)))
    with transaction.atomic():
        suppliers = {}
        for name, address, prefix, six, reverse in SUPPLIERS:
            suppliers[name] = Supplier.objects.filter(organization=org, name=name).first() or services.supplier_create(
                by=cast.admin, name=name, address=address, dea_number=_dea(prefix, six),
                is_reverse_distributor=reverse)
        main, second = context.sites[0], context.sites[1]
        # Events run in time order, so each site's chain is also in time order.
        events: list[tuple[datetime, int, Callable[[], object]]] = []
        lots = {}
        for site, scale in ((main, 2), (second, 1)):
            lots[site.id] = _stock_site(site, scale, cast, suppliers)
            events += _site_events(site, lots[site.id], cast, suppliers)
        events += _cross_site_events(main, second, lots, cast)
        for _, _, run in sorted(events, key=lambda e: (e[0], e[1])):
            run()


def _product(site: Site, cast: _Cast, name: str, form: str, strength: str, size: str, ndc: str) -> Product:
    return Product.objects.filter(site=site, name=name).first() or services.product_create(
        by=cast.admin, site_id=site.id, name=name, form=form, strength_mg_per_unit=Decimal(strength),
        package_size=Decimal(size), ndc=ndc, is_compounded=not ndc)


def _sessions(site: Site) -> list[DosingSession]:
    """Discharged sessions of the last four weeks at the site, oldest first."""
    return list(DosingSession.objects.filter(
        site=site, status=DosingSession.Status.DISCHARGED, ledger_entries__isnull=True,
        started_at__gte=_at(26, 0), started_at__lt=_at(0, 0),
    ).order_by("started_at"))


# What a session draws: product index in FORMULARY, mg given, mg wasted (drawn but not given).
DOSES = [(2, 50, 0), (2, 60, 5), (1, 45, 0), (0, 36, 4), (3, 56, 0), (3, 84, 0), (4, 100, 0), (2, 70, 0),
         (1, 55, 5), (0, 40, 0), (2, 35, 0), (3, 56, 0)]


def _stock_site(site: Site, scale: int, cast: _Cast, suppliers: dict[str, Supplier]) -> list[Lot]:
    """Four weeks ago: the first deliveries and the initial inventory."""
    products = [_product(site, cast, *row) for row in FORMULARY]
    wholesaler, pharmacy = suppliers[SUPPLIERS[0][0]], suppliers[SUPPLIERS[1][0]]
    expiry = timezone.localdate() + timedelta(days=400)
    lots: list[Lot] = []
    for i, (product, containers) in enumerate(zip(products, (3, 4, 3, 6, 1), strict=True)):
        entry = services.lot_receive(
            by=cast.admin, site_id=site.id, product_id=product.id, lot_number=f"{'KTEP'[i % 4]}{site.id}{240 + i * 7}",
            expires_on=expiry - timedelta(days=40 * i), supplier_id=(pharmacy if not product.ndc else wholesaler).id,
            invoice_number=f"INV-{site.id}-{5100 + i}", containers=containers * scale, received_at=_at(28, 9),
        )
        lots.append(entry.lot)
    services.inventory_take(
        by=cast.admin, site_id=site.id, kind="initial", business_time="opening",
        witness_id=cast.nurse.user.id, signature=cast.admin.user.full_name, taken_at=_at(28, 9, 30),
        counts={lot.id: Lot.objects.get(pk=lot.pk).balance.units for lot in lots},
        notes="Initial inventory on first receipt of ketamine at this registration.",
    )
    return lots


def _site_events(site: Site, lots: list[Lot], cast: _Cast,
                 suppliers: dict[str, Supplier]) -> list[tuple[datetime, int, Callable[[], object]]]:
    wholesaler, returns = suppliers[SUPPLIERS[0][0]], suppliers[SUPPLIERS[2][0]]
    events: list[tuple[datetime, int, Callable[[], object]]] = []

    def expired_lot_returned() -> None:
        old = services.lot_receive(
            by=cast.admin, site_id=site.id, product_id=lots[2].product_id, lot_number=f"X{site.id}0917",
            expires_on=timezone.localdate() - timedelta(days=4), supplier_id=wholesaler.id,
            invoice_number=f"INV-{site.id}-5099", containers=1, received_at=_at(27, 15),
        ).lot
        # It expired on the shelf and went back to the reverse distributor.
        services.ledger_destroy(
            by=cast.nurse, lot_id=old.id, witness_id=cast.prescriber.user.id, second_witness_id=cast.admin.user.id,
            method="reverse_distributor", reverse_distributor_id=returns.id, units=Decimal(5),
            location=f"{site.name} medication room", occurred_at=_at(2, 16),
        )

    events.append((_at(27, 15), 0, expired_lot_returned))
    sessions = _sessions(site)
    # The most recent session is left for the morning-after reconciliation to catch.
    for n, session in enumerate(sessions[:-1]):
        events += _dose(session, n, lots, cast)
    events.append((_at(10, 11), 0, lambda: services.ledger_loss(
        by=cast.nurse, lot_id=lots[0].id, units=Decimal(2), loss_type="other_loss",
        discovered_on=timezone.localdate() - timedelta(days=10), occurred_at=_at(10, 11),
        circumstances="Vial cracked while drawing up; 2 mL spilled and could not be recovered. "
                      "Witnessed by the prescriber.",
    )))
    return events


def _dose(session: DosingSession, n: int, lots: list[Lot],
          cast: _Cast) -> list[tuple[datetime, int, Callable[[], object]]]:
    product_index, mg, wasted = DOSES[n % len(DOSES)]
    lot = lots[product_index]
    given_at = (session.started_at or session.scheduled_start) + timedelta(minutes=5)
    given: list[LedgerEntry] = []

    def administer() -> None:
        given.append(services.ledger_administer(by=cast.nurse, dosing_session_id=session.id, lot_id=lot.id,
                                                mg=Decimal(mg), occurred_at=given_at))
        if wasted:
            services.ledger_waste(by=cast.nurse, witness_id=cast.prescriber.user.id, lot_id=lot.id,
                                  mg=Decimal(wasted), dosing_session_id=session.id,
                                  reason="Drawn into the syringe but not given",
                                  occurred_at=given_at + timedelta(minutes=2))

    def correct() -> None:
        # Recorded against the wrong vial; the admin corrects it and the nurse records the right one.
        later = given_at + timedelta(hours=3)
        services.ledger_correct(by=cast.admin, entry_id=given[0].id, occurred_at=later,
                                reason="Recorded on the wrong lot; the dose came from the 50 mg/mL vial.")
        services.ledger_administer(by=cast.nurse, dosing_session_id=session.id, lot_id=lots[1].id,
                                   mg=Decimal(mg), occurred_at=later)

    events: list[tuple[datetime, int, Callable[[], object]]] = [(given_at, 1, administer)]
    if n == 1:
        events.append((given_at + timedelta(hours=3), 1, correct))
    return events


def _cross_site_events(main: Site, second: Site, lots: dict[int, list[Lot]],
                       cast: _Cast) -> list[tuple[datetime, int, Callable[[], object]]]:
    def transfer() -> None:
        services.ledger_transfer(by=cast.nurse, lot_id=lots[main.id][1].id, to_site_id=second.id,
                                 units=Decimal(10), note=f"Transfer record TR-{main.id}-{second.id}-01",
                                 occurred_at=_at(14, 8, 30))

    short: list[LedgerEntry] = []

    def weekly_count() -> None:
        # The 10 mg/mL vial comes up short; the admin adjusts it after review next morning.
        for site in (main, second):
            for lot in Lot.objects.filter(site=site, balance__units__gt=0).select_related("product", "balance"):
                found = lot.balance.units
                if site == main and lot.product.strength_mg_per_unit == 10:
                    found -= Decimal("0.4")
                count = services.ledger_count(by=cast.nurse, witness_id=cast.prescriber.user.id, lot_id=lot.id,
                                              units=found, estimated=lot.product.unit == "mL",
                                              occurred_at=_at(7, 17, 30))
                if count.discrepancy_units:
                    short.append(count)

    def review() -> None:
        for count in short:
            services.ledger_adjust(by=cast.admin, count_id=count.id, occurred_at=_at(6, 10), reason=(
                "Reviewed with the nurse and prescriber: residue left in the opened vial's dead space "
                "over several draws; no sign of diversion."))

    def troche_short() -> None:
        # This morning's troche count is one lozenge short and waits for the admin.
        troche = Lot.objects.filter(site=main, product__form="lozenge").select_related("balance").first()
        if troche is not None and troche.balance.units > 0:
            services.ledger_count(by=cast.nurse, witness_id=cast.prescriber.user.id, lot_id=troche.id,
                                  units=troche.balance.units - 1, occurred_at=timezone.now() - timedelta(minutes=30))

    return [(_at(14, 8, 30), 0, transfer), (_at(7, 17, 30), 0, weekly_count), (_at(6, 10), 0, review),
            (timezone.now() - timedelta(minutes=30), 0, troche_short)]
