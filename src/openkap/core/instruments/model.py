"""Instrument definitions as plain, immutable data.

An instrument module builds one `Instrument`; the engine (`engine.py`) turns it into a
precomputed plan once and scores every instrument with the same code. Nothing here knows
about any particular scale.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from enum import StrEnum


class Rater(StrEnum):
    SELF_REPORT = "self-report"
    CLINICIAN = "clinician-rated"


class Licence(StrEnum):
    """Gates which wording ships in the repository (reference §15)."""

    PUBLIC_DOMAIN = "public-domain"
    FREE_NON_COMMERCIAL = "free-non-commercial"
    PERMISSION_REQUIRED = "permission-required"


class Severity(StrEnum):
    """How fast a flag needs a clinician; every flag needs one."""

    REVIEW = "review"
    URGENT = "urgent"
    EMERGENCY = "emergency"


_SEVERITY_RANK = {Severity.REVIEW: 0, Severity.URGENT: 1, Severity.EMERGENCY: 2}


def highest_severity(severities: Iterable[Severity]) -> str:
    """The most urgent of these severities, emergency over urgent over review ("" for none)."""
    return str(max(severities, key=_SEVERITY_RANK.__getitem__, default=""))


class RiskLevel(StrEnum):
    LOW = "low"
    MODERATE = "moderate"
    HIGH = "high"


class Sex(StrEnum):
    FEMALE = "female"
    MALE = "male"


class TotalRule(StrEnum):
    SUM = "sum"  # sum of item scores, or of domain scores when domains are defined
    MEAN = "mean"  # mean of item scores
    PERCENT_OF_MAX = "percent_of_max"  # sum / maximum possible sum x 100
    NONE = "none"  # no total: the result is a triage level (C-SSRS, ASQ)


class SubscaleRule(StrEnum):
    SUM = "sum"
    MAX = "max"  # highest item score; with weights, the highest weight x score
    PERCENT_OF_MAX = "percent_of_max"


class MissingRule(StrEnum):
    REQUIRED = "required"  # unanswered (and asked) -> the response is not scored
    MAY_SKIP = "may_skip"  # the form itself lets this item be left blank
    REFUSAL_COUNTS_AS = "refusal_counts_as"  # the manual says a refusal counts as a value


@dataclass(frozen=True, slots=True)
class Option:
    value: int
    label: str
    loinc: str | None = None


@dataclass(frozen=True, slots=True)
class Scale:
    """Contiguous whole-number answers from `minimum` to `maximum`; labels may be partial."""

    minimum: int
    maximum: int
    options: tuple[Option, ...] = ()

    @property
    def values(self) -> range:
        return range(self.minimum, self.maximum + 1)


@dataclass(frozen=True, slots=True)
class Match:
    """True when the item's (effective) answer is one of `values`; None means unanswered."""

    item: str
    values: frozenset[int | None]


# Any of the clauses, each clause all of its matches.
Condition = tuple[tuple[Match, ...], ...]


def is_(item: str, *values: int | None) -> tuple[Match, ...]:
    return (Match(item, frozenset(values)),)


def any_of(*clauses: tuple[Match, ...]) -> Condition:
    return tuple(clauses)


def all_of(*clauses: tuple[Match, ...]) -> tuple[Match, ...]:
    return tuple(m for clause in clauses for m in clause)


@dataclass(frozen=True, slots=True)
class Item:
    id: str
    label: str  # short label, always shipped
    scale: Scale
    text: str | None = None  # full wording, only where the licence allows reproduction
    licensed_text: str | None = None  # the clinic's licensed wording; never shipped here
    reverse: bool = False  # score = minimum + maximum - answer
    loinc: str | None = None
    asked_if: Condition | None = None  # skip logic: not asked -> may be blank
    missing: MissingRule = MissingRule.REQUIRED
    refusal_value: int | None = None  # with REFUSAL_COUNTS_AS


