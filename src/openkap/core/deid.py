"""De-identification rules of the research export: HIPAA Safe Harbor and k-anonymity.

Safe Harbor (45 CFR 164.514(b)(2)) lists 18 identifiers of the patient, relatives,
employers and household members that must be removed. The export is built from an
allow-list of coded columns, so names, contacts, numbers and free text never enter
it; what stays is generalised here: age in bands with everything over 89 as "90+",
dates as days from the patient's first dosing session or shifted by a secret
per-patient offset, the ZIP code cut to its first three digits unless HHS lists that
three-digit area as 20,000 people or fewer ("000").

On top of Safe Harbor the released quasi-identifiers (age band, sex, state, ZIP3,
route) are made k-anonymous: a patient whose combination is shared by fewer than k
patients has first the ZIP3, then the state, then the age band, then everything
generalised to "*", and is left out if even that class is smaller than k.

No Django here: the export feeds rows in, the tests check the properties.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections import Counter
from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Generic, TypeVar

# The 18 Safe Harbor identifiers, each with what the export does about it.
SAFE_HARBOR: tuple[tuple[str, str], ...] = (
    ("Names", "Not exported; each patient gets a random study number, new in every export."),
    ("Geographic subdivisions smaller than a state", "State kept; ZIP code cut to 3 digits, or 000 where HHS lists the "
     "area as 20,000 people or fewer; street, city and the clinic's sites not exported."),
    ("All elements of dates (except year) related to the individual; ages over 89",
     "Dates given as days from the first dosing session, or shifted by a secret per-patient offset; "
     "date of birth not exported; age in bands with 90 and over as one band."),
    ("Telephone numbers", "Not exported."),
    ("Fax numbers", "Not exported."),
    ("Email addresses", "Not exported."),
    ("Social security numbers", "Not recorded."),
    ("Medical record numbers", "Not exported."),
    ("Health plan beneficiary numbers", "Not recorded."),
    ("Account numbers", "Not exported (no database ids either)."),
    ("Certificate/license numbers", "Not exported (staff licences and DEA numbers included)."),
    ("Vehicle identifiers and serial numbers", "Not recorded."),
    ("Device identifiers and serial numbers", "Not exported (lots and device numbers left out)."),
    ("Web URLs", "Not exported (no free text)."),
    ("IP addresses", "Not exported (the audit log is not part of the export)."),
    ("Biometric identifiers", "Not recorded."),
    ("Full-face photographs and comparable images", "Not recorded."),
    ("Any other unique identifying number, characteristic or code",
     "Free text of every kind (notes, psychotherapy notes, intentions, reasons, addresses) is not exported; "
     "study numbers are random and not derived from the patient."),
)

# Three-digit ZIP areas of 20,000 people or fewer (HHS OCR, "Guidance Regarding Methods
# for De-identification of PHI", 2012, section 3.3, from the 2000 Census): released as 000.
RESTRICTED_ZIP3 = frozenset(
    {"036", "059", "063", "102", "203", "556", "692", "790", "821", "823", "830", "831", "878", "879", "884", "890", "893"}
)

US_STATES = frozenset(
    ["AL", "AK", "AZ", "AR", "CA", "CO", "CT", "DE", "DC", "FL", "GA", "HI", "ID", "IL", "IN", "IA", "KS", "KY", "LA", "ME", "MD", "MA", "MI", "MN", "MS", "MO", "MT", "NE", "NV", "NH", "NJ", "NM", "NY", "NC", "ND", "OH", "OK", "OR", "PA", "RI", "SC", "SD", "TN", "TX", "UT", "VT", "VA", "WA", "WV", "WI", "WY", "PR", "VI", "GU", "AS", "MP"]
)

_STATE_ZIP = re.compile(r"\b([A-Za-z]{2})[\s,]+(\d{5})(?:-\d{4})?\s*$")


def state_and_zip(address: str) -> tuple[str, str]:
    """The state code and five-digit ZIP at the end of a US address ("..., NY 10001"),
    or "" for what cannot be read."""
    match = _STATE_ZIP.search(address.strip())
    if not match or match.group(1).upper() not in US_STATES:
        return "", ""
    return match.group(1).upper(), match.group(2)


def zip3(zip5: str) -> str:
    """The first three digits of a ZIP code as Safe Harbor allows them; "" if unknown."""
    if len(zip5) != 5 or not zip5.isascii() or not zip5.isdigit():
        return ""
    head = zip5[:3]
    return "000" if head in RESTRICTED_ZIP3 else head


def age_years(born: date, on: date) -> int:
    return on.year - born.year - ((on.month, on.day) < (born.month, born.day))


def age_band(age: int) -> str:
    """Ten-year bands; under 18 together and 90 or over together (Safe Harbor)."""
    if age < 18:
        return "<18"
    if age >= 90:
        return "90+"
    if age < 30:
        return "18-29"
    low = age // 10 * 10
    return f"{low}-{low + 9}"


def days_from(day: date, first: date) -> int:
    """A date as days from the patient's first dosing session (negative before it)."""
    return (day - first).days


