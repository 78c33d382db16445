"""The controlled-substance ledger over JSON: the same services and selectors as the
web pages, one operation per use case. Witnesses co-sign with their password in
the request body, as at the screen."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Annotated, Any, Literal

from django.utils import timezone
from ninja import Query, Router, Schema, Status
from pydantic import Field

from openkap.accounts.requests import ApiRequest
from openkap.api.schemas import ErrorOut, ObjectId
from openkap.audit.models import AuditAction
from openkap.ledger import reports, selectors, services
from openkap.ledger.models import Product, Supplier

router = Router(tags=["ledger"])

ERRORS = {400: ErrorOut, 401: ErrorOut, 403: ErrorOut, 404: ErrorOut, 422: ErrorOut}
Amount = Annotated[Decimal, Field(ge=0, max_digits=16, decimal_places=6)]
Id = Annotated[int, Field(ge=1, le=2**62)]
Text = Annotated[str, Field(max_length=2000)]
Password = Annotated[str, Field(max_length=200)]


class AmountIn(Schema):
    mg: Amount | None = Field(None, description="mg of ketamine base; give this or units")
    units: Amount | None = Field(None, description="mL, devices or lozenges; give this or mg")


class EntryOut(Schema):
    id: int
    site_id: int
    sequence: int
    lot_id: int
    kind: str
    mg: Decimal
    units: Decimal
    unit: str
    strength_mg_per_unit: Decimal
    occurred_at: dt.datetime
    recorded_at: dt.datetime
    recorded_by_id: int
    witness_ids: list[int]
    refers_to_id: int | None
    reason: str
    dosing_session_id: int | None
    patient_id: int | None
    supplier_id: int | None
    counterpart_lot_id: int | None
    inventory_id: int | None
    discrepancy_mg: Decimal | None
    discrepancy_units: Decimal | None
    detail: dict[str, str]
    prev_hash: str
    entry_hash: str


class SiteOut(Schema):
    id: int
    name: str
    dea_registration: str
    lots_on_hand: int
    mg_on_hand: Decimal


class SiteLotOut(Schema):
    id: int
    site_id: int
    product_id: int
    product_name: str
    ndc: str
    strength_mg_per_unit: Decimal
    unit: str
    lot_number: str
    expires_on: dt.date
    expired: bool
    supplier_id: int
    on_hand_mg: Decimal
    on_hand_units: Decimal


class LedgerLineOut(Schema):
    entry: EntryOut
    change_mg: Decimal
    change_units: Decimal
    on_hand_mg: Decimal
    on_hand_units: Decimal
    corrected_by_id: int | None
    adjusted_by_id: int | None


class LotLedgerOut(Schema):
    lot: SiteLotOut
    lines: list[LedgerLineOut]


class ProductIn(Schema):
    name: str = Field(min_length=1, max_length=200)
    form: Literal["vial", "nasal_device", "lozenge"]
    strength_mg_per_unit: Amount
    package_size: Amount
    ndc: str = Field("", max_length=13)
    is_compounded: bool = False


class ProductOut(Schema):
    id: int
    site_id: int
    name: str
    ndc: str
    form: str
    unit: str
    strength_mg_per_unit: Decimal
    package_size: Decimal
    is_compounded: bool


class SupplierIn(Schema):
    name: str = Field(min_length=1, max_length=200)
    address: str = Field(min_length=1, max_length=1000)
    dea_number: str = Field(max_length=9)
    is_reverse_distributor: bool = False


class SupplierOut(Schema):
    id: int
    name: str
    address: str
    dea_number: str
    is_reverse_distributor: bool


class ReceiveIn(Schema):
    product_id: Id
    lot_number: str = Field(max_length=40)
    expires_on: dt.date
    supplier_id: Id
    invoice_number: str = Field(max_length=60)
    containers: int = Field(ge=1, le=services.MAX_CONTAINERS)
    received_at: dt.datetime | None = None


class AdministerIn(AmountIn):
    dosing_session_id: Id
    occurred_at: dt.datetime | None = None


class WasteIn(AmountIn):
    witness_id: Id
    witness_password: Password
    dosing_session_id: Id | None = None
    reason: str = Field("", max_length=500)
    occurred_at: dt.datetime | None = None


class CountIn(Schema):
    witness_id: Id
    witness_password: Password
    units: Amount
    estimated: bool = False


class TransferIn(AmountIn):
    to_site_id: Id
    note: str = Field("", max_length=500)


class TransferOut(Schema):
    transfer_out: EntryOut
    transfer_in: EntryOut


class DestroyIn(AmountIn):
    witness_id: Id
    witness_password: Password
    second_witness_id: Id
    second_witness_password: Password
    method: Literal["reverse_distributor", "on_site"]
    reverse_distributor_id: Id | None = None
    location: str = Field(max_length=200)


class LossIn(AmountIn):
    loss_type: Literal[tuple(services.LOSS_TYPES)]  # type: ignore[valid-type]
    discovered_on: dt.date
    circumstances: Text
    police_report: str = Field("", max_length=60)


class LedgerReasonIn(Schema):
    reason: Text


class InventoryCountIn(Schema):
    lot_id: Id
    units: Amount
    estimated: bool = False


class InventoryIn(Schema):
    kind: Literal["initial", "biennial", "other"]
    business_time: Literal["opening", "close"]
    witness_id: Id
    witness_password: Password
    counts: list[InventoryCountIn] = Field(max_length=500)
    signature: str = Field(max_length=200)
    taken_at: dt.datetime | None = None
    notes: Text = ""


class InventoryOut(Schema):
    id: int
    site_id: int
    kind: str
    business_time: str
    taken_at: dt.datetime
    taken_by_id: int
    witness_id: int
    signature: str
    signed_at: dt.datetime
    count_entry_ids: list[int]


class QuantityOut(Schema):
    mg: Decimal
    units: Decimal


class LotReconciliationOut(Schema):
    lot_id: int
    lot_number: str
    product_name: str
    opening: QuantityOut
    received: QuantityOut
    transferred_in: QuantityOut
    administered: QuantityOut
    wasted: QuantityOut
    transferred_out: QuantityOut
    destroyed: QuantityOut
    lost: QuantityOut
    adjustments: QuantityOut
    expected_on_hand: QuantityOut
    last_count_entry: str | None
    last_counted: QuantityOut | None
    discrepancy: QuantityOut | None
    discrepancy_adjusted: bool


class SessionMatchOut(Schema):
    dosing_session_id: int
    patient_id: int
    status: str
    administered: QuantityOut
    entry_ids: list[int]


class ReconciliationOut(Schema):
    site_id: int
    start: dt.date
    end: dt.date
    lots: list[LotReconciliationOut]
    matched: list[SessionMatchOut]
    administrations_without_discharge: list[SessionMatchOut]
    discharges_without_administration: list[int]
    open_discrepancy_entry_ids: list[int]


class LedgerReportOut(Schema):
    title: str
    site_id: int
    start: dt.date | None
    end: dt.date | None
    facts: list[list[str]]
    columns: list[str]
    rows: list[list[str]]
    notes: list[str]


class ProblemOut(Schema):
    site_id: int
    entry_id: int | None
    sequence: int | None
    lot_id: int | None
    what: str


class VerifyOut(Schema):
    ok: bool
    entries_checked: int
    problems: list[ProblemOut]


class PeriodQuery(Schema):
    start: dt.date | None = None
    end: dt.date | None = None


def _period(q: PeriodQuery) -> tuple[dt.date, dt.date]:
    start, end = selectors.default_period()
    return q.start or start, q.end or end


def _q(q: Any) -> QuantityOut:
    return QuantityOut(mg=q.mg, units=q.units)


def _lot_out(lot: Any, on_hand: Any) -> SiteLotOut:
    return SiteLotOut(
        id=lot.id, site_id=lot.site_id, product_id=lot.product_id, product_name=lot.product.name,
        ndc=lot.product.ndc, strength_mg_per_unit=lot.product.strength_mg_per_unit, unit=lot.product.unit,
        lot_number=lot.lot_number, expires_on=lot.expires_on,
        expired=lot.is_expired_on(timezone.localdate()), supplier_id=lot.supplier_id,
        on_hand_mg=on_hand.mg, on_hand_units=on_hand.units,
    )


def _report_out(report: reports.Report) -> LedgerReportOut:
    return LedgerReportOut(
        title=report.title, site_id=report.site.id,
        start=report.period[0] if report.period else None, end=report.period[1] if report.period else None,
        facts=[[label, value] for label, value in report.facts], columns=report.columns, rows=report.rows,
        notes=report.notes,
    )


# --- sites, formulary -------------------------------------------------------------------------


@router.get("/sites", response={200: list[SiteOut], **ERRORS}, summary="Sites with stock on hand")
def list_sites(request: ApiRequest) -> list[SiteOut]:
    return [SiteOut(id=s.id, name=s.name, dea_registration=s.dea_registration, lots_on_hand=n, mg_on_hand=mg)
            for s, n, mg in selectors.ledger_sites(by=request.auth)]


@router.get("/sites/{site_id}/lots", response={200: list[SiteLotOut], **ERRORS}, summary="Lots of a site with their balance")
def list_lots(request: ApiRequest, site_id: ObjectId, include_empty: bool = False) -> list[SiteLotOut]:
    overview = selectors.site_overview(by=request.auth, site_id=site_id, include_empty=include_empty)
    return [_lot_out(row.lot, row.on_hand) for row in overview.lots]


@router.post("/sites/{site_id}/lots", response={201: EntryOut, **ERRORS}, summary="Receive a lot on an invoice")
def receive_lot(request: ApiRequest, site_id: ObjectId, payload: ReceiveIn) -> Status:
    return Status(201, services.lot_receive(by=request.auth, site_id=site_id, **payload.dict()))


@router.get("/sites/{site_id}/products", response={200: list[ProductOut], **ERRORS}, summary="A site's formulary")
def list_products(request: ApiRequest, site_id: ObjectId) -> list[Product]:
    return selectors.products_of(by=request.auth, site_id=site_id)


@router.post("/sites/{site_id}/products", response={201: ProductOut, **ERRORS}, summary="Add a product to a site's formulary")
def create_product(request: ApiRequest, site_id: ObjectId, payload: ProductIn) -> Status:
    return Status(201, services.product_create(by=request.auth, site_id=site_id, **payload.dict()))


@router.get("/suppliers", response={200: list[SupplierOut], **ERRORS}, summary="Suppliers and reverse distributors")
def list_suppliers(request: ApiRequest) -> list[Supplier]:
    return selectors.suppliers_of(by=request.auth)


@router.post("/suppliers", response={201: SupplierOut, **ERRORS}, summary="Add a supplier or reverse distributor")
def create_supplier(request: ApiRequest, payload: SupplierIn) -> Status:
    return Status(201, services.supplier_create(by=request.auth, **payload.dict()))


# --- one lot ---------------------------------------------------------------------------------------


@router.get("/lots/{lot_id}/entries", response={200: LotLedgerOut, **ERRORS}, summary="Running ledger of a lot")
def lot_entries(request: ApiRequest, lot_id: ObjectId) -> LotLedgerOut:
    ledger = selectors.lot_ledger(by=request.auth, lot_id=lot_id)
    return LotLedgerOut(lot=_lot_out(ledger.lot, ledger.on_hand), lines=[
        LedgerLineOut(entry=EntryOut.from_orm(line.entry), change_mg=line.effect.mg, change_units=line.effect.units,
                      on_hand_mg=line.balance.mg, on_hand_units=line.balance.units,
                      corrected_by_id=line.corrected_by.id if line.corrected_by else None,
                      adjusted_by_id=line.adjusted_by.id if line.adjusted_by else None)
        for line in ledger.lines
    ])


@router.post("/lots/{lot_id}/administrations", response={201: EntryOut, **ERRORS}, summary="Record an administration")
def administer(request: ApiRequest, lot_id: ObjectId, payload: AdministerIn) -> Status:
    return Status(201, services.ledger_administer(by=request.auth, lot_id=lot_id, **payload.dict()))


@router.post("/lots/{lot_id}/wastes", response={201: EntryOut, **ERRORS}, summary="Record witnessed waste")
def waste(request: ApiRequest, lot_id: ObjectId, payload: WasteIn) -> Status:
    data = payload.dict()
    services.witness_sign(by=request.auth, witness_id=data["witness_id"], password=data.pop("witness_password"))
    return Status(201, services.ledger_waste(by=request.auth, lot_id=lot_id, **data))


@router.post("/lots/{lot_id}/counts", response={201: EntryOut, **ERRORS}, summary="Record a witnessed count")
def count(request: ApiRequest, lot_id: ObjectId, payload: CountIn) -> Status:
    data = payload.dict()
    services.witness_sign(by=request.auth, witness_id=data["witness_id"], password=data.pop("witness_password"))
    return Status(201, services.ledger_count(by=request.auth, lot_id=lot_id, **data))


@router.post("/lots/{lot_id}/transfers", response={201: TransferOut, **ERRORS}, summary="Transfer to another site")
def transfer(request: ApiRequest, lot_id: ObjectId, payload: TransferIn) -> Status:
    out, into = services.ledger_transfer(by=request.auth, lot_id=lot_id, **payload.dict())
    return Status(201, TransferOut(transfer_out=EntryOut.from_orm(out), transfer_in=EntryOut.from_orm(into)))


@router.post("/lots/{lot_id}/destructions", response={201: EntryOut, **ERRORS}, summary="Record a destruction or return (Form 41)")
def destroy(request: ApiRequest, lot_id: ObjectId, payload: DestroyIn) -> Status:
    data = payload.dict()
    services.witness_sign(by=request.auth, witness_id=data["witness_id"], password=data.pop("witness_password"))
    services.witness_sign(by=request.auth, witness_id=data["second_witness_id"],
                          password=data.pop("second_witness_password"), field="second_witness_password")
    return Status(201, services.ledger_destroy(by=request.auth, lot_id=lot_id, **data))


@router.post("/lots/{lot_id}/losses", response={201: EntryOut, **ERRORS}, summary="Record a loss or theft (Form 106)")
def loss(request: ApiRequest, lot_id: ObjectId, payload: LossIn) -> Status:
    return Status(201, services.ledger_loss(by=request.auth, lot_id=lot_id, **payload.dict()))


@router.post("/entries/{entry_id}/correction", response={201: list[EntryOut], **ERRORS}, summary="Correct an entry by reversing it")
def correct(request: ApiRequest, entry_id: ObjectId, payload: LedgerReasonIn) -> Status:
    return Status(201, services.ledger_correct(by=request.auth, entry_id=entry_id, reason=payload.reason))


@router.post("/entries/{entry_id}/adjustment", response={201: EntryOut, **ERRORS}, summary="Adjust the book to a count")
def adjust(request: ApiRequest, entry_id: ObjectId, payload: LedgerReasonIn) -> Status:
    return Status(201, services.ledger_adjust(by=request.auth, count_id=entry_id, reason=payload.reason))


# --- inventories, reconciliation, reports, integrity ----------------------------------------------------


@router.post("/sites/{site_id}/inventories", response={201: InventoryOut, **ERRORS}, summary="Take a signed inventory")
def take_inventory(request: ApiRequest, site_id: ObjectId, payload: InventoryIn) -> Status:
    data = payload.dict()
    services.witness_sign(by=request.auth, witness_id=data["witness_id"], password=data.pop("witness_password"))
    counts = data.pop("counts")
    record = services.inventory_take(
        by=request.auth, site_id=site_id, counts={c["lot_id"]: c["units"] for c in counts},
        estimated_lot_ids=[c["lot_id"] for c in counts if c["estimated"]], **data,
    )
    return Status(201, record)


@router.get("/inventories/{inventory_id}", response={200: LedgerReportOut, **ERRORS}, summary="An inventory as a report")
def get_inventory(request: ApiRequest, inventory_id: ObjectId) -> LedgerReportOut:
    return _report_out(reports.inventory_report(by=request.auth, inventory_id=inventory_id, action=AuditAction.VIEW))


@router.get("/sites/{site_id}/reconciliation", response={200: ReconciliationOut, **ERRORS}, summary="Reconcile a period")
def reconciliation(request: ApiRequest, site_id: ObjectId, period: Query[PeriodQuery]) -> ReconciliationOut:
    start, end = _period(period)
    rec = selectors.site_reconciliation(by=request.auth, site_id=site_id, start=start, end=end)

    def match(m: selectors.SessionMatch) -> SessionMatchOut:
        return SessionMatchOut(dosing_session_id=m.session.id, patient_id=m.session.patient_id, status=m.session.status,
                               administered=_q(m.administered), entry_ids=[e.id for e in m.entries])

    return ReconciliationOut(
        site_id=rec.site.id, start=rec.start, end=rec.end,
        lots=[LotReconciliationOut(
            lot_id=lot.id, lot_number=lot.lot_number, product_name=lot.product.name,
            opening=_q(r.opening), received=_q(r.received), transferred_in=_q(r.transferred_in),
            administered=_q(r.administered), wasted=_q(r.wasted), transferred_out=_q(r.transferred_out),
            destroyed=_q(r.destroyed), lost=_q(r.lost), adjustments=_q(r.adjustments),
            expected_on_hand=_q(r.expected_on_hand), last_count_entry=r.last_count_id,
            last_counted=_q(r.last_counted) if r.last_counted else None,
            discrepancy=_q(r.discrepancy) if r.discrepancy else None, discrepancy_adjusted=r.discrepancy_adjusted,
        ) for lot, r in rec.lots],
        matched=[match(m) for m in rec.matched],
        administrations_without_discharge=[match(m) for m in rec.administrations_without_discharge],
        discharges_without_administration=[s.id for s in rec.discharges_without_administration],
        open_discrepancy_entry_ids=[c.id for c in rec.open_discrepancies],
    )


@router.get("/sites/{site_id}/reports/{report}", response={200: LedgerReportOut, **ERRORS},
            summary="A DEA report: administrations by patient, waste, Form 41 or Form 106 data")
def site_report(request: ApiRequest, site_id: ObjectId, report: Literal["administrations", "waste", "form-41", "form-106"],
                period: Query[PeriodQuery]) -> LedgerReportOut:
    start, end = _period(period)
    _, build = reports.SITE_REPORTS[report]
    return _report_out(build(by=request.auth, site_id=site_id, start=start, end=end, action=AuditAction.VIEW))


@router.get("/sites/{site_id}/verify", response={200: VerifyOut, **ERRORS}, summary="Check the site's hash chain and balances")
def verify(request: ApiRequest, site_id: ObjectId) -> VerifyOut:
    result = selectors.site_integrity(by=request.auth, site_id=site_id)
    return VerifyOut(ok=result.ok, entries_checked=result.entries_checked, problems=[
        ProblemOut(site_id=p.site_id, entry_id=p.row_id, sequence=p.sequence, lot_id=p.lot_id, what=p.what)
        for p in result.problems
    ])
