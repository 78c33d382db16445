"""C-SSRS Screener, both versions. Reference: instruments.md §3.

Not a sum: ideation severity is the highest of items 1-5 endorsed, behaviour is categorical.
Triage follows the Columbia clinical triage guidelines: imminent (high) risk is a yes to
item 4 or 5, or any suicidal behaviour in the past 3 months.
"""

from __future__ import annotations

from ..model import (
    FlagSpec,
    Instrument,
    Item,
    Licence,
    Rater,
    RiskLevel,
    Severity,
    Subscale,
    SubscaleRule,
    TotalRule,
    TriageLevel,
    any_of,
    is_,
)
from ._common import YES_NO

_ACTIVE = any_of(is_("q2", 1))  # items 3-5 are asked only after a yes to item 2

_LICENCE = (
    "Copyright Research Foundation for Mental Hygiene. Paper use is free in clinical "
    "settings; electronic implementations are exclusively licensed (Clario). Only short "
    "labels ship here: load the licensed wording, or record a clinician-administered result."
)

HIGH = FlagSpec(
    "cssrs_positive",
    Severity.EMERGENCY,
    "C-SSRS high risk (imminent): suicidal ideation with intent or plan, or recent suicidal "
    "behaviour. Safety precautions now, do not leave the patient alone, mental-health "
    "evaluation for possible hospitalisation; no dosing.",
    RiskLevel.HIGH,
)
MODERATE = FlagSpec(
    "cssrs_positive",
    Severity.URGENT,
    "C-SSRS moderate risk: behavioural-health evaluation, safety plan, consider safety "
    "precautions; prescriber review before any dosing.",
    RiskLevel.MODERATE,
)
LOW = FlagSpec(
    "cssrs_positive",
    Severity.REVIEW,
    "C-SSRS low risk: clinician review within the visit; safety planning and crisis-line "
    "information.",
    RiskLevel.LOW,
)

_IDEATION = Subscale(
    "ideation_severity",
    "Ideation severity (highest of items 1-5, 0-5)",
    ("q1", "q2", "q3", "q4", "q5"),
    SubscaleRule.MAX,
    (1, 2, 3, 4, 5),
)

RECENT = Instrument(
    id="cssrs-recent",
    short_name="C-SSRS Screener (recent)",
    name="Columbia-Suicide Severity Rating Scale, Screen Version, Lifetime/Recent",
    version="C-SSRS Screener, Lifetime/Recent (Posner et al. 2011)",
    rater=Rater.CLINICIAN,
    recall_period="ideation (items 1-5) past month; behaviour (item 6) lifetime, "
    "item 6a past 3 months",
    items=(
        Item("q1", "Wish to be dead (past month)", YES_NO, loinc="93246-7"),
        Item("q2", "Non-specific active suicidal thoughts (past month)", YES_NO, loinc="93247-5"),
        Item(
            "q3",
            "Active ideation with method, no plan or intent (past month)",
            YES_NO,
            loinc="93248-3",
            asked_if=_ACTIVE,
        ),
        Item(
            "q4",
            "Active ideation with some intent, no specific plan (past month)",
            YES_NO,
            loinc="93249-1",
            asked_if=_ACTIVE,
        ),
        Item(
            "q5",
            "Active ideation with specific plan and intent (past month)",
            YES_NO,
            loinc="93250-9",
            asked_if=_ACTIVE,
        ),
        Item("q6", "Suicidal behaviour (lifetime)", YES_NO, loinc="93267-3"),
        Item(
            "q6a",
            "Suicidal behaviour within the past 3 months",
            YES_NO,
            loinc="93269-9",
            asked_if=any_of(is_("q6", 1)),
        ),
    ),
    total_rule=TotalRule.NONE,
    subscales=(
        _IDEATION,
        Subscale("behaviour_lifetime", "Suicidal behaviour, lifetime (0/1)", ("q6",)),
        Subscale("behaviour_past_3_months", "Suicidal behaviour, past 3 months (0/1)", ("q6a",)),
    ),
    triage=(
        # Item 6a is asked only after a yes to 6; a yes to 6a alone still counts (it says
        # behaviour happened in the past 3 months).
        TriageLevel(
            "high", "High risk", any_of(is_("q4", 1), is_("q5", 1), is_("q6a", 1)), (HIGH,)
        ),
        # Any behaviour is at least moderate, also while item 6a is still unanswered.
        TriageLevel("moderate", "Moderate risk", any_of(is_("q3", 1), is_("q6", 1)), (MODERATE,)),
        TriageLevel("low", "Low risk", any_of(is_("q1", 1), is_("q2", 1)), (LOW,)),
        TriageLevel("none", "No risk identified", ()),
    ),
    licence=Licence.PERMISSION_REQUIRED,
    licence_note=_LICENCE,
    loinc_panel="93373-9",
    loinc_other=(("risk_level", "93374-7"),),
    aliases=(
        "cssrs",
        "cssrs-screener",
        "cssrs-screener-recent",
        "cssrs-lifetime-recent",
        "cssrs-screener-lifetime-recent",
        "cssrs-lifetime",
        "cssrs-screener-lifetime",
    ),
    sources=(
        "Posner K et al. Am J Psychiatry 2011;168:1266-77.",
        "Columbia 'Clinical triage and workflow guidelines for the C-SSRS' (imminent-risk "
        "rule; high-risk answers 'require patient safety precautions until a mental health "
        "professional can evaluate the individual for possible hospitalization'); screener "
        "triage colour coding (low/moderate/high).",
        "cssrs.columbia.edu/the-columbia-scale-c-ssrs/triage-c-ssrs: next steps are setting "
        "specific and 'should be changed to reflect your individual resources and policies'.",
        "LHC-Forms-derived FHIR Questionnaire for LOINC panel 93373-9.",
    ),
    caveats=(
        "Columbia gives no fixed action wording: the high-risk message follows its triage "
        "guideline, the low and moderate messages are this platform's policy.",
        "A yes to items 3-5 is honoured even when item 2 was no (skip logic says they are "
        "not asked); a positive answer is never dropped.",
    ),
)

