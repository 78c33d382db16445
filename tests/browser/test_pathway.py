"""The care pathway in the browser: the demo patient waiting at intake is walked to
"ready to book a first dosing session" by the therapist and the prescriber (intake,
baseline questionnaires, contraindication checklist, signed eligibility decision,
signed plan, preparation, escort, consent). Before consent the Pathway tab refuses
booking and says why (screenshot); after it, booking is allowed."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import screenshot
from tests.browser.test_scheduling import CLINIC_ZONE, next_clinic_day

pytestmark = pytest.mark.browser

PASSWORD = "demo-password-2026"
CHECKLIST_ITEMS = 15


def transition(page, label: str) -> None:
    page.get_by_role("button", name=label, exact=True).click()
    expect(page.locator(".messages")).to_contain_text("The episode is now at")


def enter_baseline(page, patient_id: int, instrument: str, items: list[str]) -> None:
    """Staff enter the questionnaire the patient filled in on paper (measures app)."""
    page.goto(f"/patients/{patient_id}/measures/enter/{instrument}/")
    for item in items:
        page.locator(f'input[name="item_{item}"][value="0"]').check()
    page.get_by_label("Occasion").select_option("baseline")
    page.get_by_role("button", name=re.compile("^Save")).click()
    expect(page).to_have_url(re.compile(rf"/patients/{patient_id}/measures/responses/\d+/"))


def test_patient_walked_from_intake_to_ready_to_book(signed_in):
    # Therapist and prescriber each on their own device.
    page = signed_in("therapist@demo.openkap.org")
    page.goto("/pathway/?state=intake")
    rows = page.locator("table tbody tr")
    expect(rows).to_have_count(1)
    rows.first.get_by_role("link").click()
    patient_id = int(re.search(r"/patients/(\d+)/pathway/", page.url).group(1))
    expect(page.get_by_test_id("episode-state")).to_have_text("intake")
    summary = page.get_by_label("Patient summary")
    legal = summary.locator(".muted", has_text="Legal name:")
    legal_name = (legal.inner_text().removeprefix("Legal name:").strip() if legal.count()
                  else summary.locator(".name").inner_text().split("(")[0].strip())

    # Intake.
    page.get_by_role("navigation", name="Pathway sections").get_by_role("link", name="Intake").click()
    page.get_by_label("Presenting problems").fill("Depression for five years; three antidepressants helped only partly.")
    page.get_by_label("Diagnoses (ICD-10-CM)").fill("F33.1 Major depressive disorder, recurrent, moderate")
    page.get_by_label("Psychiatric history").fill("Outpatient care since 2019; no hospitalisations.")
    page.get_by_label("Medical history").fill("Mild asthma.")
    page.get_by_label("Current medications").fill("Sertraline 100 mg daily.")
    page.get_by_label("Substance use").fill("Alcohol twice a week.")
    page.get_by_label("Prior ketamine or psychedelic use").fill("None.")
    page.get_by_label("Pregnancy status").select_option("not_applicable")
    page.get_by_label("Systolic BP (mmHg)").fill("126")
    page.get_by_label("Diastolic BP (mmHg)").fill("80")
    page.get_by_label("Weight today").fill("72.5")
    page.get_by_label("Intended route").select_option("intranasal_esketamine")
    page.get_by_role("button", name="Save and mark complete").click()
    expect(page.get_by_text(re.compile(r"complete · \d{4}-"))).to_be_visible()
    page.goto(f"/patients/{patient_id}/pathway/")
    transition(page, "Start screening")

    # Baseline questionnaires, then the contraindication checklist.
    enter_baseline(page, patient_id, "phq9", [f"q{n}" for n in range(1, 10)])
    enter_baseline(page, patient_id, "gad7", [f"q{n}" for n in range(1, 8)])
    enter_baseline(page, patient_id, "cssrs-recent", ["q1", "q2", "q6"])
    page.goto(f"/patients/{patient_id}/pathway/checklist/")
    absent = page.locator('input[type="radio"][value="no"]')
    expect(absent).to_have_count(CHECKLIST_ITEMS)
    for i in range(CHECKLIST_ITEMS):
        absent.nth(i).check()
    screenshot(page, "pathway_checklist")
    page.get_by_role("button", name="Save checklist").click()
    expect(page.get_by_text("Checklist saved.")).to_be_visible()
    page.goto(f"/patients/{patient_id}/pathway/")
    transition(page, "Request the eligibility decision")
    therapist = page

    # The prescriber decides and plans (signing asks for the password again).
    page = signed_in("prescriber@demo.openkap.org")
    page.goto(f"/patients/{patient_id}/pathway/eligibility/")
    page.get_by_label("Eligible", exact=True).check()
    page.get_by_label("Reasons").fill("Recurrent depression, two adequate trials failed; no contraindication.")
    page.get_by_label("Your password (to sign)").fill("not my password")
    page.get_by_role("button", name="Sign the decision").click()
    expect(page.get_by_text("That is not your password.")).to_be_visible()
    page.get_by_label("Eligible", exact=True).check()
    page.get_by_label("Your password (to sign)").fill(PASSWORD)
    page.get_by_role("button", name="Sign the decision").click()
    expect(page.get_by_text("Eligibility decision signed.")).to_be_visible()
    page.goto(f"/patients/{patient_id}/pathway/")
    transition(page, "Confirm eligibility: plan treatment")
    page.goto(f"/patients/{patient_id}/pathway/plan/")
    page.get_by_label("Indication").fill("Recurrent major depression, moderate")
    page.get_by_label("Route").select_option("intranasal_esketamine")
    page.get_by_label("Protocol").select_option("intranasal-esketamine-spravato")
    page.get_by_label(re.compile("Psycholytic")).check()
    page.get_by_label("Dosing sessions planned").fill("6")
    page.get_by_label("Goals").fill("PHQ-9 below 10; back to full-time work.")
    page.get_by_label("Your password (to sign)").fill(PASSWORD)
    page.get_by_role("button", name="Sign the plan").click()
    expect(page.get_by_text("Treatment plan signed.")).to_be_visible()
    screenshot(page, "pathway_plan_signed")
    page.goto(f"/patients/{patient_id}/pathway/")
    transition(page, "Start preparation")

    # Preparation with the therapist: session, intention, safety plan, escort, instructions.
    page = therapist
    page.goto(f"/patients/{patient_id}/pathway/preparation/")
    page.get_by_label("Notes").fill("What to expect; music; how to ask for help. Practised grounding.")
    page.get_by_role("button", name="Record the session").click()
    page.get_by_role("textbox", name="Intention").fill("Meet the grief with kindness.")
    page.get_by_role("button", name="Add the intention").click()
    for label, text in [
        ("Coping plan for the medicine session", "Breathe out slowly; hold the therapist's hand."),
        ("Warning signs", "Not sleeping; cancelling plans."),
        ("Coping strategies", "Walk; call my brother."),
        ("People and places that help", "My brother; the library."),
        ("Professionals and crisis lines", "Clinic (555) 010-2026; 988."),
        ("Making the environment safe (means safety)", "No firearms; medicines locked away."),
    ]:
        page.get_by_label(label).fill(text)
    page.get_by_role("button", name="Save the plan").click()
    page.get_by_label("Escort's name").fill("Jamie Rivera")
    page.get_by_label("Escort's phone").fill("(555) 010-4477")
    page.get_by_label("Relationship").fill("brother")
    page.get_by_role("button", name="Save the escort").click()
    page.get_by_label("Fasting").fill("Nothing to eat for 2 hours before.")
    page.get_by_label("What to bring").fill("Eyeshades, water, journal.")
    page.get_by_role("button", name="Save the instructions").click()
    expect(page.get_by_text("Saved.")).to_be_visible()
    screenshot(page, "pathway_preparation")

    # Without consent the Pathway tab refuses a dosing booking and says why.
    page.goto(f"/patients/{patient_id}/pathway/")
    booking = page.get_by_test_id("dosing-booking")
    expect(booking).to_contain_text("Not allowed yet")
    expect(page.get_by_test_id("booking-unmet")).to_have_text("Consent not signed.")
    expect(page.get_by_role("button", name="Start the dosing series")).to_be_disabled()
    screenshot(page, "pathway_refusal_consent_missing")

    # The patient signs the consent on the clinic's tablet.
    page.get_by_role("navigation", name="Pathway sections").get_by_role("link", name="Consent").click()
    page.get_by_label(re.compile("I have read this document")).check()
    page.get_by_label("Full legal name (typed signature)").fill(legal_name)
    page.get_by_role("button", name="Sign", exact=True).click()
    expect(page.get_by_text("Consent signed.")).to_be_visible()

    page.goto(f"/patients/{patient_id}/pathway/")
    expect(page.get_by_test_id("dosing-booking")).to_contain_text("Allowed")
    expect(page.get_by_test_id("booking-unmet")).to_have_count(0)
    expect(page.get_by_role("button", name="Start the dosing series")).to_be_enabled()
    screenshot(page, "pathway_ready_to_book")

    # The first dosing session is booked: the guard that refused it now lets it through.
    # Three weeks out, clear of the demo's own fortnight of bookings.
    page.goto(f"/patients/{patient_id}/appointments/")
    page.get_by_role("link", name="Book appointment").click()
    day = next_clinic_day(datetime.now(CLINIC_ZONE).date() + timedelta(days=21))
    page.locator("#id_kind").select_option(label="Dosing session")
    page.locator("#id_location").select_option(label="Brooklyn · Medicine room 2")
    page.locator("#id_start").fill(f"{day.isoformat()}T09:00")
    page.locator("#id_monitor").select_option(label="Sam Okafor, RN · Nurse / monitor")
    page.get_by_role("button", name="Book").click()
    expect(page.get_by_role("status")).to_contain_text("Dosing session booked")
    screenshot(page, "pathway_first_dosing_booked")


def test_patient_reads_instructions_and_keeps_a_journal_in_the_portal(signed_in):
    page = signed_in("patient@demo.openkap.org")
    page.get_by_role("link", name="My care").first.click()
    expect(page.get_by_role("heading", name="Before each medicine session")).to_be_visible()
    page.get_by_role("textbox", name="Intention").fill("Stay curious when it gets strange.")
    page.get_by_role("button", name="Add an intention").click()
    expect(page.get_by_text("Stay curious when it gets strange.")).to_be_visible()
    screenshot(page, "pathway_portal_care")
    page.get_by_role("link", name="Journal").first.click()
    page.get_by_role("textbox", name="Reflection").fill("Felt the music carry me; I was not afraid this time.")
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.get_by_text("Felt the music carry me")).to_be_visible()
    screenshot(page, "pathway_portal_journal")
