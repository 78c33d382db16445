import re

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import screenshot, sign_in

pytestmark = pytest.mark.browser


def test_login_page_shows_demo_banner_and_logins(page):
    page.goto("/accounts/login/")
    expect(page.get_by_text("DEMO — fictional patients")).to_be_visible()
    expect(page.get_by_text("therapist@demo.openkap.org")).to_be_visible()
    screenshot(page, "login")


def test_staff_sign_in_takes_the_password_then_the_code(page):
    # A user no other test signs in: each TOTP step is accepted once per account.
    sign_in(page, "nurse2@demo.openkap.org")
    expect(page.get_by_role("heading", name=re.compile("Good day"))).to_be_visible()


def test_therapist_searches_and_opens_a_chart(signed_in):
    page = signed_in("therapist@demo.openkap.org")
    expect(page.get_by_role("heading", name=re.compile("Good day"))).to_be_visible()
    page.get_by_role("link", name="Patients").click()
    first = page.locator("#results table tbody tr td a").first
    family = first.inner_text().split(",")[0]
    page.get_by_label("Search by name").fill(family)
    # htmx replaces the results as the clinician types.
    expect(page.locator("#results")).to_contain_text(family)
    page.locator("#results table tbody tr td a").first.click()
    expect(page).to_have_url(re.compile(r"/patients/\d+/$"))
    header = page.get_by_label("Patient summary")
    expect(header).to_contain_text(family)
    expect(header).to_contain_text("MRN")
    expect(header).to_contain_text("Jordan Ellis, LCSW")
    screenshot(page, "chart")


def test_wrong_mfa_code_keeps_the_door_shut(page):
    page.goto("/accounts/login/")
    page.get_by_label("Email").fill("nurse@demo.openkap.org")
    page.get_by_label("Password").fill("demo-password-2026")
    page.get_by_role("button", name="Sign in").click()
    page.get_by_label("6-digit code").fill("000000")
    page.get_by_role("button", name="Verify").click()
    expect(page.get_by_text("That code is not right")).to_be_visible()
    page.goto("/patients/")
    expect(page).to_have_url(re.compile("/accounts/mfa/verify/"))
