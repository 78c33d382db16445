"""Administration and waste, each tied to a dosing session."""

from __future__ import annotations

from datetime import datetime

from django.core.exceptions import ValidationError
from django.db import transaction

from openkap.accounts.authz import Actor, require
from openkap.accounts.models import Site
from openkap.core.authz import Perm
from openkap.dosing.models import DosingSession
from openkap.ledger.models import (
    LedgerEntry,
)
from openkap.patients.selectors import access_annotations, require_patient_access

from .common import K, _text, _when, amount
from .lookups import _witness, lot_of
from .writer import _Links, _lock_heads, _usable, _write


def _session_for(by: Actor, dosing_session_id: object, site: Site) -> tuple[DosingSession, bool]:
    # One query: the session with its patient's access facts (patient_for's rule).
    session = (
        DosingSession.objects.filter(id=dosing_session_id, organization=by.organization,
                                     patient__organization=by.organization)
        .annotate(**access_annotations(by)).first()
        if isinstance(dosing_session_id, int) else None
    )
    if session is None:
        raise ValidationError({"dosing_session": "Choose the dosing session of this administration."})
    if session.site_id != site.id:
        raise ValidationError({"dosing_session": "This dosing session is at another site; use that site's stock."})
    if session.status == DosingSession.Status.CANCELLED:
        raise ValidationError({"dosing_session": "This dosing session was cancelled."})
    glass = require_patient_access(by, session, Perm.PATIENT_VIEW, patient_id=session.patient_id)
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
