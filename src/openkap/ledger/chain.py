"""How a stored row maps to the core's ``LedgerEntry``, and the chain check over the
database.

Everything an entry says is in the hash: the core's fields directly, and the
links and details this app adds (dosing session, patient, supplier, the other
lot of a transfer, the inventory, a count's discrepancy, Form 41 / Form 106
details) as a canonical JSON ``reference``. So a changed patient id or a changed
quantity both show up as a hash mismatch at that row.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from decimal import Decimal

from openkap.core import ledger as core
from openkap.ledger.models import LedgerEntry, LotBalance, SiteLedgerHead


def entry_id(site_id: int, sequence: int) -> str:
    return f"{site_id}:{sequence}"


def num_text(value: Decimal) -> str:
    return format(value.normalize(), "f")


def reference_of(row: LedgerEntry) -> str:
    parts: dict[str, str] = {}
    links = {
        "dosing_session": row.dosing_session_id,
        "patient": row.patient_id,
        "supplier": row.supplier_id,
        "counterpart_lot": row.counterpart_lot_id,
        "inventory": row.inventory_id,
    }
    parts.update({name: str(value) for name, value in links.items() if value is not None})
    if row.discrepancy_mg is not None and row.discrepancy_units is not None:
        parts["discrepancy_mg"] = num_text(row.discrepancy_mg)
        parts["discrepancy_units"] = num_text(row.discrepancy_units)
    parts.update({f"detail.{key}": str(value) for key, value in row.detail.items()})
    return json.dumps(parts, sort_keys=True, separators=(",", ":"), ensure_ascii=True) if parts else ""


def to_core(row: LedgerEntry, refers_to_sequence: int | None = None) -> core.LedgerEntry:
    """The core's view of a row. ``refers_to_sequence`` is the referenced entry's
    number in the same site (corrections and adjustments stay within one lot)."""
    witnesses = tuple(str(w) for w in (row.witness_id, row.second_witness_id) if w is not None)
    return core.LedgerEntry(
        entry_id=entry_id(row.site_id, row.sequence),
        site_id=str(row.site_id),
        lot_id=str(row.lot_id),
        kind=core.EntryKind(row.kind),
        mg=Decimal(row.mg),
        units=Decimal(row.units),
        strength_mg_per_unit=Decimal(row.strength_mg_per_unit),
        unit=core.Unit(row.unit),
        occurred_at=row.occurred_at,
        actor_id=str(row.recorded_by_id),
        witness_ids=witnesses,
        refers_to_id=None if refers_to_sequence is None else entry_id(row.site_id, refers_to_sequence),
        reason=row.reason,
        reference=reference_of(row),
        prev_hash=row.prev_hash,
        entry_hash=row.entry_hash,
    )


def core_entries(rows: Iterable[LedgerEntry]) -> Iterator[core.LedgerEntry]:
    """Rows in chain order as core entries. A reference to a row that is not earlier
    in the same site keeps a name of its own, so the core refuses it."""
    sequence_of: dict[int, tuple[int, int]] = {}
    for row in rows:
        sequence_of[row.id] = (row.site_id, row.sequence)
        if row.refers_to_id is None:
            yield to_core(row)
            continue
        target = sequence_of.get(row.refers_to_id)
        if target is None or target[0] != row.site_id:
            yield dataclasses.replace(to_core(row), refers_to_id=f"row-{row.refers_to_id}")
        else:
            yield to_core(row, target[1])


@dataclass(frozen=True)
class Problem:
    site_id: int
    row_id: int | None
    sequence: int | None
    lot_id: int | None
    what: str


@dataclass(frozen=True)
class ChainCheck:
    entries_checked: int
    sites: int
    lots: int
    problems: list[Problem]

    @property
    def ok(self) -> bool:
        return not self.problems


def check_chain(rows: Iterable[LedgerEntry], *, heads: Iterable[SiteLedgerHead],
                balances: Iterable[LotBalance]) -> ChainCheck:
    """Recompute every site's chain and every lot's balance with the core, then
    compare the heads and the stored balances with what the entries say.

    ``rows`` must be ordered by site, then sequence. The first broken link stops
    the chain check (later rows cannot be trusted); heads and balances are then
    compared only for an intact chain.
    """
    ordered = list(rows)
    first: tuple[int, Problem] | None = None
    expected_sequence: dict[int, int] = {}
    for position, row in enumerate(ordered):
        expected = expected_sequence.get(row.site_id, 0) + 1
        if row.sequence != expected:
            first = (position, Problem(row.site_id, row.id, row.sequence, row.lot_id,
                                       f"entry #{expected} is missing before entry #{row.sequence}"))
            break
        expected_sequence[row.site_id] = row.sequence
    report = core.verify_chain(core_entries(ordered))
    broken = report.first_broken
    if broken is not None and (first is None or broken.position < first[0]):
        row = ordered[broken.position]
        first = (broken.position, Problem(row.site_id, row.id, row.sequence, row.lot_id,
                                          f"{broken.reason.value}: {broken.detail}"))
    sites = {r.site_id for r in ordered}
    if first is not None:
        return ChainCheck(report.entries_checked, len(sites), len(report.balances), [first[1]])
    problems: list[Problem] = []
    last = {r.site_id: r for r in ordered}
    head_of = {h.site_id: h for h in heads}
    for site_id in sorted(sites - set(head_of)):
        problems.append(Problem(site_id, None, None, None, "the site has entries but no chain head"))
    for head in head_of.values():
        tail = last.get(head.site_id)
        tail_sequence = tail.sequence if tail else 0
        if tail_sequence != head.last_sequence or (tail is not None and tail.entry_hash != head.last_hash):
            problems.append(Problem(
                head.site_id, None, head.last_sequence, None,
                f"the site's chain ends at entry #{tail_sequence} but its head says "
                f"#{head.last_sequence}: entries are missing from the end",
            ))
    for balance in balances:
        computed = report.balances.get(str(balance.lot_id))
        on_hand = computed.on_hand if computed else core.ZERO
        if (on_hand.mg, on_hand.units) != (balance.mg, balance.units):
            problems.append(Problem(
                balance.lot.site_id, None, None, balance.lot_id,
                f"lot {balance.lot_id} shows {num_text(balance.mg)} mg ({num_text(balance.units)} units) "
                f"on hand; its entries add up to {num_text(on_hand.mg)} mg ({num_text(on_hand.units)} units)",
            ))
    return ChainCheck(report.entries_checked, len(sites), len(report.balances), problems)
