"""Reading and checking the CSV files of a history import (clinics moving from another
system): patients, held dosing sessions and scored questionnaires.

Every problem is reported with its line number, and the whole file is checked before
anything is written: the Django side writes nothing if any row fails, unless told to
skip the invalid rows. File-level problems (not UTF-8, NUL bytes, too large, wrong
header) stop at once with `ImportFileError`. Questionnaires are scored here by the
same engine as everywhere else, so an answer out of range is a row error.

No Django: the service feeds bytes in and writes the parsed rows.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Literal

from openkap.core.instruments import ScoreResult, UnknownInstrumentError, get_instrument, score
from openkap.core.instruments.engine import parse_answer_text
from openkap.core.instruments.errors import ScoringError
from openkap.core.routes import Route

Kind = Literal["patients", "sessions", "measures"]
COLUMNS: dict[str, tuple[str, ...]] = {
    "patients": ("external_id", "given_name", "family_name", "date_of_birth", "sex_at_birth"),
    "sessions": ("external_id", "date", "route", "dose_mg"),
    "measures": ("external_id", "instrument", "administered_at", "answers"),
}
SEXES = ("female", "male", "intersex", "unknown")
MAX_BYTES = 20 * 1024 * 1024
MAX_ROWS = 200_000
MAX_DOSE_MG = Decimal(1000)  # no route's session comes near it: a larger number is a unit slip
EARLIEST = date(1900, 1, 1)
_EXTERNAL_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:/-]{0,63}")
_FORMULA = ("=", "+", "-", "@", "\t", "\r")


class ImportFileError(ValueError):
    """The file cannot be read as this kind of import at all."""


@dataclass(frozen=True)
class RowError:
    line: int
    message: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.message}"


@dataclass(frozen=True)
class PatientRow:
    line: int
    external_id: str
    given_name: str
    family_name: str
    date_of_birth: date
    sex_at_birth: str

    @property
    def key(self) -> str:
        return self.external_id


@dataclass(frozen=True)
class SessionRow:
    line: int
    external_id: str
    day: date
    route: Route
    dose_mg: Decimal

    @property
    def key(self) -> str:
        return f"{self.external_id}|{self.day.isoformat()}"


@dataclass(frozen=True)
class MeasureRow:
    line: int
    external_id: str
    instrument: str
    administered_at: datetime | date
    answers: tuple[int | None, ...]
    result: ScoreResult

    @property
    def key(self) -> str:
        return f"{self.external_id}|{self.instrument}|{self.administered_at.isoformat()}"


Row = PatientRow | SessionRow | MeasureRow


def read_rows(data: bytes, kind: str) -> list[tuple[int, dict[str, str]]]:
    """The file's data rows with their line numbers (the header is line 1)."""
    if kind not in COLUMNS:
        raise ImportFileError(f"Unknown import {kind!r}: choose patients, sessions or measures.")
    if len(data) > MAX_BYTES:
        raise ImportFileError(f"The file is {len(data):,} bytes; the limit is {MAX_BYTES:,}. Split it into parts.")
    if b"\x00" in data:
        raise ImportFileError("The file contains NUL bytes: it is not a CSV text file (a spreadsheet saved as .xlsx?).")
    try:
        text = data.decode("utf-8-sig")  # a byte-order mark from Excel is dropped
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise ImportFileError(f"line {line}: the file is not UTF-8 (byte 0x{data[exc.start]:02x}). "
                              "Save it as 'CSV UTF-8'.") from None
    if not text.strip():
        raise ImportFileError("The file is empty.")
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    expected = COLUMNS[kind]
    try:
        header = [h.strip() for h in next(reader)]
    except csv.Error as exc:
        raise ImportFileError(f"line 1: {exc}") from None
    if tuple(header) != expected:
        missing = [c for c in expected if c not in header]
        extra = [c for c in header if c not in expected]
        detail = "; ".join(filter(None, [
            f"missing {', '.join(missing)}" if missing else "",
            f"unexpected {', '.join(repr(c) for c in extra)}" if extra else "",
            "columns in another order" if not missing and not extra else "",
        ]))
        raise ImportFileError(f"line 1: the header must be {','.join(expected)} ({detail}).")
    rows: list[tuple[int, dict[str, str]]] = []
    try:
        for fields in reader:
            line = reader.line_num
            if not fields or all(not f.strip() for f in fields):
                continue
            if len(rows) >= MAX_ROWS:
                raise ImportFileError(f"More than {MAX_ROWS:,} rows; split the file into parts.")
            if len(fields) != len(expected):
                rows.append((line, {"__count__": str(len(fields))}))
            else:
                rows.append((line, dict(zip(expected, fields, strict=True))))
    except csv.Error as exc:
        raise ImportFileError(f"line {reader.line_num}: {exc}") from None
    return rows


