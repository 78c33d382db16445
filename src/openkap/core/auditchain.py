"""The audit log's hash chain, sealed in batches (docs/adr/0012-tamper-evidence.md).

Events are written on almost every request, inside many transactions; chaining each
one to the last would make every request of the installation wait on one row lock.
Instead a periodic job *seals* the events written since the last seal: a seal names
the ids it covers (as ranges), a digest of those rows' canonical hashes, and the
previous seal's hash. Verification recomputes each seal from the rows and names the
ids that are missing, added or altered; a signed checkpoint of the last seal catches
seals removed from the end. Pure functions, no Django.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from typing import Any

CANONICAL_VERSION = "openkap-audit-v1"
GENESIS = hashlib.sha256(f"{CANONICAL_VERSION}:genesis".encode()).hexdigest()


def row_hash(fields: dict[str, Any]) -> str:
    """SHA-256 of the event's canonical JSON (sorted keys, ASCII, no spaces)."""
    text = json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=True, default=str)
    return hashlib.sha256(f"{CANONICAL_VERSION}:{text}".encode()).hexdigest()


def digest(row_hashes: Iterable[str]) -> str:
    h = hashlib.sha256(CANONICAL_VERSION.encode())
    for value in row_hashes:
        h.update(value.encode())
    return h.hexdigest()


def seal_hash(*, number: int, prev_hash: str, event_ids: str, event_count: int, events_digest: str) -> str:
    text = f"{CANONICAL_VERSION}:seal:{number}:{prev_hash}:{event_ids}:{event_count}:{events_digest}"
    return hashlib.sha256(text.encode()).hexdigest()


def compress_ids(ids: Sequence[int]) -> str:
    """Sorted ids as ranges: [1, 2, 3, 7, 9, 10] -> "1-3,7,9-10" (ids are mostly consecutive)."""
    parts: list[str] = []
    start = prev = None
    for i in ids:
        if prev is not None and i == prev + 1:
            prev = i
            continue
        if start is not None:
            parts.append(str(start) if start == prev else f"{start}-{prev}")
        start = prev = i
    if start is not None:
        parts.append(str(start) if start == prev else f"{start}-{prev}")
    return ",".join(parts)


def expand_ids(text: str) -> list[int]:
    ids: list[int] = []
    for part in filter(None, text.split(",")):
        low, _, high = part.partition("-")
        ids.extend(range(int(low), int(high or low) + 1))
    return ids
