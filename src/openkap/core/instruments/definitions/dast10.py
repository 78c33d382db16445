"""DAST-10 (Skinner 1982). Reference: instruments.md §11. Item 3 is reverse-scored."""

from __future__ import annotations

from ..model import Band, Instrument, Item, Licence, Rater, TotalRule
from ._common import YES_NO

_LABELS = (
    "Used drugs other than those required for medical reasons",
    "Abuse more than one drug at a time",
    "Always able to stop using drugs when you want to",
    "Had blackouts or flashbacks as a result of drug use",
    "Ever feel bad or guilty about drug use",
    "Spouse or parents ever complain about your drug use",
    "Neglected your family because of drug use",
    "Engaged in illegal activities to obtain drugs",
    "Experienced withdrawal symptoms when stopped taking drugs",
    "Had medical problems as a result of drug use",
)

INSTRUMENT = Instrument(
    id="dast10",
    short_name="DAST-10",
    name="Drug Abuse Screening Test (10 items)",
    version="DAST-10 (Skinner 1982, short form)",
    rater=Rater.SELF_REPORT,
    recall_period="past 12 months",
    instructions="Answers: 1 = yes, 0 = no (item 3 is reverse-scored by the engine).",
    items=tuple(
        Item(f"q{n}", label, YES_NO, reverse=(n == 3)) for n, label in enumerate(_LABELS, 1)
    ),
    total_rule=TotalRule.SUM,
    bands=(
        Band("none", "No problems reported", 0, 0),
        Band("low", "Low level", 1, 2),
        Band("moderate", "Moderate level", 3, 5),
        Band("substantial", "Substantial level", 6, 8),
        Band("severe", "Severe level", 9, 10),
    ),
    licence=Licence.FREE_NON_COMMERCIAL,
    licence_note=(
        "(c) 1982 Harvey A. Skinner and CAMH: may be reproduced for non-commercial use "
        "(clinical, research, training) with credit to the author. Short labels ship here."
    ),
    aliases=("dast",),
    loinc_panel="82666-9",
    loinc_total="82667-7",
    sources=(
        "Skinner HA. Addict Behav 1982;7:363-71.",
        "Bands: NIDA Common Data Elements, 'DAST Score' valid values (0 no problems reported, "
        "1-2 low, 3-5 moderate, 6-8 substantial, 9-10 severe level), cde.drugabuse.gov; "
        "same bands in the Australian comorbidity guidelines, Appendix W, Table 69 "
        "(comorbidityguidelines.org.au).",
        "LOINC 82667-7 'Total score [DAST-10]', member of panel 82666-9 'Drug Abuse "
        "Screening Test-10 [DAST-10]' (loinc.org/82667-7).",
    ),
    caveats=("No LOINC codes are verified for the individual items.",),
)
