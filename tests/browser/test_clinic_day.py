"""A clinic's first day without workarounds (issue 21), in the browser, as one patient's
whole journey: the therapist registers Rowan Vale and lands on the chart (not a 403),
invites her to the portal, and she sets a password from the emailed link; she completes
her baseline questionnaires and signs her consent in the portal, on her phone; the
clinic admin's Today queue asks for a prescriber on the care team, then the prescriber's
offers the eligibility decision, the plan and the dose order, each when it is due and
gone once done; the medicine session (charted as late
entries, from a check-in this morning) ends with the missed vitals checks explained; and
the follow-up PHQ-9 the therapist sends is answered in the portal."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import CLINIC_TIME_ZONE, screenshot
from tests.browser.test_dosing import (
    _at,
    _complete_checklist,
    _discharge,
    _order,
    _prepare,
    _verify,
    _vitals,
)
from tests.browser.test_pathway import transition

pytestmark = pytest.mark.browser

EMAIL = "rowan.vale@example.org"
PASSWORD = "a long portal passphrase"
STAFF_PASSWORD = "demo-password-2026"
NAME = "Rowan Vale"
CLINIC_TZ = ZoneInfo(CLINIC_TIME_ZONE)


def _invitation_link(mailbox) -> str:
    for path in sorted(mailbox.glob("*.log"), key=lambda p: p.stat().st_mtime, reverse=True):
        found = re.search(r"https?://[^/\s]+(/patients/portal-invitation/[^\s/]+/)", path.read_text())
        if found and EMAIL in path.read_text():
            return found.group(1)
    raise AssertionError("no portal invitation was emailed")


def _register_and_invite(page) -> int:
    page.get_by_role("link", name="Patients", exact=True).click()
    page.get_by_role("link", name="Register patient").click()
    page.get_by_label("Legal first name").fill("Rowan")
    page.get_by_label("Legal last name").fill("Vale")
    page.get_by_label("Date of birth").fill("1990-06-15")
    page.get_by_label("Sex at birth").select_option("female")
    page.get_by_label("Email").fill(EMAIL)
    page.get_by_role("button", name="Save").click()
    # The registering therapist is on the care team: the chart opens.
    expect(page.get_by_text(re.compile(f"{NAME} registered with MRN"))).to_be_visible()
    patient_id = int(re.search(r"/patients/(\d+)/", page.url).group(1))
    portal = page.locator("section", has=page.get_by_role("heading", name="Patient portal"))
    expect(portal).to_contain_text("No portal access")
    portal.get_by_role("button", name="Invite to the portal").click()
    expect(page.get_by_text(f"Portal invitation emailed to {EMAIL}")).to_be_visible()
    expect(portal).to_contain_text("Invited")
    screenshot(page, "clinic-day-chart-portal-invited")
    return patient_id


def _portal_sign_up(browser, demo_server, demo_mailbox):
    context = browser.new_context(viewport={"width": 390, "height": 844}, base_url=demo_server)
    patient = context.new_page()
    patient.set_default_timeout(15_000)
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
    return context, patient


def _answer_in_portal(patient, short_name: str, items: int) -> None:
    """From the portal's list of questionnaires to complete, answer 'Not at all' throughout."""
    patient.goto("/")
    link = patient.get_by_test_id("portal-questionnaires").get_by_role("link", name=short_name, exact=True)
    expect(link).to_have_count(1)
    link.click()
    for number in range(1, items + 1):
        expect(patient.get_by_text(f"Question {number} of {items}")).to_be_visible()
        patient.get_by_label("Not at all", exact=True).check()
        patient.get_by_role("button", name="Next").click()
    # The PHQ-9's optional "how difficult" item, then the review.
    review = patient.get_by_text("Check your answers", exact=True)
    optional = patient.get_by_role("button", name="Prefer not to answer")
    expect(review.or_(optional)).to_be_visible()
    if optional.is_visible():
        optional.click()
    expect(review).to_be_visible()
    patient.get_by_role("button", name="Submit answers").click()
    expect(patient.get_by_role("heading", name="Thank you")).to_be_visible()


def _queue_row(page, what: str):
    page.goto("/")
    return page.get_by_test_id("work-queue").locator("tr").filter(has_text=NAME).filter(has_text=what)


