"""Controlled-substance ledger arithmetic and invariants (pure, no Django).

Ketamine and esketamine are Schedule III: every milligram received has to be
accounted for as administered, wasted, transferred, destroyed, lost or found on
the shelf. The ledger is append-only. A mistake is undone by a *correction*, a
reversing entry that names the entry it corrects; a physical *count* that does
not match the book produces an *adjustment* that names the count.

Quantities are kept both in mg of base and in units of the lot (mL for vials,
devices for esketamine, lozenges for troches); ``mg = units * strength`` holds
exactly for every entry, so the two can never drift apart.

Each site's entries form a SHA-256 hash chain: an entry's hash covers its
canonical fields and the hash of the previous entry of the same site (a
per-site genesis value for the first). ``verify_chain`` recomputes the chains
and the balances and names the first broken link.

The Django ledger app stores these entries, locks the lot row and calls
``apply`` (plus ``check_correction`` / ``check_adjustment`` with the referenced
row) inside its transaction; ``LedgerBook`` does the same checks over a whole
history and is what ``replay``, ``verify_chain`` and ``reconcile`` use.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Context, Decimal, Inexact, InvalidOperation, Overflow
from enum import StrEnum

CANONICAL_VERSION = "openkap-ledger-v1"

# Ledger sums must be exact whatever the caller's decimal context: rounding traps.
_EXACT = Context(prec=60, traps=[Inexact, InvalidOperation, Overflow])


class EntryKind(StrEnum):
    RECEIPT = "receipt"
    ADMINISTRATION = "administration"
    WASTE = "waste"
    TRANSFER_OUT = "transfer_out"
    TRANSFER_IN = "transfer_in"
    DESTRUCTION = "destruction"  # return / destruction, DEA Form 41
    LOSS = "loss"  # loss or theft, DEA Form 106
    COUNT = "count"
    ADJUSTMENT = "adjustment"
    CORRECTION = "correction"


class Unit(StrEnum):
    ML = "mL"
    DEVICE = "device"
    LOZENGE = "lozenge"


# Sign of an entry's quantity on the lot balance. Count is 0 (it records what
# was found; the adjustment moves the book). Adjustment and correction carry a
# signed change, so their sign is the quantity's own (+1 here).
_SIGN: dict[EntryKind, int] = {
    EntryKind.RECEIPT: 1,
    EntryKind.TRANSFER_IN: 1,
    EntryKind.ADMINISTRATION: -1,
    EntryKind.WASTE: -1,
    EntryKind.TRANSFER_OUT: -1,
    EntryKind.DESTRUCTION: -1,
    EntryKind.LOSS: -1,
    EntryKind.COUNT: 0,
    EntryKind.ADJUSTMENT: 1,
    EntryKind.CORRECTION: 1,
}
_SIGNED_CHANGE_KINDS = frozenset({EntryKind.ADJUSTMENT, EntryKind.CORRECTION})
_MOVEMENT_KINDS = frozenset(k for k, s in _SIGN.items() if s != 0) - _SIGNED_CHANGE_KINDS
_MIN_WITNESSES: dict[EntryKind, int] = {
    EntryKind.WASTE: 1,
    EntryKind.COUNT: 1,
    EntryKind.DESTRUCTION: 2,  # DEA Form 41 has two witness signatures
}
_NEEDS_REASON = frozenset({EntryKind.ADJUSTMENT, EntryKind.CORRECTION, EntryKind.LOSS})
_NEEDS_REFERENCE: dict[EntryKind, str] = {
    EntryKind.RECEIPT: "the supplier's invoice",
    EntryKind.ADMINISTRATION: "the dosing session",
    EntryKind.TRANSFER_OUT: "the receiving site",
    EntryKind.TRANSFER_IN: "the sending site",
}
# Counts are re-done, not corrected; adjustments are pinned to their count;
# correcting a correction would re-apply the original.
_CORRECTABLE = _MOVEMENT_KINDS


class LedgerError(ValueError):
    """A ledger entry was refused; the message says why in the clinic's words."""


