"""The public site (issue 17, item 1): anonymous pages, caching, metadata, the route
chart, the eligibility list from core, and the admin page where an organisation edits
its own sections (sanitised, versioned, previewed, audited)."""

from __future__ import annotations

import json
import re
from decimal import Decimal

import pytest
from django.test import Client, override_settings
from hypothesis import given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from openkap.audit.models import AuditEvent
from openkap.core.pathway.contraindications import CHECKLIST, Severity
from openkap.site.content import SECTIONS, default_text, render_markdown
from openkap.site.eligibility import PLAIN_WORDS, plain_eligibility
from openkap.site.models import SiteSection
from tests.profiles import examples

pytestmark = pytest.mark.django_db
PAGES = ["/", "/learn/routes/", "/learn/safety/", "/learn/eligibility/", "/learn/sessions/",
         "/learn/costs/", "/contact/"]


def _text(response) -> str:
    return response.content.decode()


@pytest.mark.parametrize("path", PAGES)
def test_public_page_opens_anonymously_with_metadata_and_no_script(client, org, path):
    response = client.get(path)
    assert response.status_code == 200
    html = _text(response)
    assert '<html lang="en">' in html
    assert re.search(r'<meta name="description" content="[^"]{20,}">', html)
    for prop in ("og:title", "og:description", "og:url", "og:type"):
        assert f'property="{prop}"' in html
    # Works without JavaScript: no executable script at all on a public page.
    assert not re.search(r"<script(?![^>]*application/ld\+json)", html)
    assert "csrfmiddlewaretoken" not in html
    assert "X-CSRFToken" not in html
    assert response["Cache-Control"] == "public, max-age=300"
    assert "Accept-Language" in response["Vary"]


def test_public_page_answers_304_to_its_etag(client, org):
    first = client.get("/learn/safety/")
    again = client.get("/learn/safety/", HTTP_IF_NONE_MATCH=first["ETag"])
    assert again.status_code == 304
    other = client.get("/learn/safety/", HTTP_IF_NONE_MATCH='"something-else"')
    assert other.status_code == 200


def test_home_has_clinic_json_ld_and_the_call_to_action(client, org, site):
    html = _text(client.get("/"))
    block = re.search(r'<script type="application/ld\+json">(.*?)</script>', html, re.S)
    data = json.loads(block.group(1))
    assert data["@type"] == "MedicalClinic"
    assert data["name"] == org.name
    assert data["address"]["addressLocality"] == site.city
    assert "Check if KAP is right for you" in html


def test_json_ld_cannot_be_broken_out_of_by_a_clinic_name(client, org):
    org.name = "</script><script>alert(1)</script>"
    org.save()
    html = _text(client.get("/"))
    block = re.search(r'<script type="application/ld\+json">(.*?)</script>', html, re.S).group(1)
    assert json.loads(block)["name"] == org.name
    assert "<script>alert" not in html


def test_signed_in_people_still_reach_their_own_home(client_for, org, therapist, patient):
    staff_home = client_for(therapist).get("/")
    assert staff_home.status_code == 200
    assert "Check if KAP is right for you" not in _text(staff_home)
    assert staff_home["Cache-Control"] == "no-store"


def test_spanish_from_the_browser_or_the_switcher(client, org):
    by_browser = client.get("/learn/safety/", HTTP_ACCEPT_LANGUAGE="es-MX,es;q=0.9")
    assert '<html lang="es">' in _text(by_browser)
    assert "Efectos secundarios y seguridad" in _text(by_browser)
    assert by_browser["Content-Language"] == "es"
    switched = client.get("/language/", {"language": "es", "next": "/learn/costs/"})
    assert switched.status_code == 302
    assert switched["Location"] == "/learn/costs/"
    page = client.get("/learn/costs/")
    assert "Costos y preguntas" in _text(page)
    back = client.get("/language/", {"language": "en", "next": "/learn/costs/"})
    assert back.status_code == 302
    assert "Costs and questions" in _text(client.get("/learn/costs/"))


@pytest.mark.parametrize("target", ["https://evil.example/", "//evil.example/", "javascript:alert(1)"])
def test_language_switch_never_redirects_off_site(client, target):
    response = client.get("/language/", {"language": "es", "next": target})
    assert response.status_code == 302
    assert response["Location"] == "/"


def test_language_switch_ignores_an_unknown_language(client):
    response = client.get("/language/", {"language": "xx", "next": "/"})
    assert response.status_code == 302
    assert "django_language" not in response.cookies


