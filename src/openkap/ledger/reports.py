"""DEA-ready reports of the ledger as one shape (title, header facts, columns, rows)
that the screen, CSV and PDF all render, so the three never disagree.

Each builder checks ``LEDGER_VIEW`` and audits the read (VIEW on screen, EXPORT
for a file) with the ids of the patients it shows.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from django.template.loader import render_to_string
from django.utils import timezone

from openkap import checkpoints
from openkap.accounts.authz import Actor, require
from openkap.accounts.models import Site
from openkap.audit.models import AuditAction
from openkap.audit.services import audit_record
from openkap.core import ledger as core
from openkap.core.authz import Perm
from openkap.core.csvsafe import SafeWriter
from openkap.ledger import selectors
from openkap.ledger.models import InventoryRecord, LedgerEntry, Product
from openkap.ledger.services import DESTRUCTION_METHODS, LOSS_TYPES, site_of

K = core.EntryKind
# WeasyPrint narrates every layout step at INFO; the clinic's logs need none of it.
logging.getLogger("weasyprint.progress").setLevel(logging.WARNING)
KETAMINE_DEA_CODE = "7285"  # 21 CFR 1308.13(c)(7): ketamine, its salts, isomers and salts of isomers


def num(value: Decimal | None) -> str:
    if value is None:
        return ""
    text = format(value.normalize(), "f")
    return "0" if text in ("-0", "0") else text


def qty(units: Decimal | None, unit: str) -> str:
    """An amount with its unit, counted things in the plural: 0.4 mL, 1 device, 19 devices."""
    if units is None:
        return ""
    return f"{num(units)} {unit}{'s' if unit != 'mL' and abs(units) != 1 else ''}"


def local(moment: datetime) -> str:
    return timezone.localtime(moment).strftime("%Y-%m-%d %H:%M")


@dataclass
class Report:
    slug: str
    title: str
    site: Site
    columns: list[str]
    rows: list[list[str]] = field(default_factory=list)
    facts: list[tuple[str, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    signatures: list[str] = field(default_factory=list)
    # A signed checkpoint printed with the report (the biennial inventory): label, value.
    checkpoint: list[tuple[str, str]] = field(default_factory=list)
    period: tuple[date, date] | None = None
    generated_at: datetime = field(default_factory=timezone.now)
    generated_by: str = ""

    @property
    def filename(self) -> str:
        span = f"-{self.period[0]:%Y%m%d}-{self.period[1]:%Y%m%d}" if self.period else ""
        return f"{self.slug}-site{self.site.id}{span}"


def _audit(by: Actor, report: Report, action: AuditAction, patient_ids: set[int], object_id: object = "") -> None:
    detail: dict[str, object] = {"report": report.slug, "site": report.site.id,
                                 "patient_ids": sorted(patient_ids)}
    if report.period:
        detail |= {"start": report.period[0].isoformat(), "end": report.period[1].isoformat()}
    audit_record(by=by, action=action, object_type="ledger_report", object_id=object_id or report.site.id,
                 detail=detail)


def _new(by: Actor, slug: str, title: str, site: Site, columns: list[str],
         period: tuple[date, date] | None = None) -> Report:
    return Report(slug, title, site, columns, period=period, generated_by=by.user.full_name,
                  facts=[("Registrant", site.organization.name), ("Site", site.name),
                         ("Address", f"{site.address_line1}, {site.city}, {site.state} {site.postal_code}"),
                         ("DEA registration", site.dea_registration)])


def _product_facts(product: Product) -> list[str]:
    return [product.name, product.ndc or f"DEA code {KETAMINE_DEA_CODE}", product.get_form_display(),
            product.strength_label, qty(product.package_size, product.unit)]


def _people(entry: LedgerEntry) -> str:
    return ", ".join(w.full_name for w in (entry.witness, entry.second_witness) if w is not None)


def _what(entry: LedgerEntry) -> str:
    """The entry's subject in a few words (patient, supplier, other site, count...)."""
    detail = entry.detail
    if entry.patient is not None:
        text = f"{entry.patient.legal_name} ({entry.patient.mrn})"
        return text + (f", session {entry.dosing_session_id}" if entry.dosing_session_id else "")
    if entry.kind == K.RECEIPT and entry.supplier:
        return f"{entry.supplier.name} (DEA {entry.supplier.dea_number}), invoice {detail.get('invoice', '')}"
    if entry.kind in (K.TRANSFER_OUT, K.TRANSFER_IN) and entry.counterpart_lot:
        direction = "to" if entry.kind == K.TRANSFER_OUT else "from"
        site = entry.counterpart_lot.site
        return f"{direction} {site.name} (DEA {site.dea_registration})"
    if entry.kind == K.DESTRUCTION:
        text = DESTRUCTION_METHODS.get(detail.get("method", ""), "")
        return text + (f": {detail['reverse_distributor']}" if detail.get("reverse_distributor") else "")
    if entry.kind == K.LOSS:
        return LOSS_TYPES.get(detail.get("loss_type", ""), "")
    if entry.kind == K.COUNT:
        found = f"book {qty(entry.units - (entry.discrepancy_units or 0), entry.unit)}"
        if entry.discrepancy_units:
            found += f", difference {qty(entry.discrepancy_units, entry.unit)}"
        return found + (" (estimated)" if detail.get("estimated") else "")
    if entry.refers_to is not None:
        return f"{'corrects' if entry.kind == K.CORRECTION else 'adjusts count'} {entry.refers_to.number}"
    return ""


