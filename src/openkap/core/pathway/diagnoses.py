"""ICD-10-CM diagnosis codes: the shape of a code, not a lookup in the code set.

A code is a letter, a digit, a digit or letter (C4A, M1A, Z3A), then after a
dot one to four letters or digits (seven characters at most, the seventh often
an extension such as A/D/S, with X as a placeholder). Checking against the
published code list is the billing system's job; catching "F32.A1." or "332.1"
at entry is ours.
"""

from __future__ import annotations

import re

_CODE = re.compile(r"[A-Z][0-9][0-9A-Z](?:\.[0-9A-Z]{1,4})?")


def normalize_icd10cm(text: str) -> str:
    """``"f33.1"``, ``"F331"`` and ``" F33.1 "`` all become ``"F33.1"``; else ValueError."""
    code = text.strip().upper()
    if "." not in code and len(code) > 3:
        code = f"{code[:3]}.{code[3:]}"
    if not _CODE.fullmatch(code):
        raise ValueError(
            f"{text.strip()!r} is not an ICD-10-CM code (a letter, two characters, "
            "then optionally a dot and up to four more, e.g. F33.1)."
        )
    return code
