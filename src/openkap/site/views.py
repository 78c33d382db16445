"""The public site's pages (anonymous, cacheable, no JavaScript) and the admin page
where an organisation edits its own sections."""

from __future__ import annotations

import hashlib
import json
from contextlib import nullcontext
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import NoReverseMatch, reverse
from django.utils import translation
from django.utils.cache import get_conditional_response, patch_vary_headers
from django.utils.http import quote_etag, url_has_allowed_host_and_scheme, urlencode
from django.views.decorators.http import require_GET, require_http_methods

from openkap.accounts.authz import Actor
from openkap.accounts.models import Organization
from openkap.core.authz import Perm
from openkap.patients import services as patient_services
from openkap.site import selectors, services
from openkap.site.content import (
    LANGUAGES,
    SECTION_KEYS,
    SECTIONS,
    Section,
    clean_section_text,
    render_markdown,
)
from openkap.site.eligibility import plain_eligibility
from openkap.site.forms import SectionForm
from openkap.web.decorators import apply_errors, staff_view

PUBLIC_MAX_AGE = 300
LANGUAGE_NAMES = {"en": "English", "es": "Español"}


def self_referral_url() -> str:
    """The pre-screen of the referrals app when it is installed; the contact page
    otherwise, so the call to action always leads somewhere."""
    try:
        return reverse("referrals:self_start")
    except NoReverseMatch:
        return reverse("site:contact")


def _json_ld(organization: Organization | None, request: HttpRequest, description: str) -> str:
    data: dict[str, Any] = {
        "@context": "https://schema.org",
        "@type": "MedicalClinic",
        "name": organization.name if organization else "OpenKAP",
        "url": request.build_absolute_uri("/"),
        "description": description,
        "medicalSpecialty": "Psychiatric",
        "availableService": {"@type": "MedicalTherapy", "name": "Ketamine-assisted psychotherapy"},
    }
    if organization is not None:
        site = organization.sites.filter(is_active=True).order_by("id").first()
        if site is not None:
            data["address"] = {
                "@type": "PostalAddress", "streetAddress": " ".join(filter(None, [site.address_line1, site.address_line2])),
                "addressLocality": site.city, "addressRegion": site.state, "postalCode": site.postal_code,
                "addressCountry": "US",
            }
            if site.phone:
                data["telephone"] = site.phone
    text = json.dumps(data, ensure_ascii=False)
    # Inside <script>: no "</script>" or HTML comment can be spelled by a clinic's name.
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def section_url(section: Section, language: str | None = None) -> str:
    """A section's address: the one that follows the visitor's language (x-default), or
    the one fixed to ``language``."""
    if language is None:
        return reverse(section.url_name)
    name = "site:home_in" if section.key == "home" else f"{section.url_name}_in"
    return reverse(name, kwargs={"language": language})


def _carrying(language: str | None, target: str) -> str:
    """A link out of a page fixed to one language (the referral form, sign-in) goes
    through the switch, so the next page is in the language the visitor was reading."""
    if language is None:
        return target
    return f"{reverse('site:language')}?{urlencode({'language': language, 'next': target})}"


def _languages(request: HttpRequest, section: Section, fixed: str | None) -> list[tuple[str, str, str]]:
    """(code, name, link) of the switch: it keeps the page, and on a page fixed to a
    language it goes to the same page fixed to the other one."""
    out = []
    for code in LANGUAGES:
        target = section_url(section, code) if fixed else request.path
        out.append((code, LANGUAGE_NAMES[code], f"{reverse('site:language')}?{urlencode({'language': code, 'next': target})}"))
    return out


def _public_page(request: HttpRequest, key: str, template: str, extra: dict[str, Any] | None = None,
                 fixed: str | None = None) -> HttpResponse:
    """A public page, in the visitor's language or, at /<language>/…, in that one."""
    section = next(s for s in SECTIONS if s.key == key)
    with translation.override(fixed) if fixed else nullcontext():
        response = _render_public(request, section, template, extra or {}, fixed)
    etag = quote_etag(hashlib.sha256(response.content).hexdigest()[:32])
    response["ETag"] = etag
    if fixed:
        response["Content-Language"] = fixed
    else:
        patch_vary_headers(response, ["Accept-Language", "Cookie"])
    if not request.user.is_authenticated:
        response["Cache-Control"] = f"public, max-age={PUBLIC_MAX_AGE}"
    conditional = get_conditional_response(request, etag=etag, response=response)
    assert conditional is not None  # a response was given, so one comes back
    return conditional


def _render_public(request: HttpRequest, section: Section, template: str, extra: dict[str, Any],
                   fixed: str | None) -> TemplateResponse:
    organization = selectors.public_organization(request)
    language = selectors.site_language()
    published = selectors.published_section(organization, section.key, language)
    absolute = request.build_absolute_uri
    context = {
        "organization": organization,
        "clinic_name": organization.name if organization else "OpenKAP",
        "section": published,
        "nav": [(s, section_url(s, fixed)) for s in SECTIONS],
        "home_url": section_url(SECTIONS[0], fixed),
        "current": section.key,
        "cta_url": _carrying(fixed, self_referral_url()),
        "signin_url": _carrying(fixed, reverse("accounts:login")),
        "language": language,
        "languages": _languages(request, section, fixed),
        "canonical": absolute(section_url(section, fixed)),
        "alternates": [(code, absolute(section_url(section, code))) for code in LANGUAGES],
        "x_default": absolute(section_url(section)),
        "json_ld": _json_ld(organization, request, published.description) if section.key == "home" else "",
        **extra,
    }
    response = TemplateResponse(request, template, context)
    response.render()
    return response


