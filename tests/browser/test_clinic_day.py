"""A clinic's first day without workarounds (issue 21), in the browser: the therapist
registers a patient and lands on the chart (not a 403), invites them to the portal,
and the patient sets a password from the emailed link and signs in."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import screenshot

pytestmark = pytest.mark.browser

EMAIL = "rowan.vale@example.org"
PASSWORD = "a long portal passphrase"


def _invitation_link(mailbox) -> str:
    for path in sorted(mailbox.glob("*.log"), key=lambda p: p.stat().st_mtime, reverse=True):
        found = re.search(r"https?://[^/\s]+(/patients/portal-invitation/[^\s/]+/)", path.read_text())
        if found and EMAIL in path.read_text():
            return found.group(1)
    raise AssertionError("no portal invitation was emailed")


def test_register_invite_and_the_patient_signs_in(signed_in, browser, demo_server, demo_mailbox):
    page = signed_in("therapist@demo.openkap.org")
    page.get_by_role("link", name="Patients", exact=True).click()
    page.get_by_role("link", name="Register patient").click()
    page.get_by_label("Legal first name").fill("Rowan")
    page.get_by_label("Legal last name").fill("Vale")
    page.get_by_label("Date of birth").fill("1990-06-15")
    page.get_by_label("Sex at birth").select_option("female")
    page.get_by_label("Email").fill(EMAIL)
    page.get_by_role("button", name="Save").click()
    # The registering therapist is on the care team: the chart opens.
    expect(page.get_by_text(re.compile("Rowan Vale registered with MRN"))).to_be_visible()
    portal = page.locator("section", has=page.get_by_role("heading", name="Patient portal"))
    expect(portal).to_contain_text("No portal access")
    portal.get_by_role("button", name="Invite to the portal").click()
    expect(page.get_by_text(f"Portal invitation emailed to {EMAIL}")).to_be_visible()
    expect(portal).to_contain_text("Invited")
    screenshot(page, "clinic-day-chart-portal-invited")

    context = browser.new_context(viewport={"width": 390, "height": 844}, base_url=demo_server)
    try:
        patient = context.new_page()
        patient.goto(_invitation_link(demo_mailbox))
        expect(patient.get_by_role("heading", name="Welcome, Rowan")).to_be_visible()
        patient.get_by_label("Password *", exact=True).fill(PASSWORD)
        patient.get_by_label("Password again *", exact=True).fill(PASSWORD)
        patient.get_by_role("button", name="Create my portal account").click()
        expect(patient.get_by_text("Your portal account is ready")).to_be_visible()
        patient.get_by_label("Email").fill(EMAIL)
        patient.get_by_label("Password").fill(PASSWORD)
        patient.get_by_role("button", name="Sign in").click()
        expect(patient.get_by_role("heading", name=re.compile("Welcome"))).to_be_visible()
        expect(patient.get_by_role("heading", name="Protect your account (optional)")).to_be_visible()
        screenshot(patient, "clinic-day-portal-home-phone")
    finally:
        context.close()

    page.reload()
    expect(page.locator("section", has=page.get_by_role("heading", name="Patient portal"))).to_contain_text("Active")
