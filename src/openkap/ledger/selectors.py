"""Reads of the controlled-substance ledger. Each read is checked (``LEDGER_VIEW``
in the actor's organisation) and audited; reads that show patients list their ids
in the audit row."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError
from django.db.models import Prefetch, Q, QuerySet
from django.http import Http404
from django.utils import timezone
from django.utils.text import capfirst

from openkap import checkpoints
from openkap.accounts.authz import Actor, require
from openkap.accounts.models import Site
from openkap.addresses import around_id
from openkap.audit.models import AuditAction
from openkap.audit.services import audit_record
from openkap.compiled import CompiledRead
from openkap.core import ledger as core
from openkap.core.authz import Perm
from openkap.dosing.models import DosingSession
from openkap.ledger.chain import ChainCheck, Problem, check_chain, core_entries, num_text, to_core
from openkap.ledger.models import (
    InventoryRecord,
    LedgerEntry,
    Lot,
    LotBalance,
    Product,
    SiteLedgerHead,
    Supplier,
)
from openkap.ledger.services import lot_of, site_of

K = core.EntryKind
BIENNIAL = timedelta(days=730)
MAX_PERIOD_DAYS = 3 * 366


def entries_qs() -> QuerySet[LedgerEntry]:
    return LedgerEntry.objects.select_related(
        "lot__product", "recorded_by", "witness", "second_witness", "patient", "supplier",
        "counterpart_lot__site", "refers_to", "dosing_session",
    )


def period_bounds(start: date, end: date) -> tuple[datetime, datetime]:
    """[start 00:00, end + 1 day 00:00) in the clinic's time zone."""
    if end < start:
        raise ValidationError({"end": "The period must end on or after its start."})
    if (end - start).days > MAX_PERIOD_DAYS:
        raise ValidationError({"end": "Choose a period of at most three years."})
    tz = timezone.get_current_timezone()
    return (datetime.combine(start, time.min, tzinfo=tz),
            datetime.combine(end + timedelta(days=1), time.min, tzinfo=tz))


def default_period() -> tuple[date, date]:
    today = timezone.localdate()
    return today.replace(day=1) if today.day > 1 else (today - timedelta(days=1)).replace(day=1), today


# --- the site and its lots ------------------------------------------------------------------------


@dataclass(frozen=True)
class LotRow:
    lot: Lot
    on_hand: core.Quantity
    expired: bool
    expires_soon: bool
    last_count: LedgerEntry | None
    href: str = ""  # the lot's page


@dataclass(frozen=True)
class EntryLine:
    """An entry of the site page's latest, with what its row writes made once (ADR 0118):
    the template's `date` filter, get_kind_display and {% url %} per row cost most of it."""
    entry: LedgerEntry
    when: str  # local "YYYY-MM-DD HH:MM"
    kind: str  # the kind's label, capitalised
    href: str  # the lot's page


@dataclass(frozen=True)
class SiteOverview:
    site: Site
    lots: list[LotRow]
    recent: list[LedgerEntry]
    open_discrepancies: list[LedgerEntry]
    recent_lines: list[EntryLine]
    last_inventory: InventoryRecord | None
    biennial_due: date | None


def ledger_sites(*, by: Actor) -> list[tuple[Site, int, Decimal]]:
    """The organisation's sites with their number of lots on hand and mg on hand."""
    require(by, Perm.LEDGER_VIEW)
    sites = list(Site.objects.filter(organization=by.organization).order_by("name"))
    totals: dict[int, tuple[int, Decimal]] = defaultdict(lambda: (0, Decimal(0)))
    for balance in LotBalance.objects.filter(organization=by.organization, units__gt=0).select_related("lot"):
        count, mg = totals[balance.lot.site_id]
        totals[balance.lot.site_id] = (count + 1, mg + balance.mg)
    audit_record(by=by, action=AuditAction.VIEW, object_type="ledger_sites")
    return [(s, *totals[s.id]) for s in sites]


