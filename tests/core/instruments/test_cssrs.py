"""C-SSRS Screener. Source: reference/instruments.md §3 (test vectors) and the Columbia
triage guidelines: imminent risk = yes to item 4 or 5 (past month) or any suicidal behaviour
in the past 3 months.
"""

from __future__ import annotations

import pytest

from openkap.core.instruments import (
    COMPLETE,
    SKIPPED_BY_DESIGN,
    IncompleteResponseError,
    ItemCountError,
    RiskLevel,
    Severity,
    get_instrument,
    score,
)

X = None  # skipped by the form's skip logic

RECENT_VECTORS = [
    # instruments.md §3 test vectors (Recent version); items 1,2,3,4,5,6,6a.
    ([1, 0, X, X, X, 0, X], "low", 1),
    ([1, 1, 1, 0, 0, 0, X], "moderate", 3),
    ([1, 1, 1, 1, 0, 0, X], "high", 4),
    ([0, 0, X, X, X, 1, 1], "high", 0),
    ([0, 0, X, X, X, 1, 0], "moderate", 0),
]


@pytest.mark.parametrize(("answers", "band", "ideation"), RECENT_VECTORS)
def test_cssrs_recent_reference_vectors(
    answers: list[int | None], band: str, ideation: int
) -> None:
    result = score("cssrs-recent", answers)
    assert result.band == band
    assert result.total is None  # not a sum
    assert result.subscales["ideation_severity"] == ideation
    assert result.flag_ids == ("cssrs_positive",)
    assert result.flags[0].risk_level == RiskLevel(band)


def test_cssrs_recent_all_no_is_none_without_flag() -> None:
    result = score("cssrs", [0, 0, X, X, X, 0, X])
    assert (result.band, result.flags) == ("none", ())
    assert result.missing_handling == SKIPPED_BY_DESIGN


def test_cssrs_recent_plan_with_intent_is_high_emergency() -> None:
    # Hand: item 5 yes (plan and intent) -> ideation severity 5 -> imminent risk.
    result = score("cssrs-recent", [1, 1, 1, 1, 1, 0, X])
    assert (result.band, result.subscales["ideation_severity"]) == ("high", 5)
    assert result.flags[0].severity is Severity.EMERGENCY


def test_cssrs_high_risk_message_carries_columbia_actions() -> None:
    # Columbia triage guideline: high-risk answers require patient safety precautions until a
    # mental-health professional evaluates for possible hospitalisation.
    message = score("cssrs-recent", [1, 1, 1, 1, 0, 0, X]).flags[0].message
    assert "Safety precautions" in message
    assert "possible hospitalisation" in message


def test_cssrs_recent_severity_per_level() -> None:
    assert score("cssrs", [1, 0, X, X, X, 0]).flags[0].severity is Severity.REVIEW
    assert score("cssrs", [1, 1, 1, 0, 0, 0]).flags[0].severity is Severity.URGENT


def test_cssrs_recent_skipped_items_may_be_entered_as_no() -> None:
    result = score("cssrs-recent", [1, 0, 0, 0, 0, 0, 0])
    assert (result.band, result.missing_handling, result.notes) == ("low", COMPLETE, ())


def test_cssrs_recent_trailing_item6a_may_be_left_off_when_item6_no() -> None:
    assert score("cssrs-recent", [0, 0, 0, 0, 0, 0]).band == "none"


def test_cssrs_recent_item6a_required_after_behaviour_yes() -> None:
    with pytest.raises(ItemCountError):
        score("cssrs-recent", [0, 0, 0, 0, 0, 1])


def test_cssrs_recent_blank_item4_after_active_ideation_is_incomplete_with_flag() -> None:
    with pytest.raises(IncompleteResponseError) as info:
        score("cssrs-recent", [1, 1, 1, X, 0, 0, X])
    assert info.value.missing == ("q4",)
    # Lower bound from the answered items: item 3 yes = at least moderate.
    assert [(f.id, f.risk_level) for f in info.value.flags] == [
        ("cssrs_positive", RiskLevel.MODERATE)
    ]


def test_cssrs_recent_intent_yes_after_item2_no_is_honoured() -> None:
    result = score("cssrs-recent", [0, 0, 0, 1, 0, 0, X])
    assert result.band == "high"
    assert result.notes


def test_cssrs_recent_loinc_codes_match_reference() -> None:
    cssrs = get_instrument("cssrs-recent")
    assert [i.loinc for i in cssrs.items] == [
        "93246-7",
        "93247-5",
        "93248-3",
        "93249-1",
        "93250-9",
        "93267-3",
        "93269-9",
    ]
    assert cssrs.loinc_panel == "93373-9"


@pytest.mark.parametrize(
    ("answers", "band"),
    [
        ([0, 0, X, X, X, 1], "high"),  # behaviour since last visit
        ([1, 1, 1, 0, 0, 0], "moderate"),  # method, no intent
        ([1, 0, X, X, X, 0], "low"),  # wish to be dead only
        ([1, 1, 0, 0, 1, 0], "high"),  # plan and intent
        ([0, 0, X, X, X, 0], "none"),
    ],
)
def test_cssrs_since_last_visit_worked_examples(answers: list[int | None], band: str) -> None:
    # Hand-applied Columbia triage; behaviour since the last visit is within 3 months.
    assert score("cssrs-slv", answers).band == band


def test_cssrs_since_last_visit_has_six_items() -> None:
    with pytest.raises(ItemCountError):
        score("cssrs-since-last-visit", [0, 0, 0, 0, 0, 0, 0])


def test_cssrs_versions_are_clinician_rated_without_item_text() -> None:
    for instrument_id in ("cssrs-recent", "cssrs-slv"):
        instrument = get_instrument(instrument_id)
        assert str(instrument.rater) == "clinician-rated"
        assert all(item.text is None for item in instrument.items)


def test_cssrs_recent_item6a_yes_without_item6_is_still_high() -> None:
    # "Behaviour within the past 3 months" implies behaviour: never dropped.
    result = score("cssrs-recent", [0, 0, X, X, X, 0, 1])
    assert result.band == "high"
    assert result.notes