@dataclass(frozen=True, slots=True)
class Band:
    id: str
    label: str
    minimum: int
    maximum: int


@dataclass(frozen=True, slots=True)
class SexBands:
    sex: Sex
    bands: tuple[Band, ...]


@dataclass(frozen=True, slots=True)
class FlagSpec:
    id: str
    severity: Severity
    message: str
    risk_level: RiskLevel | None = None


@dataclass(frozen=True, slots=True)
class ItemFlagRule:
    """Raise the flag of the highest level whose `minimum` the item's answer reaches."""

    item: str
    levels: tuple[tuple[int, FlagSpec], ...]


@dataclass(frozen=True, slots=True)
class TriageLevel:
    """First level whose condition holds gives the band and its flags; `when=()` = otherwise."""

    band: str
    label: str
    when: Condition
    flags: tuple[FlagSpec, ...] = ()


@dataclass(frozen=True, slots=True)
class Subscale:
    id: str
    label: str
    items: tuple[str, ...]
    rule: SubscaleRule = SubscaleRule.SUM
    weights: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True)
class CountCriterion:
    """True when, in every listed subscale, enough items reach `threshold` (PCL-5 DSM-5 rule)."""

    id: str
    label: str
    threshold: int
    minimum_counts: tuple[tuple[str, int], ...]


@dataclass(frozen=True, slots=True)
class AllSubscalesAtLeast:
    """True when each listed percent-of-maximum subscale reaches `percent` (MEQ-30 rule)."""

    id: str
    label: str
    subscales: tuple[str, ...]
    percent: int


Indicator = CountCriterion | AllSubscalesAtLeast


@dataclass(frozen=True, slots=True)
class Instrument:
    id: str
    short_name: str
    name: str
    version: str
    rater: Rater
    recall_period: str
    items: tuple[Item, ...]
    total_rule: TotalRule
    licence: Licence
    licence_note: str
    instructions: str | None = None
    # Max-of-group scoring (QIDS-SR16): the total is the sum of these domain scores.
    domains: tuple[Subscale, ...] = ()
    bands: tuple[Band, ...] = ()
    sex_bands: tuple[SexBands, ...] = ()
    subscales: tuple[Subscale, ...] = ()
    item_flags: tuple[ItemFlagRule, ...] = ()
    triage: tuple[TriageLevel, ...] = ()
    indicators: tuple[Indicator, ...] = ()
    # Groups of which at least one item must be answered (QIDS-SR16 "either 6 or 7").
    answer_one_of: tuple[tuple[str, ...], ...] = ()
    supplementary_items: tuple[Item, ...] = ()  # asked, stored, never scored
    loinc_panel: str | None = None
    loinc_total: str | None = None
    loinc_other: tuple[tuple[str, str], ...] = ()
    aliases: tuple[str, ...] = ()
    sources: tuple[str, ...] = ()
    caveats: tuple[str, ...] = ()  # what could not be verified

    def item_index(self, item_id: str) -> int:
        for index, item in enumerate(self.items):
            if item.id == item_id:
                return index
        raise KeyError(f"{self.id} has no item {item_id!r}")

    @property
    def allows_blanks(self) -> bool:
        """Whether any item may be blank: skip logic, either/or items or a refusal rule."""
        return bool(self.answer_one_of) or any(
            item.missing is not MissingRule.REQUIRED or item.asked_if is not None
            for item in self.items
        )


def with_licensed_text(instrument: Instrument, texts: dict[str, str]) -> Instrument:
    """Copy of `instrument` carrying the clinic's licensed wording for the given items."""
    unknown = set(texts) - {item.id for item in instrument.items}
    if unknown:
        raise KeyError(f"{instrument.id} has no items {sorted(unknown)}")
    items = tuple(
        replace(item, licensed_text=texts[item.id]) if item.id in texts else item
        for item in instrument.items
    )
    return replace(instrument, items=items)
