"""CADSS-6 (Rodrigues et al. 2021): CADSS items 1, 2, 6, 7, 15, 22. Reference: §7."""

from __future__ import annotations

from ..model import Instrument, Item, Licence, Rater, TotalRule
from .cadss import CADSS_LABELS, CADSS_LICENCE, CADSS_SCALE

_FROM_CADSS = (1, 2, 6, 7, 15, 22)

INSTRUMENT = Instrument(
    id="cadss6",
    short_name="CADSS-6",
    name="Clinician-Administered Dissociative States Scale, 6-item short form",
    version="CADSS-6 (Rodrigues et al. 2021)",
    rater=Rater.CLINICIAN,
    recall_period="present state (at this time, in this room)",
    items=tuple(
        Item(f"q{position}", f"{CADSS_LABELS[n - 1]} (CADSS item {n})", CADSS_SCALE)
        for position, n in enumerate(_FROM_CADSS, 1)
    ),
    total_rule=TotalRule.SUM,
    licence=Licence.PERMISSION_REQUIRED,
    licence_note=CADSS_LICENCE,
    sources=("Rodrigues NB et al. J Affect Disord 2021;282:160-4.",),
    caveats=(
        "The authors state the CADSS-6 is not yet validated (retrospective derivation).",
        "No official bands and no LOINC codes.",
    ),
)
