"""Signed checkpoints: the end of a hash chain written down outside the database.

A hash chain shows that no row was changed or removed *before* its head; whoever can
write the database can still delete the last rows and move the head back. A
checkpoint (the site's entry number and head hash, or the audit log's last seal)
signed with HMAC-SHA256 under ``OPENKAP_CHECKPOINT_KEY`` — a key the database does not
hold — and kept in files (or on paper: the biennial inventory prints one) settles
that: ``verify`` compares the chain with the newest checkpoint and names what is
missing. docs/adr/0012-tamper-evidence.md.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone


class CheckpointError(Exception):
    """A checkpoint file that cannot be trusted (unreadable, or its signature is wrong)."""


def configured() -> bool:
    return bool(settings.OPENKAP_CHECKPOINT_KEY)


MISSING_KEY = (
    "Set OPENKAP_CHECKPOINT_KEY (a long random value kept outside the database, e.g. "
    "python -c 'import secrets; print(secrets.token_urlsafe(48))') to sign and check checkpoints."
)


def _key() -> bytes:
    key = settings.OPENKAP_CHECKPOINT_KEY
    if not key:
        raise ImproperlyConfigured(MISSING_KEY)
    return key.encode()


def canonical(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


def signature(payload: dict[str, Any]) -> str:
    return hmac.new(_key(), canonical(payload), hashlib.sha256).hexdigest()


def signed(payload: dict[str, Any]) -> dict[str, Any]:
    return {"payload": payload, "signature": f"hmac-sha256:{signature(payload)}"}


def check(document: dict[str, Any]) -> dict[str, Any]:
    """The payload of a signed checkpoint, or CheckpointError if it was altered."""
    payload = document.get("payload")
    given = str(document.get("signature", ""))
    if not isinstance(payload, dict) or not given.startswith("hmac-sha256:"):
        raise CheckpointError("not a signed OpenKAP checkpoint")
    if not hmac.compare_digest(given.removeprefix("hmac-sha256:"), signature(payload)):
        raise CheckpointError("its signature does not match: the file was altered or signed with another key")
    return payload


def directory() -> Path:
    return Path(settings.OPENKAP_CHECKPOINT_DIR)


def write(kind: str, payload: dict[str, Any], *, out: Path | None = None) -> Path:
    """Write ``{kind}-{UTC time}.json`` into ``out`` (default OPENKAP_CHECKPOINT_DIR)."""
    folder = out or directory()
    folder.mkdir(parents=True, exist_ok=True)
    stamp = timezone.now().strftime("%Y%m%dT%H%M%S%fZ")
    path = folder / f"{kind}-{stamp}.json"
    path.write_text(json.dumps(signed({"kind": kind, **payload}), indent=2, sort_keys=True) + "\n")
    return path


def load(path: Path) -> dict[str, Any]:
    try:
        document = json.loads(Path(path).read_text())
    except (OSError, ValueError) as exc:
        raise CheckpointError(f"{path}: cannot be read ({exc})") from None
    try:
        return check(document)
    except CheckpointError as exc:
        raise CheckpointError(f"{path}: {exc}") from None


def latest(kind: str, folder: Path | None = None) -> tuple[Path, dict[str, Any]] | None:
    """The newest checkpoint of this kind (by the time inside it), checked; None if none."""
    found: list[tuple[str, Path, dict[str, Any]]] = []
    for path in (folder or directory()).glob(f"{kind}-*.json"):
        payload = load(path)
        if payload.get("kind") == kind:
            found.append((str(payload.get("created_at", "")), path, payload))
    if not found:
        return None
    _, path, payload = max(found, key=lambda item: item[0])
    return path, payload


def utc_iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat()


def for_verify(command: BaseCommand, kind: str, options: dict[str, Any]) -> tuple[Path, dict[str, Any]] | None:
    """The newest checkpoint a ``verify`` command compares with (None with
    ``--no-checkpoint`` or when there is none); a missing key or an altered file
    stops the command, which exits 1 naming why."""
    if options.get("no_checkpoint"):
        return None
    if not configured():
        raise CommandError(f"{MISSING_KEY} (Or check the chains only: --no-checkpoint.)")
    try:
        return latest(kind, options.get("checkpoint_dir"))
    except CheckpointError as exc:
        command.stderr.write(command.style.ERROR(f"CHECKPOINT REFUSED: {exc}"))
        raise CommandError(f"{kind.capitalize()} verification failed: the checkpoint cannot be trusted.",
                           returncode=1) from None