class InvalidEntryError(LedgerError):
    pass


class NegativeBalanceError(LedgerError):
    pass


@dataclass(frozen=True)
class Quantity:
    mg: Decimal
    units: Decimal

    def __add__(self, other: Quantity) -> Quantity:
        return Quantity(_EXACT.add(self.mg, other.mg), _EXACT.add(self.units, other.units))

    def __sub__(self, other: Quantity) -> Quantity:
        return Quantity(
            _EXACT.subtract(self.mg, other.mg), _EXACT.subtract(self.units, other.units)
        )

    def __neg__(self) -> Quantity:
        return Quantity(_EXACT.minus(self.mg), _EXACT.minus(self.units))

    def is_negative(self) -> bool:
        return self.mg < 0 or self.units < 0


ZERO = Quantity(Decimal(0), Decimal(0))


def quantity_from_units(units: Decimal, strength_mg_per_unit: Decimal) -> Quantity:
    """mg of base for ``units`` of a lot whose strength is ``strength_mg_per_unit``."""
    return Quantity(_EXACT.multiply(units, strength_mg_per_unit), units)


@dataclass(frozen=True)
class LedgerEntry:
    """One ledger row.

    ``mg``/``units`` are a positive amount for movements, the amount found for a
    count, and a signed change for an adjustment or a correction.
    ``refers_to_id`` names the corrected entry (correction) or the count
    (adjustment). ``strength_mg_per_unit`` and ``unit`` repeat the lot's so
    that an entry written against the wrong concentration is refused.
    """

    entry_id: str
    site_id: str
    lot_id: str
    kind: EntryKind
    mg: Decimal
    units: Decimal
    strength_mg_per_unit: Decimal
    unit: Unit
    occurred_at: datetime
    actor_id: str
    witness_ids: tuple[str, ...] = ()
    refers_to_id: str | None = None
    reason: str = ""
    reference: str = ""
    prev_hash: str = ""
    entry_hash: str = ""

    @property
    def quantity(self) -> Quantity:
        return Quantity(self.mg, self.units)


@dataclass(frozen=True)
class LotBalance:
    lot_id: str
    on_hand: Quantity


def _fmt(q: Quantity, unit: Unit) -> str:
    return f"{_dec(q.mg)} mg ({_dec(q.units)} {unit.value})"


def signed_effect(entry: LedgerEntry) -> Quantity:
    """The change this entry makes to its lot's balance."""
    sign = _SIGN[entry.kind]
    if sign == 0:
        return ZERO
    return entry.quantity if sign > 0 else -entry.quantity


_REQUIRED_IDS = {
    "entry_id": "its identifier",
    "site_id": "the site",
    "lot_id": "the lot",
    "actor_id": "the person recording it",
}


