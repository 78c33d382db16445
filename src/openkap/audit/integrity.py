"""Sealing the audit log into its hash chain, and verifying it (``openkap audit``).

See openkap.core.auditchain for the chain and docs/adr/0012-tamper-evidence.md for why
it is sealed in batches rather than linked on every write."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from openkap import checkpoints
from openkap.audit.models import AuditEvent, AuditSeal
from openkap.core import auditchain

SEAL_BATCH = 50_000
FIELDS = ("id", "occurred_at", "organization_id", "actor_id", "actor_email", "action", "object_type",
          "object_id", "patient_id", "ip", "user_agent", "via", "reason", "break_glass", "detail")


def event_hash(values: dict[str, Any]) -> str:
    moment: datetime = values["occurred_at"]
    return auditchain.row_hash({**values, "occurred_at": moment.astimezone(UTC).isoformat()})


def _rows(**filters: Any) -> Any:
    return AuditEvent.objects.filter(**filters).order_by("id").values(*FIELDS).iterator(chunk_size=5000)


def seal_pending(*, now: datetime | None = None) -> list[AuditSeal]:
    """Seal every event older than AUDIT_SEAL_DELAY_SECONDS that no seal covers yet.

    The delay lets transactions still open commit their events before the range that
    would contain them is sealed. One sealer at a time: a second one running at once
    fails on the unique seal number and stops."""
    cutoff = (now or timezone.now()) - timedelta(seconds=settings.AUDIT_SEAL_DELAY_SECONDS)
    made: list[AuditSeal] = []
    while True:
        last = AuditSeal.objects.order_by("-number").first()
        after = last.last_event_id if last else 0
        upto = (AuditEvent.objects.filter(id__gt=after, occurred_at__lte=cutoff)
                .order_by("-id").values_list("id", flat=True).first())
        if upto is None:
            return made
        ids: list[int] = []
        hashes: list[str] = []
        for values in _rows(id__gt=after, id__lte=upto):
            ids.append(values["id"])
            hashes.append(event_hash(values))
            if len(ids) >= SEAL_BATCH:
                break
        number = (last.number if last else 0) + 1
        prev = last.seal_hash if last else auditchain.GENESIS
        text, digest = auditchain.compress_ids(ids), auditchain.digest(hashes)
        try:
            with transaction.atomic():
                made.append(AuditSeal.objects.create(
                    number=number, first_event_id=ids[0], last_event_id=ids[-1], event_ids=text,
                    event_count=len(ids), events_digest=digest, prev_hash=prev,
                    seal_hash=auditchain.seal_hash(number=number, prev_hash=prev, event_ids=text,
                                                   event_count=len(ids), events_digest=digest),
                ))
        except IntegrityError:
            return made  # another sealer got there first


def checkpoint_payload() -> dict[str, Any]:
    last = AuditSeal.objects.order_by("-number").first()
    return {
        "created_at": checkpoints.utc_iso(timezone.now()),
        "seal_number": last.number if last else 0,
        "seal_hash": last.seal_hash if last else auditchain.GENESIS,
        "last_event_id": last.last_event_id if last else 0,
    }


@dataclass
class AuditCheck:
    events_checked: int = 0
    seals: int = 0
    unsealed: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def _ranges(ids: list[int]) -> str:
    text = auditchain.compress_ids(ids)
    return text if len(text) <= 200 else text[:200] + "…"


def verify(*, checkpoint: dict[str, Any] | None = None) -> AuditCheck:
    """Recompute every seal from the events it names; compare the last with a checkpoint."""
    result = AuditCheck()
    prev_hash, expected, last_id = auditchain.GENESIS, 1, 0
    for seal in AuditSeal.objects.order_by("number").iterator(chunk_size=100):
        result.seals += 1
        if seal.number != expected:
            result.problems.append(
                f"seal #{expected} is missing (seal #{seal.number} follows seal #{expected - 1}): "
                f"events {last_id + 1}–{seal.first_event_id - 1} are no longer sealed"
            )
        elif seal.prev_hash != prev_hash:
            result.problems.append(f"seal #{seal.number} does not follow seal #{seal.number - 1}: the chain was rewritten")
        recomputed = auditchain.seal_hash(number=seal.number, prev_hash=seal.prev_hash, event_ids=seal.event_ids,
                                          event_count=seal.event_count, events_digest=seal.events_digest)
        if recomputed != seal.seal_hash:
            result.problems.append(f"seal #{seal.number} itself was altered (its hash does not recompute)")
        sealed = auditchain.expand_ids(seal.event_ids)
        rows = list(_rows(id__gte=seal.first_event_id, id__lte=seal.last_event_id))
        present = [r["id"] for r in rows]
        result.events_checked += len(rows)
        missing = sorted(set(sealed) - set(present))
        added = sorted(set(present) - set(sealed))
        if missing:
            result.problems.append(
                f"seal #{seal.number}: {len(missing)} audit event(s) missing, ids {_ranges(missing)}"
            )
        if added:
            result.problems.append(
                f"seal #{seal.number}: event(s) {_ranges(added)} appeared inside the sealed range after sealing"
            )
        if not missing and not added and auditchain.digest(event_hash(r) for r in rows) != seal.events_digest:
            result.problems.append(
                f"seal #{seal.number}: an event among ids {seal.first_event_id}–{seal.last_event_id} was altered"
            )
        prev_hash, expected, last_id = seal.seal_hash, seal.number + 1, seal.last_event_id
    result.unsealed = AuditEvent.objects.filter(id__gt=last_id).count()
    if checkpoint is not None:
        result.problems += _against_checkpoint(checkpoint, last_seal=expected - 1, last_id=last_id)
    return result


def _against_checkpoint(payload: dict[str, Any], *, last_seal: int, last_id: int) -> list[str]:
    number, expected_hash = int(payload["seal_number"]), str(payload["seal_hash"])
    through, when = int(payload["last_event_id"]), payload.get("created_at", "?")
    if number == 0:
        return []
    seal = AuditSeal.objects.filter(number=number).first()
    if seal is None:
        left = AuditEvent.objects.filter(id__gt=last_id, id__lte=through).count()
        return [
            f"the checkpoint of {when} names seal #{number} (events up to id {through}); the log's seals end at "
            f"#{last_seal} (events up to id {last_id}): seals #{last_seal + 1}–#{number} were deleted, and of the "
            f"events {last_id + 1}–{through} only {left} remain"
        ]
    if seal.seal_hash != expected_hash:
        return [f"seal #{number} differs from the checkpoint of {when}: the log up to event {through} was rewritten"]
    return []