def _lots_of_site(site_id: int) -> QuerySet[Lot]:
    return Lot.objects.filter(site_id=site_id).select_related("product", "supplier", "balance").order_by(
        "product__name", "expires_on", "lot_number"
    )


def _open_discrepancies_of_site(site_id: int) -> QuerySet[LedgerEntry]:
    return (
        entries_qs().filter(site_id=site_id, kind=K.COUNT, referred_by__isnull=True)
        .exclude(discrepancy_units=0).exclude(discrepancy_units__isnull=True).order_by("occurred_at")
    )


# The site page's reads, compiled once per process (ADR 0096): building and compiling
# entries_qs's nine joins cost more than running them (ADR 0113).
_LOTS = CompiledRead(Lot, _lots_of_site, "site_id")
_COUNTS = CompiledRead(LedgerEntry, lambda site_id: LedgerEntry.objects.filter(
    site_id=site_id, kind=K.COUNT).order_by("sequence"), "site_id")
_OPEN_DISCREPANCIES = CompiledRead(LedgerEntry, _open_discrepancies_of_site, "site_id")
_RECENT = CompiledRead(LedgerEntry, lambda site_id: entries_qs().filter(site_id=site_id).order_by("-sequence")[:15],
                       "site_id")
_LAST_INVENTORY = CompiledRead(InventoryRecord, lambda site_id: InventoryRecord.objects.filter(
    site_id=site_id, kind__in=[InventoryRecord.Kind.INITIAL, InventoryRecord.Kind.BIENNIAL]).order_by("-taken_at")[:1],
    "site_id")




def _lot_address() -> Callable[[int], str]:
    before, after = around_id("ledger:lot")
    return lambda lot_id: f"{before}{lot_id}{after}"


def _entry_lines(entries: list[LedgerEntry]) -> list[EntryLine]:
    address = _lot_address()
    kinds: dict[str, str] = {}  # a label is a translation looked up per call: once per kind
    return [EntryLine(e, f"{timezone.localtime(e.occurred_at):%Y-%m-%d %H:%M}",
                      kinds[e.kind] if e.kind in kinds else kinds.setdefault(e.kind, capfirst(e.get_kind_display())),
                      address(e.lot_id))
            for e in entries]


def _lot_rows(site: Site, *, include_empty: bool) -> list[LotRow]:
    today = timezone.localdate()
    address = _lot_address()
    counts: dict[int, LedgerEntry] = {}
    for count in _COUNTS.read(site_id=site.id):
        counts[count.lot_id] = count
    rows = []
    for lot in _LOTS.read(site_id=site.id):
        balance = getattr(lot, "balance", None)
        on_hand = core.Quantity(balance.mg, balance.units) if balance else core.ZERO
        if not include_empty and on_hand.units == 0:
            continue
        rows.append(LotRow(lot, on_hand, lot.is_expired_on(today),
                           not lot.is_expired_on(today) and lot.expires_on <= today + timedelta(days=60),
                           counts.get(lot.id), address(lot.id)))
    return rows


def open_discrepancies(site: Site) -> list[LedgerEntry]:
    """Counts that differed from the book and have no adjustment yet."""
    return _OPEN_DISCREPANCIES.read(site_id=site.id)


def site_overview(*, by: Actor, site_id: int, include_empty: bool = False) -> SiteOverview:
    require(by, Perm.LEDGER_VIEW)
    site = site_of(by, site_id)
    recent = _RECENT.read(site_id=site.id)
    last_inventory = _LAST_INVENTORY.first(site_id=site.id)
    audit_record(by=by, action=AuditAction.VIEW, object_type="ledger_site", object_id=site.id,
                 detail={"patient_ids": sorted({e.patient_id for e in recent if e.patient_id})})
    return SiteOverview(
        site=site,
        lots=_lot_rows(site, include_empty=include_empty),
        recent=recent,
        open_discrepancies=open_discrepancies(site),
        recent_lines=_entry_lines(recent),
        last_inventory=last_inventory,
        biennial_due=(timezone.localtime(last_inventory.taken_at).date() + BIENNIAL) if last_inventory else None,
    )


