"""The indexes every ledger entry and audit row writes: none a query does not need
(ADR 0114), checked on the migrated database of either vendor."""

from __future__ import annotations

import re

import pytest
from django.db import connection

pytestmark = pytest.mark.django_db

PARTIAL = ("witness", "second_witness", "supplier", "counterpart_lot", "inventory")


def _index_sql(table: str) -> dict[str, str]:
    """Each index's definition, quotes removed (SQLite's implicit UNIQUE ones have none)."""
    if connection.vendor == "postgresql":
        query = "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = %s"
    else:
        query = "SELECT name, COALESCE(sql, '') FROM sqlite_master WHERE type = 'index' AND tbl_name = %s"
    with connection.cursor() as cursor:
        cursor.execute(query, [table])
        return {name: sql.replace('"', "") for name, sql in cursor.fetchall()}


def _single_column(sql: str) -> str | None:
    found = re.search(r"\((\w+)\)(?: WHERE|$)", sql)
    return found.group(1) if found else None


def _unique_columns(table: str) -> list[list[str]]:
    with connection.cursor() as cursor:
        constraints = connection.introspection.get_constraints(cursor, table)
    return [c["columns"] for c in constraints.values() if c["unique"]]


def test_ledger_entry_indexes_no_prefix_or_pattern_copy_and_partial_where_mostly_null() -> None:
    defs = _index_sql("ledger_ledgerentry")
    alone = {_single_column(sql) for sql in defs.values()}
    assert not {"site_id", "lot_id"} & alone  # leading columns of (site, sequence) and (lot, sequence)
    assert not [sql for sql in defs.values() if "pattern_ops" in sql]
    for field in PARTIAL:
        sql = defs[f"ledger_entry_{field}"]
        assert re.search(rf"\({field}_id\) WHERE \(?{field}_id IS NOT NULL\)?$", sql), sql
    assert len([sql for sql in defs.values() if " WHERE " in sql]) == len(PARTIAL)
    assert ["entry_hash"] in _unique_columns("ledger_ledgerentry")


def test_audit_event_indexes_no_prefix_or_pattern_copy() -> None:
    defs = _index_sql("audit_auditevent")
    assert "organization_id" not in {_single_column(sql) for sql in defs.values()}  # leads audit_org_time
    assert not [sql for sql in defs.values() if "pattern_ops" in sql]
    assert _single_column(defs["audit_action"]) == "action"
    assert re.search(r"\(organization_id, occurred_at\)$", defs["audit_org_time"])
