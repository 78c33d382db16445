"""Diagnosis codes, plan measure schedules, safety plan sections, note templates, labels."""

from __future__ import annotations

import pytest

from openkap.core.instruments.registry import get_instrument
from openkap.core.pathway import TRANSITION_LABELS, TRANSITIONS, normalize_icd10cm
from openkap.core.pathway.notes import NOTE_TEMPLATES
from openkap.core.pathway.plan import (
    SAFETY_PLAN_SECTIONS,
    SCHEDULABLE_MEASURES,
    MeasureSchedule,
    parse_measure_schedule,
    safety_plan_missing,
)


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("F33.1", "F33.1"),
        (" f33.1 ", "F33.1"),
        ("F331", "F33.1"),
        ("F43.10", "F43.10"),
        ("F32.A", "F32.A"),
        ("M1A.0110", "M1A.0110"),
        ("S06.0X1A", "S06.0X1A"),
        ("Z3A.20", "Z3A.20"),
        ("F41", "F41"),
        ("U07.1", "U07.1"),
    ],
)
def test_icd10cm_codes_normalised(text: str, code: str) -> None:
    assert normalize_icd10cm(text) == code


@pytest.mark.parametrize(
    "text", ["", "F3", "332.1", "FF3.1", "F33.", "F33.12345", "F33.1.", "F33-1", "F33 1", "F3é.1"]
)
def test_icd10cm_malformed_refused(text: str) -> None:
    with pytest.raises(ValueError, match="not an ICD-10-CM code"):
        normalize_icd10cm(text)


def test_schedule_always_has_the_core_baseline() -> None:
    s = parse_measure_schedule({"baseline": ["pcl5"], "before_dosing": ["phq9", "phq9"]})
    assert s.baseline == ("phq9", "gad7", "cssrs-recent", "pcl5")
    assert s.before_dosing == ("phq9",)
    assert parse_measure_schedule(s.as_dict()) == s


def test_schedule_describes_itself_in_the_clinic_s_words() -> None:
    s = parse_measure_schedule({"follow_up": ["phq9"], "reassessment": ["pcl5", "phq9"]})
    assert s.describe() == [
        "At baseline: PHQ-9, GAD-7, C-SSRS screener",
        "At reassessment: PHQ-9, PCL-5",
        "At follow-up (1, 3 and 6 months): PHQ-9",
    ]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"baseline": ["gout"]}, "not a measure"),
        ({"baseline": "phq9"}, "must be a list"),
        ({"weekly": ["phq9"]}, "Unknown measure schedule entries: weekly"),
        ({"follow_up_months": [1, 3]}, "Unknown measure schedule entries: follow_up_months"),
        ({"reassessment": [9]}, "not a measure"),
    ],
)
def test_schedule_bad_input_refused(data: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_measure_schedule(data)


def test_schedulable_measures_exist_in_the_instrument_library() -> None:
    for measure_id in SCHEDULABLE_MEASURES:
        assert get_instrument(measure_id).id == measure_id
    assert MeasureSchedule().baseline == ("phq9", "gad7", "cssrs-recent")


def test_safety_plan_counts_when_every_section_is_written() -> None:
    full = dict.fromkeys(SAFETY_PLAN_SECTIONS, "written")
    assert safety_plan_missing(full) == []
    assert safety_plan_missing({**full, "means_safety": "  "}) == [
        "Making the environment safe (means safety)"
    ]
    assert len(safety_plan_missing({})) == len(SAFETY_PLAN_SECTIONS) == 6


def test_note_templates_have_sections_with_prompts() -> None:
    assert set(NOTE_TEMPLATES) == {"soap", "dap", "ifs", "hakomi", "existential", "mindfulness"}
    for template in NOTE_TEMPLATES.values():
        keys = [s.key for s in template.sections]
        assert len(keys) == len(set(keys)) >= 3
        assert all(s.prompt.strip() and s.label.strip() for s in template.sections)


def test_every_transition_has_a_label() -> None:
    assert {t.name for t in TRANSITIONS} == set(TRANSITION_LABELS)
