"""Issue 17: a prospective patient refers themselves with a positive PHQ-9 item 9, sees the
crisis screen at once, and the intake team sees the urgent task and accepts the referral
into an episode. Every step is photographed in English and Spanish, desktop and phone."""

import re

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import screenshot

pytestmark = pytest.mark.browser

WIDTHS = {"desktop": (1280, 900), "phone": (390, 844)}


def _shoot(page, name: str) -> None:
    """The same page at both widths (the viewport is put back afterwards)."""
    original = page.viewport_size
    for label, (w, h) in WIDTHS.items():
        page.set_viewport_size({"width": w, "height": h})
        screenshot(page, f"{name}-{label}")
    page.set_viewport_size(original)


def _choose(page, name: str, value: str) -> None:
    page.locator(f'input[name="{name}"][value="{value}"]').check()


def _next(page) -> None:
    page.locator('button[name="go"][value="next"]').click()
    page.wait_for_load_state()


def _walk(page, *, lang: str, given: str, email: str, item9: str) -> None:
    page.goto("/refer/")
    if lang == "es":
        page.get_by_role("link", name="Español").click()
        expect(page.get_by_role("heading", name="Sobre usted")).to_be_visible()
    else:
        expect(page.get_by_role("heading", name="About you")).to_be_visible()
    _shoot(page, f"referral-{lang}-1-contact")
    page.locator("#id_given_name").fill(given)
    page.locator("#id_family_name").fill("Testa")
    page.locator("#id_date_of_birth").fill("1987-06-15")
    _choose(page, "sex_at_birth", "female")
    page.locator("#id_email").fill(email)
    page.locator("#id_phone").fill("+1 518 555 0177")
    _choose(page, "preferred_language", lang)
    _next(page)
    _shoot(page, f"referral-{lang}-2-story")
    page.locator("#id_reason").fill("Low mood for two years; two antidepressants did not help.")
    _next(page)
    _shoot(page, f"referral-{lang}-3-phq9")
    for i in range(1, 9):
        _choose(page, f"q{i}", "1")
    _choose(page, "q9", item9)
    _next(page)
    # The crisis screen comes at once, before the rest of the form.
    crisis = page.get_by_role("alert")
    expect(crisis).to_contain_text("988")
    expect(crisis).to_contain_text("911")
    _shoot(page, f"referral-{lang}-crisis")
    page.locator('button[name="go"][value="continue"]').click()
    page.wait_for_load_state()
    _shoot(page, f"referral-{lang}-4-gad7")
    for i in range(1, 8):
        _choose(page, f"q{i}", "1")
    _next(page)
    _shoot(page, f"referral-{lang}-5-asq")
    for i in range(1, 5):
        _choose(page, f"q{i}", "0")
    _next(page)
    _shoot(page, f"referral-{lang}-6-health")
    page.locator('input[name="red_flags"][value="high_blood_pressure"]').check()
    _next(page)
    _shoot(page, f"referral-{lang}-7-consent")
    page.locator("#id_consent_to_contact").check()
    _next(page)
    expect(page).to_have_url(re.compile("/refer/thanks/$"))
    expect(page.get_by_role("alert")).to_contain_text("988")
    _shoot(page, f"referral-{lang}-8-thanks")


def test_self_referral_with_item9_reaches_the_intake_team(browser, demo_server, signed_in):
    for lang, given, email, item9 in (("en", "Ivy", "ivy.testa@example.org", "2"),
                                      ("es", "Lucía", "lucia.testa@example.org", "1")):
        context = browser.new_context(viewport={"width": 1280, "height": 900}, base_url=demo_server)
        page = context.new_page()
        page.set_default_timeout(15_000)
        _walk(page, lang=lang, given=given, email=email, item9=item9)
        context.close()

    # The intake team: the urgent task first, then the worklist, then accept.
    page = signed_in("therapist@demo.openkap.org")
    page.get_by_role("link", name=re.compile("^Tasks")).click()
    task = page.get_by_role("link", name=re.compile("Urgent: new referral with a positive suicide-risk screen")).first
    expect(task).to_be_visible()
    task.click()
    page.get_by_role("link", name="Open the referral").click()
    expect(page.get_by_test_id("urgency")).to_have_text("Urgent")
    expect(page.locator("main")).to_contain_text("PHQ-9 item 9 (thoughts of death or self-harm)")
    expect(page.locator("main")).to_contain_text("The person was shown crisis resources")
    page.get_by_role("navigation", name="Way back").get_by_role("link", name="Back to Referrals").click()
    rows = page.get_by_test_id("referral-row")
    expect(rows.first).to_contain_text("Urgent")
    expect(page.get_by_text("Testa, Lucía")).to_be_visible()
    expect(page.get_by_text("Testa, Ivy")).to_be_visible()
    _shoot(page, "referral-worklist")
    page.get_by_role("link", name="Testa, Ivy").click()
    _shoot(page, "referral-detail")
    page.get_by_test_id("accept").click()
    expect(page).to_have_url(re.compile(r"/patients/\d+/$"))
    expect(page.get_by_text(re.compile("Referral accepted: .*Ivy"))).to_be_visible()
    header = page.get_by_label("Patient summary")
    expect(header).to_contain_text("Testa")
    _shoot(page, "referral-accepted-chart")
    tabs = page.get_by_label("Chart sections")
    tabs.get_by_role("link", name="Pathway").click()
    expect(page.locator("main")).to_contain_text("Intake")
    _shoot(page, "referral-accepted-pathway")
    tabs = page.get_by_label("Chart sections")
    tabs.get_by_role("link", name="Measures").click()
    expect(page.locator("main")).to_contain_text("PHQ-9")
    expect(page.locator("main")).to_contain_text("GAD-7")
