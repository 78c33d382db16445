"""One holder at a time for a key, across every app server and worker (docs/adr/0055-scale-out.md).

Limits counted from rows (sign-in failures, referrals per address) are a count, then a
write: two requests on two servers can both count below the limit and both write. Run
the count and the write inside ``serialized(key)`` and the second waits for the first.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager

from django.db import connection, transaction


def _lock_id(key: str) -> int:
    return int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big", signed=True)


@contextmanager
def serialized(*keys: str) -> Iterator[None]:
    """Run the block in a transaction holding PostgreSQL advisory locks on ``keys`` (taken
    in one order, so two holders of the same keys cannot deadlock; released at commit or
    rollback). SQLite runs on one machine and its transactions queue on the database's
    write lock; there the block runs as it is, rather than hold that lock for a password
    check."""
    if connection.vendor != "postgresql":
        yield
        return
    with transaction.atomic(), connection.cursor() as cursor:
        for lock_id in sorted({_lock_id(key) for key in keys}):
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [lock_id])
        yield
