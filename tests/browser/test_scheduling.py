"""Scheduling in the browser: staff book on the calendar, and a dosing
booking for a demo patient who has not signed consent is refused with the list
of what is missing."""

import re
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import CLINIC_TIME_ZONE, screenshot

pytestmark = pytest.mark.browser
CLINIC_ZONE = ZoneInfo(CLINIC_TIME_ZONE)


STAFF = "prescriber@demo.openkap.org"


def next_clinic_day(today: date) -> date:
    day = today + timedelta(days=1)
    while day.weekday() >= 5:
        day += timedelta(days=1)
    return day


def test_staff_book_a_preparation_session_on_the_calendar(signed_in):
    page = signed_in(STAFF)
    page.get_by_role("link", name="Schedule", exact=True).click()
    expect(page.get_by_role("heading", name="Schedule")).to_be_visible()
    title = page.locator("#cal-title")
    today = date.fromisoformat(page.locator("#calendar input[name=date]").input_value())
    day = next_clinic_day(today)
    # htmx moves the calendar a day at a time without reloading the page.
    while date.fromisoformat(page.locator("#calendar input[name=date]").input_value()) < day:
        page.get_by_role("link", name="Next →").click()
        expect(title).not_to_contain_text(f"{today:%A %d %B %Y}")
        today = date.fromisoformat(page.locator("#calendar input[name=date]").input_value())
    expect(title).to_contain_text(f"{day:%A %d %B %Y}")
    expect(page).to_have_url(re.compile(f"date={day.isoformat()}"))

    # An empty half hour in Therapy room A, after the demo's last session of the day.
    page.locator('[data-slot="Therapy room A 18:00"]').click()
    expect(page.get_by_role("heading", name="Book an appointment")).to_be_visible()
    expect(page.get_by_label("Lead clinician")).to_have_value(re.compile(r"\d+"))  # the booker
    page.get_by_label("Lead clinician").select_option(label="Jordan Ellis, LCSW · Therapist")
    page.locator("#patient-q").press_sequentially("an", delay=50)  # htmx search as the clinician types
    choice = page.locator("#patient-choices label").first
    expect(choice).to_be_visible()
    name = choice.locator(".pick-name").inner_text()
    choice.locator("input[type=radio]").check()
    page.locator("#id_kind").select_option(label="Preparation session")
    page.get_by_label("Instructions for the patient").fill("Bring your notebook and your questions.")
    page.get_by_role("button", name="Book").click()

    expect(page.get_by_role("status")).to_contain_text("Preparation session booked")
    expect(title).to_contain_text(f"{day:%A %d %B %Y}")
    family = name.split(",")[0]
    block = page.locator("a.cal-block", has_text="18:00–19:00")
    expect(block).to_contain_text(family)
    expect(block).to_contain_text("Preparation session")
    screenshot(page, "calendar_preparation_booked")


def test_dosing_booking_for_a_patient_missing_consent_is_refused_with_the_list(signed_in):
    page = signed_in(STAFF)
    # The demo patient whose only missing step is consent (pathway demo).
    page.goto("/pathway/?state=preparation")
    row = page.locator("table tbody tr", has_text="Consent not signed.")
    expect(row).to_have_count(1)
    href = row.get_by_role("link").first.get_attribute("href")
    patient_id = int(re.search(r"/patients/(\d+)/", href).group(1))

    page.goto(f"/patients/{patient_id}/appointments/")
    page.get_by_role("link", name="Book appointment").click()
    day = next_clinic_day(datetime.now(CLINIC_ZONE).date() + timedelta(days=2))
    page.locator("#id_kind").select_option(label="Dosing session")
    page.locator("#id_location").select_option(label="Brooklyn · Medicine room 1")
    page.locator("#id_start").fill(f"{day.isoformat()}T09:00")
    page.locator("#id_monitor").select_option(label="Sam Okafor, RN · Nurse / monitor")
    page.locator("#id_lead").select_option("")
    page.locator("#id_support").select_option(label="Jordan Ellis, LCSW · Therapist")
    page.get_by_role("button", name="Book").click()

    refusal = page.get_by_role("alert").filter(has_text="Dosing session not booked")
    expect(refusal).to_be_visible()
    expect(refusal.locator("li")).to_have_text(["Consent not signed."])
    expect(refusal).to_contain_text("Nothing was booked or changed.")
    # The form keeps what was entered, ready for when consent is signed.
    expect(page.locator("#id_kind")).to_have_value("dosing")
    screenshot(page, "booking_refused_missing_consent")

    page.goto(f"/patients/{patient_id}/appointments/")
    expect(page.get_by_role("cell", name="Dosing session")).to_have_count(0)