K = TypeVar("K", bound=Hashable)


class DateShifter:
    """Moves every date of one patient by the same whole number of weeks (1 to 52,
    earlier or later): intervals and weekdays are kept, the calendar date is not.
    The offset comes from a keyed hash of the patient's key; the key is random for
    each export and never written down, so offsets cannot be recomputed or linked
    across exports."""

    def __init__(self, secret: bytes):
        if len(secret) < 16:
            raise ValueError("The date-shift secret must be at least 16 bytes.")
        self._secret = secret

    def offset_days(self, subject: Hashable) -> int:
        digest = hmac.new(self._secret, repr(subject).encode(), hashlib.sha256).digest()
        weeks = 1 + int.from_bytes(digest[:4], "big") % 52
        return 7 * weeks * (1 if digest[4] & 1 else -1)

    def shift(self, day: date, subject: Hashable) -> date:
        return day + timedelta(days=self.offset_days(subject))


def study_numbers(keys: Iterable[K], secret: bytes) -> dict[K, str]:
    """Random-looking study numbers S00001..., in an order set by a keyed hash, so the
    number says nothing about the patient's id or when they were registered."""
    def order(key: K) -> bytes:
        return hmac.new(secret, b"study:" + repr(key).encode(), hashlib.sha256).digest()

    ranked = sorted(set(keys), key=order)
    width = max(5, len(str(len(ranked))))
    return {key: f"S{n:0{width}d}" for n, key in enumerate(ranked, start=1)}


QUASI_IDENTIFIERS = ("age_band", "sex_at_birth", "state", "zip3", "route")
SUPPRESSED = "*"
# Which quasi-identifiers are generalised at each level: the most identifying first.
LADDER: tuple[frozenset[str], ...] = (
    frozenset(),
    frozenset({"zip3"}),
    frozenset({"zip3", "state"}),
    frozenset({"zip3", "state", "age_band"}),
    frozenset(QUASI_IDENTIFIERS),
)


@dataclass(frozen=True)
class KAnonymity(Generic[K]):
    """The outcome of `k_anonymise`: what is released for each kept record, at which
    level of the ladder, which records are left out, and the released classes."""

    k: int
    columns: tuple[str, ...]
    released: dict[K, tuple[str, ...]]
    levels: dict[K, int]
    dropped: frozenset[K]
    classes: tuple[tuple[tuple[str, ...], int], ...]

    @property
    def n_generalised(self) -> int:
        return sum(1 for level in self.levels.values() if level > 0)


def _generalise(values: Sequence[str], columns: Sequence[str], level: int, ladder: Sequence[frozenset[str]]
                ) -> tuple[str, ...]:
    hidden = ladder[level]
    return tuple(SUPPRESSED if column in hidden else value for column, value in zip(columns, values, strict=True))


def k_anonymise(
    records: Mapping[K, Sequence[str]],
    k: int,
    *,
    columns: Sequence[str] = QUASI_IDENTIFIERS,
    ladder: Sequence[frozenset[str]] = LADDER,
) -> KAnonymity[K]:
    """Generalise the records whose quasi-identifier combination occurs fewer than k
    times, one ladder step at a time, until every released combination occurs at least
    k times; records still in a smaller class at the top of the ladder are dropped.
    Records in classes of k or more are released unchanged."""
    if k < 1:
        raise ValueError("k must be at least 1.")
    if not ladder or ladder[0]:
        raise ValueError("The ladder starts with nothing generalised.")
    if ladder[-1] != frozenset(columns):
        raise ValueError("The ladder ends with every quasi-identifier generalised.")
    columns = tuple(columns)
    for key, values in records.items():
        if len(values) != len(columns):
            raise ValueError(f"Record {key!r} has {len(values)} values for {len(columns)} quasi-identifiers.")
    top = len(ladder) - 1
    levels = dict.fromkeys(records, 0)
    dropped: set[K] = set()
    while True:
        released = {key: _generalise(records[key], columns, levels[key], ladder) for key in levels}
        sizes = Counter(released.values())
        small = [key for key, values in released.items() if sizes[values] < k]
        climbing = [key for key in small if levels[key] < top]
        if not climbing:
            dropped.update(small)
            for key in small:
                del levels[key]
                del released[key]
            break
        for key in climbing:
            levels[key] += 1
    classes = tuple(sorted(Counter(released.values()).items()))
    return KAnonymity(k, columns, dict(released), dict(levels), frozenset(dropped), classes)
