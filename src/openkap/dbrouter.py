"""Reads that may be served by a PostgreSQL read replica (docs/adr/0055-scale-out.md).

With ``DATABASE_REPLICA_URL`` set, settings add the ``replica`` alias and this router.
Nothing goes to the replica unless code asks for it by running inside
``replica_reads()``: reports, exports and FHIR bulk reads, which tolerate data a few
seconds old. Everything else, every write, and the rows that decide who may do what or
that a caller must read back at once (sessions, users and memberships, the audit log,
task and export jobs) stay on the primary, inside the scope too.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from django.db import DEFAULT_DB_ALIAS, connections

REPLICA = "replica"
# Apps whose rows are read back right after they are written, or decide access.
PRIMARY_ONLY_APPS = frozenset({"sessions", "auth", "contenttypes", "accounts", "audit", "django_tasks_db"})
PRIMARY_ONLY_MODELS = frozenset({
    "patients.careteammember", "patients.breakglassgrant",  # who may see a patient
    "fhir.exportjob", "fhir.backendclient", "fhir.backendtoken", "fhir.usedassertion",
})

_replica_wanted: ContextVar[bool] = ContextVar("replica_reads", default=False)


@contextmanager
def replica_reads() -> Iterator[None]:
    """Let the reads inside go to the replica (when one is configured)."""
    token = _replica_wanted.set(True)
    try:
        yield
    finally:
        _replica_wanted.reset(token)


def replica_configured() -> bool:
    return REPLICA in connections.settings


class ReplicaRouter:
    def db_for_read(self, model: type[Any], **hints: Any) -> str:
        meta = model._meta
        if (
            _replica_wanted.get()
            and replica_configured()
            and meta.app_label not in PRIMARY_ONLY_APPS
            and meta.label_lower not in PRIMARY_ONLY_MODELS
        ):
            return REPLICA
        return DEFAULT_DB_ALIAS

    def db_for_write(self, model: type[Any], **hints: Any) -> str:
        return DEFAULT_DB_ALIAS

    def allow_relation(self, obj1: Any, obj2: Any, **hints: Any) -> bool:
        return True  # the same data on both

    def allow_migrate(self, db: str, app_label: str, **hints: Any) -> bool:
        return db == DEFAULT_DB_ALIAS  # the replica follows the primary's schema by replication
