"""Referral triage, from hand-worked cases and properties.

Sources of the rules: NIMH ASQ tool ("yes" to any of 1-4, or a refusal, is a positive
screen; "yes" to 5 is an acute positive); PHQ-9 item 9 > 0 triggers a suicide-risk
assessment (DESIGN.md section 2; reference/instruments.md section 1); PHQ-9 20-27 is
"severe" (Kroenke 2001).
"""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from openkap.core.pathway.contraindications import CHECKLIST
from openkap.core.referrals import (
    PRESCREEN_INSTRUMENTS,
    RED_FLAG_IDS,
    RED_FLAGS,
    TriageInputError,
    Urgency,
    asq_acuity_asked,
    crisis_now,
    normalise_name,
    triage,
)
from tests.profiles import examples

NONE9 = {f"q{i}": 0 for i in range(1, 10)}
NONE7 = {f"q{i}": 0 for i in range(1, 8)}
ASQ_NEG = {"q1": 0, "q2": 0, "q3": 0, "q4": 0}


def test_all_negative_is_routine_without_crisis():
    result = triage(instruments={"phq9": NONE9, "gad7": NONE7, "asq": ASQ_NEG})
    assert result.urgency is Urgency.ROUTINE
    assert not result.crisis
    assert result.reasons == ()
    assert result.instruments["phq9"].total == 0
    assert result.instruments["asq"].band == "negative"


@pytest.mark.parametrize("item9", [1, 2, 3])
def test_phq9_item9_above_zero_is_urgent_crisis(item9):
    result = triage(instruments={"phq9": {**NONE9, "q9": item9}})
    assert result.urgency is Urgency.URGENT
    assert result.crisis
    assert result.suicide_risk
    assert result.instruments["phq9"].total == item9  # hand sum: eight zeros and item 9


def test_phq9_item9_counts_before_the_questionnaire_is_finished():
    # Only item 9 answered (the others blank): the answer counts the moment it is given.
    assert crisis_now({"phq9": {"q9": 1}})
    assert triage(instruments={"phq9": {"q9": 1}}).instruments["phq9"].complete is False


def test_asq_acute_positive_is_emergency_crisis():
    result = triage(instruments={"asq": {"q1": 1, "q2": 0, "q3": 0, "q4": 0, "q5": 1}})
    assert result.urgency is Urgency.EMERGENCY
    assert result.crisis
    assert result.instruments["asq"].band == "acute_positive"


def test_asq_non_acute_positive_is_urgent_without_crisis_screen():
    result = triage(instruments={"asq": {"q1": 0, "q2": 0, "q3": 0, "q4": 1, "q5": 0}})
    assert result.urgency is Urgency.URGENT
    assert not result.crisis
    assert result.instruments["asq"].band == "non_acute_positive"


def test_asq_refusal_counts_as_positive_and_blank_acuity_is_emergency():
    # A refusal of question 1 is a positive screen (ASQ tool); q5 left blank = not assessed.
    result = triage(instruments={"asq": {"q1": None, "q2": 0, "q3": 0, "q4": 0}})
    assert result.urgency is Urgency.EMERGENCY
    assert result.crisis
    assert asq_acuity_asked({"q1": None, "q2": 0, "q3": 0, "q4": 0})
    assert not asq_acuity_asked(ASQ_NEG)


def test_severe_phq9_without_item9_is_review():
    answers = {**{f"q{i}": 3 for i in range(1, 8)}, "q8": 0, "q9": 0}  # 7 x 3 = 21: severe
    result = triage(instruments={"phq9": answers})
    assert result.instruments["phq9"].total == 21
    assert result.urgency is Urgency.REVIEW
    assert not result.crisis
    moderately_severe = {**answers, "q7": 1}  # 19
    assert triage(instruments={"phq9": moderately_severe}).urgency is Urgency.ROUTINE


def test_red_flag_is_review_and_names_checklist_items():
    result = triage(instruments={"phq9": NONE9}, red_flags=["pregnancy", "high_blood_pressure"])
    assert result.urgency is Urgency.REVIEW
    assert result.checklist_items == ("uncontrolled_hypertension", "pregnancy", "breastfeeding")


def test_clinician_reported_risk_is_urgent():
    assert triage(clinician_reports_suicide_risk=True).urgency is Urgency.URGENT
    assert not triage(clinician_reports_suicide_risk=True).crisis


def test_every_red_flag_names_real_checklist_items():
    assert len(RED_FLAG_IDS) == len(RED_FLAGS)
    for flag in RED_FLAGS:
        for item in flag.checklist_items:
            assert CHECKLIST.item(item).id == item


@pytest.mark.parametrize("bad", [
    {"instruments": {"madrs": {}}},
    {"instruments": {"phq9": {"q99": 1}}},
    {"instruments": {"phq9": {"q9": 7}}},
    {"instruments": {"phq9": {"q9": True}}},
    {"red_flags": ["<script>"]},
])
def test_answers_the_form_cannot_produce_are_refused(bad):
    with pytest.raises(TriageInputError):
        triage(**bad)


def test_normalised_names_ignore_case_spacing_and_accents():
    assert normalise_name("  José   María ") == normalise_name("jose maria")
    assert normalise_name("ЗОЯ") == normalise_name("зоя")
    assert normalise_name("Zoë") != normalise_name("Zoey")


answers9 = st.fixed_dictionaries({f"q{i}": st.integers(0, 3) for i in range(1, 10)})
asq_answers = st.fixed_dictionaries(
    {q: st.sampled_from([0, 1, None]) for q in ("q1", "q2", "q3", "q4")},
    optional={"q5": st.sampled_from([0, 1, None])},
)


@settings(max_examples=examples(200))
@given(phq9=answers9, asq=asq_answers, flags=st.lists(st.sampled_from(sorted(RED_FLAG_IDS)), unique=True))
def test_crisis_exactly_when_item9_or_asq_imminent(phq9, asq, flags):
    screen_positive = any(asq[q] != 0 for q in ("q1", "q2", "q3", "q4"))
    if not screen_positive:
        asq.pop("q5", None)  # the form asks question 5 only after a positive screen
    result = triage(instruments={"phq9": phq9, "asq": asq}, red_flags=flags)
    imminent = screen_positive and asq.get("q5") != 0
    assert result.crisis == (phq9["q9"] > 0 or imminent)
    # Urgency never falls below what each signal alone demands.
    if imminent:
        assert result.urgency is Urgency.EMERGENCY
    elif phq9["q9"] > 0 or screen_positive:
        assert result.urgency is Urgency.URGENT
    elif flags or sum(phq9.values()) >= 20:
        assert result.urgency is Urgency.REVIEW
    else:
        assert result.urgency is Urgency.ROUTINE
    assert result.instruments["phq9"].total == sum(phq9.values())


@settings(max_examples=examples(100))
@given(phq9=answers9, extra=st.lists(st.sampled_from(sorted(RED_FLAG_IDS)), unique=True))
def test_adding_red_flags_never_lowers_urgency(phq9, extra):
    assert triage(instruments={"phq9": phq9}, red_flags=extra).urgency <= triage(instruments={"phq9": phq9}).urgency


def test_prescreen_items_exist_in_the_instruments():
    from openkap.core.instruments import get_instrument

    for instrument_id, items in PRESCREEN_INSTRUMENTS.items():
        ids = [i.id for i in get_instrument(instrument_id).items]
        assert list(items) == ids[: len(items)]
