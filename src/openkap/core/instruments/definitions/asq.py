"""ASQ, NIMH Ask Suicide-Screening Questions. Reference: instruments.md §13.

Scoring per the NIMH ASQ tool: "yes" to any of questions 1-4, or a refusal to answer, is a
positive screen; question 5 (acuity) is then asked: yes = acute positive (imminent risk),
no = non-acute positive.
"""

from __future__ import annotations

from ..model import (
    FlagSpec,
    Instrument,
    Item,
    Licence,
    MissingRule,
    Rater,
    Severity,
    TotalRule,
    TriageLevel,
    all_of,
    any_of,
    is_,
)
from ._common import YES_NO

_SCREEN = ("q1", "q2", "q3", "q4")


def _screen_item(item_id: str, label: str, text: str) -> Item:
    # The ASQ tool counts a refusal to answer as a positive screen.
    return Item(
        item_id, label, YES_NO, text=text, missing=MissingRule.REFUSAL_COUNTS_AS, refusal_value=1
    )


_ANY_SCREEN_YES = any_of(*(is_(item, 1) for item in _SCREEN))

POSITIVE = FlagSpec(
    "asq_positive",
    Severity.URGENT,
    "ASQ positive screen: brief suicide safety assessment by a trained clinician before the "
    "patient leaves; no dosing until assessed.",
)

INSTRUMENT = Instrument(
    id="asq",
    short_name="ASQ",
    name="Ask Suicide-Screening Questions (NIMH)",
    version="ASQ (NIMH toolkit)",
    # The questions are asked by staff but the answers are the patient's own.
    rater=Rater.SELF_REPORT,
    recall_period="questions 1-2 past few weeks; 3 past week; 4 lifetime; 5 right now",
    instructions="Ask the patient:",
    items=(
        _screen_item(
            "q1",
            "Wished you were dead (past few weeks)",
            "In the past few weeks, have you wished you were dead?",
        ),
        _screen_item(
            "q2",
            "Felt you or your family would be better off if you were dead",
            "In the past few weeks, have you felt that you or your family would be "
            "better off if you were dead?",
        ),
        _screen_item(
            "q3",
            "Thoughts about killing yourself (past week)",
            "In the past week, have you been having thoughts about killing yourself?",
        ),
        _screen_item("q4", "Ever tried to kill yourself", "Have you ever tried to kill yourself?"),
        Item(
            "q5",
            "Thoughts of killing yourself right now (acuity)",
            YES_NO,
            text="Are you having thoughts of killing yourself right now?",
            asked_if=any_of(*(is_(item, 1) for item in _SCREEN)),
            # Blank on a positive screen = acuity not assessed (handled by triage below).
            missing=MissingRule.MAY_SKIP,
        ),
    ),
    total_rule=TotalRule.NONE,
    triage=(
        TriageLevel(
            "acute_positive",
            "Acute positive screen (imminent risk identified)",
            any_of(is_("q5", 1)),
            (
                POSITIVE,
                FlagSpec(
                    "asq_acute_positive",
                    Severity.EMERGENCY,
                    "ASQ acute positive (thoughts of killing self right now): imminent risk. "
                    "STAT safety / full mental-health evaluation; the patient must not be left "
                    "alone or leave until evaluated; no dosing.",
                ),
            ),
        ),
        TriageLevel(
            "positive_acuity_not_assessed",
            "Positive screen, acuity question not answered",
            any_of(*(all_of(clause, is_("q5", None)) for clause in _ANY_SCREEN_YES)),
            (
                POSITIVE,
                FlagSpec(
                    "asq_acuity_not_assessed",
                    Severity.EMERGENCY,
                    "ASQ positive and question 5 (thoughts of killing self right now) not "
                    "answered: treat as possible imminent risk until a clinician assesses.",
                ),
            ),
        ),
        TriageLevel(
            "non_acute_positive",
            "Non-acute positive screen (potential risk identified)",
            _ANY_SCREEN_YES,
            (POSITIVE,),
        ),
        TriageLevel("negative", "Negative screen", ()),
    ),
    licence=Licence.PUBLIC_DOMAIN,
    licence_note=(
        "NIMH ASQ toolkit: 'a free resource' developed by NIMH intramural researchers "
        "(nimh.nih.gov ASQ toolkit page; NIMH science update 2018)."
    ),
    sources=(
        "NIMH ASQ Suicide Risk Screening Toolkit: ASQ tool and information sheet.",
        "Horowitz LM et al. Psychosomatics 2020;61:713-22 (adult validation).",
    ),
    caveats=(
        "No per-item LOINC codes exist for the ASQ.",
        "NIMH states the toolkit is free and was developed by its own (federal) "
        "researchers; no page read says 'public domain' of the ASQ itself, so that label "
        "rests on federal authorship.",
    ),
)