# --- the reports -----------------------------------------------------------------------------------


def lot_report(*, by: Actor, lot_id: int, action: AuditAction) -> Report:
    ledger = selectors.lot_ledger(by=by, lot_id=lot_id, action=action)
    lot = ledger.lot
    report = _new(by, "lot-ledger", f"Running ledger: {lot.product.name}, lot {lot.lot_number}", lot.site, [
        "Entry", "Date and time", "Kind", "Change mg", f"Change {lot.product.unit}", "On hand mg",
        f"On hand {lot.product.unit}", "Recorded by", "Witnesses", "Details", "Reason",
    ])
    report.facts += [("Product", f"{lot.product.name} · {lot.product.strength_label}"),
                     ("NDC", lot.product.ndc or f"none (compounded); DEA code {KETAMINE_DEA_CODE}"),
                     ("Lot", lot.lot_number), ("Expires", f"{lot.expires_on:%Y-%m-%d}"),
                     ("Supplier", f"{lot.supplier.name}, DEA {lot.supplier.dea_number}")]
    for line in ledger.lines:
        e = line.entry
        kind = e.get_kind_display() + (f" (corrected by {line.corrected_by.number})" if line.corrected_by else "")
        report.rows.append([e.number, local(e.occurred_at), kind, num(line.effect.mg), num(line.effect.units),
                            num(line.balance.mg), num(line.balance.units), e.recorded_by.full_name, _people(e),
                            _what(e), e.reason])
    report.notes.append(f"On hand: {num(ledger.on_hand.mg)} mg ({qty(ledger.on_hand.units, lot.product.unit)}).")
    return report


def _site_entries(site: Site, kinds: list[K], period: tuple[date, date]) -> list[LedgerEntry]:
    t0, t1 = selectors.period_bounds(*period)
    return list(selectors.entries_qs().filter(site=site, kind__in=kinds, occurred_at__gte=t0, occurred_at__lt=t1)
                .order_by("occurred_at", "sequence"))


def _corrected_ids(site: Site) -> set[int]:
    return set(LedgerEntry.objects.filter(site=site, kind=K.CORRECTION).values_list("refers_to_id", flat=True))


