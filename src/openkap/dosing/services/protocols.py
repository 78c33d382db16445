"""The protocol library: drafts, revisions, examples and the prescriber's approval."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Max
from django.http import Http404
from django.utils import timezone

from openkap.accounts.authz import Actor, require
from openkap.accounts.services import reauthenticate_signer
from openkap.audit.models import AuditAction
from openkap.audit.services import audit_record
from openkap.core.authz import Perm
from openkap.core.protocols import (
    Protocol,
    ProtocolError,
    dump_protocol,
    safety_limit_gaps,
)
from openkap.core.protocols.fields import group_messages
from openkap.core.protocols.loader import loads_protocol
from openkap.core.protocols.reference_limits import anaesthetic_ceiling_errors, reference_warnings
from openkap.dosing.models import (
    ProtocolVersion,
)
from openkap.dosing.validation import clean_text, example_text, protocol_content_with

from .common import (
    MAX_PROTOCOL_CHARS,
    _signature,
)


def _parse_content(content: object, version: int) -> tuple[Protocol, str]:
    """Validate protocol JSON text and set its version: (protocol, canonical text)."""
    if not isinstance(content, str) or not content.strip():
        raise ValidationError({"content": "Paste the protocol as JSON."})
    if len(content) > MAX_PROTOCOL_CHARS:
        raise ValidationError({"content": f"A protocol is at most {MAX_PROTOCOL_CHARS} characters."})
    try:
        loads_protocol(content)  # strict: duplicate keys, NaN, unknown fields...
    except ProtocolError as exc:
        if not any(e.startswith("version:") for e in exc.errors):
            raise ValidationError({"content": list(exc.errors)}) from None
    data = json.loads(content, parse_float=Decimal)
    if not isinstance(data, dict):
        raise ValidationError({"content": "A protocol is a JSON object."})
    data["version"] = version
    text = dump_protocol(data) + "\n"
    try:
        protocol = loads_protocol(text)
    except ProtocolError as exc:
        raise ValidationError({"content": list(exc.errors)}) from None
    refused = anaesthetic_ceiling_errors(protocol)
    if refused:
        raise ValidationError({"content": refused})
    return protocol, text


def _library_version(by: Actor, version_id: int, *, lock: bool = False) -> ProtocolVersion:
    qs = ProtocolVersion.objects.filter(id=version_id, organization=by.organization)
    if lock:
        qs = qs.select_for_update()
    version = qs.first()
    if version is None:
        raise Http404("No such protocol version in your organisation.")
    return version


def _next_version(by: Actor, protocol_id: str) -> int:
    top = ProtocolVersion.objects.filter(organization=by.organization, protocol_id=protocol_id).aggregate(
        top=Max("version")
    )["top"]
    return (top or 0) + 1


def _store_version(by: Actor, protocol: Protocol, text: str, *, based_on: ProtocolVersion | None,
                   change_reason: str) -> ProtocolVersion:
    try:
        with transaction.atomic():
            version = ProtocolVersion.objects.create(
                organization=by.organization, protocol_id=protocol.id, version=protocol.version,
                title=protocol.title[:300], route=protocol.route.value, content=text,
                sha256=hashlib.sha256(text.encode()).hexdigest(), based_on=based_on,
                change_reason=change_reason, created_by=by.user,
            )
    except IntegrityError:
        raise ValidationError(
            {"content": f"Version {protocol.version} of {protocol.id} was saved by someone else just now: reload and try again."}
        ) from None
    audit_record(
        by=by, action=AuditAction.CREATE, object_type="protocol_version", object_id=version.id,
        detail={"protocol": protocol.id, "version": protocol.version, "sha256": version.sha256,
                "based_on": based_on.id if based_on else None},
    )
    return version


def protocol_draft_create(*, by: Actor, content: str, change_reason: str = "") -> ProtocolVersion:
    """A new protocol for the library, as a draft (version 1, or the next number when an
    earlier protocol of the same id exists: then it is a revision and needs a reason)."""
    require(by, Perm.PROTOCOL_MANAGE)
    change_reason = clean_text(change_reason, "change_reason", what="the reason for the change")
    with transaction.atomic():
        # Parse once to learn the id, then again with the version it will carry.
        first, _ = _parse_content(content, 1)
        previous = (
            ProtocolVersion.objects.select_for_update()
            .filter(organization=by.organization, protocol_id=first.id)
            .order_by("-version").first()
        )
        if previous is not None and not change_reason:
            raise ValidationError(
                {"change_reason": f"The library already has {first.id} (v{previous.version}): say what changes."}
            )
        protocol, text = _parse_content(content, _next_version(by, first.id))
        return _store_version(by, protocol, text, based_on=previous, change_reason=change_reason)


def protocol_example_import(*, by: Actor, example_id: str) -> ProtocolVersion:
    """A draft copy of one of the protocols shipped with OpenKAP, to review and approve."""
    require(by, Perm.PROTOCOL_MANAGE)
    text = example_text(example_id)
    exists = ProtocolVersion.objects.filter(organization=by.organization, protocol_id=example_id).exists()
    return protocol_draft_create(
        by=by, content=text,
        change_reason="Re-imported from the example shipped with OpenKAP." if exists else "",
    )


def _by_field(exc: ValidationError) -> ValidationError:
    """A whole-protocol refusal ({"content": [...]}) told field by field."""
    if not hasattr(exc, "error_dict") or "content" not in exc.error_dict:
        return exc
    errors = {k: v for k, v in exc.message_dict.items() if k != "content"}
    for name, messages in group_messages(exc.message_dict["content"]).items():
        errors.setdefault(name, []).extend(messages)
    return ValidationError(errors)


def protocol_fields_save(*, by: Actor, fields: Mapping[str, object], change_reason: str = "",
                         version_id: int | None = None, example_id: str | None = None) -> ProtocolVersion:
    """Save an edit made field by field: of a version (a draft in place, an approved one
    as a new draft version) or, for a new protocol, of a shipped example. The same
    checks as the JSON paths, with each refusal named by its field."""
    require(by, Perm.PROTOCOL_MANAGE)
    if (version_id is None) == (example_id is None):
        raise ValidationError({"__all__": "Edit a library version or start from a shipped example."})
    try:
        if version_id is not None:
            version = _library_version(by, version_id)
            content = protocol_content_with(version.content, fields)
            if version.is_approved:
                return protocol_revise(by=by, version_id=version.id, content=content, change_reason=change_reason)
            return protocol_draft_update(by=by, version_id=version.id, content=content, change_reason=change_reason)
        content = protocol_content_with(example_text(str(example_id)), fields)
        return protocol_draft_create(by=by, content=content, change_reason=change_reason)
    except ValidationError as exc:
        raise _by_field(exc) from None


def protocol_revise(*, by: Actor, version_id: int, content: str, change_reason: str) -> ProtocolVersion:
    """A change to a protocol: always a new draft version; the one it changes stays as it was."""
    require(by, Perm.PROTOCOL_MANAGE)
    change_reason = clean_text(change_reason, "change_reason", required=True, what="what changes and why")
    with transaction.atomic():
        base = _library_version(by, version_id)
        protocol, text = _parse_content(content, _next_version(by, base.protocol_id))
        if protocol.id != base.protocol_id:
            raise ValidationError(
                {"content": f"A revision keeps the id {base.protocol_id}; a new id is a new protocol."}
            )
        return _store_version(by, protocol, text, based_on=base, change_reason=change_reason)


def protocol_draft_update(*, by: Actor, version_id: int, content: str, change_reason: str = "") -> ProtocolVersion:
    """Edit a draft before it is approved (approved versions never change)."""
    require(by, Perm.PROTOCOL_MANAGE)
    change_reason = clean_text(change_reason, "change_reason", what="the reason for the change")
    with transaction.atomic():
        version = _library_version(by, version_id, lock=True)
        if version.is_approved:
            raise ValidationError({"content": "An approved version never changes: make a new version."})
        protocol, text = _parse_content(content, version.version)
        if protocol.id != version.protocol_id:
            raise ValidationError({"content": f"Keep the id {version.protocol_id}; a new id is a new protocol."})
        before = version.sha256
        version.content, version.title, version.route = text, protocol.title[:300], protocol.route.value
        version.sha256 = hashlib.sha256(text.encode()).hexdigest()
        version.change_reason = change_reason or version.change_reason
        version.updated_at = timezone.now()
        version.save()
        version.__dict__.pop("protocol", None)
        audit_record(
            by=by, action=AuditAction.UPDATE, object_type="protocol_version", object_id=version.id,
            detail={"protocol": version.protocol_id, "version": version.version, "before": before,
                    "after": version.sha256},
        )
    return version


def protocol_approve(*, by: Actor, version_id: int, password: str, accept_warnings: bool = False) -> ProtocolVersion:
    """A prescriber of the organisation approves a draft, signing with their password.
    From then on it can be dosed from, and it never changes. Above the reference's
    suggested limits for the route, the prescriber says they accept them."""
    require(by, Perm.PROTOCOL_APPROVE)
    _library_version(by, version_id)
    reauthenticate_signer(by, password)
    with transaction.atomic():
        version = _library_version(by, version_id, lock=True)
        if version.is_approved:
            raise ValidationError({"__all__": f"{version.protocol_id} v{version.version} is already approved."})
        try:
            protocol = loads_protocol(version.content)
        except ProtocolError as exc:
            raise ValidationError({"content": list(exc.errors)}) from None
        gaps = safety_limit_gaps(protocol) + anaesthetic_ceiling_errors(protocol)
        if gaps:
            # Issue 12: no approval without the ceilings a dose is checked against.
            raise ValidationError({"content": [f"Before approval: {gap}." for gap in gaps]})
        warnings = reference_warnings(protocol)
        if warnings and not accept_warnings:
            raise ValidationError({"accept_warnings": [
                "Above the reference's suggested limits for this route: " + "; ".join(warnings)
                + ". Approve only if your clinic means it, and say so."]})
        sig = _signature(by)
        version.status = ProtocolVersion.Status.APPROVED
        version.approved_by, version.approved_at = by.user, timezone.now()
        version.approver_name, version.approver_credentials = sig["signer_name"], sig["signer_credentials"]
        version.save()
        audit_record(
            by=by, action=AuditAction.UPDATE, object_type="protocol_version", object_id=version.id,
            detail={"protocol": version.protocol_id, "version": version.version, "approved": True,
                    "sha256": version.sha256, "signed": True, "warnings_accepted": warnings},
        )
    return version


