"""MADRS, clinician-rated (Montgomery & Asberg 1979). Reference: instruments.md §6."""

from __future__ import annotations

from ..model import (
    Band,
    FlagSpec,
    Instrument,
    Item,
    ItemFlagRule,
    Licence,
    Rater,
    Severity,
    TotalRule,
)
from ._common import numbered

_SCALE = numbered(0, 6)  # anchors at 0, 2, 4, 6 are licensed; odd values lie between

_LABELS = (
    "Apparent sadness",
    "Reported sadness",
    "Inner tension",
    "Reduced sleep",
    "Reduced appetite",
    "Concentration difficulties",
    "Lassitude",
    "Inability to feel",
    "Pessimistic thoughts",
    "Suicidal thoughts",
)

INSTRUMENT = Instrument(
    id="madrs",
    short_name="MADRS",
    name="Montgomery-\u00c5sberg Depression Rating Scale",
    version="MADRS (Montgomery & \u00c5sberg 1979)",
    rater=Rater.CLINICIAN,
    recall_period="past week (record the window rated, e.g. 24 h after dosing)",
    items=tuple(Item(f"q{n}", label, _SCALE) for n, label in enumerate(_LABELS, 1)),
    total_rule=TotalRule.SUM,
    # Band set of Snaith et al. 1986 (as in the CamCOPS draft); other sets exist.
    bands=(
        Band("normal", "Normal / symptom absent", 0, 6),
        Band("mild", "Mild", 7, 19),
        Band("moderate", "Moderate", 20, 34),
        Band("severe", "Severe", 35, 60),
    ),
    item_flags=(
        ItemFlagRule(
            "q10",
            (
                (
                    2,
                    FlagSpec(
                        "madrs_item10",
                        Severity.REVIEW,
                        "MADRS item 10 (suicidal thoughts) 2 or more: administer the C-SSRS "
                        "screener.",
                    ),
                ),
                (
                    4,
                    FlagSpec(
                        "madrs_item10",
                        Severity.URGENT,
                        "MADRS item 10 (suicidal thoughts) 4 or more: urgent prescriber "
                        "review; no dosing until assessed.",
                    ),
                ),
                (
                    6,
                    FlagSpec(
                        "madrs_item10",
                        Severity.EMERGENCY,
                        "MADRS item 10 (suicidal thoughts) 6 (explicit plans or "
                        "preparations): emergency pathway.",
                    ),
                ),
            ),
        ),
    ),
    licence=Licence.PERMISSION_REQUIRED,
    licence_note=(
        "Copyright Royal College of Psychiatrists, which refused CamCOPS permission to "
        "include it. Only item names ship here: raters use their own licensed form."
    ),
    sources=(
        "Montgomery SA, Asberg M. Br J Psychiatry 1979;134:382-9.",
        "Snaith RP et al. 1986 band set, as in CamCOPS tasks_discarded/madrs.py.",
    ),
    caveats=(
        "No prorating: a missing item means a missing total (trial convention; not a "
        "developer rule).",
        "No LOINC codes are verified for the MADRS.",
    ),
)
