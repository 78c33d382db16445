"""Reads for the public site. Nothing here touches patient data, so nothing is audited
except what the admin pages read through the service layer's permission check."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.http import HttpRequest
from django.utils.translation import get_language

from openkap.accounts.authz import Actor, require
from openkap.accounts.models import Organization
from openkap.core.authz import Perm
from openkap.site.content import LANGUAGES, SECTION_KEYS, default_text, render_markdown
from openkap.site.models import SiteSection


def public_organization(request: HttpRequest) -> Organization | None:
    """The organisation whose public site this host serves: ``OPENKAP_PUBLIC_SITES``
    maps host names to organisation slugs (``*`` for any other host); without it, the
    only organisation of a single-clinic installation. None shows OpenKAP's defaults."""
    sites: dict[str, str] = settings.PUBLIC_SITES
    slug = sites.get(request.get_host().split(":")[0].lower()) or sites.get("*")
    if slug:
        return Organization.objects.filter(slug=slug).first()
    if sites:
        return None
    organizations = list(Organization.objects.order_by("id")[:2])
    return organizations[0] if len(organizations) == 1 else None


def site_language() -> str:
    language = (get_language() or "en")[:2]
    return language if language in LANGUAGES else "en"


@dataclass(frozen=True)
class Published:
    key: str
    language: str
    title: str
    description: str
    body: str  # Markdown
    html: str  # sanitised
    version: int | None  # None: OpenKAP's default text
    updated_at: datetime | None
    updated_by: str


def _published(key: str, language: str, row: SiteSection | None) -> Published:
    if row is None:
        text = default_text(key, language)
        return Published(key, language, text.title, text.description, text.body,
                         render_markdown(text.body), None, None, "")
    return Published(key, language, row.title, row.description, row.body, render_markdown(row.body),
                     row.version, row.created_at, row.created_by.full_name)


def published_section(organization: Organization | None, key: str, language: str) -> Published:
    row = None
    if organization is not None:
        row = (SiteSection.objects.filter(organization=organization, key=key, language=language)
               .select_related("created_by").order_by("-version").first())
    return _published(key, language, row)


def site_sections_for_admin(*, actor: Actor) -> list[Published]:
    """Every section in every language as published now, for the admin list."""
    require(actor, Perm.PUBLIC_SITE_MANAGE)
    newest: dict[tuple[str, str], SiteSection] = {}
    for row in (SiteSection.objects.filter(organization_id=actor.organization.id)
                .select_related("created_by").order_by("key", "language", "-version")):
        newest.setdefault((row.key, row.language), row)
    return [_published(key, language, newest.get((key, language)))
            for key in SECTION_KEYS for language in LANGUAGES]


def site_section_history(*, actor: Actor, key: str, language: str) -> list[SiteSection]:
    require(actor, Perm.PUBLIC_SITE_MANAGE)
    return list(SiteSection.objects.filter(organization_id=actor.organization.id, key=key, language=language)
                .select_related("created_by").order_by("-version"))