def site_get(*, by: Actor, site_id: int) -> Site:
    """A site for a ledger form or index page; opening it is audited like any ledger read."""
    require(by, Perm.LEDGER_VIEW)
    site = site_of(by, site_id)
    audit_record(by=by, action=AuditAction.VIEW, object_type="ledger_site", object_id=site.id)
    return site


def lot_get(*, by: Actor, lot_id: int) -> Lot:
    require(by, Perm.LEDGER_VIEW)
    lot = lot_of(by, lot_id)
    audit_record(by=by, action=AuditAction.VIEW, object_type="ledger_lot", object_id=lot.id)
    return lot


def products_of(*, by: Actor, site_id: int) -> list[Product]:
    require(by, Perm.LEDGER_VIEW)
    return list(Product.objects.filter(site=site_of(by, site_id)).order_by("name"))


def suppliers_of(*, by: Actor, reverse_distributors: bool | None = None) -> list[Supplier]:
    require(by, Perm.LEDGER_VIEW)
    qs = Supplier.objects.filter(organization=by.organization).order_by("name")
    if reverse_distributors is not None:
        qs = qs.filter(is_reverse_distributor=reverse_distributors)
    audit_record(by=by, action=AuditAction.VIEW, object_type="ledger_suppliers")
    return list(qs)


def usable_lots(*, by: Actor, site_id: int) -> list[Lot]:
    """Unexpired lots of the site with stock, for choosing what was drawn."""
    require(by, Perm.LEDGER_VIEW)
    site = site_of(by, site_id)
    today = timezone.localdate()
    return list(
        Lot.objects.filter(site=site, expires_on__gte=today, balance__units__gt=0)
        .select_related("product", "balance").order_by("product__name", "expires_on")
    )


def sessions_for_administration(*, by: Actor, site_id: int) -> list[DosingSession]:
    """Recent sessions of the site that may still need their administration recorded."""
    require(by, Perm.LEDGER_RECORD)
    site = site_of(by, site_id)
    since = timezone.now() - timedelta(days=30)
    sessions = list(
        DosingSession.objects.filter(site=site, scheduled_start__gte=since)
        .exclude(status__in=[DosingSession.Status.CANCELLED, DosingSession.Status.SCHEDULED])
        .select_related("patient").order_by("-scheduled_start")
    )
    audit_record(by=by, action=AuditAction.VIEW, object_type="ledger_sessions", object_id=site.id,
                 detail={"patient_ids": sorted({s.patient_id for s in sessions})})
    return sessions


# --- one lot ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LedgerLine:
    entry: LedgerEntry
    effect: core.Quantity
    balance: core.Quantity
    corrected_by: LedgerEntry | None
    adjusted_by: LedgerEntry | None


@dataclass(frozen=True)
class LotLedger:
    lot: Lot
    lines: list[LedgerLine]
    on_hand: core.Quantity
    received: core.Quantity


def lot_ledger(*, by: Actor, lot_id: int, action: AuditAction = AuditAction.VIEW) -> LotLedger:
    """The running ledger of a lot: every entry in order with the balance after it."""
    require(by, Perm.LEDGER_VIEW)
    lot = lot_of(by, lot_id)
    entries = list(entries_qs().filter(lot=lot).order_by("sequence"))
    corrected_by = {e.refers_to_id: e for e in entries if e.kind == K.CORRECTION}
    adjusted_by = {e.refers_to_id: e for e in entries if e.kind == K.ADJUSTMENT}
    balance = core.ZERO
    received = core.ZERO
    lines = []
    for entry in entries:
        effect = core.signed_effect(to_core(entry))
        balance += effect
        source = entry.refers_to if entry.kind == K.CORRECTION and entry.refers_to else entry
        if source.kind in (K.RECEIPT, K.TRANSFER_IN):
            received += effect
        lines.append(LedgerLine(entry, effect, balance, corrected_by.get(entry.id), adjusted_by.get(entry.id)))
    audit_record(by=by, action=action, object_type="ledger_lot", object_id=lot.id,
                 detail={"patient_ids": sorted({e.patient_id for e in entries if e.patient_id})})
    return LotLedger(lot, lines, balance, received)


