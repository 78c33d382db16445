"""QIDS-SR16 (Rush et al. 2003). Reference: instruments.md §5.

Total = sum of nine DSM-IV domains; the sleep, appetite/weight and psychomotor domains score
the highest of their items, so a naive sum of the 16 items is wrong.
"""

from __future__ import annotations

from ..model import (
    Band,
    FlagSpec,
    Instrument,
    Item,
    ItemFlagRule,
    Licence,
    MissingRule,
    Rater,
    Severity,
    Subscale,
    SubscaleRule,
    TotalRule,
)
from ._common import numbered

_SCALE = numbered(0, 3)

_LABELS = (
    "Falling asleep",
    "Sleep during the night",
    "Waking up too early",
    "Sleeping too much",
    "Feeling sad",
    "Decreased appetite",
    "Increased appetite",
    "Decreased weight (within the last 2 weeks)",
    "Increased weight (within the last 2 weeks)",
    "Concentration / decision making",
    "View of myself",
    "Thoughts of death or suicide",
    "General interest",
    "Energy level",
    "Feeling slowed down",
    "Feeling restless",
)

# The form asks for either item 6 or 7, and either 8 or 9: the other may be blank.
_EITHER_OR = {"q6", "q7", "q8", "q9"}

_LICENCE = (
    "Copyright A. J. Rush / UT Southwestern. Paper versions are free to clinicians and "
    "researchers; electronic use must be checked with ids-qids.org. Only short labels ship "
    "here: load the licensed wording."
)


def _domain(domain_id: str, label: str, *numbers: int) -> Subscale:
    return Subscale(domain_id, label, tuple(f"q{n}" for n in numbers), SubscaleRule.MAX)


INSTRUMENT = Instrument(
    id="qidssr16",
    short_name="QIDS-SR16",
    name="Quick Inventory of Depressive Symptomatology, Self-Report (16 items)",
    version="QIDS-SR16 (Rush et al. 2003)",
    rater=Rater.SELF_REPORT,
    recall_period="last 7 days",
    items=tuple(
        Item(
            f"q{n}",
            label,
            _SCALE,
            missing=MissingRule.MAY_SKIP if f"q{n}" in _EITHER_OR else MissingRule.REQUIRED,
        )
        for n, label in enumerate(_LABELS, 1)
    ),
    answer_one_of=(("q6", "q7"), ("q8", "q9")),
    total_rule=TotalRule.SUM,
    domains=(
        _domain("sleep", "Sleep (highest of items 1-4)", 1, 2, 3, 4),
        _domain("mood", "Sad mood (item 5)", 5),
        _domain("appetite_weight", "Appetite/weight (highest of items 6-9)", 6, 7, 8, 9),
        _domain("concentration", "Concentration (item 10)", 10),
        _domain("self_view", "View of self (item 11)", 11),
        _domain("suicidal_ideation", "Thoughts of death or suicide (item 12)", 12),
        _domain("interest", "General interest (item 13)", 13),
        _domain("energy", "Energy (item 14)", 14),
        _domain("psychomotor", "Psychomotor (highest of items 15-16)", 15, 16),
    ),
    bands=(
        Band("none", "None", 0, 5),
        Band("mild", "Mild", 6, 10),
        Band("moderate", "Moderate", 11, 15),
        Band("severe", "Severe", 16, 20),
        Band("very_severe", "Very severe", 21, 27),
    ),
    item_flags=(
        ItemFlagRule(
            "q12",
            (
                (
                    1,
                    FlagSpec(
                        "qids_item12",
                        Severity.REVIEW,
                        "QIDS-SR16 item 12 (thoughts of death or suicide) above 0: clinician "
                        "review.",
                    ),
                ),
                (
                    2,
                    FlagSpec(
                        "qids_item12",
                        Severity.URGENT,
                        "QIDS-SR16 item 12 (thoughts of death or suicide) 2: C-SSRS "
                        "screener the same day.",
                    ),
                ),
                (
                    3,
                    FlagSpec(
                        "qids_item12",
                        Severity.URGENT,
                        "QIDS-SR16 item 12 (thoughts of death or suicide) 3: urgent "
                        "assessment; no dosing until assessed.",
                    ),
                ),
            ),
        ),
    ),
    licence=Licence.PERMISSION_REQUIRED,
    licence_note=_LICENCE,
    aliases=("qids", "qidssr", "qids16"),
    sources=(
        "Rush AJ et al. Biol Psychiatry 2003;54:573-83.",
        "Millisecond Inquisit QIDS-SR16 manual (scoring formula); ids-qids.org.",
        "Item 12 anchors (0 none; 1 life empty or not worth living; 2 suicide or death "
        "several times a week for several minutes; 3 several times a day in detail, or "
        "specific plans, or an attempt): Institute of Medicine, CNS Clinical Trials: "
        "Suicidality and Data Collection, Workshop Summary, National Academies Press 2010, "
        "Box 4-1 (source Rush 2009), ncbi.nlm.nih.gov/books/NBK52954.",
    ),
    caveats=(
        "Item 12 flag levels are this platform's policy (reference/instruments.md §5 and "
        "§13), not a published rule; they are set against the verified anchors.",
        "No official missing-data rule: apart from the either/or items 6-7 and 8-9, a "
        "response with any item missing is not scored.",
        "No LOINC codes are verified for the QIDS-SR16.",
    ),
)
