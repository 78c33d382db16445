"""QIDS-SR16. Source: reference/instruments.md §5 (Millisecond manual formula:
max(q1..q4) + q5 + max(q6..q9) + q10 + q11 + q12 + q13 + q14 + max(q15, q16)).
"""

from __future__ import annotations

import pytest

from openkap.core.instruments import (
    COMPLETE,
    SKIPPED_BY_DESIGN,
    IncompleteResponseError,
    Severity,
    score,
)

X = None

REFERENCE = [1, 3, 0, 0, 2, 0, 2, 0, 1, 2, 2, 1, 2, 2, 1, 0]


def test_qids_reference_vector_is_domain_sum_not_item_sum() -> None:
    # instruments.md §5: sleep 3, mood 2, appetite/weight 2, conc 2, self 2, SI 1, interest 2,
    # energy 2, psychomotor 1 -> 17 severe; a naive sum of the 16 items would be 19.
    result = score("qidssr16", REFERENCE)
    assert (result.total, result.band) == (17, "severe")
    assert sum(REFERENCE) == 19
    assert dict(result.subscales) == {
        "sleep": 3,
        "mood": 2,
        "appetite_weight": 2,
        "concentration": 2,
        "self_view": 2,
        "suicidal_ideation": 1,
        "interest": 2,
        "energy": 2,
        "psychomotor": 1,
    }
    assert result.flag_ids == ("qids_item12",)


def test_qids_all_threes_is_27_not_48() -> None:
    # Hand: nine domains x 3 = 27 (naive sum 16 x 3 = 48).
    result = score("qidssr16", [3] * 16)
    assert (result.total, result.band) == (27, "very_severe")


def test_qids_either_or_items_left_blank() -> None:
    # Hand: sleep max(0,0,0,3)=3, mood 1, appetite/weight max(2,-,-,0)=2, conc 1, self 1,
    # SI 0, interest 1, energy 1, psychomotor max(0,2)=2 -> 12 moderate.
    result = score("qidssr16", [0, 0, 0, 3, 1, 2, X, X, 0, 1, 1, 0, 1, 1, 0, 2])
    assert (result.total, result.band, result.flags) == (12, "moderate", ())
    assert result.missing == ("q7", "q8")
    assert result.missing_handling == SKIPPED_BY_DESIGN


def test_qids_all_zero_is_none() -> None:
    result = score("qidssr16", [0] * 16)
    assert (result.total, result.band, result.missing_handling) == (0, "none", COMPLETE)


@pytest.mark.parametrize(
    ("total", "band"),
    [
        (5, "none"),
        (6, "mild"),
        (10, "mild"),
        (11, "moderate"),
        (15, "moderate"),
        (16, "severe"),
        (20, "severe"),
        (21, "very_severe"),
    ],
)
def test_qids_band_boundary_both_sides(total: int, band: str) -> None:
    # Bands 0-5 none, 6-10 mild, 11-15 moderate, 16-20 severe, 21-27 very severe.
    # Build the total one domain at a time, using single-item domains first and leaving item
    # 12 at 0: mood(5), conc(10), self(11), interest(13), energy(14), then sleep (item 1),
    # appetite (item 6), psychomotor (item 15), each worth up to 3.
    answers = [0] * 16
    remaining = total
    for item in (5, 10, 11, 13, 14, 1, 6, 15):
        answers[item - 1] = min(3, remaining)
        remaining -= answers[item - 1]
    assert remaining == 0
    assert score("qidssr16", answers).band == band


def test_qids_both_appetite_items_blank_not_scored() -> None:
    answers: list[int | None] = list(REFERENCE)
    answers[5] = answers[6] = None
    with pytest.raises(IncompleteResponseError) as info:
        score("qidssr16", answers)
    assert info.value.missing == ("q6 or q7",)


def test_qids_blank_sleep_item_not_scored_but_item12_flagged() -> None:
    answers: list[int | None] = list(REFERENCE)
    answers[0] = None
    answers[11] = 3
    with pytest.raises(IncompleteResponseError) as info:
        score("qidssr16", answers)
    assert info.value.missing == ("q1",)
    assert [(f.id, f.severity) for f in info.value.flags] == [("qids_item12", Severity.URGENT)]


@pytest.mark.parametrize(
    ("value", "severity"),
    [(0, None), (1, Severity.REVIEW), (2, Severity.URGENT), (3, Severity.URGENT)],
)
def test_qids_item12_flag_levels(value: int, severity: Severity | None) -> None:
    # Platform policy (reference §5, §13) over the anchors verified in IOM 2010, Box 4-1
    # (Rush 2009): 1 life empty, 2 several times a week, 3 daily in detail / plans / attempt.
    answers = [0] * 16
    answers[11] = value
    flags = score("qidssr16", answers).flags
    assert [f.severity for f in flags] == ([] if severity is None else [severity])