def test_every_default_section_exists_in_both_languages_with_sources():
    for section in SECTIONS:
        for language in ("en", "es"):
            text = default_text(section.key, language)
            assert text.title
            assert 20 <= len(text.description) <= 300
    # Clinical statements carry their sources.
    for key in ("home", "routes", "safety", "sessions", "costs"):
        assert "## Sources" in default_text(key, "en").body
        assert "## Fuentes" in default_text(key, "es").body


def test_every_contraindication_in_core_has_plain_words():
    assert set(PLAIN_WORDS) == {item.id for item in CHECKLIST.items}


def test_eligibility_groups_follow_the_checklist_severities():
    result = plain_eligibility()
    rules_out = {i.id for i in result.rules_out}
    # Hand-checked against contraindications.json: the esketamine label's four
    # contraindications are absolute on every route; pregnancy and psychosis are relative.
    assert rules_out == {"aneurysmal_vascular_disease", "arteriovenous_malformation",
                         "intracerebral_haemorrhage", "ketamine_hypersensitivity"}
    assert {"pregnancy", "active_psychosis", "uncontrolled_hypertension"} <= {i.id for i in result.needs_review}
    for item in CHECKLIST.items:
        absolute_everywhere = all(r.severity is Severity.ABSOLUTE for r in item.rules.values())
        assert (item.id in rules_out) == absolute_everywhere


def test_eligibility_page_lists_every_item_in_plain_words(client, org):
    html = _text(client.get("/learn/eligibility/"))
    for words in PLAIN_WORDS.values():
        assert str(words).replace("'", "&#x27;") in html
    es = _text(client.get("/learn/eligibility/", HTTP_ACCEPT_LANGUAGE="es"))
    assert "Estar embarazada o planear un embarazo" in es


def test_route_page_draws_the_population_curves_at_the_usual_doses(client, org):
    from openkap.pharmacokinetics.predictions import usual_doses

    html = _text(client.get("/learn/routes/"))
    # A wide drawing and a tall one for phones, each titled and described for screen readers.
    for size in ("wide", "narrow"):
        assert f'<svg class="route-chart {size}"' in html
        assert f'<title id="route-chart-{size}-title">' in html
    assert "A population prediction, not dosing advice." in html
    # One line per route, each at the example protocols' first dose for 70 kg.
    for route, dose in usual_doses(Decimal(70)).items():
        assert f"{dose.dose_mg.normalize():f} mg" in html, route
    assert html.count('stroke-width="2.5"') == 2 * len(usual_doses(Decimal(70)))
    es = _text(client.get("/learn/routes/", HTTP_ACCEPT_LANGUAGE="es"))
    assert "Una predicción para una población, no una recomendación de dosis." in es
    assert "Horas desde el inicio de la dosis" in es


def test_sitemap_and_robots(client):
    sitemap = _text(client.get("/sitemap.xml"))
    for path in PAGES:
        assert f"<loc>http://testserver{path}</loc>" in sitemap
    robots = _text(client.get("/robots.txt"))
    assert "Sitemap: http://testserver/sitemap.xml" in robots
    assert "Disallow: /" in robots
    assert "Allow: /learn/" in robots


# Markdown sanitising: what a clinic types can never run in a visitor's browser.

def test_markdown_drops_scripts_handlers_and_unsafe_links():
    html = render_markdown(
        "# Title\n<script>alert(1)</script>\n\n[x](javascript:alert(1)) <img src=x onerror=alert(1)>\n\n"
        "[ok](https://example.org) [mail](mailto:a@b.org)"
    )
    assert "<script" not in html
    assert "onerror" not in html.replace("onerror=alert(1)&gt;", "")
    assert 'href="javascript' not in html
    assert '<a href="https://example.org" rel="noopener noreferrer">ok</a>' in html
    assert "<h2>Title</h2>" in html  # headings sit under the page's own h1


@hsettings(max_examples=examples(200))
@given(st.text(alphabet=st.sampled_from(list("<>\"'=/ :;&#()[]!*_-`\nabcjsvriptonlerfhxSCRIPT")), max_size=200))
def test_markdown_output_never_carries_markup_that_runs(text):
    html = render_markdown(text).lower()
    tags = re.findall(r"<\s*([a-z0-9]+)", html)
    assert set(tags) <= {"p", "h2", "h3", "h4", "ul", "ol", "li", "strong", "em", "a", "blockquote", "code",
                         "pre", "hr", "br", "table", "thead", "tbody", "tr", "th", "td", "div"}
    assert not re.search(r"<[^>]*\son[a-z]+\s*=", html)
    assert 'href="javascript' not in html