def validate_entry(entry: LedgerEntry) -> None:
    """Rules an entry must meet on its own; raises ``InvalidEntryError``."""
    for name, what in _REQUIRED_IDS.items():
        if not getattr(entry, name).strip():
            raise InvalidEntryError(f"The entry does not name {what}.")
    if entry.occurred_at.tzinfo is None or entry.occurred_at.utcoffset() is None:
        raise InvalidEntryError("The entry's date and time has no time zone.")
    for name in ("mg", "units", "strength_mg_per_unit"):
        value = getattr(entry, name)
        if not isinstance(value, Decimal) or not value.is_finite():
            raise InvalidEntryError(f"The entry's {name} is not an exact decimal number.")
    if entry.strength_mg_per_unit <= 0:
        raise InvalidEntryError("The lot's strength must be more than 0 mg per unit.")
    try:
        expected_mg = _EXACT.multiply(entry.units, entry.strength_mg_per_unit)
        for value in (entry.mg, entry.units, entry.strength_mg_per_unit):
            _dec(value)  # the canonical form must be exact too
    except (Inexact, Overflow):
        raise InvalidEntryError("The entry's quantities have too many digits.") from None
    if entry.mg != expected_mg:
        raise InvalidEntryError(
            f"{_dec(entry.units)} {entry.unit.value} at "
            f"{_dec(entry.strength_mg_per_unit)} mg per {entry.unit.value} is "
            f"{_dec(expected_mg)} mg, not {_dec(entry.mg)} mg."
        )
    if entry.unit is Unit.DEVICE and entry.units != entry.units.to_integral_value():
        raise InvalidEntryError("Esketamine devices are single-use: count whole devices.")
    _validate_amount(entry)
    _validate_people(entry)
    if entry.kind in _NEEDS_REASON and not entry.reason.strip():
        raise InvalidEntryError(f"{_a(entry.kind)} needs a reason.")
    if entry.kind in _NEEDS_REFERENCE and not entry.reference.strip():
        raise InvalidEntryError(f"{_a(entry.kind)} must name {_NEEDS_REFERENCE[entry.kind]}.")
    if entry.kind in _SIGNED_CHANGE_KINDS:
        if not entry.refers_to_id:
            target = "entry it corrects" if entry.kind is EntryKind.CORRECTION else "count"
            raise InvalidEntryError(f"{_a(entry.kind)} must name the {target}.")
    elif entry.refers_to_id is not None:
        raise InvalidEntryError(
            f"Only corrections and adjustments refer to another entry; "
            f"{_a(entry.kind).lower()} does not."
        )


def _validate_amount(entry: LedgerEntry) -> None:
    if entry.kind in _MOVEMENT_KINDS and entry.units <= 0:
        raise InvalidEntryError(f"{_a(entry.kind)} must be more than 0.")
    if entry.kind is EntryKind.COUNT and entry.units < 0:
        raise InvalidEntryError("A count cannot find less than nothing.")
    if entry.kind in _SIGNED_CHANGE_KINDS and entry.units == 0:
        raise InvalidEntryError(f"{_a(entry.kind)} of 0 changes nothing.")


def _validate_people(entry: LedgerEntry) -> None:
    witnesses = entry.witness_ids
    if any(not w.strip() for w in witnesses):
        raise InvalidEntryError("A witness has no name.")
    if len(set(witnesses)) != len(witnesses):
        raise InvalidEntryError("The same witness is named twice.")
    if entry.actor_id in witnesses:
        raise InvalidEntryError("The person recording cannot also be the witness.")
    needed = _MIN_WITNESSES.get(entry.kind, 0)
    if len(witnesses) < needed:
        who = "a witness" if needed == 1 else f"{needed} witnesses"
        raise InvalidEntryError(f"{_a(entry.kind)} needs {who} other than the person recording it.")


def _kind_label(kind: EntryKind) -> str:
    return kind.value.replace("_", " ")


def _a(kind: EntryKind) -> str:
    """'A receipt', 'An administration': the start of a sentence about one entry."""
    label = _kind_label(kind)
    return f"{'An' if label[0] in 'aeiou' else 'A'} {label}"


def apply(balance: LotBalance, entry: LedgerEntry) -> LotBalance:
    """The lot balance after ``entry``; refuses an invalid entry or one that overdraws.

    For a correction or an adjustment the caller must also run
    ``check_correction`` / ``check_adjustment`` against the referenced entry.
    """
    validate_entry(entry)
    if entry.lot_id != balance.lot_id:
        raise InvalidEntryError(f"This entry is for lot {entry.lot_id}, not lot {balance.lot_id}.")
    after = balance.on_hand + signed_effect(entry)
    if after.is_negative():
        raise NegativeBalanceError(
            f"Not enough in lot {entry.lot_id}: {_fmt(balance.on_hand, entry.unit)} on hand, "
            f"this {_kind_label(entry.kind)} would leave {_fmt(after, entry.unit)}."
        )
    return LotBalance(balance.lot_id, after)


