"""The SQL of the ledger's hot path, written by hand (ADR 0076).

An entry costs a handful of statements; compiling them through the ORM cost more CPU
than running them. Here each statement's text is built once per process and backend;
the INSERTs list the models' concrete fields (a new column needs nothing here), and
values go through the fields' own preparation (``get_db_prep_save``) and the backend's
converters, as the ORM's would. Everything runs through Django's cursor, so it takes
part in the caller's transaction and ``execute_wrapper`` sees every statement.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from functools import cache
from typing import Any

import psycopg
from django.db import DEFAULT_DB_ALIAS, connection, connections, transaction
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import Field, Model

from openkap.audit.models import AuditEvent
from openkap.dosing.models import DosingSession
from openkap.ledger.models import LedgerEntry, Lot, LotBalance, Product, SiteLedgerHead
from openkap.patients.models import BreakGlassGrant, CareTeamMember, Patient


class _Prepared(psycopg.Cursor[Any]):
    """A server-side-binding cursor whose statements PostgreSQL parses and plans once per
    connection: planning the locked read cost about 0.4 ms, four times running it, and
    preparing the three statements halved the database's CPU per entry (ADR 0076)."""

    def execute(self, query: Any, params: Any = None, *, prepare: bool | None = None,
                binary: bool | None = None) -> Any:
        return super().execute(query, params, prepare=True, binary=binary)


def _db() -> BaseDatabaseWrapper:
    """The connection itself: ``django.db.connection`` is a proxy that looks the
    connection up again (a thread-local) on every attribute, dozens of times an entry."""
    return connections[DEFAULT_DB_ALIAS]


def _cursor(db: BaseDatabaseWrapper) -> Any:
    """Django's cursor (the caller's transaction, ``execute_wrapper``); on PostgreSQL over
    a prepared-statement cursor. While queries are logged (DEBUG, ``CaptureQueriesContext``)
    the plain cursor runs the same SQL: Django cannot render a server-bound query's text."""
    if db.vendor != "postgresql" or db.queries_logged:
        return db.cursor()
    db.validate_thread_sharing()
    db.ensure_connection()
    # psycopg prepares nothing while the threshold is None (Django's default). Django's own
    # cursors bind client-side and never prepare, so this changes only these statements.
    if db.connection.prepare_threshold is None:
        db.connection.prepare_threshold = 5
    # A DB-API cursor, like the one Django's create_cursor hands to its wrapper.
    return db.make_cursor(_Prepared(db.connection))  # type: ignore[arg-type]


def _table(model: type[Model]) -> str:
    return connection.ops.quote_name(model._meta.db_table)


def _field(model: type[Model], name: str) -> Field[Any, Any]:
    field = model._meta.get_field(name)
    assert isinstance(field, Field)
    return field


@dataclass(frozen=True)
class _Insert:
    sql: str
    fields: tuple[Field[Any, Any], ...]

    def params(self, obj: Model, db: BaseDatabaseWrapper) -> list[Any]:
        return [f.get_db_prep_save(f.pre_save(obj, True), db) for f in self.fields]


@cache
def _insert(model: type[Model], vendor: str, with_pk: bool) -> _Insert:
    """``INSERT`` of every concrete column of ``model`` (the primary key only ``with_pk``)."""
    meta = model._meta
    fields = tuple(f for f in meta.local_concrete_fields if with_pk or f is not meta.auto_field)
    columns = ", ".join(connection.ops.quote_name(str(f.column)) for f in fields)
    values = ", ".join(["%s"] * len(fields))
    return _Insert(f"INSERT INTO {_table(model)} ({columns}) VALUES ({values})", fields)  # noqa: S608 - names from the models


class _Reader:
    """Turns a fetched row into Python values with the backend's converters (SQLite
    hands back decimals as floats and dates as text), as the ORM's compiler does."""

    def __init__(self, fields: Sequence[Field[Any, Any] | None]):
        self.converters: list[list[Callable[..., Any]]] = []
        self.columns: list[Any] = []
        for field in fields:
            col = field.cached_col if field is not None else None
            self.columns.append(col)
            self.converters.append(
                [*connection.ops.get_db_converters(col), *field.get_db_converters(connection)] if field and col else []
            )

    def __call__(self, row: Sequence[Any], db: BaseDatabaseWrapper) -> list[Any]:
        values = list(row)
        for i, converters in enumerate(self.converters):
            for convert in converters:
                values[i] = convert(values[i], self.columns[i], db)
        return values