def entry_get(*, by: Actor, entry_id: int) -> LedgerEntry:
    require(by, Perm.LEDGER_VIEW)
    entry = entries_qs().filter(id=entry_id, organization=by.organization).first()
    if entry is None:
        raise Http404("No such ledger entry in your organisation.")
    audit_record(by=by, action=AuditAction.VIEW, object_type="ledger_entry", object_id=entry.id,
                 patient_id=entry.patient_id)
    return entry


# --- reconciliation ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class SessionMatch:
    session: DosingSession
    administered: core.Quantity
    entries: list[LedgerEntry]


@dataclass
class SiteReconciliation:
    site: Site
    start: date
    end: date
    lots: list[tuple[Lot, core.Reconciliation]] = field(default_factory=list)
    matched: list[SessionMatch] = field(default_factory=list)
    administrations_without_discharge: list[SessionMatch] = field(default_factory=list)
    discharges_without_administration: list[DosingSession] = field(default_factory=list)
    open_discrepancies: list[LedgerEntry] = field(default_factory=list)

    @property
    def problems(self) -> int:
        return (len(self.administrations_without_discharge) + len(self.discharges_without_administration)
                + len(self.open_discrepancies))


def site_reconciliation(*, by: Actor, site_id: int, start: date, end: date,
                        action: AuditAction = AuditAction.VIEW) -> SiteReconciliation:
    """For the period and each lot: received - administered - wasted - transferred -
    destroyed - lost (+ adjustments) = expected on hand, against the last count
    (``core.reconcile``). Then every administration against a discharged dosing
    session and every discharged session against an administration, and the counts
    still waiting for an admin's adjustment."""
    require(by, Perm.LEDGER_VIEW)
    site = site_of(by, site_id)
    t0, t1 = period_bounds(start, end)
    result = SiteReconciliation(site, start, end)
    history: dict[int, list[LedgerEntry]] = defaultdict(list)
    for row in LedgerEntry.objects.filter(site=site, occurred_at__lt=t1).order_by("sequence"):
        history[row.lot_id].append(row)
    lots = {lot.id: lot for lot in Lot.objects.filter(id__in=history).select_related("product")}
    for lot_id, rows in sorted(history.items(), key=lambda kv: (lots[kv[0]].product.name, lots[kv[0]].lot_number)):
        rec = core.reconcile(core_entries(rows), lot_id=str(lot_id), start=t0, end=t1)
        touched = any(getattr(rec, name) != core.ZERO for name in (
            "opening", "received", "administered", "wasted", "transferred_out", "transferred_in",
            "destroyed", "lost", "adjustments"))
        if touched or rec.last_count_id:
            result.lots.append((lots[lot_id], rec))
    # Sessions discharged in the period or given drug in it; each is matched on all of
    # its administrations net of their corrections, whenever they were recorded.
    in_period = set(LedgerEntry.objects.filter(
        site=site, dosing_session__isnull=False, occurred_at__gte=t0, occurred_at__lt=t1,
        kind__in=[K.ADMINISTRATION, K.CORRECTION],
    ).values_list("dosing_session_id", flat=True))
    discharged = DosingSession.objects.filter(
        site=site, status=DosingSession.Status.DISCHARGED, discharged_at__gte=t0, discharged_at__lt=t1,
    )
    session_ids = in_period | set(discharged.values_list("id", flat=True))
    sessions = {s.id: s for s in DosingSession.objects.filter(id__in=session_ids).select_related("patient")}
    given: dict[int, list[LedgerEntry]] = defaultdict(list)
    for row in entries_qs().filter(dosing_session_id__in=session_ids, kind__in=[K.ADMINISTRATION, K.CORRECTION]
                                   ).order_by("site_id", "sequence"):
        administered = row.kind == K.ADMINISTRATION or (row.refers_to and row.refers_to.kind == K.ADMINISTRATION)
        if administered and row.dosing_session_id is not None:  # filtered on it above
            given[row.dosing_session_id].append(row)
    for session_id, session in sorted(sessions.items(), key=lambda kv: kv[1].scheduled_start):
        rows = given.get(session_id, [])
        total = _net_given(rows)
        match = SessionMatch(session, total, rows)
        if total.units <= 0:
            if session.status == DosingSession.Status.DISCHARGED:
                result.discharges_without_administration.append(session)
        elif session.status != DosingSession.Status.DISCHARGED:
            result.administrations_without_discharge.append(match)
        else:
            result.matched.append(match)
    result.open_discrepancies = open_discrepancies(site)
    patient_ids = sorted({s.patient_id for s in sessions.values()})
    audit_record(by=by, action=action, object_type="ledger_reconciliation", object_id=site.id,
                 detail={"start": start.isoformat(), "end": end.isoformat(), "patient_ids": patient_ids})
    return result