def check_correction(correction: LedgerEntry, corrected: LedgerEntry) -> None:
    """A correction must name an earlier movement of the same lot and exactly reverse it.

    The caller also makes sure ``corrected`` is not corrected already (the book
    does; the database can with a unique ``refers_to_id``).
    """
    if correction.kind is not EntryKind.CORRECTION:
        raise InvalidEntryError(f"Entry {correction.entry_id} is not a correction.")
    if correction.refers_to_id != corrected.entry_id:
        raise InvalidEntryError("The correction does not name this entry.")
    if corrected.lot_id != correction.lot_id:
        raise InvalidEntryError("A correction must be in the same lot as the entry it corrects.")
    if corrected.kind not in _CORRECTABLE:
        raise InvalidEntryError(
            f"{_a(corrected.kind)} cannot be corrected; "
            + (
                "record a new count instead."
                if corrected.kind in (EntryKind.COUNT, EntryKind.ADJUSTMENT)
                else "record a new entry instead."
            )
        )
    reverse = -signed_effect(corrected)
    if correction.quantity != reverse:
        raise InvalidEntryError(
            f"A correction must exactly reverse entry {corrected.entry_id}: "
            f"{_fmt(reverse, corrected.unit)}, not {_fmt(correction.quantity, correction.unit)}."
        )


def count_discrepancy(balance: LotBalance, count: LedgerEntry) -> Quantity:
    """What the count found minus what the book says (negative = stock missing)."""
    if count.kind is not EntryKind.COUNT:
        raise InvalidEntryError(f"Entry {count.entry_id} is not a count.")
    return count.quantity - balance.on_hand


def check_adjustment(adjustment: LedgerEntry, count: LedgerEntry, discrepancy: Quantity) -> None:
    """An adjustment must name a count of the same lot and move the book by its discrepancy.

    ``discrepancy`` is ``count_discrepancy`` at the moment the count was recorded.
    """
    if adjustment.kind is not EntryKind.ADJUSTMENT:
        raise InvalidEntryError(f"Entry {adjustment.entry_id} is not an adjustment.")
    if adjustment.refers_to_id != count.entry_id:
        raise InvalidEntryError("The adjustment does not name this count.")
    if count.kind is not EntryKind.COUNT:
        raise InvalidEntryError("An adjustment must name the count that found the difference.")
    if count.lot_id != adjustment.lot_id:
        raise InvalidEntryError("An adjustment must be in the same lot as its count.")
    if adjustment.quantity != discrepancy:
        raise InvalidEntryError(
            f"Count {count.entry_id} differed from the book by {_fmt(discrepancy, count.unit)}; "
            f"the adjustment must be exactly that, not {_fmt(adjustment.quantity, adjustment.unit)}."
        )


# --- canonical form and hash chain -------------------------------------------------


def _dec(value: Decimal) -> str:
    # Value, not spelling: 1.5, 1.50 and 1.500 (a database round trip) hash alike.
    return format(_EXACT.add(value, Decimal(0)).normalize(_EXACT), "f")


def canonical_bytes(entry: LedgerEntry) -> bytes:
    """Every field except ``entry_hash``, as sorted compact JSON."""
    if entry.occurred_at.tzinfo is None or entry.occurred_at.utcoffset() is None:
        raise InvalidEntryError("The entry's date and time has no time zone.")
    fields = {
        "v": CANONICAL_VERSION,
        "entry_id": entry.entry_id,
        "site_id": entry.site_id,
        "lot_id": entry.lot_id,
        "kind": entry.kind.value,
        "mg": _dec(entry.mg),
        "units": _dec(entry.units),
        "strength_mg_per_unit": _dec(entry.strength_mg_per_unit),
        "unit": entry.unit.value,
        "occurred_at": entry.occurred_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "actor_id": entry.actor_id,
        "witness_ids": list(entry.witness_ids),
        "refers_to_id": entry.refers_to_id,
        "reason": entry.reason,
        "reference": entry.reference,
        "prev_hash": entry.prev_hash,
    }
    return json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


