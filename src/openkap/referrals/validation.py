"""What a referral must be: each step of the public form checks its part with these before
the next page, and the submission checks everything again (``services.referral_submit``)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.utils import timezone
from django.utils.translation import gettext as _

from openkap.core.identifiers import validate_npi
from openkap.patients.models import Patient
from openkap.referrals.models import Referral

MAX_NAME = 100
MAX_TEXT = 2000
MAX_PHONE = 30
MIN_AGE = 18
PDF_MAGIC = b"%PDF-"


def text_field(errors: dict[str, str], data: Mapping[str, Any], name: str, *, limit: int,
          required: bool = False) -> str:
    value = data.get(name)
    value = "" if value is None else str(value).strip()
    if "\x00" in value:
        errors[name] = _("This field contains a character that cannot be stored.")
    elif required and not value:
        errors[name] = _("This field is required.")
    elif len(value) > limit:
        errors[name] = _("Keep this under %(limit)s characters (you wrote %(n)s).") % {
            "limit": limit, "n": len(value)}
    return value


def phone_field(errors: dict[str, str], data: Mapping[str, Any], name: str, *, required: bool = False) -> str:
    value = text_field(errors, data, name, limit=MAX_PHONE, required=required)
    if value and name not in errors:
        digits = sum(c.isdigit() for c in value)
        if digits < 7 or digits > 15 or any(not (c.isdigit() or c in " +-().") for c in value):
            errors[name] = _("Enter a phone number: 7 to 15 digits; spaces, +, -, ( and ) are allowed.")
    return value


def email_field(errors: dict[str, str], data: Mapping[str, Any], name: str, *, required: bool = False) -> str:
    value = text_field(errors, data, name, limit=254, required=required).lower()
    if value and name not in errors:
        try:
            validate_email(value)
        except ValidationError:
            errors[name] = _("Enter a valid email address.")
    return value


def birth_date_field(errors: dict[str, str], data: Mapping[str, Any], name: str) -> date | None:
    raw = data.get(name)
    if isinstance(raw, date):
        value = raw
    else:
        try:
            value = date.fromisoformat(str(raw or "").strip())
        except ValueError:
            errors[name] = _("Enter the date of birth as YYYY-MM-DD.")
            return None
    today = timezone.localdate()
    age = today.year - value.year - ((today.month, today.day) < (value.month, value.day))
    if value > today:
        errors[name] = _("The date of birth cannot be in the future.")
    elif age < MIN_AGE:
        errors[name] = _("The clinic treats adults: the person must be 18 or older.")
    elif age > 120:
        errors[name] = _("Please check the date of birth: it is more than 120 years ago.")
    return value


def clean_person(data: Mapping[str, Any], *, kind: str) -> dict[str, Any]:
    """The person the referral is about; raises ValidationError naming each bad field."""
    errors: dict[str, str] = {}
    cleaned: dict[str, Any] = {
        "given_name": text_field(errors, data, "given_name", limit=MAX_NAME, required=True),
        "family_name": text_field(errors, data, "family_name", limit=MAX_NAME, required=True),
        "date_of_birth": birth_date_field(errors, data, "date_of_birth"),
        "email": email_field(errors, data, "email", required=kind == Referral.Kind.SELF),
        "phone": phone_field(errors, data, "phone", required=kind == Referral.Kind.SELF),
    }
    sex = str(data.get("sex_at_birth") or "")
    if sex not in Patient.SexAtBirth.values:
        errors["sex_at_birth"] = _("Choose one of the options.")
    cleaned["sex_at_birth"] = sex
    language = str(data.get("preferred_language") or "")
    if language not in Referral.Language.values:
        errors["preferred_language"] = _("Choose English or Spanish.")
    cleaned["preferred_language"] = language
    if errors:
        raise ValidationError(errors)
    return cleaned


def clean_story(data: Mapping[str, Any]) -> dict[str, str]:
    errors: dict[str, str] = {}
    cleaned = {
        "reason": text_field(errors, data, "reason", limit=MAX_TEXT, required=True),
        "current_treatment": text_field(errors, data, "current_treatment", limit=MAX_TEXT),
    }
    if errors:
        raise ValidationError(errors)
    return cleaned


def clean_referrer(data: Mapping[str, Any]) -> dict[str, str]:
    errors: dict[str, str] = {}
    cleaned = {
        "referrer_name": text_field(errors, data, "referrer_name", limit=200, required=True),
        "referrer_npi": text_field(errors, data, "referrer_npi", limit=10, required=True),
        "referrer_practice": text_field(errors, data, "referrer_practice", limit=200, required=True),
        "referrer_email": email_field(errors, data, "referrer_email", required=True),
        "referrer_phone": phone_field(errors, data, "referrer_phone", required=True),
    }
    if "referrer_npi" not in errors:
        problem = validate_npi(cleaned["referrer_npi"])
        if problem:
            errors["referrer_npi"] = _(problem)
    if errors:
        raise ValidationError(errors)
    return cleaned


def check_letter_size(size: int) -> None:
    limit = settings.REFERRAL_MAX_LETTER_BYTES
    if size > limit:
        raise ValidationError({"letter": _("The letter is larger than %(mb)s MB: please send a smaller PDF.")
                               % {"mb": f"{limit / (1024 * 1024):g}"}})


def check_letter(name: str, content: bytes) -> None:
    """A PDF by its content (the %PDF- header and an end-of-file marker), not its name."""
    check_letter_size(len(content))
    if not content.startswith(PDF_MAGIC) or b"%%EOF" not in content[-2048:]:
        raise ValidationError({"letter": _("The letter must be a PDF document; this file is not one.")})
    if len(name) > 200:
        raise ValidationError({"letter": _("The file name is too long.")})


def looks_automated(*, honeypot: str, started_at: float | None, now: float) -> bool:
    """A filled hidden field, or a form filled faster than a person can read it."""
    minimum = settings.REFERRAL_MIN_FILL_SECONDS
    return bool(honeypot.strip()) or started_at is None or now - started_at < minimum