# The admin page.

def _publish(client: Client, key: str = "costs", language: str = "en", **fields):
    data = {"title": "Our prices", "description": "What a course costs at our clinic, with insurance.",
            "body": "## Prices\n\nA screening visit costs **$250**.", "action": "publish"} | fields
    return client.post(f"/admin/public-site/{key}/{language}/", data)


def test_admin_publishes_versions_that_the_public_site_shows(client_for, admin, org):
    staff = client_for(admin)
    assert staff.get("/admin/public-site/").status_code == 200
    assert _publish(staff).status_code == 302
    assert _publish(staff, body="## Prices\n\nA screening visit costs **$275**.").status_code == 302
    versions = list(SiteSection.objects.filter(organization=org, key="costs", language="en")
                    .order_by("version").values_list("version", flat=True))
    assert versions == [1, 2]
    events = AuditEvent.objects.filter(object_type="site_section", organization_id=org.id)
    assert [e.detail["version"] for e in events.order_by("id")] == [1, 2]
    page = _text(Client().get("/learn/costs/"))
    assert "<strong>$275</strong>" in page
    assert "$250" not in page
    # The Spanish page keeps OpenKAP's default until the clinic writes its own.
    assert "Costos y preguntas" in _text(Client().get("/learn/costs/", HTTP_ACCEPT_LANGUAGE="es"))
    edit = _text(staff.get("/admin/public-site/costs/en/?version=1"))
    assert "$250" in edit
    assert "Version 1 is loaded" in edit


def test_admin_preview_shows_sanitised_text_and_saves_nothing(client_for, admin, org):
    response = _publish(client_for(admin), action="preview", body="Hello <script>alert(1)</script> **world**")
    assert response.status_code == 200
    html = _text(response)
    assert "<strong>world</strong>" in html
    assert "<script>alert(1)" not in html
    assert not SiteSection.objects.exists()


@pytest.mark.parametrize(("fields", "field"), [
    ({"title": "   "}, "title"),
    ({"title": "x" * 121}, "title"),
    ({"description": ""}, "description"),
    ({"body": "x" * 20_001}, "body"),
    ({"body": " \n "}, "body"),
])
def test_admin_bad_input_is_refused_and_changes_nothing(client_for, admin, org, fields, field):
    response = _publish(client_for(admin), **fields)
    assert response.status_code == 422
    assert response.context["form"].errors.get(field)
    assert not SiteSection.objects.exists()


def test_publishing_the_same_text_twice_is_refused(client_for, admin, org):
    staff = client_for(admin)
    assert _publish(staff).status_code == 302
    again = _publish(staff)
    assert again.status_code == 422
    assert "nothing to save" in _text(again)
    assert SiteSection.objects.count() == 1


def test_unknown_section_or_language_is_404(client_for, admin):
    staff = client_for(admin)
    assert staff.get("/admin/public-site/nonsense/en/").status_code == 404
    assert staff.get("/admin/public-site/costs/fr/").status_code == 404


def test_only_admins_edit_and_only_their_own_organisation(client_for, admin, therapist, outsider, org, other_org):
    assert client_for(therapist).get("/admin/public-site/").status_code == 403
    assert _publish(client_for(therapist)).status_code == 403
    assert Client().get("/admin/public-site/").status_code == 302
    # Another organisation's admin writes into their own organisation only.
    assert _publish(client_for(outsider), body="## Other clinic prices").status_code == 302
    assert SiteSection.objects.get().organization_id == other_org.id
    assert "Other clinic prices" not in _text(client_for(admin).get("/admin/public-site/costs/en/"))


def test_public_site_serves_the_organisation_configured_for_the_host(client_for, admin, org, other_org):
    _publish(client_for(admin), key="contact", title="Visit Test KAP Clinic", body="Call us.")
    # Two organisations and no mapping: OpenKAP's default text.
    assert "Visit Test KAP Clinic" not in _text(Client().get("/contact/"))
    with override_settings(PUBLIC_SITES={"testserver": "test", "*": "other"}):
        assert "Visit Test KAP Clinic" in _text(Client().get("/contact/"))
        assert "Visit Test KAP Clinic" not in _text(Client().get("/contact/", HTTP_HOST="localhost"))
