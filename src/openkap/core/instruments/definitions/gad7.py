"""GAD-7 (Spitzer et al. 2006). Reference: instruments.md §2."""

from __future__ import annotations

from ..model import Band, Instrument, Item, Licence, Rater, TotalRule
from ._common import PHQ_FREQUENCY

GAD7_ITEMS = (
    Item(
        "q1",
        "Nervous, anxious or on edge",
        PHQ_FREQUENCY,
        text="Feeling nervous, anxious or on edge",
        loinc="69725-0",
    ),
    # 68509-9, not 69726-8 ("Discharge instructions") as some public copies have it.
    Item(
        "q2",
        "Cannot stop or control worrying",
        PHQ_FREQUENCY,
        text="Not being able to stop or control worrying",
        loinc="68509-9",
    ),
    Item(
        "q3",
        "Worrying too much",
        PHQ_FREQUENCY,
        text="Worrying too much about different things",
        loinc="69733-4",
    ),
    Item("q4", "Trouble relaxing", PHQ_FREQUENCY, text="Trouble relaxing", loinc="69734-2"),
    Item(
        "q5",
        "Restless",
        PHQ_FREQUENCY,
        text="Being so restless that it is hard to sit still",
        loinc="69735-9",
    ),
    Item(
        "q6",
        "Easily annoyed or irritable",
        PHQ_FREQUENCY,
        text="Becoming easily annoyed or irritable",
        loinc="69689-8",
    ),
    Item(
        "q7",
        "Afraid something awful might happen",
        PHQ_FREQUENCY,
        text="Feeling afraid as if something awful might happen",
        loinc="69736-7",
    ),
)

GAD_INSTRUCTIONS = (
    "Over the last 2 weeks, how often have you been bothered by the following problems?"
)

GAD_LICENCE = (
    "Public domain (Pfizer): no permission required to reproduce, translate, display or distribute."
)

INSTRUMENT = Instrument(
    id="gad7",
    short_name="GAD-7",
    name="Generalized Anxiety Disorder-7",
    version="GAD-7 (Spitzer, Kroenke, Williams & Lowe 2006)",
    rater=Rater.SELF_REPORT,
    recall_period="last 2 weeks",
    instructions=GAD_INSTRUCTIONS,
    items=GAD7_ITEMS,
    total_rule=TotalRule.SUM,
    bands=(
        Band("minimal", "Minimal", 0, 4),
        Band("mild", "Mild", 5, 9),
        Band("moderate", "Moderate", 10, 14),
        Band("severe", "Severe", 15, 21),
    ),
    licence=Licence.PUBLIC_DOMAIN,
    licence_note=GAD_LICENCE,
    loinc_panel="69737-5",
    loinc_total="70274-6",
    aliases=("gad",),
    sources=("Spitzer RL et al. Arch Intern Med 2006;166:1092-7 (bands).",),
    caveats=(
        "The manual defines no missing-item rule: a response with any item missing is not scored.",
    ),
)