# --- the balance lock: the new entry's id and the early lock release come with it ------------------------


@dataclass(frozen=True)
class Balance:
    mg: Decimal
    units: Decimal
    entries: int
    next_entry_id: int | None  # drawn with the lock on PostgreSQL


@cache
def _with_the_balance_lock(vendor: str) -> str:
    """What PostgreSQL's balance lock also selects: the new entry's id, so that its audit
    row can name it and both go into one statement, and set_config(..., true), which is
    SET LOCAL: this transaction's COMMIT releases the site's lock without waiting for the
    WAL flush; the caller is answered only after wait_durable (ADR 0107). The id sequence
    is named once per process: ``pg_get_serial_sequence`` in the statement searched the
    catalogue on every entry (ADR 0111)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_get_serial_sequence(%s, 'id')", [LedgerEntry._meta.db_table])
        (sequence,) = cursor.fetchone() or ("",)
    literal = "'" + sequence.replace("'", "''") + "'"
    return f"nextval({literal}::regclass), set_config('synchronous_commit', 'off', true)"


@cache
def _balance_statement(vendor: str) -> tuple[str, _Reader]:
    fields = [_field(LotBalance, n) for n in ("mg", "units", "entries")]
    sql = f"SELECT mg, units, entries FROM {_table(LotBalance)} WHERE lot_id = %s"  # noqa: S608 - names from the models
    if vendor == "postgresql":
        sql = sql.replace(" FROM", f", {_with_the_balance_lock(vendor)} FROM") + " FOR UPDATE"
        return sql, _Reader([*fields, None, None])
    return sql, _Reader(fields)


def _balance_of(values: Sequence[Any]) -> Balance:
    """The balance from a locked read's last columns; on PostgreSQL (an id drawn) this
    transaction now commits without waiting for the flush."""
    mg, units, entries, *drawn = values
    if drawn:
        _confirm_after_flush()
    return Balance(mg, units, entries, drawn[0] if drawn else None)


def _locked_balance(lot_id: int) -> Balance | None:
    """The lot's balance, locked (its first entry has none yet)."""
    db = _db()
    sql, read = _balance_statement(db.vendor)
    params: list[Any] = [lot_id]
    with _cursor(db) as cursor:
        cursor.execute(sql, params)
        fetched = cursor.fetchone()
    return None if fetched is None else _balance_of(read(fetched, db))


# --- the locked read of an administration or a waste ---------------------------------------------------

# What the read returns, in order: (model, field) per column; None for the access facts.
_FACT_COLUMNS: tuple[tuple[str, type[Model] | None, str], ...] = (
    ("l.site_id", Lot, "site"),
    ("l.lot_number", Lot, "lot_number"),
    ("l.expires_on", Lot, "expires_on"),
    ("l.supplier_id", Lot, "supplier"),
    ("l.product_id", Lot, "product"),
    ("p.strength_mg_per_unit", Product, "strength_mg_per_unit"),
    ("p.unit", Product, "unit"),
    ("p.name", Product, "name"),
    ("h.organization_id", SiteLedgerHead, "organization"),
    ("h.last_sequence", SiteLedgerHead, "last_sequence"),
    ("h.last_hash", SiteLedgerHead, "last_hash"),
    ("s.id", DosingSession, "id"),
    ("s.site_id", DosingSession, "site"),
    ("s.status", DosingSession, "status"),
    ("s.patient_id", DosingSession, "patient"),
    ("on_team", None, ""),
    ("glass", None, ""),
    ("b.mg", LotBalance, "mg"),
    ("b.units", LotBalance, "units"),
    ("b.entries", LotBalance, "entries"),
)


@dataclass(frozen=True)
class Facts:
    """A lot, its site's chain head and its balance (both locked) and, when asked for, a
    dosing session with its patient's access facts (``patients.selectors.access_annotations``'
    rule)."""

    lot: Lot
    head: SiteLedgerHead
    balance: Balance
    session_id: int | None
    session_site_id: int | None
    session_status: str | None
    patient_id: int | None
    _on_team: bool
    _glass: bool


