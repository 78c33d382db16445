"""Administration and waste, each tied to a dosing session.

The busiest writes of the ledger: one statement reads the lot, the session with its
patient's access and locks the site's chain head and the lot's balance
(``statements._locked_facts``), so an entry costs two statements on PostgreSQL
(ADRs 0076, 0111)."""

from __future__ import annotations

from datetime import datetime

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from openkap.accounts.authz import Actor, require
from openkap.core.authz import Perm
from openkap.dosing.models import DosingSession
from openkap.ledger.models import LedgerEntry, LotBalance
from openkap.patients.selectors import require_patient_access

from . import statements
from .common import K, _amount, _text, _when
from .lookups import _witness, lot_of
from .writer import _Links, _lock_heads, _usable, _write


def _facts(by: Actor, lot_id: int, session_id: object) -> statements.Facts:
    """The lot, its site's chain head and its balance (locked) and the session, in one
    statement."""
    if not isinstance(session_id, int) or isinstance(session_id, bool):
        session_id = None
    now = timezone.now()

    def read() -> statements.Facts | None:
        return statements._locked_facts(organization_id=by.organization.id, user_id=by.user.id, lot_id=lot_id,
                                       session_id=session_id, now=now)

    facts = read() if isinstance(lot_id, int) else None
    if facts is None:
        lot = lot_of(by, lot_id)  # not in the organisation: 404
        _lock_heads(lot.site)  # the site's first entry: its chain head is made
        # The lot's first entry: its balance is made (under the head's lock, as _write would).
        LotBalance.objects.get_or_create(lot=lot, defaults={"organization_id": lot.organization_id})
        facts = read()
        assert facts is not None
    return facts


def _session_checks(by: Actor, facts: statements.Facts) -> bool:
    """The session's checks (``patient_for``'s access rule); whether by break-glass."""
    if facts.session_id is None or facts.patient_id is None:
        raise ValidationError({"dosing_session": "Choose the dosing session of this administration."})
    if facts.session_site_id != facts.lot.site_id:
        raise ValidationError({"dosing_session": "This dosing session is at another site; use that site's stock."})
    if facts.session_status == DosingSession.Status.CANCELLED:
        raise ValidationError({"dosing_session": "This dosing session was cancelled."})
    return require_patient_access(by, facts, Perm.PATIENT_VIEW, patient_id=facts.patient_id)


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
    when = _when(occurred_at)
    with transaction.atomic():
        facts = _facts(by, lot_id, dosing_session_id)
        mg_, units_ = _amount(facts.lot.product, mg=mg, units=units)
        _usable(facts.lot, when)
        glass = _session_checks(by, facts)
        entry = _write(
            by=by, head=facts.head, lot=facts.lot, kind=K.ADMINISTRATION, mg=mg_, units=units_,
            occurred_at=when,
            links=_Links(dosing_session_id=facts.session_id, patient_id=facts.patient_id, break_glass=glass),
            amount_field="mg" if mg is not None else "units", balance=facts.balance,
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
    when = _when(occurred_at)
    witness = _witness(by, witness_id, "witness")
    reason = _text(reason, "reason", "the reason", required=False, max_length=500)
    with transaction.atomic():
        facts = _facts(by, lot_id, dosing_session_id)
        mg_, units_ = _amount(facts.lot.product, mg=mg, units=units)
        _usable(facts.lot, when)
        glass = _session_checks(by, facts) if dosing_session_id is not None else False
        entry = _write(
            by=by, head=facts.head, lot=facts.lot, kind=K.WASTE, mg=mg_, units=units_,
            occurred_at=when, witnesses=[witness], reason=reason,
            links=_Links(dosing_session_id=facts.session_id if dosing_session_id is not None else None,
                         patient_id=facts.patient_id if dosing_session_id is not None else None,
                         break_glass=glass),
            amount_field="mg" if mg is not None else "units", balance=facts.balance,
        )
    return entry
