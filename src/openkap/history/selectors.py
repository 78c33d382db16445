"""Reads of the history import: the recent batches (who imported what, and when), and the
route and dose of imported sessions for the outcome reports."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from openkap.accounts.authz import Actor, require
from openkap.core.authz import Perm
from openkap.history.models import ImportBatch, ImportedRecord


def recent_batches(*, by: Actor, limit: int = 20) -> list[ImportBatch]:
    require(by, Perm.HISTORY_IMPORT)
    return list(
        ImportBatch.objects.filter(organization=by.organization).select_related("imported_by").order_by("-id")[:limit]
    )


def imported_sessions(organization_id: int, *, session_ids: Iterable[int] | None = None) -> dict[int, dict[str, Any]]:
    """Route and dose of the organisation's imported sessions (or of the given ones), by
    session id (their own table has no order or protocol to say so)."""
    records = ImportedRecord.objects.filter(organization_id=organization_id, kind="sessions")
    if session_ids is not None:
        records = records.filter(object_id__in=list(session_ids))
    return dict(records.values_list("object_id", "data"))
