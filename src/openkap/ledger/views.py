"""Controlled-substance ledger pages: thin views that parse a form, call a service or
selector, and render. Nothing here deletes or edits a record: mistakes are
corrected by reversing entries."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.utils import timezone
from django.views.decorators.http import require_POST

from openkap.accounts import selectors as accounts_selectors
from openkap.accounts.authz import Actor
from openkap.accounts.models import Site
from openkap.audit.models import AuditAction
from openkap.core.authz import Perm
from openkap.ledger import reports, selectors, services
from openkap.ledger.forms import (
    AdministerForm,
    CountForm,
    DestroyForm,
    InventoryForm,
    LossForm,
    PeriodForm,
    ProductForm,
    ReasonForm,
    ReceiveForm,
    SupplierForm,
    TransferForm,
    WasteForm,
)
from openkap.ledger.models import LedgerEntry, Lot
from openkap.web.decorators import apply_errors, staff_view

FORMATS = {"csv", "pdf"}


def _period(request: HttpRequest) -> tuple[PeriodForm, date, date]:
    start, end = selectors.default_period()
    form = PeriodForm(request.GET or None, initial={"start": start, "end": end})
    if request.GET and form.is_valid():
        start, end = form.cleaned_data["start"], form.cleaned_data["end"]
    return form, start, end


def _file(report: reports.Report, fmt: str) -> HttpResponse:
    if fmt == "csv":
        response = HttpResponse(reports.as_csv(report), content_type="text/csv; charset=utf-8")
    else:
        response = HttpResponse(reports.as_pdf(report), content_type="application/pdf")
    response["Content-Disposition"] = f'attachment; filename="{report.filename}.{fmt}"'
    return response


def _fmt(request: HttpRequest) -> str:
    fmt = request.GET.get("format", "")
    return fmt if fmt in FORMATS else ""


def _lot_context(actor: Actor, lot: Lot) -> dict[str, Any]:
    return {"lot": lot, "site": lot.site, "can_record": actor.can(Perm.LEDGER_RECORD)}


def _entry_form(request: HttpRequest, *, title: str, form: Any, lot: Lot | None, site: Site,
                submit: str, intro: str = "", status: int = 200) -> TemplateResponse:
    return TemplateResponse(request, "ledger/entry_form.html", {
        "title": title, "form": form, "lot": lot, "site": site, "submit": submit, "intro": intro,
    }, status=status)


# --- overview pages -----------------------------------------------------------------------------


@staff_view(Perm.LEDGER_VIEW)
def home(request: HttpRequest, actor: Actor) -> HttpResponse:
    sites = selectors.ledger_sites(by=actor)
    if len(sites) == 1:
        return redirect("ledger:site", site_id=sites[0][0].id)
    return TemplateResponse(request, "ledger/home.html", {"sites": sites})


@staff_view(Perm.LEDGER_VIEW)
def site(request: HttpRequest, actor: Actor, site_id: int) -> HttpResponse:
    overview = selectors.site_overview(by=actor, site_id=site_id, include_empty=bool(request.GET.get("all")))
    return TemplateResponse(request, "ledger/site.html", {
        "o": overview, "site": overview.site, "show_all": bool(request.GET.get("all")),
        "can_record": actor.can(Perm.LEDGER_RECORD), "can_admin": actor.can(Perm.LEDGER_ADMIN),
    })


@staff_view(Perm.LEDGER_VIEW)
def lot(request: HttpRequest, actor: Actor, lot_id: int) -> HttpResponse:
    fmt = _fmt(request)
    if fmt:
        return _file(reports.lot_report(by=actor, lot_id=lot_id, action=AuditAction.EXPORT), fmt)
    ledger = selectors.lot_ledger(by=actor, lot_id=lot_id)
    return TemplateResponse(request, "ledger/lot.html", {
        **_lot_context(actor, ledger.lot), "ledger": ledger, "can_admin": actor.can(Perm.LEDGER_ADMIN),
        "expired": ledger.lot.is_expired_on(timezone.localdate()),
    })


# --- recording ------------------------------------------------------------------------------------


@staff_view(Perm.LEDGER_RECORD)
def receive(request: HttpRequest, actor: Actor, site_id: int) -> HttpResponse:
    site_ = selectors.site_get(by=actor, site_id=site_id)
    form = ReceiveForm(
        request.POST or None,
        products=selectors.products_of(by=actor, site_id=site_.id),
        suppliers=selectors.suppliers_of(by=actor, reverse_distributors=False),
    )
    if request.method == "POST" and form.is_valid():
        d = form.cleaned_data
        try:
            entry = services.lot_receive(
                by=actor, site_id=site_.id, product_id=d["product"], lot_number=d["lot_number"],
                expires_on=d["expires_on"], supplier_id=d["supplier"], invoice_number=d["invoice_number"],
                containers=d["containers"], received_at=d["received_at"],
            )
        except ValidationError as exc:
            apply_errors(form, exc)
        else:
            messages.success(request, f"Received {entry.units.normalize():f} {entry.unit} of lot {entry.lot.lot_number} ({entry.number}).")
            return redirect("ledger:lot", lot_id=entry.lot_id)
    return _entry_form(request, title="Receive a lot", form=form, lot=None, site=site_, submit="Record receipt",
                       intro="Record what arrived against its invoice: one receipt per lot on the invoice.")


@staff_view(Perm.LEDGER_RECORD)
def administer(request: HttpRequest, actor: Actor, site_id: int) -> HttpResponse:
    site_ = selectors.site_get(by=actor, site_id=site_id)
    initial = {k: request.GET[k] for k in ("dosing_session", "lot") if request.GET.get(k, "").isdigit()}
    form = AdministerForm(
        request.POST or None, initial=initial | {"amount_in": "mg"},
        sessions=selectors.sessions_for_administration(by=actor, site_id=site_.id),
        lots=selectors.usable_lots(by=actor, site_id=site_.id),
    )
    if request.method == "POST" and form.is_valid():
        d = form.cleaned_data
        try:
            entry = services.ledger_administer(
                by=actor, dosing_session_id=d["dosing_session"], lot_id=d["lot"], occurred_at=d["occurred_at"],
                **form.mg_units(),
            )
        except ValidationError as exc:
            apply_errors(form, exc)
        else:
            messages.success(request, f"Administration {entry.number} recorded: {entry.mg.normalize():f} mg "
                                      f"({entry.units.normalize():f} {entry.unit}).")
            return redirect("ledger:lot", lot_id=entry.lot_id)
    return _entry_form(request, title="Record an administration", form=form, lot=None, site=site_,
                       submit="Record administration",
                       intro="For a dose given in a dosing session. The concentration comes from the lot, never typed.")


def _lot_entry_view(
    request: HttpRequest, actor: Actor, lot_id: int, *, title: str, submit: str, intro: str,
    make_form: Callable[[Lot, Any], Any], write: Callable[[Lot, dict[str, Any], Any], LedgerEntry | Any],
    done: Callable[[Any], str],
) -> HttpResponse:
    lot_ = selectors.lot_get(by=actor, lot_id=lot_id)
    form = make_form(lot_, request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            result = write(lot_, form.cleaned_data, form)
        except ValidationError as exc:
            apply_errors(form, exc)
        else:
            messages.success(request, done(result))
            return redirect("ledger:lot", lot_id=lot_.id)
    return _entry_form(request, title=title, form=form, lot=lot_, site=lot_.site, submit=submit, intro=intro)


def _sign(actor: Actor, d: dict[str, Any], prefix: str = "") -> None:
    services.witness_sign(by=actor, witness_id=d[f"{prefix}witness"], password=d[f"{prefix}witness_password"],
                          field=f"{prefix}witness_password")


def _recent_sessions(actor: Actor, lot_: Lot) -> list[Any]:
    return selectors.sessions_for_administration(by=actor, site_id=lot_.site_id)


@staff_view(Perm.LEDGER_RECORD)
def waste(request: HttpRequest, actor: Actor, lot_id: int) -> HttpResponse:
    def write(lot_: Lot, d: dict[str, Any], form: WasteForm) -> LedgerEntry:
        _sign(actor, d)
        return services.ledger_waste(by=actor, witness_id=d["witness"], lot_id=lot_.id,
                                     dosing_session_id=d["dosing_session"], reason=d["reason"], **form.mg_units())

    return _lot_entry_view(
        request, actor, lot_id, title="Record waste", submit="Record waste",
        intro="Drug drawn but not given. A second person watches it go and co-signs.",
        make_form=lambda lot_, data: WasteForm(data, witnesses=services.witness_candidates(actor),
                                               sessions=_recent_sessions(actor, lot_), initial={"amount_in": "mg"}),
        write=write, done=lambda e: f"Waste {e.number} recorded, witnessed by {e.witness.full_name}.",
    )


@staff_view(Perm.LEDGER_RECORD)
def count(request: HttpRequest, actor: Actor, lot_id: int) -> HttpResponse:
    def write(lot_: Lot, d: dict[str, Any], form: CountForm) -> LedgerEntry:
        _sign(actor, d)
        return services.ledger_count(by=actor, witness_id=d["witness"], lot_id=lot_.id, units=d["units"],
                                     estimated=d["estimated"])

    def done(e: LedgerEntry) -> str:
        if e.discrepancy_units:
            return (f"Count {e.number} recorded: it differs from the book by {e.discrepancy_units.normalize():f} "
                    f"{e.unit}. An admin must review and adjust it.")
        return f"Count {e.number} recorded: it matches the book."

    return _lot_entry_view(
        request, actor, lot_id, title="Count this lot", submit="Record count",
        intro="Count what is on the shelf with a witness. A difference from the book stays open until an admin adjusts it.",
        make_form=lambda lot_, data: CountForm(data, witnesses=services.witness_candidates(actor)),
        write=write, done=done,
    )


@staff_view(Perm.LEDGER_RECORD)
def transfer(request: HttpRequest, actor: Actor, lot_id: int) -> HttpResponse:
    def write(lot_: Lot, d: dict[str, Any], form: TransferForm) -> tuple[LedgerEntry, LedgerEntry]:
        return services.ledger_transfer(by=actor, lot_id=lot_.id, to_site_id=d["to_site"], note=d["note"],
                                        **form.mg_units())

    return _lot_entry_view(
        request, actor, lot_id, title="Transfer to another site", submit="Record transfer",
        intro="Each site keeps its own record: this writes a transfer out here and a transfer in there.",
        make_form=lambda lot_, data: TransferForm(
            data, sites=accounts_selectors.active_sites(by=actor).exclude(id=lot_.site_id),
            initial={"amount_in": "units"}),
        write=write, done=lambda pair: f"Transfer recorded: {pair[0].number} here, {pair[1].number} at {pair[1].site.name}.",
    )


@staff_view(Perm.LEDGER_RECORD)
def destroy(request: HttpRequest, actor: Actor, lot_id: int) -> HttpResponse:
    def write(lot_: Lot, d: dict[str, Any], form: DestroyForm) -> LedgerEntry:
        _sign(actor, d)
        _sign(actor, d, "second_")
        return services.ledger_destroy(
            by=actor, lot_id=lot_.id, witness_id=d["witness"], second_witness_id=d["second_witness"],
            method=d["method"], reverse_distributor_id=d["reverse_distributor"], location=d["location"],
            **form.mg_units(),
        )

    return _lot_entry_view(
        request, actor, lot_id, title="Destroy or return (DEA Form 41)", submit="Record destruction",
        intro="Two authorised witnesses see the drug rendered non-retrievable or handed to the reverse distributor.",
        make_form=lambda lot_, data: DestroyForm(
            data, witnesses=services.witness_candidates(actor), initial={"amount_in": "units"},
            distributors=selectors.suppliers_of(by=actor, reverse_distributors=True)),
        write=write, done=lambda e: f"Destruction {e.number} recorded for Form 41.",
    )


@staff_view(Perm.LEDGER_RECORD)
def loss(request: HttpRequest, actor: Actor, lot_id: int) -> HttpResponse:
    def write(lot_: Lot, d: dict[str, Any], form: LossForm) -> LedgerEntry:
        return services.ledger_loss(
            by=actor, lot_id=lot_.id, loss_type=d["loss_type"], discovered_on=d["discovered_on"],
            circumstances=d["circumstances"], police_report=d["police_report"], **form.mg_units(),
        )

    return _lot_entry_view(
        request, actor, lot_id, title="Report a loss or theft (DEA Form 106)", submit="Record loss",
        intro="Report a theft or significant loss to the DEA Field Division within one business day of discovery.",
        make_form=lambda lot_, data: LossForm(data, initial={"amount_in": "units"}),
        write=write, done=lambda e: f"Loss {e.number} recorded for Form 106.",
    )


def _reason_view(request: HttpRequest, actor: Actor, entry_id: int, *, title: str, submit: str, intro: str,
                 write: Callable[[str], Any], done: str) -> HttpResponse:
    entry = selectors.entry_get(by=actor, entry_id=entry_id)
    form = ReasonForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            write(form.cleaned_data["reason"])
        except ValidationError as exc:
            apply_errors(form, exc)
        else:
            messages.success(request, done)
            return redirect("ledger:lot", lot_id=entry.lot_id)
    return TemplateResponse(request, "ledger/reason_form.html", {
        "title": title, "form": form, "entry": entry, "lot": entry.lot, "site": entry.site, "submit": submit,
        "intro": intro,
    })


@staff_view(Perm.LEDGER_ADMIN)
def correct(request: HttpRequest, actor: Actor, entry_id: int) -> HttpResponse:
    return _reason_view(
        request, actor, entry_id, title="Correct an entry", submit="Record correction",
        intro="The entry stays as it was; a correction that reverses it is added and names it.",
        write=lambda reason: services.ledger_correct(by=actor, entry_id=entry_id, reason=reason),
        done="Correction recorded.",
    )


@staff_view(Perm.LEDGER_ADMIN)
def adjust(request: HttpRequest, actor: Actor, entry_id: int) -> HttpResponse:
    return _reason_view(
        request, actor, entry_id, title="Adjust the book to a count", submit="Record adjustment",
        intro="After investigating the difference, move the book to what was counted and say why.",
        write=lambda reason: services.ledger_adjust(by=actor, count_id=entry_id, reason=reason),
        done="Adjustment recorded: the book now matches the count.",
    )


# --- inventories -------------------------------------------------------------------------------------


@staff_view(Perm.LEDGER_VIEW)
def inventories(request: HttpRequest, actor: Actor, site_id: int) -> HttpResponse:
    records = selectors.inventories(by=actor, site_id=site_id)
    return TemplateResponse(request, "ledger/inventories.html", {
        "site": services.site_of(actor, site_id), "records": records, "can_record": actor.can(Perm.LEDGER_RECORD),
    })


@staff_view(Perm.LEDGER_RECORD)
def inventory_new(request: HttpRequest, actor: Actor, site_id: int) -> HttpResponse:
    site_ = selectors.site_get(by=actor, site_id=site_id)
    lots = [row.lot for row in selectors.site_overview(by=actor, site_id=site_id, include_empty=False).lots]
    form = InventoryForm(request.POST or None, witnesses=services.witness_candidates(actor), lots=lots,
                         initial={"kind": "biennial", "business_time": "close"})
    if request.method == "POST" and form.is_valid():
        d = form.cleaned_data
        try:
            _sign(actor, d)
            record = services.inventory_take(
                by=actor, site_id=site_.id, kind=d["kind"], business_time=d["business_time"],
                witness_id=d["witness"], counts=form.counts(), estimated_lot_ids=form.estimated_ids(),
                signature=d["signature"], taken_at=d["taken_at"], notes=d["notes"],
            )
        except ValidationError as exc:
            apply_errors(form, exc)
        else:
            messages.success(request, f"{record.get_kind_display()} signed and recorded.")
            return redirect("ledger:inventory", inventory_id=record.id)
    return TemplateResponse(request, "ledger/inventory_form.html", {"form": form, "site": site_})


@staff_view(Perm.LEDGER_VIEW)
def inventory(request: HttpRequest, actor: Actor, inventory_id: int) -> HttpResponse:
    fmt = _fmt(request)
    report = reports.inventory_report(by=actor, inventory_id=inventory_id,
                                      action=AuditAction.EXPORT if fmt else AuditAction.VIEW)
    if fmt:
        return _file(report, fmt)
    return TemplateResponse(request, "ledger/report.html", {"report": report, "site": report.site})


# --- reconciliation and reports ------------------------------------------------------------------


@staff_view(Perm.LEDGER_VIEW)
def reconciliation(request: HttpRequest, actor: Actor, site_id: int) -> HttpResponse:
    form, start, end = _period(request)
    fmt = _fmt(request)
    if fmt:
        return _file(reports.reconciliation_report(by=actor, site_id=site_id, start=start, end=end,
                                                   action=AuditAction.EXPORT), fmt)
    rec = selectors.site_reconciliation(by=actor, site_id=site_id, start=start, end=end)
    return TemplateResponse(request, "ledger/reconciliation.html", {
        "rec": rec, "site": rec.site, "form": form, "query": f"start={start:%Y-%m-%d}&end={end:%Y-%m-%d}",
        "can_record": actor.can(Perm.LEDGER_RECORD), "can_admin": actor.can(Perm.LEDGER_ADMIN),
    })


@staff_view(Perm.LEDGER_VIEW)
def report_index(request: HttpRequest, actor: Actor, site_id: int) -> HttpResponse:
    form, start, end = _period(request)
    return TemplateResponse(request, "ledger/reports.html", {
        "site": selectors.site_get(by=actor, site_id=site_id), "form": form, "reports": reports.SITE_REPORTS,
        "query": f"start={start:%Y-%m-%d}&end={end:%Y-%m-%d}",
    })


@staff_view(Perm.LEDGER_VIEW)
def site_report(request: HttpRequest, actor: Actor, site_id: int, report: str) -> HttpResponse:
    form, start, end = _period(request)
    fmt = _fmt(request)
    _, build = reports.SITE_REPORTS[report]
    built = build(by=actor, site_id=site_id, start=start, end=end,
                  action=AuditAction.EXPORT if fmt else AuditAction.VIEW)
    if fmt:
        return _file(built, fmt)
    return TemplateResponse(request, "ledger/report.html", {
        "report": built, "site": built.site, "form": form, "query": f"start={start:%Y-%m-%d}&end={end:%Y-%m-%d}",
    })


# --- formulary and integrity (admins) ----------------------------------------------------------


@staff_view(Perm.LEDGER_ADMIN)
def products(request: HttpRequest, actor: Actor, site_id: int) -> HttpResponse:
    site_ = selectors.site_get(by=actor, site_id=site_id)
    form = ProductForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            product = services.product_create(by=actor, site_id=site_.id, **form.cleaned_data)
        except ValidationError as exc:
            apply_errors(form, exc)
        else:
            messages.success(request, f"{product.name} added to the formulary of {site_.name}.")
            return redirect("ledger:products", site_id=site_.id)
    return TemplateResponse(request, "ledger/products.html", {
        "site": site_, "form": form, "products": selectors.products_of(by=actor, site_id=site_.id),
    })


@staff_view(Perm.LEDGER_ADMIN)
def suppliers(request: HttpRequest, actor: Actor) -> HttpResponse:
    form = SupplierForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            supplier = services.supplier_create(by=actor, **form.cleaned_data)
        except ValidationError as exc:
            apply_errors(form, exc)
        else:
            messages.success(request, f"{supplier.name} added.")
            return redirect("ledger:suppliers")
    return TemplateResponse(request, "ledger/suppliers.html", {
        "form": form, "suppliers": selectors.suppliers_of(by=actor),
    })


@require_POST
@staff_view(Perm.LEDGER_ADMIN)
def verify(request: HttpRequest, actor: Actor, site_id: int) -> HttpResponse:
    result = selectors.site_integrity(by=actor, site_id=site_id)
    if result.ok:
        messages.success(request, f"Chain intact: {result.entries_checked} entries checked; balances agree.")
    else:
        messages.error(request, "Ledger integrity check failed: " + "; ".join(p.what for p in result.problems))
    return redirect("ledger:site", site_id=site_id)
