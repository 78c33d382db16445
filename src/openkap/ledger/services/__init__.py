"""Writes of the controlled-substance ledger.

Every function takes keyword arguments and an explicit actor, checks the
permission, runs in one ``transaction.atomic()`` and writes its audit row in the
same transaction. Decisions (validity, witnesses, negative balances, what a
correction or an adjustment must be) are ``openkap.core.ledger``'s.

Concurrency: a writer locks the site's ``SiteLedgerHead`` row, then the lot's
``LotBalance`` row (``SELECT ... FOR UPDATE`` on PostgreSQL; SQLite runs every
transaction as ``BEGIN IMMEDIATE``, so writers queue for the database). Two
sites are always locked in ascending id order. The functions nest inside a
caller's transaction (the dosing app's): they then use a savepoint, and the locks
are held until the caller commits, so keep that transaction short. On PostgreSQL
that COMMIT does not wait for the WAL flush (it releases the site at once); the
outermost ``atomic()`` then waits for a durable flush before it returns, and fails
if the flush fails (ADR 0107, ``statements.wait_durable``).
"""

from .common import (
    BACKDATE_DAYS,
    MAX_CONTAINERS,
    MAX_STRENGTH,
    MAX_UNITS_PER_ENTRY,
    K,
)
from .corrections import ledger_adjust, ledger_correct
from .counts import ledger_count
from .dispensing import ledger_administer, ledger_waste
from .disposal import LOSS_TYPES, ledger_destroy, ledger_loss
from .formulary import product_create, supplier_create
from .inventories import inventory_take
from .lookups import LEDGER_ROLES, entry_of, lot_of, site_of, witness_candidates, witness_sign
from .receipts import lot_receive
from .transfers import DESTRUCTION_METHODS, ledger_transfer

__all__ = [
    "BACKDATE_DAYS",
    "DESTRUCTION_METHODS",
    "LEDGER_ROLES",
    "LOSS_TYPES",
    "MAX_CONTAINERS",
    "MAX_STRENGTH",
    "MAX_UNITS_PER_ENTRY",
    "K",
    "entry_of",
    "inventory_take",
    "ledger_adjust",
    "ledger_administer",
    "ledger_correct",
    "ledger_count",
    "ledger_destroy",
    "ledger_loss",
    "ledger_transfer",
    "ledger_waste",
    "lot_of",
    "lot_receive",
    "product_create",
    "site_of",
    "supplier_create",
    "witness_candidates",
    "witness_sign",
]
