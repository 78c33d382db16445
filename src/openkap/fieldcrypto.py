"""Encryption at rest for sensitive columns (psychotherapy notes, TOTP secrets): Fernet
tokens under the keys in ``settings.OPENKAP_FIELD_KEYS`` (the first encrypts, all
decrypt; docs/adr/0005-field-encryption.md)."""

from __future__ import annotations

from functools import cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

# Every column holding tokens under these keys, as (model label, field, audit object type):
# `openkap rotate-field-keys` re-encrypts each of them.
ENCRYPTED_COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("pathway.PsychotherapyNote", "body_encrypted", "psychotherapy_note"),
    ("accounts.User", "totp_secret_encrypted", "user"),
)


@cache
def _cipher(keys: tuple[str, ...]) -> MultiFernet:
    return MultiFernet([Fernet(k) for k in keys])


def cipher() -> MultiFernet:
    # Keyed on the setting's value so that tests overriding it get a fresh cipher.
    return _cipher(tuple(settings.OPENKAP_FIELD_KEYS))


def encrypt_text(text: str) -> str:
    return cipher().encrypt(text.encode()).decode("ascii")


def decrypt_text(token: str) -> str:
    try:
        return cipher().decrypt(token.encode("ascii")).decode()
    except InvalidToken:
        # Only a missing old key explains this: stop rather than act on an empty value.
        raise ImproperlyConfigured(
            "An encrypted field (a psychotherapy note or an MFA secret) cannot be decrypted with "
            "OPENKAP_FIELD_KEYS: a retired key is still needed (see docs/adr/0005-field-encryption.md)."
        ) from None


def rotate_token(token: str) -> str:
    """The same text under the first key (``MultiFernet.rotate``)."""
    return cipher().rotate(token.encode("ascii")).decode("ascii")
