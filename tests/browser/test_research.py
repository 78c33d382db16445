import io
import json
import zipfile

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import screenshot

pytestmark = pytest.mark.browser


def test_researcher_downloads_the_de_identified_export(signed_in):
    page = signed_in("researcher@demo.openkap.org")
    page.get_by_role("link", name="Research export").click()
    expect(page.get_by_role("heading", name="Research export", exact=True)).to_be_visible()
    expect(page.get_by_role("heading", name="The 18 Safe Harbor identifiers")).to_be_visible()
    page.get_by_label("k (smallest group", exact=False).fill("3")
    page.get_by_label("Dates shifted by a secret offset", exact=False).check()
    with page.expect_download() as info:
        page.get_by_role("button", name="Build and download the export (zip)").click()
    download = info.value
    assert download.suggested_filename.endswith("-k3-shifted.zip")
    with zipfile.ZipFile(io.BytesIO(open(download.path(), "rb").read())) as archive:
        manifest = json.loads(archive.read("manifest.json"))
    assert manifest["options"] == {"k": 3, "dates": "shifted"}
    assert manifest["k_anonymity"]["patients_eligible"] > 0
    page.reload()
    expect(page.get_by_role("heading", name="Your exports")).to_be_visible()
    screenshot(page, "research_export")


def test_research_export_page_on_a_phone(signed_in):
    page = signed_in("researcher@demo.openkap.org", width=390, height=844)
    page.goto("/research/")
    expect(page.get_by_role("heading", name="Research export", exact=True)).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    screenshot(page, "phone_research_export")
