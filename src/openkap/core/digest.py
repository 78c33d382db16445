"""The one digest of stored secrets (tokens, links, recovery codes, calendar feeds) and of
signed documents: SHA-256 of the UTF-8 text, in hex."""

import hashlib


def sha256_hex(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()