def compute_hash(entry: LedgerEntry) -> str:
    return hashlib.sha256(canonical_bytes(entry)).hexdigest()


def genesis_hash(site_id: str) -> str:
    """The ``prev_hash`` of a site's first entry; per site so chains cannot be swapped."""
    return hashlib.sha256(f"{CANONICAL_VERSION}:genesis:{site_id}".encode()).hexdigest()


def seal(entry: LedgerEntry, prev_hash: str) -> LedgerEntry:
    """The entry linked after ``prev_hash``, with its own hash filled in."""
    linked = dataclasses.replace(entry, prev_hash=prev_hash, entry_hash="")
    return dataclasses.replace(linked, entry_hash=compute_hash(linked))


# --- a whole history ---------------------------------------------------------------


@dataclass(frozen=True)
class _LotFacts:
    site_id: str
    strength_mg_per_unit: Decimal
    unit: Unit


class LedgerBook:
    """A history checked entry by entry; a refused entry leaves the book unchanged."""

    def __init__(self) -> None:
        self._balances: dict[str, LotBalance] = {}
        self._lots: dict[str, _LotFacts] = {}
        self._entries: dict[str, LedgerEntry] = {}
        self._heads: dict[str, str] = {}
        self._corrected: set[str] = set()
        self._discrepancies: dict[str, Quantity] = {}
        self._adjusted_counts: set[str] = set()

    def balance(self, lot_id: str) -> LotBalance:
        return self._balances.get(lot_id, LotBalance(lot_id, ZERO))

    def balances(self) -> dict[str, LotBalance]:
        return dict(self._balances)

    def head(self, site_id: str) -> str:
        """The hash the next entry of this site must carry as ``prev_hash``."""
        return self._heads.get(site_id, genesis_hash(site_id))

    def entry(self, entry_id: str) -> LedgerEntry | None:
        return self._entries.get(entry_id)

    def discrepancy_at_count(self, count_id: str) -> Quantity:
        return self._discrepancies[count_id]

    def is_adjusted(self, count_id: str) -> bool:
        return count_id in self._adjusted_counts

    def seal(self, draft: LedgerEntry) -> LedgerEntry:
        return seal(draft, self.head(draft.site_id))

    def record(self, draft: LedgerEntry) -> LedgerEntry:
        """Seal ``draft`` onto its site's chain and append it."""
        sealed = self.seal(draft)
        self.append(sealed)
        return sealed

    def append(self, entry: LedgerEntry) -> LotBalance:
        """Check ``entry`` against the history, then add it; raises ``LedgerError``."""
        validate_entry(entry)
        if entry.entry_id in self._entries:
            raise InvalidEntryError(f"Entry {entry.entry_id} is already in the ledger.")
        self._check_lot(entry)
        if entry.kind is EntryKind.CORRECTION:
            corrected = self._referenced(entry)
            check_correction(entry, corrected)
            if corrected.entry_id in self._corrected:
                raise InvalidEntryError(f"Entry {corrected.entry_id} is already corrected.")
        if entry.kind is EntryKind.ADJUSTMENT:
            count = self._referenced(entry)
            if count.kind is EntryKind.COUNT and count.entry_id in self._adjusted_counts:
                raise InvalidEntryError(f"Count {count.entry_id} is already adjusted.")
            check_adjustment(entry, count, self._discrepancies.get(count.entry_id, ZERO))
        before = self.balance(entry.lot_id)
        after = apply(before, entry)
        # Nothing above changed the book; from here on every step succeeds.
        self._balances[entry.lot_id] = after
        self._lots.setdefault(
            entry.lot_id, _LotFacts(entry.site_id, entry.strength_mg_per_unit, entry.unit)
        )
        self._entries[entry.entry_id] = entry
        self._heads[entry.site_id] = entry.entry_hash
        if entry.kind is EntryKind.CORRECTION:
            self._corrected.add(str(entry.refers_to_id))
        if entry.kind is EntryKind.ADJUSTMENT:
            self._adjusted_counts.add(str(entry.refers_to_id))
        if entry.kind is EntryKind.COUNT:
            self._discrepancies[entry.entry_id] = count_discrepancy(before, entry)
        return after

    def _referenced(self, entry: LedgerEntry) -> LedgerEntry:
        found = self._entries.get(str(entry.refers_to_id))
        if found is None:
            raise InvalidEntryError(
                f"Entry {entry.refers_to_id} is not an earlier entry of this ledger."
            )
        return found

    def _check_lot(self, entry: LedgerEntry) -> None:
        facts = self._lots.get(entry.lot_id)
        if facts is None:
            return
        if facts.site_id != entry.site_id:
            raise InvalidEntryError(f"Lot {entry.lot_id} belongs to site {facts.site_id}.")
        if (facts.strength_mg_per_unit, facts.unit) != (entry.strength_mg_per_unit, entry.unit):
            raise InvalidEntryError(
                f"Lot {entry.lot_id} is {_dec(facts.strength_mg_per_unit)} mg per "
                f"{facts.unit.value}; this entry says {_dec(entry.strength_mg_per_unit)} mg per "
                f"{entry.unit.value}."
            )


