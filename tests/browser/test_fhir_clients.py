"""Admin -> FHIR clients in a browser: register a backend client with a PEM public key,
see its client_id, revoke it; the page fits a phone."""

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from playwright.sync_api import expect

from tests.browser.conftest import screenshot

pytestmark = pytest.mark.browser


def test_admin_registers_and_revokes_a_fhir_client(signed_in):
    page = signed_in("admin@demo.openkap.org")
    page.get_by_role("link", name="FHIR clients").click()
    expect(page.get_by_role("heading", name="FHIR backend clients")).to_be_visible()
    public = ec.generate_private_key(ec.SECP384R1()).public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    page.get_by_label("Name").fill("County health registry")
    page.get_by_label("Patient: read and search").check()
    page.get_by_label("Observation: read and search").check()
    page.get_by_label("Public key (PEM)").fill(public)
    page.get_by_role("button", name="Register client").click()
    expect(page.get_by_role("status")).to_contain_text("Registered County health registry")
    row = page.get_by_role("row").filter(has_text="County health registry")
    expect(row).to_contain_text("system/Observation.rs")
    expect(row).to_contain_text("ES384")
    screenshot(page, "fhir_clients")
    row.get_by_role("button", name="Revoke County health registry").click()
    expect(page.get_by_role("row").filter(has_text="County health registry")).to_contain_text("revoked")


def test_fhir_clients_page_on_a_phone(signed_in):
    page = signed_in("admin@demo.openkap.org", width=390, height=844)
    page.goto("/admin/fhir-clients/")
    page.get_by_label("Public key (PEM)").fill("not a key")
    page.get_by_label("Name").fill("Bad key")
    page.get_by_label("Patient: read and search").check()
    page.get_by_role("button", name="Register client").click()
    expect(page.get_by_role("alert").first).to_contain_text("PEM")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    screenshot(page, "phone_fhir_clients")
