"""PCL-5, PTSD Checklist for DSM-5 (Weathers et al. 2013). Reference: instruments.md §4."""

from __future__ import annotations

from ..model import (
    Band,
    CountCriterion,
    FlagSpec,
    Instrument,
    Item,
    ItemFlagRule,
    Licence,
    Option,
    Rater,
    Scale,
    Severity,
    Subscale,
    TotalRule,
)

_SCALE = Scale(
    0,
    4,
    (
        Option(0, "Not at all"),
        Option(1, "A little bit"),
        Option(2, "Moderately"),
        Option(3, "Quite a bit"),
        Option(4, "Extremely"),
    ),
)

_ITEMS = (
    (
        "Unwanted memories",
        "Repeated, disturbing, and unwanted memories of the stressful experience?",
    ),
    ("Disturbing dreams", "Repeated, disturbing dreams of the stressful experience?"),
    (
        "Reliving (flashbacks)",
        "Suddenly feeling or acting as if the stressful experience were actually happening "
        "again (as if you were actually back there reliving it)?",
    ),
    (
        "Upset at reminders",
        "Feeling very upset when something reminded you of the stressful experience?",
    ),
    (
        "Physical reactions to reminders",
        "Having strong physical reactions when something reminded you of the stressful "
        "experience (for example, heart pounding, trouble breathing, sweating)?",
    ),
    (
        "Avoiding memories, thoughts, feelings",
        "Avoiding memories, thoughts, or feelings related to the stressful experience?",
    ),
    (
        "Avoiding external reminders",
        "Avoiding external reminders of the stressful experience (for example, people, "
        "places, conversations, activities, objects, or situations)?",
    ),
    (
        "Trouble remembering parts",
        "Trouble remembering important parts of the stressful experience?",
    ),
    (
        "Strong negative beliefs",
        "Having strong negative beliefs about yourself, other people, or the world (for "
        "example, having thoughts such as: I am bad, there is something seriously wrong with "
        "me, no one can be trusted, the world is completely dangerous)?",
    ),
    (
        "Blaming self or others",
        "Blaming yourself or someone else for the stressful experience or what happened after it?",
    ),
    (
        "Strong negative feelings",
        "Having strong negative feelings such as fear, horror, anger, guilt, or shame?",
    ),
    ("Loss of interest", "Loss of interest in activities that you used to enjoy?"),
    ("Feeling distant or cut off", "Feeling distant or cut off from other people?"),
    (
        "Trouble experiencing positive feelings",
        "Trouble experiencing positive feelings (for example, being unable to feel happiness "
        "or have loving feelings for people close to you)?",
    ),
    ("Irritable or aggressive", "Irritable behavior, angry outbursts, or acting aggressively?"),
    (
        "Risk-taking or self-harmful behaviour",
        "Taking too many risks or doing things that could cause you harm?",
    ),
    ("Superalert, on guard", "Being \u201csuperalert\u201d or watchful or on guard?"),
    ("Jumpy or easily startled", "Feeling jumpy or easily startled?"),
    ("Difficulty concentrating", "Having difficulty concentrating?"),
    ("Trouble sleeping", "Trouble falling or staying asleep?"),
)


def _ids(first: int, last: int) -> tuple[str, ...]:
    return tuple(f"q{n}" for n in range(first, last + 1))


INSTRUMENT = Instrument(
    id="pcl5",
    short_name="PCL-5",
    name="PTSD Checklist for DSM-5",
    version="PCL-5, standard past-month form (Weathers et al. 2013)",
    rater=Rater.SELF_REPORT,
    recall_period="past month",
    instructions="In the past month, how much were you bothered by:",
    items=tuple(
        Item(f"q{n}", label, _SCALE, text=text) for n, (label, text) in enumerate(_ITEMS, 1)
    ),
    total_rule=TotalRule.SUM,
    subscales=(
        Subscale("cluster_b", "Cluster B, intrusion (items 1-5)", _ids(1, 5)),
        Subscale("cluster_c", "Cluster C, avoidance (items 6-7)", _ids(6, 7)),
        Subscale("cluster_d", "Cluster D, negative cognitions and mood (items 8-14)", _ids(8, 14)),
        Subscale("cluster_e", "Cluster E, arousal and reactivity (items 15-20)", _ids(15, 20)),
    ),
    # No official severity bands exist; only the provisional cut-off (CamCOPS uses 33).
    bands=(
        Band("below_cutoff", "Below the provisional PTSD cut-off (33)", 0, 32),
        Band("probable_ptsd", "At or above the provisional cut-off: probable PTSD", 33, 80),
    ),
    indicators=(
        CountCriterion(
            "provisional_ptsd_dsm5",
            "Provisional DSM-5 PTSD (items rated 2 or more: 1 B, 1 C, 2 D, 2 E)",
            2,
            (("cluster_b", 1), ("cluster_c", 1), ("cluster_d", 2), ("cluster_e", 2)),
        ),
    ),
    # Not a suicide item; the reference suggests clinician attention at 3 or more.
    item_flags=(
        ItemFlagRule(
            "q16",
            (
                (
                    3,
                    FlagSpec(
                        "pcl5_item16_risk_taking",
                        Severity.REVIEW,
                        "PCL-5 item 16 (taking risks or doing things that could cause harm) rated 'quite "
                        "a bit' or 'extremely': clinician attention.",
                    ),
                ),
            ),
        ),
    ),
    licence=Licence.PUBLIC_DOMAIN,
    licence_note="Work of the US Government (National Center for PTSD): free to use.",
    aliases=("pcl",),
    sources=(
        "Weathers FW et al. 2013, National Center for PTSD; Blevins CA et al. J Trauma Stress "
        "2015;28:489-98.",
        "CamCOPS pcl5.py (DSM-5 provisional diagnosis rule, cut-off 33).",
    ),
    caveats=(
        "The cut-off is 31-33 in NCPTSD guidance; 33 is used here.",
        "A LOINC panel for the PCL-5 exists but its code is not verified, so none is given.",
        "No missing-item rule is defined: a response with any item missing is not scored.",
    ),
)
