"""Per-language public addresses (issue 17, item 6): every public page also lives at
/en/… and /es/… in that language whatever the browser or cookie says; the plain address
follows the visitor (the x-default); hreflang alternates, the sitemap and the switch
keep the page."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from urllib.parse import parse_qs, urlsplit

import pytest
from django.test import Client

from tests.site.test_public_site import PAGES

pytestmark = pytest.mark.django_db


def _html(response) -> str:
    assert response.status_code == 200
    return response.content.decode()


@pytest.mark.parametrize("path", PAGES)
def test_spanish_address_is_spanish_for_an_english_browser_and_cookie(client, org, path):
    client.cookies["django_language"] = "en"
    response = client.get(f"/es{path}", HTTP_ACCEPT_LANGUAGE="en-US,en;q=0.9")
    html = _html(response)
    assert '<html lang="es">' in html
    assert response["Content-Language"] == "es"
    assert f'<link rel="canonical" href="http://testserver/es{path}">' in html
    assert f'<link rel="alternate" hreflang="en" href="http://testserver/en{path}">' in html
    assert f'<link rel="alternate" hreflang="es" href="http://testserver/es{path}">' in html
    assert f'<link rel="alternate" hreflang="x-default" href="http://testserver{path}">' in html
    # The address alone decides: the English address for a Spanish browser and cookie.
    spanish = Client(HTTP_ACCEPT_LANGUAGE="es")
    spanish.cookies["django_language"] = "es"
    english = spanish.get(f"/en{path}")
    assert '<html lang="en">' in _html(english)
    assert english["Content-Language"] == "en"


@pytest.mark.parametrize("path", PAGES)
def test_english_address_is_english_for_a_spanish_browser(client, org, path):
    html = _html(client.get(f"/en{path}", HTTP_ACCEPT_LANGUAGE="es"))
    assert '<html lang="en">' in html
    assert "Check if KAP is right for you" in html


def test_plain_address_still_follows_the_visitor(client, org):
    html = _html(client.get("/learn/safety/", HTTP_ACCEPT_LANGUAGE="es"))
    assert '<html lang="es">' in html
    assert '<link rel="canonical" href="http://testserver/learn/safety/">' in html
    assert '<link rel="alternate" hreflang="es" href="http://testserver/es/learn/safety/">' in html


def test_links_on_a_spanish_page_stay_spanish_and_carry_the_language_out(client, org):
    html = _html(Client().get("/es/learn/routes/"))
    nav = re.search(r'<nav class="site-nav".*?</nav>', html, re.S).group(0)
    assert 'href="/es/learn/safety/"' in nav
    assert 'href="/es/contact/"' in nav
    assert 'class="brand" href="/es/"' in html
    # The switch goes to the same page in English (and sets the cookie for what follows).
    switch = re.search(r'<a href="([^"]+)" lang="en" hreflang="en">English</a>', html).group(1).replace("&amp;", "&")
    assert parse_qs(urlsplit(switch).query) == {"language": ["en"], "next": ["/en/learn/routes/"]}
    response = Client().get(switch)
    assert response["Location"] == "/en/learn/routes/"
    assert response.cookies["django_language"].value == "en"
    # The pre-screen opens in Spanish for a visitor whose browser asks for English.
    cta = re.search(r'class="button cta-button" href="([^"]+)"', html).group(1).replace("&amp;", "&")
    visitor = Client(HTTP_ACCEPT_LANGUAGE="en")
    landing = visitor.get(cta)
    assert landing.status_code == 302
    assert '<html lang="es">' in visitor.get(landing["Location"], follow=True).content.decode()


def test_unknown_language_prefix_is_a_404(client, org):
    assert client.get("/fr/learn/routes/").status_code == 404
    assert client.get("/es/learn/nope/").status_code == 404


def test_sitemap_lists_each_page_in_each_language_with_alternates(client, org):
    root = ET.fromstring(client.get("/sitemap.xml").content)  # noqa: S314 - our own sitemap
    ns = {"s": "http://www.sitemaps.org/schemas/sitemap/0.9", "x": "http://www.w3.org/1999/xhtml"}
    urls = root.findall("s:url", ns)
    locs = {u.find("s:loc", ns).text for u in urls}
    for path in PAGES:
        assert {f"http://testserver{path}", f"http://testserver/en{path}", f"http://testserver/es{path}"} <= locs
    for u in urls:
        links = {link.get("hreflang"): link.get("href") for link in u.findall("x:link", ns)}
        assert set(links) == {"en", "es", "x-default"}
        assert u.find("s:loc", ns).text in links.values()
    robots = client.get("/robots.txt").content.decode()
    assert "Allow: /es/" in robots
    assert "Allow: /en/" in robots


def test_language_pages_are_cacheable_and_answer_304(client, org):
    first = client.get("/es/learn/costs/")
    assert first["Cache-Control"] == "public, max-age=300"
    again = client.get("/es/learn/costs/", HTTP_IF_NONE_MATCH=first["ETag"])
    assert again.status_code == 304
