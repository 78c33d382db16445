"""GAD-2: GAD-7 items 1-2 as an ultra-brief screen. Reference: instruments.md §2a."""

from __future__ import annotations

from ..model import Band, Instrument, Licence, Rater, TotalRule
from .gad7 import GAD7_ITEMS, GAD_INSTRUCTIONS, GAD_LICENCE

INSTRUMENT = Instrument(
    id="gad2",
    short_name="GAD-2",
    name="Generalized Anxiety Disorder-2 (anxiety screen)",
    version="GAD-2 (items 1-2 of the GAD-7)",
    rater=Rater.SELF_REPORT,
    recall_period="last 2 weeks",
    instructions=GAD_INSTRUCTIONS,
    items=GAD7_ITEMS[:2],
    total_rule=TotalRule.SUM,
    bands=(
        Band("negative", "Negative screen", 0, 2),
        Band("positive", "Positive screen: administer the full GAD-7", 3, 6),
    ),
    licence=Licence.PUBLIC_DOMAIN,
    licence_note=GAD_LICENCE,
    sources=("instruments.md §2a: positive screen >= 3.",),
    caveats=(
        "No GAD-2 panel or total code was found in LOINC, so none is given. 70273-8, "
        "sometimes quoted, is the PHQ-15 total (loinc.org/69729-2, PHQ-SADS panel); "
        "69724-3 was not found. Items keep the GAD-7 item codes 69725-0 and 68509-9.",
    ),
)
