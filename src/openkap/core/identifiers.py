"""Check-digit validation for the identifiers a clinic types by hand.

DEA registration numbers: two letters and seven digits; the seventh digit is the
last digit of (d1 + d3 + d5) + 2 * (d2 + d4 + d6).
NPI: ten digits whose last is a Luhn check digit computed over the card-issuer
prefix 80840 followed by the first nine digits (CMS, "Requirements for NPI check
digit", 2007).
"""

from __future__ import annotations

import re

# First letter: registrant type (DEA Diversion, "Registrant types": A/B/F/G practitioners,
# M mid-level practitioners, P/R distributors, X historic DATA waiver). Second: the
# initial of the registrant's last or business name, or 9 for some business registrants.
_DEA_PATTERN = re.compile(r"^[ABCDEFGHJKLMPRSTUX][A-Z9][0-9]{7}$")


def dea_check_digit(six_digits: str) -> int:
    d = [int(c) for c in six_digits]
    return (d[0] + d[2] + d[4] + 2 * (d[1] + d[3] + d[5])) % 10


def validate_dea_number(value: str) -> str | None:
    """Return None when valid, else a sentence saying what is wrong."""
    candidate = value.strip().upper()
    if not _DEA_PATTERN.match(candidate):
        return "A DEA number is two letters followed by seven digits (e.g. AB1234563)."
    if dea_check_digit(candidate[2:8]) != int(candidate[8]):
        return "This DEA number's check digit does not match: please re-check it for a typo."
    return None


def luhn_check_digit(digits: str) -> int:
    """The digit that, appended to ``digits``, makes the Luhn sum a multiple of 10."""
    total = 0
    # Double every second digit starting from the rightmost of the payload.
    for position, char in enumerate(reversed(digits)):
        n = int(char)
        if position % 2 == 0:
            n *= 2
            if n > 9:
                n -= 9
        total += n
    return (10 - total % 10) % 10


def validate_npi(value: str) -> str | None:
    """Return None when valid, else a sentence saying what is wrong."""
    candidate = value.strip()
    if not re.fullmatch(r"[12][0-9]{9}", candidate):
        return "An NPI is ten digits and starts with 1 or 2."
    if luhn_check_digit("80840" + candidate[:9]) != int(candidate[9]):
        return "This NPI's check digit does not match: please re-check it for a typo."
    return None


def format_mrn(prefix: str, number: int) -> str:
    """A medical record number with a Luhn check digit, so a mistyped MRN is caught."""
    body = f"{number:07d}"
    return f"{prefix}{body}{luhn_check_digit(body)}"


def validate_mrn_check(prefix: str, mrn: str) -> bool:
    body = mrn[len(prefix) :]
    return (
        mrn.startswith(prefix)
        and body.isdigit()
        and len(body) >= 2
        and luhn_check_digit(body[:-1]) == int(body[-1])
    )


# The label's 10-digit forms and the 11-digit billing form.
NDC_SHAPES = {(4, 4, 2), (5, 3, 2), (5, 4, 1), (5, 4, 2)}


def validate_ndc(value: str) -> str | None:
    """None for an NDC as printed on the label (10 digits 4-4-2, 5-3-2, 5-4-1, or the
    11-digit 5-4-2 billing form), else what is wrong."""
    parts = value.strip().split("-")
    if len(parts) != 3 or not all(p.isdigit() for p in parts):
        return "Write the NDC with its dashes as on the label, e.g. 0409-2051-05 or 50458-028-02."
    if tuple(len(p) for p in parts) not in NDC_SHAPES:
        return "An NDC is 4-4-2, 5-3-2, 5-4-1 or 5-4-2 digits."
    return None