@cache
def _facts_statement(vendor: str) -> tuple[str, _Reader]:
    select = ",\n       ".join(
        column if model is not None else
        ("EXISTS (SELECT 1 FROM {team} t WHERE t.user_id = %s AND t.patient_id = s.patient_id "
         "AND t.ended_at IS NULL)" if column == "on_team" else
         "EXISTS (SELECT 1 FROM {glass} g WHERE g.user_id = %s AND g.patient_id = s.patient_id "
         "AND g.expires_at > %s)")
        for column, model, _ in _FACT_COLUMNS
    )
    head, locks, first = "{head} h", "", ""
    if vendor == "postgresql":
        # One statement takes both locks, the head's first: the head in a CTE (which the
        # join must read before it has a row), the balance at the top, once the joined row
        # exists. Each is its latest version once granted; the lot and the session are
        # read as of the statement's start, like any read before the lock.
        head, locks = "h", "\nFOR UPDATE OF b"
        first = ("WITH h AS MATERIALIZED (\n"
                 "  SELECT site_id, organization_id, last_sequence, last_hash FROM {head}\n"
                 "  WHERE site_id = (SELECT site_id FROM {lot} WHERE id = %s AND organization_id = %s)\n"
                 "  FOR UPDATE)\n")
        select += f",\n       {_with_the_balance_lock(vendor)}"
    sql = (
        f"{first}SELECT {select}\n"  # noqa: S608 - names from the models
        "FROM {lot} l\n"
        "JOIN {product} p ON p.id = l.product_id\n"
        f"JOIN {head} ON h.site_id = l.site_id\n"
        "JOIN {balance} b ON b.lot_id = l.id\n"
        "LEFT JOIN {session} s ON s.id = %s AND s.organization_id = %s\n"
        "  AND EXISTS (SELECT 1 FROM {patient} pt WHERE pt.id = s.patient_id AND pt.organization_id = %s)\n"
        f"WHERE l.id = %s AND l.organization_id = %s{locks}"
    )
    sql = sql.format(
        team=_table(CareTeamMember), glass=_table(BreakGlassGrant), lot=_table(Lot), product=_table(Product),
        head=_table(SiteLedgerHead), balance=_table(LotBalance), session=_table(DosingSession),
        patient=_table(Patient),
    )
    fields = [_field(model, name) if model is not None else None for _, model, name in _FACT_COLUMNS]
    return sql, _Reader([*fields, None, None] if vendor == "postgresql" else fields)


def _locked_facts(*, organization_id: int, user_id: int, lot_id: int, session_id: int | None,
                 now: datetime) -> Facts | None:
    """One statement: the lot with its product, its site's chain head and its balance
    locked (on SQLite the transaction's BEGIN IMMEDIATE already serialises writers) and the
    session. None when the lot is not in the organisation, or its site has no chain head
    or the lot no balance yet."""
    db = _db()
    sql, read = _facts_statement(db.vendor)
    params = [user_id, user_id, db.ops.adapt_datetimefield_value(now), session_id, organization_id,
              organization_id, lot_id, organization_id]
    if db.vendor == "postgresql":
        params[:0] = [lot_id, organization_id]
    with _cursor(db) as cursor:
        cursor.execute(sql, params)
        fetched = cursor.fetchone()
    if fetched is None:
        return None
    (site_id, lot_number, expires_on, supplier_id, product_id, strength, unit, product_name, org_id,
     last_sequence, last_hash, s_id, s_site, s_status, s_patient, on_team, glass, *balance) = read(fetched, db)
    product = Product(id=product_id, organization_id=org_id, site_id=site_id, name=product_name,
                      strength_mg_per_unit=strength, unit=unit)
    lot = Lot(id=lot_id, organization_id=org_id, site_id=site_id, product=product, lot_number=lot_number,
              expires_on=expires_on, supplier_id=supplier_id)
    head = SiteLedgerHead(site_id=site_id, organization_id=org_id, last_sequence=last_sequence,
                          last_hash=last_hash)
    for obj in (product, lot, head):
        obj._state.adding, obj._state.db = False, db.alias
    return Facts(lot, head, _balance_of(balance), s_id, s_site, s_status, s_patient, bool(on_team), bool(glass))