def replay(entries: Iterable[LedgerEntry]) -> dict[str, LotBalance]:
    """Balances per lot after the history; raises ``LedgerError`` on the first bad entry."""
    book = LedgerBook()
    for entry in entries:
        book.append(entry)
    return book.balances()


class BreakReason(StrEnum):
    PREV_HASH_MISMATCH = "prev-hash mismatch"
    HASH_MISMATCH = "hash mismatch"
    NEGATIVE_BALANCE = "negative balance"
    INVALID_ENTRY = "invalid entry"


@dataclass(frozen=True)
class BrokenLink:
    position: int  # 0-based, in the order the entries were given
    entry_id: str
    site_id: str
    reason: BreakReason
    detail: str


@dataclass(frozen=True)
class VerificationReport:
    entries_checked: int  # entries before the break (all of them when intact)
    first_broken: BrokenLink | None
    balances: Mapping[str, LotBalance]

    @property
    def ok(self) -> bool:
        return self.first_broken is None


def verify_chain(entries: Iterable[LedgerEntry]) -> VerificationReport:
    """Recompute every site's chain and every balance; stop at the first broken link.

    ``entries`` are in stored order (each site's entries in chain order; sites may
    be interleaved).
    """
    book = LedgerBook()
    checked = 0
    for position, entry in enumerate(entries):
        broken = _first_problem(book, entry)
        if broken is not None:
            reason, detail = broken
            link = BrokenLink(position, entry.entry_id, entry.site_id, reason, detail)
            return VerificationReport(checked, link, book.balances())
        checked += 1
    return VerificationReport(checked, None, book.balances())


def _first_problem(book: LedgerBook, entry: LedgerEntry) -> tuple[BreakReason, str] | None:
    expected_prev = book.head(entry.site_id)
    if entry.prev_hash != expected_prev:
        return (
            BreakReason.PREV_HASH_MISMATCH,
            f"Entry {entry.entry_id} points to {entry.prev_hash or 'nothing'}; the previous "
            f"entry of site {entry.site_id} is {expected_prev}.",
        )
    try:
        recomputed = compute_hash(entry)
    except LedgerError as exc:
        return BreakReason.INVALID_ENTRY, str(exc)
    if recomputed != entry.entry_hash:
        return (
            BreakReason.HASH_MISMATCH,
            f"Entry {entry.entry_id} was changed after it was written "
            f"(stored hash {entry.entry_hash or 'missing'}, contents hash to {recomputed}).",
        )
    try:
        book.append(entry)
    except NegativeBalanceError as exc:
        return BreakReason.NEGATIVE_BALANCE, str(exc)
    except LedgerError as exc:
        return BreakReason.INVALID_ENTRY, str(exc)
    return None


# --- reconciliation ----------------------------------------------------------------

