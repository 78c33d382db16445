"""The one CSV writer every export uses: no cell can become a spreadsheet formula.

A cell that begins with = + - @, a tab or a carriage return is run as a formula by
Excel, LibreOffice and Google Sheets when the file is opened (``=HYPERLINK(...)`` in a
User-Agent sent by anyone who tries to sign in, or in a patient's address). Such a
cell gets a leading apostrophe, as OWASP's "CSV Injection" page recommends; the
apostrophe is shown, so the reader sees the text exactly as it was typed. Plain
numbers (``-2.5``) are left alone: they cannot run anything and must stay numbers.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable
from typing import Any, Protocol

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_PLAIN_NUMBER = re.compile(r"[+-]?\d+(\.\d+)?")


class _Writable(Protocol):
    def write(self, s: str, /) -> Any: ...


def safe_cell(value: object) -> object:
    if not isinstance(value, str) or not value.startswith(FORMULA_STARTS):
        return value
    if _PLAIN_NUMBER.fullmatch(value):
        return value
    return "'" + value


class SafeWriter:
    """``csv.writer`` with every cell through ``safe_cell``; ``writerow`` returns what
    the file's ``write`` returned (so a pass-through buffer can stream lines)."""

    def __init__(self, file: _Writable):
        self._writer = csv.writer(file)

    def writerow(self, row: Iterable[object]) -> Any:
        return self._writer.writerow([safe_cell(cell) for cell in row])

    def writerows(self, rows: Iterable[Iterable[object]]) -> None:
        for row in rows:
            self.writerow(row)