@require_GET
def home(request: HttpRequest, language: str | None = None) -> HttpResponse:
    return _public_page(request, "home", "site/home.html", fixed=language)


@require_GET
def page(request: HttpRequest, key: str, language: str | None = None) -> HttpResponse:
    if key not in SECTION_KEYS or key == "home":
        raise Http404
    extra: dict[str, Any] = {}
    if key == "routes":
        from openkap.site.chart import route_chart

        extra["chart"] = route_chart()
    elif key == "eligibility":
        extra["eligibility"] = plain_eligibility()
    elif key == "contact":
        organization = selectors.public_organization(request)
        extra["clinic_sites"] = (list(organization.sites.filter(is_active=True).order_by("name"))
                                 if organization else [])
    template = f"site/{key}.html" if key in ("routes", "eligibility", "contact") else "site/page.html"
    return _public_page(request, key, template, extra, fixed=language)


@require_GET
def sitemap(request: HttpRequest) -> HttpResponse:
    absolute = request.build_absolute_uri
    pages = []
    for s in SECTIONS:
        alternates = [(code, absolute(section_url(s, code))) for code in LANGUAGES]
        alternates.append(("x-default", absolute(section_url(s))))
        pages.append({"locs": [href for _code, href in alternates], "alternates": alternates})
    response = TemplateResponse(request, "site/sitemap.xml", {"pages": pages}, content_type="application/xml")
    response["Cache-Control"] = f"public, max-age={PUBLIC_MAX_AGE}"
    return response


@require_GET
def robots(request: HttpRequest) -> HttpResponse:
    # The public pages may be indexed; nothing behind a sign-in, the API or FHIR.
    lines = ["User-agent: *", "Allow: /$", "Allow: /learn/", "Allow: /contact/",
             *(f"Allow: /{code}/" for code in LANGUAGES),
             "Disallow: /", f"Sitemap: {request.build_absolute_uri(reverse('site:sitemap'))}"]
    response = HttpResponse("\n".join(lines) + "\n", content_type="text/plain; charset=utf-8")
    response["Cache-Control"] = f"public, max-age={PUBLIC_MAX_AGE}"
    return response


@require_http_methods(["GET", "POST"])
def language(request: HttpRequest) -> HttpResponse:
    """Switch the language of the pages a patient or prospective patient reads: a link
    (GET) on the public site sets a cookie only; the portal's form (POST) also stores a
    signed-in patient's choice on their record."""
    params = request.POST if request.method == "POST" else request.GET
    code = params.get("language", "")
    actor = getattr(request, "actor", None)
    if request.method == "POST" and code in LANGUAGES and actor and actor.is_patient_only:
        # A signed-in patient's choice is kept on their record: emails and PDFs follow it.
        patient_services.patient_language_set(by=actor, language=code)
    target = params.get("next", "/")
    if not url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()},
                                           require_https=request.is_secure()):
        target = "/"
    response = HttpResponseRedirect(target)
    if code in LANGUAGES:
        response.set_cookie(
            settings.LANGUAGE_COOKIE_NAME, code, max_age=settings.LANGUAGE_COOKIE_AGE,
            samesite=settings.LANGUAGE_COOKIE_SAMESITE, secure=settings.LANGUAGE_COOKIE_SECURE,
            httponly=settings.LANGUAGE_COOKIE_HTTPONLY,
        )
    return response


# The admin page: an organisation edits its own sections.

def _section_or_404(key: str, language_code: str) -> None:
    if key not in SECTION_KEYS or language_code not in LANGUAGES:
        raise Http404


@staff_view(Perm.PUBLIC_SITE_MANAGE)
def admin_list(request: HttpRequest, actor: Actor) -> HttpResponse:
    rows = selectors.site_sections_for_admin(actor=actor)
    labels = {s.key: s.nav_label for s in SECTIONS}
    return TemplateResponse(request, "site/admin_list.html", {
        "rows": [(labels[r.key], LANGUAGE_NAMES[r.language], r) for r in rows],
        "public_here": selectors.public_organization(request) == actor.organization,
    })


@staff_view(Perm.PUBLIC_SITE_MANAGE)
def admin_edit(request: HttpRequest, actor: Actor, key: str, language: str) -> HttpResponse:
    _section_or_404(key, language)
    history = selectors.site_section_history(actor=actor, key=key, language=language)
    current = selectors.published_section(actor.organization, key, language)
    preview = None
    loaded = None
    status = 200
    if request.method == "POST":
        form = SectionForm(request.POST)
        if form.is_valid():
            try:
                if request.POST.get("action") == "publish":
                    section = services.site_section_publish(by=actor, key=key, language=language, **form.cleaned_data)
                    messages.success(request, f"Published version {section.version}.")
                    return redirect("site:admin_edit", key=key, language=language)
                text = clean_section_text(**form.cleaned_data)
                preview = {"title": text["title"], "html": render_markdown(text["body"])}
            except ValidationError as exc:
                apply_errors(form, exc)
        if not form.is_valid():
            status = 422
    else:
        initial = {"title": current.title, "description": current.description, "body": current.body}
        shown = request.GET.get("version", "")
        older = next((row for row in history if str(row.version) == shown), None)
        if older is not None:
            initial = {"title": older.title, "description": older.description, "body": older.body}
        form = SectionForm(initial=initial)
        loaded = older.version if older is not None else None
    labels = {s.key: s.nav_label for s in SECTIONS}
    return TemplateResponse(request, "site/admin_edit.html", {
        "form": form, "key": key, "language": language, "language_name": LANGUAGE_NAMES[language],
        "label": labels[key], "current": current, "history": history, "preview": preview,
        "loaded_version": loaded, "public_url": reverse(next(s.url_name for s in SECTIONS if s.key == key)),
    }, status=status)

