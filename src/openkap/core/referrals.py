"""Triage of a referral: how urgent it is, whether the person must see crisis resources
now, and which contraindication red flags they reported. Pure: the Django app stores
what this module decides (docs/adr/0039-referrals.md).

Urgency, most urgent first:
- emergency: ASQ acute positive (thoughts of killing themselves right now), or a positive
  ASQ screen whose acuity question was left blank (the ASQ tool treats that as possible
  imminent risk until a clinician assesses);
- urgent: PHQ-9 item 9 above 0, a non-acute positive ASQ screen, or a referring clinician
  who reports current suicidal thoughts;
- review: a contraindication red flag, or a PHQ-9 total in the severe band (20-27);
- routine: everything else.
Crisis resources are shown at once for PHQ-9 item 9 above 0 and for every emergency.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any

from openkap.core.instruments import (
    IncompleteResponseError,
    ScoreResult,
    Severity,
    highest_severity,
    score,
)
from openkap.core.pathway.contraindications import CHECKLIST

Answers = Mapping[str, int | None]

# The instruments of the self-referral pre-screen, in the order they are asked, with the
# items the form shows (PHQ-9's supplementary difficulty item is not asked here).
PRESCREEN_INSTRUMENTS: dict[str, tuple[str, ...]] = {
    "phq9": tuple(f"q{i}" for i in range(1, 10)),
    "gad7": tuple(f"q{i}" for i in range(1, 8)),
    "asq": ("q1", "q2", "q3", "q4", "q5"),
}
ASQ_SCREEN_ITEMS = ("q1", "q2", "q3", "q4")
SEVERE_PHQ9 = 20


class Urgency(IntEnum):
    """Lower sorts first in the intake worklist."""

    EMERGENCY = 0
    URGENT = 1
    REVIEW = 2
    ROUTINE = 3

    @property
    def slug(self) -> str:
        return self.name.lower()


@dataclass(frozen=True)
class RedFlag:
    """A plain-language question (worded in the referral form) standing for items of the
    contraindication checklist."""

    id: str
    checklist_items: tuple[str, ...]


RED_FLAGS: tuple[RedFlag, ...] = (
    RedFlag("high_blood_pressure", ("uncontrolled_hypertension",)),
    RedFlag("psychosis", ("active_psychosis",)),
    RedFlag("mania", ("mania",)),
    RedFlag("pregnancy", ("pregnancy", "breastfeeding")),
    RedFlag("substance_use", ("substance_use_disorder", "heavy_alcohol_use")),
    RedFlag("vascular", ("aneurysmal_vascular_disease", "arteriovenous_malformation", "intracerebral_haemorrhage")),
    RedFlag("ketamine_reaction", ("ketamine_hypersensitivity",)),
    RedFlag("liver_or_bladder", ("severe_hepatic_impairment", "cystitis")),
    RedFlag("sedating_medicines", ("cns_depressants", "stimulants_or_maoi")),
)
RED_FLAG_IDS = frozenset(f.id for f in RED_FLAGS)

# Every red flag names real checklist items: a renamed checklist item fails at import.
for _flag in RED_FLAGS:
    for _item in _flag.checklist_items:
        CHECKLIST.item(_item)


class TriageInputError(ValueError):
    """Answers the pre-screen cannot have produced (unknown instrument, item or value)."""


@dataclass(frozen=True)
class InstrumentOutcome:
    instrument_id: str
    answers: dict[str, int | None]
    total: float | None
    band: str | None
    band_label: str | None
    flags: tuple[str, ...]
    highest_severity: str
    complete: bool

    def to_dict(self) -> dict[str, Any]:
        return {
            "answers": dict(self.answers), "total": self.total, "band": self.band,
            "band_label": self.band_label, "flags": list(self.flags),
            "highest_severity": self.highest_severity, "complete": self.complete,
        }


@dataclass(frozen=True)
class Triage:
    urgency: Urgency
    crisis: bool
    reasons: tuple[str, ...]
    instruments: Mapping[str, InstrumentOutcome] = field(default_factory=dict)
    red_flags: tuple[str, ...] = ()
    checklist_items: tuple[str, ...] = ()

    @property
    def suicide_risk(self) -> bool:
        return self.urgency <= Urgency.URGENT

    def to_dict(self) -> dict[str, Any]:
        return {
            "urgency": self.urgency.slug, "crisis": self.crisis, "reasons": list(self.reasons),
            "instruments": {k: v.to_dict() for k, v in self.instruments.items()},
            "red_flags": list(self.red_flags), "checklist_items": list(self.checklist_items),
        }


def _outcome(instrument_id: str, answers: Answers) -> InstrumentOutcome:
    items = PRESCREEN_INSTRUMENTS[instrument_id]
    unknown = set(answers) - set(items)
    if unknown:
        raise TriageInputError(f"{instrument_id}: unknown item(s) {', '.join(sorted(unknown))}.")
    values = [answers.get(i) for i in items]  # an item not given is blank (None)
    result: ScoreResult | None
    try:
        result = score(instrument_id, values)
    except IncompleteResponseError as exc:
        result = None
        flags = exc.flags
    except ValueError as exc:  # InvalidAnswerError, ItemCountError
        raise TriageInputError(f"{instrument_id}: {exc}") from None
    else:
        flags = result.flags
    return InstrumentOutcome(
        instrument_id=instrument_id,
        answers={i: answers.get(i) for i in items},
        total=None if result is None or result.total is None else float(result.total),
        band=None if result is None else result.band,
        band_label=None if result is None else result.band_label,
        flags=tuple(f.id for f in flags),
        highest_severity=highest_severity(f.severity for f in flags),
        complete=result is not None,
    )


def asq_acuity_asked(asq: Answers) -> bool:
    """ASQ question 5 is asked after any yes, or refusal, to questions 1-4."""
    return any(asq.get(item) != 0 for item in ASQ_SCREEN_ITEMS)


def triage(
    *,
    instruments: Mapping[str, Answers] | None = None,
    red_flags: Iterable[str] = (),
    clinician_reports_suicide_risk: bool = False,
) -> Triage:
    """Decide urgency and crisis from the answers given so far (any subset of the
    pre-screen's instruments; a blank item is None)."""
    instruments = instruments or {}
    unknown = set(instruments) - set(PRESCREEN_INSTRUMENTS)
    if unknown:
        raise TriageInputError(f"Unknown instrument(s): {', '.join(sorted(unknown))}.")
    flags = tuple(dict.fromkeys(red_flags))
    bad = [f for f in flags if f not in RED_FLAG_IDS]
    if bad:
        raise TriageInputError(f"Unknown red flag(s): {', '.join(sorted(bad))}.")
    outcomes = {
        iid: _outcome(iid, instruments[iid]) for iid in PRESCREEN_INSTRUMENTS if iid in instruments
    }
    urgency = Urgency.ROUTINE
    crisis = False
    reasons: list[str] = []

    def raise_to(level: Urgency, reason: str) -> None:
        nonlocal urgency
        urgency = min(urgency, level)
        reasons.append(reason)

    asq = outcomes.get("asq")
    if asq is not None and asq.highest_severity == Severity.EMERGENCY:
        crisis = True
        if "asq_acute_positive" in asq.flags:
            raise_to(Urgency.EMERGENCY, "ASQ acute positive: thoughts of suicide right now")
        else:
            raise_to(Urgency.EMERGENCY, "ASQ positive and the 'right now' question not answered")
    elif asq is not None and "asq_positive" in asq.flags:
        raise_to(Urgency.URGENT, "ASQ positive screen (non-acute)")
    phq9 = outcomes.get("phq9")
    item9 = phq9.answers.get("q9") if phq9 is not None else None
    if item9 is not None and item9 > 0:
        crisis = True
        raise_to(Urgency.URGENT, f"PHQ-9 item 9 (thoughts of death or self-harm) = {item9}")
    if clinician_reports_suicide_risk:
        raise_to(Urgency.URGENT, "Referring clinician reports current suicidal thoughts")
    if phq9 is not None and phq9.total is not None and phq9.total >= SEVERE_PHQ9:
        raise_to(Urgency.REVIEW, f"PHQ-9 {phq9.total:g}: severe")
    if flags:
        raise_to(Urgency.REVIEW, "Contraindication red flag(s): " + ", ".join(f.replace("_", " ") for f in flags))
    checklist = tuple(dict.fromkeys(
        item for flag in RED_FLAGS if flag.id in flags for item in flag.checklist_items
    ))
    return Triage(
        urgency=urgency, crisis=crisis, reasons=tuple(reasons), instruments=outcomes,
        red_flags=flags, checklist_items=checklist,
    )


def crisis_now(instruments: Mapping[str, Answers]) -> bool:
    """Whether the answers given so far call for the crisis screen."""
    return triage(instruments=instruments).crisis


def normalise_name(text: str) -> str:
    """For the duplicate check: case, spacing and accents do not make a new person."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return " ".join("".join(c for c in decomposed if not unicodedata.combining(c)).split())


def same_person(a: Sequence[str], b: Sequence[str]) -> bool:
    """(given, family) pairs naming the same person after normalisation."""
    return tuple(map(normalise_name, a)) == tuple(map(normalise_name, b))