def _net_given(rows: list[LedgerEntry]) -> core.Quantity:
    """Administered amount net of corrections: a correction of an administration puts
    the drug back on the book (a positive change), so it takes it off what was given."""
    total = core.ZERO
    for row in rows:
        quantity = core.Quantity(row.mg, row.units)
        total = total + quantity if row.kind == K.ADMINISTRATION else total - quantity
    return total


# --- integrity -------------------------------------------------------------------------------------------


def chain_check(*, site: Site | None = None, organization_id: int | None = None,
                checkpoint: dict[str, Any] | None = None) -> ChainCheck:
    """The database's chain and balances checked by the core, transfers paired between
    sites, and each site's chain compared with a signed checkpoint when one is given
    (for ``openkap ledger verify`` and the admin's integrity page; no actor, no audit:
    callers decide)."""
    rows = LedgerEntry.objects.order_by("site_id", "sequence")
    heads = SiteLedgerHead.objects.all()
    balances = LotBalance.objects.select_related("lot")
    if site is not None:
        rows, heads, balances = rows.filter(site=site), heads.filter(site=site), balances.filter(lot__site=site)
    if organization_id is not None:
        rows = rows.filter(organization_id=organization_id)
        heads = heads.filter(organization_id=organization_id)
        balances = balances.filter(organization_id=organization_id)
    result = check_chain(rows.iterator(chunk_size=5000), heads=heads, balances=balances)
    in_scope = set(heads.values_list("site_id", flat=True)) | set(rows.values_list("site_id", flat=True).distinct())
    extra = transfer_problems(in_scope)
    if checkpoint is not None:
        extra += checkpoint_problems(checkpoint, in_scope)
    if not extra:
        return result
    return replace(result, problems=[*result.problems, *extra])


def transfer_problems(site_ids: set[int]) -> list[Problem]:
    """Every transfer out has its transfer in at the other site, for the same quantity
    of the counterpart lot, and the other way round: a transfer recorded on one side
    only is stock that left one register and reached no other."""
    transfers = list(
        LedgerEntry.objects.filter(kind__in=[K.TRANSFER_OUT, K.TRANSFER_IN])
        .filter(Q(site_id__in=site_ids) | Q(counterpart_lot__site_id__in=site_ids))
        .select_related("site", "lot", "counterpart_lot__site")
    )
    ins = {str(e.detail.get("transfer_out_entry", "")): e for e in transfers if e.kind == K.TRANSFER_IN}
    outs = {str(e.id): e for e in transfers if e.kind == K.TRANSFER_OUT}
    problems: list[Problem] = []
    for key, out in outs.items():
        into = ins.get(key)
        other = out.counterpart_lot.site if out.counterpart_lot else None
        where = f"{other.name} (id {other.id})" if other else "the other site"
        if into is None:
            problems.append(Problem(out.site_id, out.id, out.sequence, out.lot_id,
                                    f"transfer out #{out.sequence} of {num_text(out.mg)} mg to {where} has no "
                                    "transfer in there"))
        elif (into.lot_id, into.counterpart_lot_id, into.mg, into.units) != (
            out.counterpart_lot_id, out.lot_id, out.mg, out.units
        ):
            problems.append(Problem(into.site_id, into.id, into.sequence, into.lot_id,
                                    f"transfer in #{into.sequence} does not match transfer out #{out.sequence} "
                                    f"of site id {out.site_id} (lot or quantity differs)"))
    for key, into in ins.items():
        if key not in outs:
            problems.append(Problem(into.site_id, into.id, into.sequence, into.lot_id,
                                    f"transfer in #{into.sequence} of {num_text(into.mg)} mg names no transfer out "
                                    "at the sending site"))
    return [p for p in problems if p.site_id in site_ids]