_CATEGORY: dict[EntryKind, str] = {
    EntryKind.RECEIPT: "received",
    EntryKind.ADMINISTRATION: "administered",
    EntryKind.WASTE: "wasted",
    EntryKind.TRANSFER_OUT: "transferred_out",
    EntryKind.TRANSFER_IN: "transferred_in",
    EntryKind.DESTRUCTION: "destroyed",
    EntryKind.LOSS: "lost",
    EntryKind.ADJUSTMENT: "adjustments",
}


@dataclass(frozen=True)
class Reconciliation:
    """One lot over [start, end).

    expected_on_hand = opening + received - administered - wasted - transferred_out
    + transferred_in - destroyed - lost + adjustments. Each movement total is net
    of its corrections; ``adjustments`` is signed. The last count in the period is
    compared with the book at the moment it was taken.
    """

    lot_id: str
    start: datetime
    end: datetime
    opening: Quantity
    received: Quantity
    administered: Quantity
    wasted: Quantity
    transferred_out: Quantity
    transferred_in: Quantity
    destroyed: Quantity
    lost: Quantity
    adjustments: Quantity
    expected_on_hand: Quantity
    last_count_id: str | None
    last_counted: Quantity | None
    expected_at_last_count: Quantity | None
    discrepancy: Quantity | None  # counted - book; negative = stock missing
    discrepancy_adjusted: bool


def reconcile(
    entries: Iterable[LedgerEntry], *, lot_id: str, start: datetime, end: datetime
) -> Reconciliation:
    """Reconcile one lot for a period, by each entry's ``occurred_at``.

    ``entries`` is the lot's whole history (earlier entries give the opening
    balance); it is checked as ``replay`` does.
    """
    for bound in (start, end):
        if bound.tzinfo is None or bound.utcoffset() is None:
            raise ValueError("The period's start and end need a time zone.")
    if not start < end:
        raise ValueError("The period must end after it starts.")
    book = LedgerBook()
    history = [e for e in entries if e.lot_id == lot_id]
    for entry in history:
        book.append(entry)
    opening = ZERO
    totals = dict.fromkeys(_CATEGORY.values(), ZERO)
    last_count: LedgerEntry | None = None
    for entry in history:
        effect = signed_effect(entry)
        if entry.occurred_at < start:
            opening += effect
            continue
        if entry.occurred_at >= end:
            continue
        if entry.kind is EntryKind.COUNT:
            if last_count is None or entry.occurred_at >= last_count.occurred_at:
                last_count = entry
            continue
        source = entry
        if entry.kind is EntryKind.CORRECTION:
            found = book.entry(str(entry.refers_to_id))
            assert found is not None  # the book above accepted the correction
            source = found
        category = _CATEGORY[source.kind]
        # Outflows are reported as positive amounts taken out.
        totals[category] += effect if _SIGN[source.kind] > 0 else -effect
    expected = (
        opening
        + totals["received"]
        - totals["administered"]
        - totals["wasted"]
        - totals["transferred_out"]
        + totals["transferred_in"]
        - totals["destroyed"]
        - totals["lost"]
        + totals["adjustments"]
    )
    discrepancy = None if last_count is None else book.discrepancy_at_count(last_count.entry_id)
    return Reconciliation(
        lot_id=lot_id,
        start=start,
        end=end,
        opening=opening,
        received=totals["received"],
        administered=totals["administered"],
        wasted=totals["wasted"],
        transferred_out=totals["transferred_out"],
        transferred_in=totals["transferred_in"],
        destroyed=totals["destroyed"],
        lost=totals["lost"],
        adjustments=totals["adjustments"],
        expected_on_hand=expected,
        last_count_id=None if last_count is None else last_count.entry_id,
        last_counted=None if last_count is None else last_count.quantity,
        expected_at_last_count=(
            None if last_count is None or discrepancy is None else last_count.quantity - discrepancy
        ),
        discrepancy=discrepancy,
        discrepancy_adjusted=last_count is not None and book.is_adjusted(last_count.entry_id),
    )
