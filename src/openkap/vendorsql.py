"""Schema changes written out per database vendor, for migrations whose database side
must not be left to Django (which would rebuild a SQLite table, losing its triggers)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.db import migrations

Pairs = Callable[[str], list[tuple[str, str]]]


def reversible_sql(pairs: Pairs) -> migrations.RunPython:
    """``pairs(vendor)`` gives (forward, backward) statements; backward runs in reverse."""

    def forward(apps: Any, schema_editor: Any) -> None:
        for sql, _ in pairs(schema_editor.connection.vendor):
            schema_editor.execute(sql)

    def backward(apps: Any, schema_editor: Any) -> None:
        for _, sql in reversed(pairs(schema_editor.connection.vendor)):
            schema_editor.execute(sql)

    return migrations.RunPython(forward, backward)
