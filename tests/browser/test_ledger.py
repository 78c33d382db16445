"""A nurse receives a lot, records the administration reconciliation asked for, wastes
the rest of the draw with a witness and counts the lot; the ledger and the
reconciliation report are captured for review."""

import re
from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from tests.browser.conftest import screenshot

pytestmark = pytest.mark.browser

WITNESS = "Dr. Priya Natarajan"
PASSWORD = "demo-password-2026"


def _choose(page, select_id: str, text: str) -> None:
    value = page.locator(f"#{select_id} option", has_text=text).first.get_attribute("value")
    page.locator(f"#{select_id}").select_option(value)


def _witness_signs(page) -> None:
    _choose(page, "id_witness", WITNESS)
    page.get_by_label("Witness's password").fill(PASSWORD)


def test_nurse_receives_administers_wastes_and_counts(signed_in):
    page = signed_in("nurse@demo.openkap.org")
    page.get_by_role("link", name="Controlled substances").click()
    page.get_by_role("link", name="Brooklyn").click()
    expect(page.get_by_role("heading", name="Brooklyn · Controlled substances")).to_be_visible()

    # A delivery: two 10 mL vials of 50 mg/mL on an invoice.
    page.get_by_role("link", name="Receive a lot").click()
    _choose(page, "id_product", "50 mg/mL")
    page.get_by_label("Lot number").fill("BRW-2611")
    page.get_by_label("Expiry date").fill((timezone.localdate() + timedelta(days=500)).isoformat())
    _choose(page, "id_supplier", "Empire Medical Supply")
    page.get_by_label("Invoice number").fill("INV-BROWSER-1")
    page.get_by_label("Containers received").fill("2")
    page.get_by_role("button", name="Record receipt").click()
    expect(page.get_by_text(re.compile(r"Received 20 mL of lot BRW-2611"))).to_be_visible()
    lot_url = page.url

    # Reconciliation shows yesterday's session without its administration; record it.
    page.get_by_role("link", name="Reconciliation").click()
    missing = page.locator(".alert.danger", has_text="Discharged sessions with no administration entry")
    expect(missing).to_be_visible()
    missing.get_by_role("link", name="Record administration").first.click()
    _choose(page, "id_lot", "BRW-2611")
    page.locator("#id_amount").fill("50")
    page.get_by_role("button", name="Record administration").click()
    expect(page.get_by_text(re.compile(r"Administration #\d+ recorded: 50 mg \(1 mL\)"))).to_be_visible()
    assert page.url == lot_url

    # The rest of the draw is wasted in front of the prescriber, who co-signs.
    page.get_by_role("link", name="Record waste").click()
    page.locator("#id_amount").fill("5")
    page.get_by_label("Reason").fill("Drawn into the syringe but not given")
    _witness_signs(page)
    page.get_by_role("button", name="Record waste").click()
    expect(page.get_by_text(f"witnessed by {WITNESS}")).to_be_visible()

    # End-of-day count with the witness: 20 - 1 - 0.1 mL.
    page.get_by_role("link", name="Count", exact=True).click()
    page.get_by_label("Found on the shelf").fill("18.9")
    _witness_signs(page)
    page.get_by_role("button", name="Record count").click()
    expect(page.get_by_text(re.compile(r"Count #\d+ recorded: it matches the book"))).to_be_visible()
    ledger = page.get_by_role("table", name="Running ledger")
    expect(ledger).to_contain_text("Receipt")
    expect(ledger).to_contain_text("Administration")
    expect(ledger).to_contain_text("Waste")
    expect(ledger).to_contain_text(WITNESS)
    expect(page.locator(".lot-head")).to_contain_text("18.9 mL")
    screenshot(page, "ledger")

    page.get_by_role("link", name="Reconciliation").click()
    expect(page.get_by_role("table", name="Reconciliation by lot")).to_contain_text("BRW-2611")
    expect(page.get_by_role("table", name="Matched sessions")).to_contain_text("50 mg")
    screenshot(page, "reconciliation")