def _text(value: str, what: str, max_length: int) -> str:
    value = value.strip()
    if not value:
        raise ValueError(f"{what} is empty")
    if len(value) > max_length:
        raise ValueError(f"{what} is longer than {max_length} characters")
    if value.startswith(_FORMULA):
        raise ValueError(f"{what} {value[:20]!r} starts like a spreadsheet formula")
    if any(ord(c) < 32 for c in value):
        raise ValueError(f"{what} contains control characters")
    return value


def _external_id(value: str) -> str:
    value = value.strip()
    if not _EXTERNAL_ID.fullmatch(value):
        raise ValueError(f"external_id {value[:40]!r} must be 1-64 letters, digits or . _ : / - "
                         "(starting with a letter or digit)")
    return value


def _day(value: str, what: str, today: date) -> date:
    try:
        day = date.fromisoformat(value.strip())
    except ValueError:
        raise ValueError(f"{what} {value[:30]!r} is not a date (YYYY-MM-DD)") from None
    if day > today:
        raise ValueError(f"{what} {day.isoformat()} is in the future")
    if day < EARLIEST:
        raise ValueError(f"{what} {day.isoformat()} is before 1900")
    return day


def _moment(value: str, today: date) -> datetime | date:
    value = value.strip()
    if "T" not in value and " " not in value:
        return _day(value, "administered_at", today)
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(f"administered_at {value[:30]!r} is not a date or date and time "
                         "(YYYY-MM-DD or YYYY-MM-DDTHH:MM, with an offset such as +00:00 or taken as clinic time)"
                         ) from None
    _day(moment.date().isoformat(), "administered_at", today)
    return moment


def _answers(value: str) -> tuple[int | None, ...]:
    tokens = value.split()
    if not tokens:
        raise ValueError("answers is empty")
    return tuple(None if t == "-" else parse_answer_text(t) for t in tokens)


def parse_row(kind: str, line: int, fields: dict[str, str], today: date) -> Row:
    """One row, checked; ValueError (or a ScoringError) with the reason otherwise."""
    if "__count__" in fields:
        raise ValueError(f"{fields['__count__']} fields where {len(COLUMNS[kind])} are expected")
    external_id = _external_id(fields["external_id"])
    if kind == "patients":
        sex = fields["sex_at_birth"].strip().lower()
        if sex not in SEXES:
            raise ValueError(f"sex_at_birth {fields['sex_at_birth'][:20]!r} must be one of {', '.join(SEXES)}")
        return PatientRow(line, external_id, _text(fields["given_name"], "given_name", 100),
                          _text(fields["family_name"], "family_name", 100),
                          _day(fields["date_of_birth"], "date_of_birth", today), sex)
    if kind == "sessions":
        try:
            route = Route(fields["route"].strip())
        except ValueError:
            raise ValueError(f"route {fields['route'][:30]!r} must be one of {', '.join(r.value for r in Route)}"
                             ) from None
        try:
            dose = Decimal(fields["dose_mg"].strip())
        except InvalidOperation:
            raise ValueError(f"dose_mg {fields['dose_mg'][:20]!r} is not a number") from None
        if not dose.is_finite() or not 0 < dose <= MAX_DOSE_MG:
            raise ValueError(f"dose_mg {fields['dose_mg'][:20]!r} must be more than 0 and at most {MAX_DOSE_MG} mg")
        return SessionRow(line, external_id, _day(fields["date"], "date", today), route, dose)
    try:
        instrument = get_instrument(fields["instrument"].strip().lower())
    except UnknownInstrumentError:
        raise ValueError(f"unknown instrument {fields['instrument'][:30]!r} (`openkap instruments` lists them)"
                         ) from None
    answers = _answers(fields["answers"])
    result = score(instrument, answers)
    return MeasureRow(line, external_id, instrument.id, _moment(fields["administered_at"], today), answers, result)


def parse_file(data: bytes, kind: str, today: date) -> tuple[list[Row], list[RowError]]:
    """Every row of the file parsed, or its error; a key repeated in the file is an
    error on the later line. ImportFileError for a file that cannot be read at all."""
    parsed: list[Row] = []
    errors: list[RowError] = []
    seen: dict[str, int] = {}
    for line, fields in read_rows(data, kind):
        try:
            row = parse_row(kind, line, fields, today)
        except (ValueError, ScoringError) as exc:
            errors.append(RowError(line, str(exc)))
            continue
        if row.key in seen:
            errors.append(RowError(line, f"repeats line {seen[row.key]} ({row.key.replace('|', ', ')})"))
            continue
        seen[row.key] = line
        parsed.append(row)
    return parsed, errors


def row_content(row: Row) -> Sequence[str]:
    """What a row says, to tell a re-import of the same row from a changed one."""
    if isinstance(row, PatientRow):
        return (row.given_name, row.family_name, row.date_of_birth.isoformat(), row.sex_at_birth)
    if isinstance(row, SessionRow):
        return (row.route.value, str(row.dose_mg.normalize()))
    return (" ".join("-" if a is None else str(a) for a in row.answers),)
