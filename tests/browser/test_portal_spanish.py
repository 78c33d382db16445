"""The patient portal in Spanish at phone width (issue 17, item 6): every portal page in
Spanish, due states and occasions in Spanish words, and the documents the patient takes
away (appointment letter, safety plan, consent copy) as Spanish PDFs. Screenshots in
artifacts/browser/portal_es_phone_*.png."""

from __future__ import annotations

import re
import subprocess

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import ARTIFACTS, screenshot
from tests.conftest import require_tool

pytestmark = pytest.mark.browser

PAGES = {"home": "/", "questionnaires": "/portal/questionnaires/", "care": "/portal/care/",
         "appointments": "/portal/appointments/", "consent": "/portal/consent/", "journal": "/portal/journal/"}
ENGLISH_LEFT = re.compile(r"\b(Due now|Overdue|Baseline|Before dosing session|After integration|Dosing session|"
                          r"Preparation session|Warning signs|call or text 988 \(US\))")


def _pdf_text(page, path: str) -> str:
    response = page.request.get(path)
    assert response.status == 200, (path, response.status)
    assert response.headers["content-type"] == "application/pdf"
    target = ARTIFACTS / f"portal_es_{path.strip('/').replace('/', '_')}"
    target.write_bytes(response.body())
    pdftotext = require_tool("pdftotext", "poppler-utils")
    return subprocess.run([pdftotext, str(target), "-"], capture_output=True, check=True, text=True).stdout


def test_spanish_portal_at_phone_width(signed_in):
    page = signed_in("patient@demo.openkap.org", width=390, height=844)
    page.get_by_role("button", name="Español").click()
    try:
        expect(page.locator("html")).to_have_attribute("lang", "es")
        for name, path in PAGES.items():
            response = page.goto(path)
            assert response.status == 200, path
            expect(page.locator("html")).to_have_attribute("lang", "es")
            text = page.locator("main").inner_text()
            assert not ENGLISH_LEFT.search(text), (path, ENGLISH_LEFT.search(text).group(0))
            # Nothing wider than the phone (no sideways scrolling).
            assert page.evaluate("document.documentElement.scrollWidth") <= 390, path
            screenshot(page, f"portal_es_phone_{name}")
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.goto("/portal/appointments/")
        letter = page.get_by_role("link", name=re.compile("Descargar una carta con estas citas"))
        if letter.count():
            assert "Sus citas" in _pdf_text(page, letter.get_attribute("href"))
        page.goto("/portal/care/")
        plan = page.get_by_role("link", name=re.compile("Descargar mi plan de seguridad"))
        if plan.count():
            assert "Mi plan de seguridad" in _pdf_text(page, plan.get_attribute("href"))
        copy = page.get_by_role("link", name=re.compile("Descargar una copia de lo que firmé"))
        if copy.count():
            assert "Su consentimiento firmado" in _pdf_text(page, copy.get_attribute("href"))
    finally:
        page.goto("/")
        page.get_by_role("button", name="English").click()
        expect(page.locator("html")).to_have_attribute("lang", "en")
