"""Referrals made through the service, as the public forms make them."""

from __future__ import annotations

import secrets

MINIMAL_PDF = (
    b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n2 0 obj<</Type/Pages/Kids[3 0 R]/Count 1>>endobj\n"
    b"3 0 obj<</Type/Page/Parent 2 0 R/MediaBox[0 0 612 792]>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n"
)
VALID_NPI = "1234567893"  # CMS's worked example: 123456789 -> check digit 3

PERSON = {
    "given_name": "Rosa", "family_name": "Díaz", "date_of_birth": "1985-03-21", "sex_at_birth": "female",
    "email": "rosa@example.org", "phone": "+1 518 555 0142", "preferred_language": "en",
}
STORY = {"reason": "Treatment-resistant depression.", "current_treatment": "Sertraline"}
PHQ9 = {f"q{i}": 1 for i in range(1, 9)} | {"q9": 0}
GAD7 = {f"q{i}": 2 for i in range(1, 8)}
ASQ_NEG = {"q1": 0, "q2": 0, "q3": 0, "q4": 0}


def self_referral(org, *, person=None, phq9=None, gad7=None, asq=None, red_flags=(), **kwargs):
    from openkap.referrals import services

    return services.referral_submit(
        organization=org, kind="self", person={**PERSON, **(person or {})}, story=STORY,
        instruments={"phq9": phq9 or PHQ9, "gad7": gad7 or GAD7, "asq": asq or ASQ_NEG},
        red_flags=red_flags, consent_to_contact=True, submission_key=secrets.token_hex(16), ip="192.0.2.1",
        **kwargs,
    ).referral


def clinician_referral(org, *, letter=MINIMAL_PDF, suicide_risk=False, **kwargs):
    from openkap.referrals import services

    return services.referral_submit(
        organization=org, kind="clinician", person={**PERSON, "email": "", "phone": ""}, story=STORY,
        referrer={"referrer_name": "Dr. Ana Ruiz", "referrer_npi": VALID_NPI, "referrer_practice": "Albany Psychiatry",
                  "referrer_email": "ana.ruiz@example.org", "referrer_phone": "518-555-0100"},
        clinician_reports_suicide_risk=suicide_risk, consent_to_contact=True,
        submission_key=secrets.token_hex(16), letter=("letter.pdf", letter) if letter else None, ip="192.0.2.2",
        **kwargs,
    ).referral


def url_objects(*, patient, therapist, org) -> dict[str, object]:
    """A clinician referral with a letter, so every staff referral page has something to show."""
    return {"referral_id": clinician_referral(org).id}
