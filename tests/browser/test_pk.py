import re

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import screenshot

pytestmark = pytest.mark.browser


def test_prescriber_compares_im_and_sublingual_at_100_mg(signed_in):
    page = signed_in("prescriber@demo.openkap.org")
    page.get_by_role("link", name="Compare routes").click()
    expect(page.get_by_role("heading", name="Compare routes")).to_be_visible()
    # The page opens with each route at its usual dose (esketamine 56 mg), drawn at once.
    expect(page.get_by_role("region", name="Doses compared")).to_contain_text("56 mg")
    expect(page.get_by_role("img", name=re.compile("Intranasal esketamine"))).to_be_visible()
    page.get_by_label("The same milligrams for every route").check()
    page.get_by_label("Dose (mg)").fill("100")
    page.get_by_label("Weight (kg)").fill("70")
    page.get_by_role("checkbox", name="IM injection").check()
    page.get_by_role("checkbox", name="Sublingual / buccal").check()
    page.get_by_role("checkbox", name="Oral (swallowed)").uncheck()
    page.get_by_role("checkbox", name="Intranasal esketamine").uncheck()
    page.get_by_role("button", name="Compare").click()
    expect(page).to_have_url(re.compile(r"/pk/compare/\?"))
    chart = page.get_by_role("img", name=re.compile("IM injection, Sublingual"))
    expect(chart).to_be_visible()
    expect(chart).to_contain_text("Population prediction, not a dosing instruction.")
    table = page.locator("table.pk-table").first
    expect(table).to_contain_text("IM injection")
    expect(table).to_contain_text("Sublingual / buccal")
    why = page.get_by_role("region", name="Why they differ")
    expect(why).to_contain_text("F 0.93")
    expect(why).to_contain_text("first pass")
    screenshot(page, "pk_compare")


def test_esketamine_at_100_mg_is_refused_with_a_reason(signed_in):
    page = signed_in("nurse@demo.openkap.org")
    expect(page.get_by_role("link", name="Compare routes")).to_be_visible()
    page.goto("/pk/compare/?dose_mg=100&weight_kg=70&routes=in-esketamine&hours=6")
    expect(page.get_by_role("alert")).to_contain_text("28-mg nasal devices")


def test_treatment_plan_shows_the_predicted_curve(signed_in):
    page = signed_in("therapist@demo.openkap.org")
    page.goto("/pathway/?state=active")
    page.locator("table tbody tr td a").first.click()
    page.get_by_role("navigation", name="Pathway sections").get_by_role("link", name="Treatment plan").click()
    section = page.get_by_role("region", name="Predicted plasma concentration")
    expect(section).to_contain_text("first-session dose at the latest weight")
    expect(section.get_by_role("img")).to_contain_text("Population prediction, not a dosing instruction.")
    expect(section).to_contain_text("Source:")
    screenshot(page, "pk_plan")