def _book_today(page, patient_id: int) -> None:
    """A dosing session today, at the first start (from 20 minutes on) with a Brooklyn
    medicine room and a monitoring clinician free: the demo's own sessions fill part of
    the afternoon."""
    now = datetime.now(CLINIC_TZ)
    soon = (now + timedelta(minutes=20)).replace(second=0, microsecond=0)
    soon -= timedelta(minutes=soon.minute % 5)
    starts = [soon] + [now.replace(hour=h, minute=0, second=0, microsecond=0) for h in (16, 17, 18, 19)]
    page.goto(f"/patients/{patient_id}/appointments/")
    page.get_by_role("link", name="Book appointment").click()
    for start in (s for s in starts if s >= soon and s.date() == now.date()):
        for room in ("Brooklyn · Medicine room 1", "Brooklyn · Medicine room 2", "Brooklyn · Medicine room 3"):
            for monitor in ("Sam Okafor, RN · Nurse / monitor", "Grace Mensah, RN · Nurse / monitor",
                            "Dr. Priya Natarajan · Prescriber"):
                page.locator("#id_kind").select_option(label="Dosing session")
                page.locator("#id_location").select_option(label=room)
                page.locator("#id_start").fill(start.strftime("%Y-%m-%dT%H:%M"))
                page.locator("#id_lead").select_option("")
                page.locator("#id_monitor").select_option(label=monitor)
                page.get_by_role("button", name="Book").click()
                page.wait_for_load_state()
                if page.get_by_role("status").filter(has_text="Dosing session booked").count():
                    return
    screenshot(page, "clinic-day-booking-refused")
    raise AssertionError("no medicine room and monitor free today: " + page.locator("main").inner_text()[-1500:])


def test_a_patients_whole_journey_without_workarounds(signed_in, browser, demo_server, demo_mailbox):
    therapist = signed_in("therapist@demo.openkap.org")
    patient_id = _register_and_invite(therapist)
    context, patient = _portal_sign_up(browser, demo_server, demo_mailbox)
    try:
        therapist.reload()
        expect(therapist.locator("section", has=therapist.get_by_role("heading", name="Patient portal"))
               ).to_contain_text("Active")
        _journey(therapist, patient, patient_id, signed_in)
    finally:
        context.close()


