"""Writes for the public site: an organisation publishes a new version of a section."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Max

from openkap.accounts.authz import Actor, require
from openkap.audit.models import AuditAction
from openkap.audit.services import audit_record
from openkap.core.authz import Perm
from openkap.site.content import LANGUAGES, SECTION_KEYS, clean_section_text
from openkap.site.models import SiteSection


def site_section_publish(
    *, by: Actor, key: str, language: str, title: str, description: str, body: str
) -> SiteSection:
    """Publish a new version of one section of the actor's organisation's public site.
    Earlier versions stay (the history); the same text twice is refused."""
    require(by, Perm.PUBLIC_SITE_MANAGE)
    if key not in SECTION_KEYS or language not in LANGUAGES:
        raise ValidationError("There is no such section of the public site.")
    text = clean_section_text(title=title, description=description, body=body)
    with transaction.atomic():
        rows = SiteSection.objects.filter(organization_id=by.organization.id, key=key, language=language)
        current = rows.order_by("-version").first()
        if current is not None and (current.title, current.description, current.body) == (
            text["title"], text["description"], text["body"]
        ):
            raise ValidationError("This is the text already published: nothing to save.")
        version = (rows.aggregate(v=Max("version"))["v"] or 0) + 1
        try:
            with transaction.atomic():
                section = SiteSection.objects.create(
                    organization_id=by.organization.id, key=key, language=language, version=version,
                    created_by_id=by.user.id, **text,
                )
        except IntegrityError as exc:
            raise ValidationError(
                "Someone else published this section at the same moment: reload it and apply your change again."
            ) from exc
        audit_record(
            by=by, action=AuditAction.UPDATE, object_type="site_section", object_id=section.id,
            detail={"key": key, "language": language, "version": version},
        )
    return section
