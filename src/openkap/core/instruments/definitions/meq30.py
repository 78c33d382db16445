"""MEQ-30, revised Mystical Experience Questionnaire (Barrett et al. 2015). Reference: §8.

Subscale membership is keyed by each item's MEQ43 number as printed on the form (verified
against two copies); the answer order is the stand-alone form's, which lists items by
ascending MEQ43 number.
"""

from __future__ import annotations

from ..model import (
    AllSubscalesAtLeast,
    Instrument,
    Item,
    Licence,
    Option,
    Rater,
    Scale,
    Subscale,
    SubscaleRule,
    TotalRule,
)

_SCALE = Scale(
    0,
    5,
    (
        Option(0, "None; not at all"),
        Option(1, "So slight cannot decide"),
        Option(2, "Slight"),
        Option(3, "Moderate"),
        Option(4, "Strong (equivalent in degree to any other strong experience)"),
        Option(5, "Extreme (more than any other time in my life and stronger than 4)"),
    ),
)

# MEQ43 number -> short label, in form order.
_LABELS = {
    2: "Loss of usual sense of time",
    5: "Amazement",
    6: "Cannot be described adequately in words",
    9: "Insightful knowledge at an intuitive level",
    12: "Experienced eternity or infinity",
    14: "Oneness with objects or persons in the surroundings",
    15: "Loss of usual sense of space",
    18: "Tenderness and gentleness",
    22: "Certainty of encounter with ultimate reality",
    23: "Could not do justice to it in words",
    29: "Loss of usual awareness of where you were",
    30: "Peace and tranquillity",
    34: "Being outside of time, beyond past and future",
    35: "Freedom from the limits of the personal self; unity with something greater",
    36: "Being at a spiritual height",
    41: "Pure being and pure awareness",
    43: "Ecstasy",
    47: "Insight that all is One",
    48: "Realm with no space boundaries",
    54: "Oneness in relation to an inner world",
    55: "Reverence",
    65: "Timelessness",
    69: "Convinced now of having encountered ultimate reality",
    73: "Something profoundly sacred and holy",
    74: "Life or living presence in all things",
    77: "Fusion of the personal self into a larger whole",
    80: "Awe or awesomeness",
    83: "Unity with ultimate reality",
    86: "Difficult to communicate to others",
    87: "Joy",
}
_POSITION = {number: position for position, number in enumerate(sorted(_LABELS), 1)}

MYSTICAL = (35, 41, 54, 77, 83, 12, 14, 47, 74, 9, 22, 69, 36, 55, 73)
POSITIVE_MOOD = (5, 18, 30, 43, 80, 87)
TRANSCENDENCE = (2, 15, 29, 34, 48, 65)
INEFFABILITY = (6, 23, 86)


def _subscale(subscale_id: str, label: str, numbers: tuple[int, ...]) -> Subscale:
    return Subscale(
        subscale_id,
        label,
        tuple(f"q{_POSITION[n]}" for n in sorted(numbers)),
        SubscaleRule.PERCENT_OF_MAX,
    )


INSTRUMENT = Instrument(
    id="meq30",
    short_name="MEQ-30",
    name="Revised Mystical Experience Questionnaire (30 items)",
    version="MEQ30 stand-alone form (Barrett, Johnson & Griffiths 2015)",
    rater=Rater.SELF_REPORT,
    recall_period="the entire session, looking back after effects have resolved",
    items=tuple(
        Item(f"q{_POSITION[number]}", f"{label} (MEQ43 #{number})", _SCALE)
        for number, label in sorted(_LABELS.items())
    ),
    total_rule=TotalRule.PERCENT_OF_MAX,
    subscales=(
        _subscale("mystical", "Mystical (15 items), % of maximum", MYSTICAL),
        _subscale("positive_mood", "Positive mood (6 items), % of maximum", POSITIVE_MOOD),
        _subscale(
            "transcendence",
            "Transcendence of time and space (6 items), % of maximum",
            TRANSCENDENCE,
        ),
        _subscale("ineffability", "Ineffability (3 items), % of maximum", INEFFABILITY),
    ),
    indicators=(
        AllSubscalesAtLeast(
            "complete_mystical_experience",
            "Complete mystical experience (at least 60% of maximum on every subscale)",
            ("mystical", "positive_mood", "transcendence", "ineffability"),
            60,
        ),
    ),
    licence=Licence.PERMISSION_REQUIRED,
    licence_note=(
        "Published with a stand-alone version for research use; terms for clinical or "
        "commercial software are unverified. Only short labels ship here."
    ),
    aliases=("meq",),
    sources=(
        "Barrett FS, Johnson MW, Griffiths RR. J Psychopharmacol 2015;29:1182-90.",
        "MacLean KA et al. J Sci Study Relig 2012 (four-factor structure).",
    ),
    caveats=(
        "Answer order assumes the stand-alone form lists items by ascending MEQ43 number. "
        "Public research questionnaire code found by code search lists the same 30 items in "
        "this order with the same subscale per position, but the Barrett 2015 appendix itself "
        "was not read.",
        "The total is reported as % of maximum (150); the raw sum is in raw_total.",
        "No official bands and no LOINC codes.",
    ),
)