def administration_report(*, by: Actor, site_id: int, start: date, end: date, action: AuditAction) -> Report:
    require(by, Perm.LEDGER_VIEW)
    site = site_of(by, site_id)
    report = _new(by, "administrations", "Administration log by patient", site, [
        "Patient", "MRN", "Address", "Date and time", "Product", "Strength", "Lot", "mg", "Units",
        "Administered by", "Dosing session", "Status",
    ], (start, end))
    entries = _site_entries(site, [K.ADMINISTRATION], (start, end))
    corrected = _corrected_ids(site)
    entries.sort(key=lambda e: (e.patient.legal_family_name, e.patient.legal_given_name, e.patient_id, e.occurred_at)
                 if e.patient else ("", "", 0, e.occurred_at))
    for e in entries:
        p = e.patient
        report.rows.append([
            p.legal_name if p else "", p.mrn if p else "", " ".join(p.address.split()) if p else "",
            local(e.occurred_at), e.lot.product.name, e.lot.product.strength_label, e.lot.lot_number,
            num(e.mg), qty(e.units, e.unit), e.recorded_by.full_name,
            str(e.dosing_session_id or ""), "corrected" if e.id in corrected else "",
        ])
    report.notes.append(f"{len(entries)} administrations to {len({e.patient_id for e in entries})} patients.")
    _audit(by, report, action, {e.patient_id for e in entries if e.patient_id})
    return report


def waste_report(*, by: Actor, site_id: int, start: date, end: date, action: AuditAction) -> Report:
    require(by, Perm.LEDGER_VIEW)
    site = site_of(by, site_id)
    report = _new(by, "waste", "Waste log with witnesses", site, [
        "Entry", "Date and time", "Product", "Lot", "mg", "Units", "Wasted by", "Witness", "Patient / session",
        "Reason", "Status",
    ], (start, end))
    entries = _site_entries(site, [K.WASTE], (start, end))
    corrected = _corrected_ids(site)
    for e in entries:
        report.rows.append([e.number, local(e.occurred_at), e.lot.product.name, e.lot.lot_number, num(e.mg),
                            qty(e.units, e.unit), e.recorded_by.full_name, _people(e), _what(e), e.reason,
                            "corrected" if e.id in corrected else ""])
    _audit(by, report, action, {e.patient_id for e in entries if e.patient_id})
    return report


def form41_report(*, by: Actor, site_id: int, start: date, end: date, action: AuditAction) -> Report:
    require(by, Perm.LEDGER_VIEW)
    site = site_of(by, site_id)
    report = _new(by, "form-41", "DEA Form 41 data: controlled substances destroyed", site, [
        "Date", "NDC / DEA code", "Name", "Form", "Strength", "Container size", "Lot", "Quantity destroyed",
        "mg", "Method", "Location", "Reverse distributor", "Witness 1", "Witness 2", "Recorded by",
    ], (start, end))
    entries = _site_entries(site, [K.DESTRUCTION], (start, end))
    corrected = _corrected_ids(site)
    for e in entries:
        name, code, form, strength, size = _product_facts(e.lot.product)
        distributor = e.detail.get("reverse_distributor", "")
        if distributor:
            distributor += f" (DEA {e.detail.get('reverse_distributor_dea', '')})"
        report.rows.append([
            f"{timezone.localtime(e.occurred_at):%Y-%m-%d}", code, name, form, strength, size, e.lot.lot_number,
            qty(e.units, e.unit), num(e.mg),
            DESTRUCTION_METHODS.get(e.detail.get("method", ""), "") + (" (corrected)" if e.id in corrected else ""),
            e.detail.get("location", ""), distributor,
            e.witness.full_name if e.witness else "", e.second_witness.full_name if e.second_witness else "",
            e.recorded_by.full_name,
        ])
    report.notes.append("The two witnesses certify under penalty of perjury that the substances were "
                        "rendered non-retrievable or delivered to the reverse distributor as listed.")
    report.signatures = ["Witness 1", "Witness 2"]
    _audit(by, report, action, set())
    return report


