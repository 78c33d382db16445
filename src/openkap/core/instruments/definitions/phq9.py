"""PHQ-9 (Kroenke, Spitzer & Williams 2001). Reference: instruments.md §1."""

from __future__ import annotations

from ..model import (
    Band,
    FlagSpec,
    Instrument,
    Item,
    ItemFlagRule,
    Licence,
    Option,
    Rater,
    Scale,
    Severity,
    TotalRule,
)
from ._common import PHQ_FREQUENCY

PHQ9_ITEMS = (
    Item(
        "q1",
        "Little interest or pleasure",
        PHQ_FREQUENCY,
        text="Little interest or pleasure in doing things",
        loinc="44250-9",
    ),
    Item(
        "q2",
        "Feeling down or hopeless",
        PHQ_FREQUENCY,
        text="Feeling down, depressed, or hopeless",
        loinc="44255-8",
    ),
    Item(
        "q3",
        "Sleep problems",
        PHQ_FREQUENCY,
        text="Trouble falling or staying asleep, or sleeping too much",
        loinc="44259-0",
    ),
    Item(
        "q4",
        "Tired or little energy",
        PHQ_FREQUENCY,
        text="Feeling tired or having little energy",
        loinc="44254-1",
    ),
    Item("q5", "Appetite", PHQ_FREQUENCY, text="Poor appetite or overeating", loinc="44251-7"),
    Item(
        "q6",
        "Feeling bad about yourself",
        PHQ_FREQUENCY,
        text="Feeling bad about yourself \u2014 or that you are a failure or have let "
        "yourself or your family down",
        loinc="44258-2",
    ),
    Item(
        "q7",
        "Trouble concentrating",
        PHQ_FREQUENCY,
        text="Trouble concentrating on things, such as reading the newspaper or "
        "watching television",
        loinc="44252-5",
    ),
    Item(
        "q8",
        "Slowed down or restless",
        PHQ_FREQUENCY,
        text="Moving or speaking so slowly that other people could have noticed? Or the "
        "opposite \u2014 being so fidgety or restless that you have been moving around "
        "a lot more than usual",
        loinc="44253-3",
    ),
    Item(
        "q9",
        "Thoughts of death or self-harm",
        PHQ_FREQUENCY,
        text="Thoughts that you would be better off dead or of hurting yourself in some way",
        loinc="44260-8",
    ),
)

PHQ_INSTRUCTIONS = (
    "Over the last 2 weeks, how often have you been bothered by any of the following problems?"
)

PHQ_LICENCE = (
    "Public domain (Pfizer): no permission required to reproduce, translate, display or distribute."
)

# Item 9 is a trigger for a structured suicide-risk assessment, not a risk level itself.
ITEM9_FLAG = ItemFlagRule(
    "q9",
    (
        (
            1,
            FlagSpec(
                "phq9_item9",
                Severity.REVIEW,
                "PHQ-9 item 9 (thoughts of death or self-harm) answered 'several days': "
                "same-day clinician review and a structured suicide-risk screen "
                "(C-SSRS screener or ASQ).",
            ),
        ),
        (
            2,
            FlagSpec(
                "phq9_item9",
                Severity.URGENT,
                "PHQ-9 item 9 (thoughts of death or self-harm) answered 'more than half "
                "the days' or 'nearly every day': urgent clinician review and a structured "
                "suicide-risk screen before any dosing today.",
            ),
        ),
    ),
)

INSTRUMENT = Instrument(
    id="phq9",
    short_name="PHQ-9",
    name="Patient Health Questionnaire-9 (depression)",
    version="PHQ-9 (Kroenke, Spitzer & Williams 2001)",
    rater=Rater.SELF_REPORT,
    recall_period="last 2 weeks",
    instructions=PHQ_INSTRUCTIONS,
    items=PHQ9_ITEMS,
    total_rule=TotalRule.SUM,
    bands=(
        Band("minimal", "Minimal or none", 0, 4),
        Band("mild", "Mild", 5, 9),
        Band("moderate", "Moderate", 10, 14),
        Band("moderately_severe", "Moderately severe", 15, 19),
        Band("severe", "Severe", 20, 27),
    ),
    item_flags=(ITEM9_FLAG,),
    supplementary_items=(
        Item(
            "q10",
            "Difficulty caused by the problems",
            Scale(
                0,
                3,
                (
                    Option(0, "Not difficult at all"),
                    Option(1, "Somewhat difficult"),
                    Option(2, "Very difficult"),
                    Option(3, "Extremely difficult"),
                ),
            ),
            text="If you checked off any problems, how difficult have these problems made it "
            "for you to do your work, take care of things at home, or get along with "
            "other people?",
            loinc="69722-7",
        ),
    ),
    licence=Licence.PUBLIC_DOMAIN,
    licence_note=PHQ_LICENCE,
    loinc_panel="44249-1",
    loinc_total="44261-6",
    aliases=("phq",),
    sources=(
        "Kroenke K, Spitzer RL, Williams JB. J Gen Intern Med 2001;16:606-13 (bands).",
        "phqscreeners.com licence statement, as quoted in CamCOPS docs.",
    ),
    caveats=(
        "The manual defines no missing-item rule: a response with any item missing is not "
        "scored (item 9 is still evaluated).",
    ),
)
