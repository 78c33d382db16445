"""PHQ-2: PHQ-9 items 1-2 as an ultra-brief screen. Reference: instruments.md §2a."""

from __future__ import annotations

from ..model import Band, Instrument, Licence, Rater, TotalRule
from .phq9 import PHQ9_ITEMS, PHQ_INSTRUCTIONS, PHQ_LICENCE

INSTRUMENT = Instrument(
    id="phq2",
    short_name="PHQ-2",
    name="Patient Health Questionnaire-2 (depression screen)",
    version="PHQ-2 (items 1-2 of the PHQ-9)",
    rater=Rater.SELF_REPORT,
    recall_period="last 2 weeks",
    instructions=PHQ_INSTRUCTIONS,
    items=PHQ9_ITEMS[:2],
    total_rule=TotalRule.SUM,
    bands=(
        Band("negative", "Negative screen", 0, 2),
        Band("positive", "Positive screen: administer the full PHQ-9", 3, 6),
    ),
    licence=Licence.PUBLIC_DOMAIN,
    licence_note=PHQ_LICENCE,
    loinc_panel="55757-9",
    loinc_total="55758-7",
    sources=("instruments.md §2a: positive screen >= 3.",),
    caveats=("No suicide item: a negative PHQ-2 never replaces a suicide-risk screen.",),
)