def form106_report(*, by: Actor, site_id: int, start: date, end: date, action: AuditAction) -> Report:
    require(by, Perm.LEDGER_VIEW)
    site = site_of(by, site_id)
    report = _new(by, "form-106", "DEA Form 106 data: theft or loss of controlled substances", site, [
        "Date discovered", "Recorded", "Type of theft or loss", "NDC / DEA code", "Name", "Form", "Strength",
        "Container size", "Lot", "Quantity lost", "mg", "Police report", "Circumstances", "Recorded by",
    ], (start, end))
    entries = _site_entries(site, [K.LOSS], (start, end))
    corrected = _corrected_ids(site)
    for e in entries:
        name, code, form, strength, size = _product_facts(e.lot.product)
        report.rows.append([
            e.detail.get("discovered_on", ""), local(e.occurred_at),
            LOSS_TYPES.get(e.detail.get("loss_type", ""), "") + (" (corrected)" if e.id in corrected else ""),
            code, name, form, strength, size, e.lot.lot_number, qty(e.units, e.unit), num(e.mg),
            e.detail.get("police_report", ""), e.reason, e.recorded_by.full_name,
        ])
    report.notes.append("A theft or significant loss is reported to the DEA Field Division in writing within one "
                        "business day of discovery, then on Form 106.")
    _audit(by, report, action, set())
    return report


def inventory_report(*, by: Actor, inventory_id: int, action: AuditAction) -> Report:
    record, counts = selectors.inventory_get(by=by, inventory_id=inventory_id)
    report = _new(by, "inventory", record.get_kind_display(), record.site, [
        "Name", "NDC / DEA code", "Form", "Strength", "Container size", "Lot", "Expires", "Counted",
        "mg", "Count", "Book at count", "Difference",
    ])
    report.facts += [
        ("Taken", f"{local(record.taken_at)}, {record.get_business_time_display().lower()}"),
        ("Taken by", record.taken_by.full_name), ("Witness", record.witness.full_name),
        ("Signed", f"{record.signature}, {local(record.signed_at)}"),
    ]
    for e in counts:
        name, code, form, strength, size = _product_facts(e.lot.product)
        book = e.units - (e.discrepancy_units or 0)
        report.rows.append([name, code, form, strength, size, e.lot.lot_number, f"{e.lot.expires_on:%Y-%m-%d}",
                            qty(e.units, e.unit), num(e.mg), "estimated" if e.detail.get("estimated") else "exact",
                            qty(book, e.unit), num(e.discrepancy_units)])
    if record.notes:
        report.notes.append(record.notes)
    report.notes.append("Opened containers of Schedule III substances may be estimated unless a container holds "
                        "more than 1,000 units.")
    report.signatures = [f"Taken by: {record.taken_by.full_name}", f"Witness: {record.witness.full_name}"]
    report.checkpoint = _printed_checkpoint(inventory_checkpoint_payload(record))
    _audit(by, report, action, set(), object_id=record.id)
    return report


def inventory_checkpoint_payload(record: InventoryRecord) -> dict[str, Any]:
    """The site's chain at the inventory's last count, as a ledger checkpoint: printed
    and signed with the inventory, paper kept for two years becomes a checkpoint that
    no one who can write the database can rewind (docs/adr/0012-tamper-evidence.md)."""
    last = record.counts.order_by("-sequence").first()
    site = record.site
    return {
        "kind": "ledger",
        "created_at": checkpoints.utc_iso(record.taken_at),
        "inventory_id": record.id,
        "sites": [{"site_id": site.id, "site": site.name, "dea_registration": site.dea_registration,
                   "sequence": last.sequence if last else 0, "head_hash": last.entry_hash if last else ""}],
    }


