"""The clinician referral form: NPI with its check digit, the letter checked by content
and size, the same triage, and bad input."""

from __future__ import annotations

import re

import pytest
from django.core import mail
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from openkap.referrals.models import Referral, ReferralLetter
from openkap.tasks.models import Task
from tests.referrals.factories import MINIMAL_PDF, VALID_NPI

pytestmark = pytest.mark.django_db

FORM = {
    "referrer_name": "Dr. Ana Ruiz", "referrer_npi": VALID_NPI, "referrer_practice": "Albany Psychiatry",
    "referrer_email": "ana.ruiz@example.org", "referrer_phone": "518-555-0100",
    "given_name": "Sam", "family_name": "Okafor", "date_of_birth": "1979-11-02", "sex_at_birth": "male",
    "email": "", "phone": "518 555 0199", "preferred_language": "en",
    "reason": "Treatment-resistant depression after three adequate antidepressant trials.",
    "current_treatment": "Venlafaxine 225 mg", "consent_to_contact": "on",
}


def _post(client: Client, data: dict, letter: bytes | None = None, name: str = "letter.pdf"):
    page = client.get("/refer/clinician/")
    state = re.search(r'name="state" value="([^"]*)"', page.content.decode()).group(1)
    body = {**data, "state": state}
    if letter is not None:
        body["letter"] = SimpleUploadedFile(name, letter, content_type="application/pdf")
    return client.post("/refer/clinician/", body)


def test_clinician_referral_with_letter_is_stored_and_confirmed(org, therapist, committed):
    with committed():
        response = _post(Client(), FORM, MINIMAL_PDF)
    assert response.status_code == 302
    referral = Referral.objects.get()
    assert referral.kind == "clinician"
    assert referral.referrer_npi == VALID_NPI
    assert referral.urgency_level.slug == "routine"
    assert not Task.objects.exists()
    letter = ReferralLetter.objects.get()
    assert bytes(letter.content) == MINIMAL_PDF
    assert letter.size == len(MINIMAL_PDF)
    assert mail.outbox[-1].to == ["ana.ruiz@example.org"]


def test_reported_suicide_risk_raises_the_urgent_task(org, therapist):
    _post(Client(), {**FORM, "suicide_risk": "on", "red_flags": ["mania"]})
    referral = Referral.objects.get()
    assert referral.urgency_level.slug == "urgent"
    assert referral.triage["checklist_items"] == ["mania"]
    assert Task.objects.get().subject_id == str(referral.id)


@pytest.mark.parametrize(("npi", "message"), [
    ("1234567890", "check digit does not match"),  # CMS example with a wrong check digit
    ("123456789", "ten digits"),
    ("3234567893", "starts with 1 or 2"),
    ("12345678a3", "ten digits"),
    ("", "required"),
])
def test_npi_is_checked_with_its_luhn_digit(org, npi, message):
    response = _post(Client(), {**FORM, "referrer_npi": npi})
    assert response.status_code == 422
    assert message in response.content.decode()
    assert not Referral.objects.exists()


@pytest.mark.parametrize(("content", "name"), [
    (b"MZ\x90\x00 not a pdf at all", "letter.pdf"),  # named .pdf, an executable inside
    (b"<html><script>alert(1)</script></html>", "letter.pdf"),
    (b"%PDF-1.4 truncated, no end marker", "letter.pdf"),
    (b"", "empty.pdf"),
])
def test_a_letter_that_is_not_a_pdf_is_refused_by_content(org, content, name):
    response = _post(Client(), FORM, content, name)
    assert response.status_code == 422
    text = response.content.decode()
    assert "must be a PDF" in text or "empty" in text
    assert not Referral.objects.exists()
    assert not ReferralLetter.objects.exists()


def test_a_pdf_named_otherwise_is_accepted(org):
    assert _post(Client(), FORM, MINIMAL_PDF, "scan.jpeg").status_code == 302
    assert ReferralLetter.objects.get().filename == "scan.jpeg"


def test_an_oversized_letter_is_refused_with_the_limit(org, settings):
    settings.REFERRAL_MAX_LETTER_BYTES = 1024
    big = MINIMAL_PDF[:-6] + b" " * 2048 + b"%%EOF\n"
    response = _post(Client(), FORM, big)
    assert response.status_code == 422
    assert "The letter is larger than" in response.content.decode()
    assert not Referral.objects.exists()


def test_double_post_stores_one_referral(org):
    client = Client()
    page = client.get("/refer/clinician/")
    state = re.search(r'name="state" value="([^"]*)"', page.content.decode()).group(1)
    for _ in range(2):
        assert client.post("/refer/clinician/", {**FORM, "state": state}).status_code == 302
    assert Referral.objects.count() == 1


def test_expired_or_foreign_form_state_is_refused(org, other_org):
    page = Client().get(f"/clinics/{other_org.slug}/refer/clinician/")
    foreign = re.search(r'name="state" value="([^"]*)"', page.content.decode()).group(1)
    response = Client().post(f"/clinics/{org.slug}/refer/clinician/", {**FORM, "state": foreign})
    assert response.status_code == 400
    assert not Referral.objects.exists()


@pytest.mark.parametrize("field", ["referrer_name", "referrer_practice", "reason", "given_name"])
def test_html_and_long_text_in_every_field_is_safe(org, therapist, field, client_for):
    long_response = _post(Client(), {**FORM, field: "x" * 10_000})
    assert long_response.status_code == 422
    assert "under" in long_response.content.decode()
    script = "<script>alert('x')</script> 🌱 Ωμέγα"
    assert _post(Client(), {**FORM, field: script}).status_code == 302
    referral = Referral.objects.get()
    assert getattr(referral, field) == script
    text = client_for(therapist).get(f"/referrals/{referral.id}/").content.decode()
    assert "<script>alert('x')</script>" not in text


def test_a_binary_pdf_uploads_but_nul_in_a_text_field_is_refused(org):
    # Real PDFs carry compressed streams full of NUL bytes: the NUL guard reads text fields only.
    binary = MINIMAL_PDF.replace(b"trailer", b"4 0 obj<</Length 8>>stream\n\x00\x01\x02\x00\xff\x00\x9c\x00\nendstream\nendobj\ntrailer")
    assert _post(Client(), FORM, binary).status_code == 302
    assert b"\x00" in bytes(ReferralLetter.objects.get().content)
    assert _post(Client(), {**FORM, "reason": "bad\x00byte"}, MINIMAL_PDF).status_code == 400
    assert Referral.objects.count() == 1


def test_a_malformed_upload_is_a_400_not_a_500(org):
    response = Client().generic("POST", "/refer/clinician/", b"--x\r\nContent-Disposition: form-data; name=\"a\"\r\n",
                                content_type="multipart/form-data; boundary=")
    assert response.status_code == 400
