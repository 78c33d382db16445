"""Append-only tables: the database itself refuses UPDATE and DELETE.

Used by migrations of the audit log and the controlled-substance ledger, so that
no code path — ORM, raw SQL, a future bug — can rewrite history. TRUNCATE is not
blocked on PostgreSQL: it needs table-owner rights, which the application's
database role must not have in production (docs/deployment.md).
"""

from __future__ import annotations

from typing import Any

from django.db import migrations


def _forward(table: str):
    def run(apps: Any, schema_editor: Any) -> None:
        vendor = schema_editor.connection.vendor
        if vendor == "postgresql":
            schema_editor.execute(
                f"""
                CREATE OR REPLACE FUNCTION {table}_append_only() RETURNS trigger AS $$
                BEGIN
                    RAISE EXCEPTION '{table} is append-only: % refused', TG_OP
                        USING ERRCODE = 'insufficient_privilege';
                END;
                $$ LANGUAGE plpgsql;
                CREATE TRIGGER {table}_no_update_delete BEFORE UPDATE OR DELETE ON {table}
                    FOR EACH ROW EXECUTE FUNCTION {table}_append_only();
                """,
                params=None,  # the body's % is PL/pgSQL's placeholder, not the driver's
            )
        elif vendor == "sqlite":
            for op in ("UPDATE", "DELETE"):
                schema_editor.execute(
                    f"CREATE TRIGGER {table}_no_{op.lower()} BEFORE {op} ON {table} "
                    f"BEGIN SELECT RAISE(ABORT, '{table} is append-only: {op} refused'); END;"
                )
        else:
            raise RuntimeError(f"No append-only trigger for database vendor {vendor!r}.")

    return run


def _backward(table: str):
    def run(apps: Any, schema_editor: Any) -> None:
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.execute(f"DROP TRIGGER IF EXISTS {table}_no_update_delete ON {table};")
            schema_editor.execute(f"DROP FUNCTION IF EXISTS {table}_append_only();")
        else:
            for op in ("update", "delete"):
                schema_editor.execute(f"DROP TRIGGER IF EXISTS {table}_no_{op};")

    return run


def append_only(table: str) -> migrations.RunPython:
    return migrations.RunPython(_forward(table), _backward(table))