def _journey(therapist, patient, patient_id: int, signed_in) -> None:
    # Intake: the episode opens (its baseline questionnaires with it), the therapist takes the history.
    therapist.goto(f"/patients/{patient_id}/pathway/")
    therapist.get_by_role("button", name="Open an episode at intake").click()
    expect(therapist.get_by_text("Episode of care opened at intake.")).to_be_visible()
    therapist.goto(f"/patients/{patient_id}/pathway/intake/")
    therapist.get_by_label("Presenting problems").fill("Depression for six years; two antidepressants helped partly.")
    therapist.get_by_label("Diagnoses (ICD-10-CM)").fill("F33.1 Major depressive disorder, recurrent, moderate")
    therapist.get_by_label("Psychiatric history").fill("Outpatient care since 2020; no hospitalisations.")
    therapist.get_by_label("Medical history").fill("None of note.")
    therapist.get_by_label("Current medications").fill("Escitalopram 10 mg daily.")
    therapist.get_by_label("Substance use").fill("Wine at weekends.")
    therapist.get_by_label("Prior ketamine or psychedelic use").fill("None.")
    therapist.get_by_label("Pregnancy status").select_option("not_pregnant")
    therapist.get_by_label("Systolic BP (mmHg)").fill("122")
    therapist.get_by_label("Diastolic BP (mmHg)").fill("78")
    therapist.get_by_label("Weight today").fill("64.0")
    therapist.get_by_label("Intended route").select_option("intramuscular")
    therapist.get_by_role("button", name="Save and mark complete").click()
    expect(therapist.get_by_text(re.compile(r"complete · \d{4}-"))).to_be_visible()
    therapist.goto(f"/patients/{patient_id}/pathway/")
    transition(therapist, "Start screening")

    # Rowan answers her baseline PHQ-9 and GAD-7 on her phone; the C-SSRS is the therapist's interview.
    _answer_in_portal(patient, "PHQ-9", 9)
    _answer_in_portal(patient, "GAD-7", 7)
    screenshot(patient, "clinic-day-portal-baseline-done")
    therapist.goto(f"/patients/{patient_id}/measures/enter/cssrs-recent/")
    for item in ("q1", "q2", "q6"):
        therapist.locator(f'input[name="item_{item}"][value="0"]').check()
    therapist.get_by_label("Occasion").select_option("baseline")
    therapist.get_by_role("button", name=re.compile("^Save")).click()
    therapist.goto(f"/patients/{patient_id}/pathway/checklist/")
    absent = therapist.locator('input[type="radio"][value="no"]')
    for i in range(absent.count()):
        absent.nth(i).check()
    therapist.get_by_role("button", name="Save checklist").click()
    expect(therapist.get_by_text("Checklist saved.")).to_be_visible()
    therapist.goto(f"/patients/{patient_id}/pathway/")
    transition(therapist, "Request the eligibility decision")

    # No prescriber is on Rowan's care team yet: the clinic admin's queue asks for one.
    prescriber = signed_in("prescriber@demo.openkap.org")
    expect(_queue_row(prescriber, "Eligibility")).to_have_count(0)
    admin = signed_in("admin@demo.openkap.org")
    row = _queue_row(admin, "no prescriber is on the care team")
    expect(row).to_have_count(1)
    row.get_by_role("link", name=re.compile("Add a prescriber")).click()
    team = admin.locator("section", has=admin.get_by_role("heading", name="Care team"))
    member = team.get_by_label("Staff member")
    member.select_option(member.locator("option", has_text="Priya Natarajan").first.get_attribute("value"))
    team.get_by_role("button", name="Add").click()
    expect(admin.get_by_label("Patient summary")).to_contain_text("Priya Natarajan")
    expect(_queue_row(admin, "no prescriber")).to_have_count(0)

    # Then the decision itself, gone from the queue once signed.
    row = _queue_row(prescriber, "Eligibility decision requested")
    expect(row).to_have_count(1)
    screenshot(prescriber, "clinic-day-queue-eligibility")
    row.get_by_role("link", name=re.compile("Decide")).click()
    prescriber.get_by_label("Eligible", exact=True).check()
    prescriber.get_by_label("Reasons").fill("Recurrent depression after two adequate trials; no contraindication.")
    prescriber.get_by_label("Your password (to sign)").fill(STAFF_PASSWORD)
    prescriber.get_by_role("button", name="Sign the decision").click()
    expect(prescriber.get_by_text("Eligibility decision signed.")).to_be_visible()
    expect(_queue_row(prescriber, "Eligibility decision requested")).to_have_count(0)
    prescriber.goto(f"/patients/{patient_id}/pathway/")
    transition(prescriber, "Confirm eligibility: plan treatment")

    # Then the plan: in the queue until signed.
    row = _queue_row(prescriber, "treatment plan is waiting for your signature")
    expect(row).to_have_count(1)
    row.get_by_role("link", name=re.compile("Write and sign the plan")).click()
    prescriber.get_by_label("Indication").fill("Recurrent major depression, moderate")
    prescriber.get_by_label("Route").select_option("intramuscular")
    prescriber.get_by_label("Protocol").select_option("im-ketamine")
    prescriber.get_by_label(re.compile("Psycholytic")).check()
    prescriber.get_by_label("Dosing sessions planned").fill("6")
    prescriber.get_by_label("Goals").fill("PHQ-9 below 10; back to teaching full time.")
    prescriber.get_by_label("Your password (to sign)").fill(STAFF_PASSWORD)
    prescriber.get_by_role("button", name="Sign the plan").click()
    expect(prescriber.get_by_text("Treatment plan signed.")).to_be_visible()
    expect(_queue_row(prescriber, "treatment plan")).to_have_count(0)
    prescriber.goto(f"/patients/{patient_id}/pathway/")
    transition(prescriber, "Start preparation")

    # Preparation with the therapist.
    therapist.goto(f"/patients/{patient_id}/pathway/preparation/")
    therapist.get_by_label("Notes").fill("What to expect; music; how to ask for help. Practised grounding.")
    therapist.get_by_role("button", name="Record the session").click()
    therapist.get_by_role("textbox", name="Intention").fill("Meet the sadness with curiosity.")
    therapist.get_by_role("button", name="Add the intention").click()
    for label, text in [
        ("Coping plan for the medicine session", "Breathe out slowly; squeeze the therapist's hand."),
        ("Warning signs", "Not sleeping; skipping meals."),
        ("Coping strategies", "Walk by the river; call my sister."),
        ("People and places that help", "My sister; the community garden."),
        ("Professionals and crisis lines", "Clinic (555) 010-2026; 988."),
        ("Making the environment safe (means safety)", "No firearms; medicines locked away."),
    ]:
        therapist.get_by_label(label).fill(text)
    therapist.get_by_role("button", name="Save the plan").click()
    therapist.get_by_label("Escort's name").fill("Ada Vale")
    therapist.get_by_label("Escort's phone").fill("(555) 010-3131")
    therapist.get_by_label("Relationship").fill("sister")
    therapist.get_by_role("button", name="Save the escort").click()
    therapist.get_by_label("Fasting").fill("Nothing to eat for 4 hours before.")
    therapist.get_by_label("What to bring").fill("Eyeshades, water, journal.")
    therapist.get_by_role("button", name="Save the instructions").click()
    expect(therapist.get_by_text("Saved.")).to_be_visible()

    # Rowan signs the consent in the portal: the text carries the protocol's own monitoring time.
    patient.goto("/portal/consent/")
    expect(patient.get_by_text(re.compile("at least 120 minutes"))).to_be_visible()
    patient.get_by_label(re.compile("I have read this document")).check()
    patient.get_by_label("Full legal name (typed signature)").fill(NAME)
    patient.get_by_role("button", name="Sign", exact=True).click()
    expect(patient.get_by_text("Thank you: your consent is signed.")).to_be_visible()
    screenshot(patient, "clinic-day-portal-consent-signed")

    _book_today(therapist, patient_id)

    # The booking puts the plan's pre-dose questionnaires on Rowan's list, named for the session.
    patient.goto("/")
    expect(patient.get_by_test_id("portal-questionnaires")).to_contain_text("Before dosing session 1")
    _answer_in_portal(patient, "PHQ-9", 9)
    _answer_in_portal(patient, "GAD-7", 7)

    # The session, charted late from a check-in this morning (165 minutes ago, today).
    start = datetime.now(CLINIC_TZ) - timedelta(minutes=165)
    assert start.date() == datetime.now(CLINIC_TZ).date()
    nurse = signed_in("nurse@demo.openkap.org", 1024)
    nurse.goto(f"/patients/{patient_id}/medicine-sessions/")
    nurse.get_by_role("link", name="Open", exact=True).first.click()
    url = nurse.url.split("#")[0]
    _check_in_and_checklist(nurse, url, patient_id, start)

    # The prescriber's queue now holds the order, with the button to it.
    row = _queue_row(prescriber, "dose order is waiting for you")
    expect(row).to_have_count(1)
    screenshot(prescriber, "clinic-day-queue-order")
    row.get_by_role("link", name=re.compile("^Order")).click()
    expect(prescriber).to_have_url(re.compile(r"/dosing/sessions/\d+/#order$"))
    dose = _order(prescriber, url, start)
    expect(_queue_row(prescriber, "dose order is waiting")).to_have_count(0)
    _prepare(nurse, url, "50 mg/mL", start)
    _verify(prescriber, url, "50", f"{(dose / 50).normalize():f}", dose, start)
    nurse.goto(url)
    _at(nurse, "#administer", start + timedelta(minutes=12))
    nurse.locator("#administer").get_by_role("button", name=re.compile("Dose given")).click()
    expect(nurse.get_by_text(re.compile(r"Given at \d\d:\d\d"))).to_be_visible()
    _vitals(nurse, (124, 78, 76, 98, 14), start + timedelta(minutes=40))
    expect(nurse.get_by_text("Vitals recorded.")).to_be_visible()
    # Missed checks are named, explained, and kept on the record.
    _discharge(nurse)
    screenshot(nurse, "clinic-day-session-discharged")

    # The follow-up PHQ-9: the therapist sends it, Rowan answers it in the portal.
    therapist.goto(f"/patients/{patient_id}/measures/")
    therapist.locator("#id_instrument_id").select_option("phq9")
    therapist.get_by_role("button", name="Assign").click()
    expect(therapist.get_by_text("PHQ-9 assigned.")).to_be_visible()
    _answer_in_portal(patient, "PHQ-9", 9)
    screenshot(patient, "clinic-day-portal-follow-up-done")


def _check_in_and_checklist(page, url: str, patient_id: int, start: datetime) -> None:
    _at(page, "#check-in", start)
    page.locator("#check-in").get_by_role("button", name="Check in").click()
    expect(page.get_by_text("Checked in.")).to_be_visible()
    # At check-in the nurse asks the C-SSRS since the last visit (clinician-rated).
    page.goto(f"/patients/{patient_id}/measures/enter/cssrs-slv/")
    for item in ("q1", "q2", "q6"):
        page.locator(f'input[name="item_{item}"][value="0"]').check()
    page.get_by_label("Answered at").fill((start + timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M"))
    page.get_by_label("Occasion").select_option("before_dosing")
    page.get_by_role("button", name=re.compile("^Save")).click()
    expect(page).to_have_url(re.compile(rf"/patients/{patient_id}/measures/responses/\d+/"))
    page.goto(url)
    _complete_checklist(
        page, start, bp=("122", "78"), heart_rate="72", spo2="99", intention="Meet the sadness with curiosity.",
        missing_measures_reason="Answered in person at check-in: no change since the baseline; charted after the session.",
    )
