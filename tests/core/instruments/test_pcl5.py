"""PCL-5. Source: reference/instruments.md §4 (test vector; CamCOPS DSM-5 rule, cut-off 33)."""

from __future__ import annotations

import pytest

from openkap.core.instruments import IncompleteResponseError, Severity, score

from .helpers import with_total

REFERENCE = [2, 1, 2, 3, 2, 2, 3, 0, 2, 1, 3, 2, 2, 2, 2, 0, 3, 2, 2, 3]


def test_pcl5_reference_vector() -> None:
    # instruments.md §4: total 39; B=10, C=5, D=12, E=12; provisional PTSD yes; >= 33.
    result = score("pcl5", REFERENCE)
    assert result.total == 39
    assert dict(result.subscales) == {
        "cluster_b": 10,
        "cluster_c": 5,
        "cluster_d": 12,
        "cluster_e": 12,
    }
    assert result.indicators["provisional_ptsd_dsm5"] is True
    assert result.band == "probable_ptsd"
    assert result.flags == ()


def test_pcl5_all_ones_is_below_cutoff_without_provisional_diagnosis() -> None:
    # Hand: 20 x 1 = 20; B 5, C 2, D 7, E 6; no item reaches 2 -> no provisional diagnosis.
    result = score("pcl5", [1] * 20)
    assert (result.total, result.band) == (20, "below_cutoff")
    assert dict(result.subscales) == {
        "cluster_b": 5,
        "cluster_c": 2,
        "cluster_d": 7,
        "cluster_e": 6,
    }
    assert result.indicators["provisional_ptsd_dsm5"] is False


def test_pcl5_intrusions_only_fails_dsm5_rule() -> None:
    # Hand: items 1-5 at 4 = 20 (B 20); C, D, E zero -> criteria C, D, E unmet.
    result = score("pcl5", [4] * 5 + [0] * 15)
    assert (result.total, result.subscales["cluster_b"]) == (20, 20)
    assert result.indicators["provisional_ptsd_dsm5"] is False


def test_pcl5_minimum_dsm5_pattern_meets_rule() -> None:
    # Hand: one B (item 1), one C (item 6), two D (items 8, 9), two E (15, 16) at 2 -> yes.
    answers = [0] * 20
    for item in (1, 6, 8, 9, 15, 16):
        answers[item - 1] = 2
    result = score("pcl5", answers)
    assert (result.total, result.indicators["provisional_ptsd_dsm5"]) == (12, True)


def test_pcl5_one_d_item_short_fails_dsm5_rule() -> None:
    answers = [0] * 20
    for item in (1, 6, 8, 15, 16):
        answers[item - 1] = 2
    assert score("pcl5", answers).indicators["provisional_ptsd_dsm5"] is False


@pytest.mark.parametrize(
    ("total", "band"),
    [(32, "below_cutoff"), (33, "probable_ptsd"), (0, "below_cutoff"), (80, "probable_ptsd")],
)
def test_pcl5_cutoff_boundary_both_sides(total: int, band: str) -> None:
    assert score("pcl5", with_total(20, 4, total)).band == band


@pytest.mark.parametrize(("value", "flagged"), [(2, False), (3, True), (4, True)])
def test_pcl5_item16_risk_taking_flag(value: int, flagged: bool) -> None:
    answers = [0] * 20
    answers[15] = value
    flags = score("pcl5", answers).flags
    assert [f.id for f in flags] == (["pcl5_item16_risk_taking"] if flagged else [])
    assert all(f.severity is Severity.REVIEW for f in flags)


def test_pcl5_missing_item_not_scored() -> None:
    with pytest.raises(IncompleteResponseError):
        score("pcl5", [*REFERENCE[:19], None])
