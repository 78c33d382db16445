"""Reads of the history import: the recent batches (who imported what, and when)."""

from __future__ import annotations

from openkap.accounts.authz import Actor, require
from openkap.core.authz import Perm
from openkap.history.models import ImportBatch


def recent_batches(*, by: Actor, limit: int = 20) -> list[ImportBatch]:
    require(by, Perm.HISTORY_IMPORT)
    return list(
        ImportBatch.objects.filter(organization=by.organization).select_related("imported_by").order_by("-id")[:limit]
    )