def ledger_checkpoint_payload(site_ids: Iterable[int] | None = None) -> dict[str, Any]:
    """Each site's chain head now: site, DEA registration, entry number, head hash."""
    heads = SiteLedgerHead.objects.select_related("site").order_by("site_id")
    if site_ids is not None:
        heads = heads.filter(site_id__in=list(site_ids))
    return {
        "created_at": checkpoints.utc_iso(timezone.now()),
        "sites": [
            {"site_id": h.site_id, "site": h.site.name, "dea_registration": h.site.dea_registration,
             "sequence": h.last_sequence, "head_hash": h.last_hash}
            for h in heads
        ],
    }


def checkpoint_problems(payload: dict[str, Any], site_ids: set[int]) -> list[Problem]:
    """The checkpoint's entry of each site must still be in the chain with the same hash."""
    problems: list[Problem] = []
    when = payload.get("created_at", "?")
    for item in payload.get("sites", []):
        site_id, sequence, expected = int(item["site_id"]), int(item["sequence"]), str(item["head_hash"])
        if site_id not in site_ids or sequence == 0:
            continue
        row = LedgerEntry.objects.filter(site_id=site_id, sequence=sequence).first()
        if row is None:
            last = LedgerEntry.objects.filter(site_id=site_id).order_by("-sequence").first()
            problems.append(Problem(site_id, None, sequence, None,
                                    f"the checkpoint of {when} has entry #{sequence} (hash {expected[:16]}…) but "
                                    f"the chain ends at entry #{last.sequence if last else 0}: entries "
                                    f"#{(last.sequence if last else 0) + 1}–#{sequence} were removed"))
        elif row.entry_hash != expected:
            problems.append(Problem(site_id, row.id, sequence, row.lot_id,
                                    f"entry #{sequence} differs from the checkpoint of {when}: the chain up to it "
                                    "was rewritten"))
    return problems


def site_integrity(*, by: Actor, site_id: int) -> ChainCheck:
    require(by, Perm.LEDGER_ADMIN)
    site = site_of(by, site_id)
    result = chain_check(site=site)
    audit_record(by=by, action=AuditAction.VIEW, object_type="ledger_verify", object_id=site.id,
                 detail={"ok": result.ok, "entries": result.entries_checked})
    return result


def inventories(*, by: Actor, site_id: int) -> list[InventoryRecord]:
    require(by, Perm.LEDGER_VIEW)
    site = site_of(by, site_id)
    audit_record(by=by, action=AuditAction.VIEW, object_type="ledger_inventories", object_id=site.id)
    return list(InventoryRecord.objects.filter(site=site).select_related("taken_by", "witness")
                .prefetch_related(Prefetch("counts", queryset=LedgerEntry.objects.only("id", "inventory_id"))))


def inventory_get(*, by: Actor, inventory_id: int) -> tuple[InventoryRecord, list[LedgerEntry]]:
    require(by, Perm.LEDGER_VIEW)
    record = (InventoryRecord.objects.select_related("site", "taken_by", "witness")
              .filter(id=inventory_id, organization=by.organization).first())
    if record is None:
        raise Http404("No such inventory in your organisation.")
    counts = list(entries_qs().filter(inventory=record).order_by("lot__product__name", "lot__lot_number"))
    return record, counts