SINCE_LAST_VISIT = Instrument(
    id="cssrs-slv",
    short_name="C-SSRS Screener (since last visit)",
    name="Columbia-Suicide Severity Rating Scale, Screen Version, Since Last Visit",
    version="C-SSRS Screener, Since Last Contact/Visit (Posner et al. 2011)",
    rater=Rater.CLINICIAN,
    recall_period="since the last contact/visit",
    items=(
        Item("q1", "Wish to be dead (since last visit)", YES_NO),
        Item("q2", "Non-specific active suicidal thoughts (since last visit)", YES_NO),
        Item(
            "q3",
            "Active ideation with method, no plan or intent (since last visit)",
            YES_NO,
            asked_if=_ACTIVE,
        ),
        Item(
            "q4",
            "Active ideation with some intent, no specific plan (since last visit)",
            YES_NO,
            asked_if=_ACTIVE,
        ),
        Item(
            "q5",
            "Active ideation with specific plan and intent (since last visit)",
            YES_NO,
            asked_if=_ACTIVE,
        ),
        Item("q6", "Suicidal behaviour (since last visit)", YES_NO),
    ),
    total_rule=TotalRule.NONE,
    subscales=(
        _IDEATION,
        Subscale(
            "behaviour_since_last_visit", "Suicidal behaviour since last visit (0/1)", ("q6",)
        ),
    ),
    triage=(
        TriageLevel("high", "High risk", any_of(is_("q4", 1), is_("q5", 1), is_("q6", 1)), (HIGH,)),
        TriageLevel("moderate", "Moderate risk", any_of(is_("q3", 1)), (MODERATE,)),
        TriageLevel("low", "Low risk", any_of(is_("q1", 1), is_("q2", 1)), (LOW,)),
        TriageLevel("none", "No risk identified", ()),
    ),
    licence=Licence.PERMISSION_REQUIRED,
    licence_note=_LICENCE,
    aliases=(
        "cssrs-since-last-visit",
        "cssrs-screener-since-last-visit",
        "cssrs-since-last-contact",
        "cssrs-screener-since-last-contact",
        "cssrs-screener-slv",
        "cssrs-slc",
    ),
    sources=RECENT.sources[:3],  # all but the LOINC source
    caveats=(
        "Behaviour since the last visit is treated as behaviour in the past 3 months "
        "(high risk); this assumes visits less than 3 months apart, as in KAP care.",
        "Intent or plan since the last visit is high risk even if that visit was more than "
        "a month ago (the conservative reading of the past-month rule).",
        "LOINC codes for this version are not verified, so none are given.",
        "Columbia gives no fixed action wording: the high-risk message follows its triage "
        "guideline, the low and moderate messages are this platform's policy.",
    ),
)