def _printed_checkpoint(payload: dict[str, Any]) -> list[tuple[str, str]]:
    entry = payload["sites"][0]
    return [("Site", f"{entry['site']} (id {entry['site_id']}, DEA {entry['dea_registration']})"),
            ("Entry", f"#{entry['sequence']}"), ("Head hash", entry["head_hash"]),
            ("Time (UTC)", payload["created_at"]), ("Inventory", str(payload["inventory_id"])),
            ("Signature", f"hmac-sha256:{checkpoints.signature(payload)}" if checkpoints.configured()
             else "not signed: the server has no OPENKAP_CHECKPOINT_KEY")]


def reconciliation_report(*, by: Actor, site_id: int, start: date, end: date, action: AuditAction) -> Report:
    rec = selectors.site_reconciliation(by=by, site_id=site_id, start=start, end=end, action=action)
    report = _new(by, "reconciliation", "Reconciliation", rec.site, [
        "Product", "Lot", "Opening", "Received", "Transferred in", "Administered", "Wasted", "Transferred out",
        "Destroyed", "Lost", "Adjustments", "Expected on hand", "Last count", "Difference at count",
    ], (start, end))
    for lot, r in rec.lots:
        u = lot.product.unit
        report.rows.append([
            f"{lot.product.name}", lot.lot_number,
            *(f"{num(q.mg)} mg / {qty(q.units, u)}" for q in (
                r.opening, r.received, r.transferred_in, r.administered, r.wasted, r.transferred_out, r.destroyed,
                r.lost, r.adjustments, r.expected_on_hand)),
            qty(r.last_counted.units, u) if r.last_counted else "no count",
            ("" if r.discrepancy is None else f"{num(r.discrepancy.mg)} mg"
             + (" (adjusted)" if r.discrepancy_adjusted else "" if not r.discrepancy.units else " (open)")),
        ])
    for m in rec.administrations_without_discharge:
        report.notes.append(f"Administration without a completed session: session {m.session.id} "
                            f"({m.session.get_status_display()}), {num(m.administered.mg)} mg.")
    for s in rec.discharges_without_administration:
        report.notes.append(f"Discharged session {s.id} ({s.patient.mrn}, {local(s.discharged_at) if s.discharged_at else 'no time'}) "
                            "has no administration entry.")
    for c in rec.open_discrepancies:
        report.notes.append(f"Open discrepancy: count {c.number} of lot {c.lot.lot_number} on {local(c.occurred_at)}, "
                            f"{num(c.discrepancy_mg)} mg, awaiting an admin's adjustment.")
    report.notes.append(f"{len(rec.matched)} dosing sessions matched to their administrations.")
    return report


SITE_REPORTS: dict[str, tuple[str, Callable[..., Report]]] = {
    "administrations": ("Administration log by patient", administration_report),
    "waste": ("Waste log with witnesses", waste_report),
    "form-41": ("Form 41: destruction", form41_report),
    "form-106": ("Form 106: theft or loss", form106_report),
}


# --- files ----------------------------------------------------------------------------------------------


def as_csv(report: Report) -> str:
    out = io.StringIO()
    writer = SafeWriter(out)
    writer.writerow([f"{report.title}"])
    for label, value in report.facts:
        writer.writerow([label, value])
    if report.period:
        writer.writerow(["Period", f"{report.period[0]:%Y-%m-%d} to {report.period[1]:%Y-%m-%d}"])
    writer.writerow(["Generated", f"{local(report.generated_at)} by {report.generated_by}"])
    writer.writerow([])
    writer.writerow(report.columns)
    writer.writerows(report.rows)
    if report.notes:
        writer.writerow([])
        for note in report.notes:
            writer.writerow([note])
    if report.checkpoint:
        writer.writerow([])
        writer.writerow(["Ledger checkpoint (signed)"])
        writer.writerows(report.checkpoint)
    return out.getvalue()


def as_pdf(report: Report) -> bytes:
    from weasyprint import HTML  # heavy: loaded only when a PDF is asked for

    html = render_to_string("ledger/report_pdf.html", {"report": report})
    return HTML(string=html).write_pdf()
