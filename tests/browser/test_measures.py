"""Measures in the browser: the demo patient completes a PHQ-9 in the portal, answers
item 9 above 0 and sees the clinic's crisis resources; the therapist then sees the
urgent task and the chart's banner. Also the trend chart screenshot."""

import re

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import ARTIFACTS, screenshot

pytestmark = pytest.mark.browser

PHQ9_ANSWERS = [
    "Several days", "More than half the days", "Several days", "More than half the days", "Not at all",
    "Several days", "Not at all", "Not at all",
    "Several days",  # item 9: thoughts that you would be better off dead or of hurting yourself
]


def test_patient_completes_phq9_sees_crisis_resources_then_therapist_sees_task_and_banner(signed_in):
    page = signed_in("patient@demo.openkap.org", 390, 844)  # on a phone
    name = page.get_by_role("heading", name=re.compile("Welcome")).inner_text().removeprefix("Welcome, ").strip()
    # Two PHQ-9 occasions can be open at once (after an integration, before the next dose).
    page.get_by_test_id("portal-questionnaires").get_by_role("link", name="PHQ-9").first.click()
    expect(page.get_by_text("Question 1 of 9")).to_be_visible()
    screenshot(page, "measures_portal_question")
    for number, answer in enumerate(PHQ9_ANSWERS, 1):
        expect(page.get_by_text(f"Question {number} of 9")).to_be_visible()
        page.get_by_label(answer, exact=True).check()
        page.get_by_role("button", name="Next").click()
    # The crisis resources show as soon as item 9 is answered, before submitting.
    expect(page.get_by_role("alert").filter(has_text="988")).to_be_visible()
    page.get_by_role("button", name="Prefer not to answer").click()  # the optional difficulty item
    expect(page.get_by_text("Check your answers", exact=True)).to_be_visible()
    page.get_by_role("button", name="Submit answers").click()
    crisis = page.get_by_test_id("crisis-resources")
    expect(crisis).to_contain_text("988")
    expect(crisis).to_contain_text("Please reach out now")
    screenshot(page, "measures_portal_crisis")

    page = signed_in("therapist@demo.openkap.org")
    today = page.get_by_test_id("today-tasks")
    expect(today).to_contain_text("urgent")
    page.get_by_role("link", name="Tasks", exact=True).click()
    row = page.locator("tbody tr").filter(has_text=name).filter(has_text="item 9 = 1")
    expect(row).to_have_count(1)
    row.get_by_role("link").click()
    page.get_by_role("link", name=name).click()
    banner = page.get_by_test_id("safety-banner")
    expect(banner).to_be_visible()
    expect(banner).to_contain_text("item 9 = 1 (Several days)")
    screenshot(page, "measures_chart_banner")


def test_trend_chart_of_a_patient_with_several_dosing_sessions(signed_in):
    page = signed_in("prescriber@demo.openkap.org")
    page.goto("/tasks/?scope=all")
    # The demo's seeded safety task (the oldest): a patient four sessions into a series.
    page.locator("tbody tr td a").first.click()
    page.locator("section.card").get_by_role("link").first.click()
    page.get_by_role("navigation", name="Chart sections").get_by_role("link", name="Measures").click()
    chart = page.locator("section.trend-block").filter(has_text="PHQ-9").first
    expect(chart.locator("svg[role=img]")).to_be_visible()
    markers = chart.locator("text.dosing-label")
    assert markers.count() >= 4
    expect(chart).to_contain_text("Baseline")
    expect(chart).to_contain_text("Remission")
    screenshot(page, "measures_tab")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    chart.screenshot(path=str(ARTIFACTS / "measures_trend.png"))