# --- early lock release (ADR 0107) ---------------------------------------------------------------------

# A transactional logical-decoding message: it gives the transaction an xid and a WAL
# record, so its COMMIT (synchronous_commit as configured, on by default) flushes the WAL
# up to its own commit record, after every commit this backend made before it. A
# transaction that only takes an xid (pg_current_xact_id()) writes a commit record but
# PostgreSQL does not flush it (xact.c, RecordTransactionCommit: no WAL before the commit
# record means an asynchronous commit). Any role may call it; it needs no table.
FLUSH_SQL = "SELECT pg_logical_emit_message(true, 'openkap.ledger', '')"


def wait_durable() -> None:
    """Return once the WAL is on disk up to this moment: every transaction this connection
    committed, and every commit it has seen, is durable. Outside a transaction only."""
    db = _db()
    if db.in_atomic_block:
        raise RuntimeError("wait_durable inside a transaction would flush nothing before its COMMIT")
    with _cursor(db) as cursor:
        cursor.execute(FLUSH_SQL)


def _confirm_after_flush() -> None:
    """The ledger write's transaction commits asynchronously (it holds the site's chain head
    until COMMIT, and COMMIT no longer waits for the disk); the outermost COMMIT then runs
    wait_durable before anything returns to the caller. robust=False: a failed flush
    raises out of the caller's atomic block, so the request fails instead of confirming.
    Once per transaction (a transfer writes two entries); a hook dropped with a rolled-back
    savepoint is dropped together with that savepoint's SET LOCAL."""
    if not any(entry[1] is wait_durable for entry in _db().run_on_commit):  # (savepoints, hook, robust)
        transaction.on_commit(wait_durable, robust=False)


@cache
def _updates(vendor: str) -> tuple[str, str]:
    balance = f"UPDATE {_table(LotBalance)} SET mg = %s, units = %s, entries = %s WHERE lot_id = %s"  # noqa: S608 - names from the models
    head = f"UPDATE {_table(SiteLedgerHead)} SET last_sequence = %s, last_hash = %s WHERE site_id = %s"  # noqa: S608 - names from the models
    return balance, head


@cache
def _together(vendor: str) -> str:
    balance, head = _updates(vendor)
    entry, event = _insert(LedgerEntry, vendor, True).sql, _insert(AuditEvent, vendor, False).sql
    return f"WITH e AS ({entry}), a AS ({event}), b AS ({balance}) {head}"


def _store(row: LedgerEntry, make_event: Callable[[int], AuditEvent], after: Balance,
          head: SiteLedgerHead) -> None:
    """Insert the entry and its audit row (``make_event`` of the entry's id), and move
    the balance and the head. On PostgreSQL in one statement (a data-modifying WITH):
    one round trip while the site's chain is locked instead of four, all or nothing like
    the statements it replaces. ``row.id`` is the id drawn with the balance lock there."""
    db = _db()
    vendor = db.vendor
    balance_sql, head_sql = _updates(vendor)
    mg, units = _field(LotBalance, "mg"), _field(LotBalance, "units")
    balance_params: list[Any] = [mg.get_db_prep_save(after.mg, db), units.get_db_prep_save(after.units, db),
                                 after.entries, row.lot_id]
    head_params: list[Any] = [head.last_sequence, head.last_hash, head.site_id]
    with _cursor(db) as cursor:
        if vendor == "postgresql" and row.id is not None:
            event = make_event(row.id)
            params = [*_insert(LedgerEntry, vendor, True).params(row, db),
                      *_insert(AuditEvent, vendor, False).params(event, db), *balance_params, *head_params]
            cursor.execute(_together(vendor), params)
        else:
            entry_insert = _insert(LedgerEntry, vendor, row.id is not None)
            cursor.execute(entry_insert.sql, entry_insert.params(row, db))
            if row.id is None:
                row.id = cursor.lastrowid
            event = make_event(row.id)
            event_insert = _insert(AuditEvent, vendor, False)
            cursor.execute(event_insert.sql, event_insert.params(event, db))
            cursor.execute(balance_sql, balance_params)
            cursor.execute(head_sql, head_params)
    row._state.adding, row._state.db = False, db.alias
